// The QLinearAdd row kernel with AVX-512 intrinsics; called only after a run-time
// check. Same arithmetic as qlinear_add_kernel.h: exact products in double, one
// rounding of their sum, round half to even, so results equal the scalar kernel's.
#include <immintrin.h>

#include "cpu/qelementwise/qlinear_add_kernel.h"

namespace snep {
namespace detail {
namespace {
// 8 lanes: u8 -> int32 -> double, minus zero point
inline __m512d load8(const uint8_t* p, __m256i zp) {
  __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm512_cvtepi32_pd(_mm256_sub_epi32(v, zp));
}
}  // namespace

void qlinear_add_u8_avx512(const uint8_t* a, const uint8_t* b, int64_t b_step, uint8_t* y, int64_t n, float ra,
                           float rb, int32_t za, int32_t zb, int32_t zc, int32_t lo) {
  if (b_step != 1) {
    qadd::add_u8(a, b, b_step, y, n, ra, rb, za, zb, zc, lo);
    return;
  }
  const __m512d vra = _mm512_set1_pd(ra), vrb = _mm512_set1_pd(rb);
  const __m256i vza = _mm256_set1_epi32(za), vzb = _mm256_set1_epi32(zb), vzc = _mm256_set1_epi32(zc);
  const __m256i vlo = _mm256_set1_epi32(lo), vhi = _mm256_set1_epi32(255);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d s = _mm512_add_pd(_mm512_mul_pd(load8(a + i, vza), vra), _mm512_mul_pd(load8(b + i, vzb), vrb));
    s = _mm512_roundscale_pd(s, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i q = _mm256_add_epi32(_mm512_cvtpd_epi32(s), vzc);
    q = _mm256_min_epi32(_mm256_max_epi32(q, vlo), vhi);
    __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), _mm_packus_epi16(w, w));
  }
  qadd::add_u8(a + i, b + i, 1, y + i, n - i, ra, rb, za, zb, zc, lo);
}
}  // namespace detail
}  // namespace snep
