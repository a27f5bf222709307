// AVX-512 VNNI qgemm micro-kernel 12x32 (24 zmm accumulators, vpdpbusd: u8
// activations x s8 weights summed 4 at a time into int32, no saturation) and
// the AVX-512 requantization of one output row.
#include <immintrin.h>

#include "cpu/qgemm/qgemm_ukernel.h"

namespace snep {
namespace qgemm {
namespace {

constexpr int MR = 12;

template <int R>
void kern(int64_t kq, const int8_t* a, const uint8_t* b, int32_t* c, int64_t ldc) {
  __m512i acc0[R], acc1[R];
  for (int i = 0; i < R; ++i) acc0[i] = acc1[i] = _mm512_setzero_si512();
  for (int64_t q = 0; q < kq; ++q) {
    const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
    for (int i = 0; i < R; ++i) {
      const __m512i w = _mm512_set1_epi32(*reinterpret_cast<const int32_t*>(a + 4 * i));
      acc0[i] = _mm512_dpbusd_epi32(acc0[i], b0, w);
      acc1[i] = _mm512_dpbusd_epi32(acc1[i], b1, w);
    }
    a += 4 * MR;
    b += 128;
  }
  for (int i = 0; i < R; ++i) {
    _mm512_storeu_si512(c + i * ldc, acc0[i]);
    _mm512_storeu_si512(c + i * ldc + 16, acc1[i]);
  }
}

}  // namespace

void qgemm_ukernel_12x32_avx512vnni(int64_t kq, const void* av, const uint8_t* b, int32_t* c, int64_t ldc, int mr) {
  const int8_t* a = static_cast<const int8_t*>(av);
  switch (mr) {
    case 1: return kern<1>(kq, a, b, c, ldc);
    case 2: return kern<2>(kq, a, b, c, ldc);
    case 3: return kern<3>(kq, a, b, c, ldc);
    case 4: return kern<4>(kq, a, b, c, ldc);
    case 5: return kern<5>(kq, a, b, c, ldc);
    case 6: return kern<6>(kq, a, b, c, ldc);
    case 7: return kern<7>(kq, a, b, c, ldc);
    case 8: return kern<8>(kq, a, b, c, ldc);
    case 9: return kern<9>(kq, a, b, c, ldc);
    case 10: return kern<10>(kq, a, b, c, ldc);
    case 11: return kern<11>(kq, a, b, c, ldc);
    default: return kern<12>(kq, a, b, c, ldc);
  }
}

void qrequant_avx512vnni(const QRow& r) {
  const __m512i vc0 = _mm512_set1_epi32(r.c0), vwz = _mm512_set1_epi32(r.wz);
  const __m512 vm = _mm512_set1_ps(r.mult), vzm = _mm512_set1_ps(r.zmult);
  const __m512i vzz = _mm512_set1_epi32(r.zz), vyz = _mm512_set1_epi32(r.yz);
  const __m512 flo = _mm512_set1_ps((float)(r.qlo - r.yz)), fhi = _mm512_set1_ps((float)(r.qhi - r.yz));
  for (int64_t j = 0; j < r.n; j += 16) {
    const int64_t left = r.n - j;
    const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    __m512i t = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, r.acc + j), vc0);
    if (r.colsum) t = _mm512_sub_epi32(t, _mm512_mullo_epi32(vwz, _mm512_maskz_loadu_epi32(m, r.colsum + j)));
    if (r.y32) {
      _mm512_mask_storeu_epi32(r.y32 + j, m, t);
      continue;
    }
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(t), vm);
    if (r.z) {
      const __m128i zb = _mm_maskz_loadu_epi8(m, static_cast<const uint8_t*>(r.z) + j);
      __m512i zi = r.z_signed ? _mm512_cvtepi8_epi32(zb) : _mm512_cvtepu8_epi32(zb);
      v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(zi, vzz)), vzm));
    }
    v = _mm512_min_ps(_mm512_max_ps(v, flo), fhi);
    __m512i q = _mm512_add_epi32(_mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz);
    _mm_mask_storeu_epi8(static_cast<uint8_t*>(r.y) + j, m, _mm512_cvtepi32_epi8(q));
  }
}

}  // namespace qgemm
}  // namespace snep
