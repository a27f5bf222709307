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

}  // namespace qgemv
}  // namespace snep
