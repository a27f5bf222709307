// AVX-512 VNNI kernel of qgemv.h: per quad, one 4-byte broadcast per row of A
// and one 64-byte load per panel, m x P vpdpbusd (u8 x s8 summed 4 at a time
// into int32, no saturation). The weights of a group are read once, in order
// (software prefetch, to L1 or L2 and 1 to 16 KB ahead, measured no better
// than the hardware streamer).
#include <immintrin.h>

#include <cstring>

#include "cpu/quant/qgemv.h"

namespace snep {
namespace qgemv {
namespace {

template <int MM, int P>
void kern(const uint8_t* a, int64_t lda, int64_t kq, const int8_t* w, int32_t* acc) {
  __m512i s[MM][P];
#pragma GCC unroll 4
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) s[i][p] = _mm512_setzero_si512();
#pragma GCC unroll 2
  for (int64_t q = 0; q < kq; ++q) {
    __m512i wv[P];
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) wv[p] = _mm512_loadu_si512(w + (q * P + p) * 64);
#pragma GCC unroll 4
    for (int i = 0; i < MM; ++i) {
      int32_t v;
      std::memcpy(&v, a + i * lda + 4 * q, 4);
      const __m512i av = _mm512_set1_epi32(v);
#pragma GCC unroll 4
      for (int p = 0; p < P; ++p) s[i][p] = _mm512_dpbusd_epi32(s[i][p], av, wv[p]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) _mm512_storeu_si512(acc + i * kGroupCols + 16 * p, s[i][p]);
}

template <int MM>
void kern_m(const uint8_t* a, int64_t lda, int64_t kq, const int8_t* w, int P, int32_t* acc) {
  switch (P) {
    case 1: return kern<MM, 1>(a, lda, kq, w, acc);
    case 2: return kern<MM, 2>(a, lda, kq, w, acc);
    case 3: return kern<MM, 3>(a, lda, kq, w, acc);
    default: return kern<MM, 4>(a, lda, kq, w, acc);
  }
}

}  // namespace

void qgemv_group_avx512vnni(const uint8_t* a, int64_t lda, int m, int64_t kq, const int8_t* w, int P, int32_t* acc) {
  switch (m) {
    case 1: return kern_m<1>(a, lda, kq, w, P, acc);
    case 2: return kern_m<2>(a, lda, kq, w, P, acc);
    case 3: return kern_m<3>(a, lda, kq, w, P, acc);
    default: return kern_m<4>(a, lda, kq, w, P, acc);
  }
}

void qgemv_epilogue_avx512(const int32_t* acc, int64_t n, const int32_t* cb, const int32_t* wz, int32_t asum,
                           const float* mult, int out_kind, float flo, float fhi, int32_t yz, void* y) {
  const __m512i vas = _mm512_set1_epi32(asum), vyz = _mm512_set1_epi32(yz);
  const __m512 vlo = _mm512_set1_ps(flo), vhi = _mm512_set1_ps(fhi);
  for (int64_t j = 0; j < n; j += 16) {
    const int64_t left = n - j;
    const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    __m512i t = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, acc + j), _mm512_maskz_loadu_epi32(m, cb + j));
    if (wz) t = _mm512_sub_epi32(t, _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(m, wz + j), vas));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(t), _mm512_maskz_loadu_ps(m, mult + j));
    if (out_kind == kOutF32) {
      _mm512_mask_storeu_ps(static_cast<float*>(y) + j, m, v);
      continue;
    }
    v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
    const __m512i q = _mm512_add_epi32(_mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz);
    _mm_mask_storeu_epi8(static_cast<uint8_t*>(y) + j, m, _mm512_cvtepi32_epi8(q));
  }
}

}  // namespace qgemv
}  // namespace snep
