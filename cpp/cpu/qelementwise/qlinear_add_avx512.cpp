// The QLinearAdd row kernel with AVX-512 intrinsics; called only after a run-time
// check. Results equal the scalar kernel's (qlinear_add_kernel.h: exact products in
// double, one rounding of their sum, round half to even), but the sum is formed in
// float32, 16 lanes at a time: f = fma(a', ra, float(b' * rb)) is within `tol` of
// the exact sum (tol bounds both roundings, from the largest |a'| and |b'|; the
// caller checks it is small). Where some lane of f lies within tol of a .5 tie the
// rounding could differ, so those 16 elements are redone by the scalar kernel.
// Three times fewer shuffle-port instructions per element than converting to
// double (8 lanes, two conversions each way).
#include <immintrin.h>

#include <cmath>

#include "cpu/qelementwise/qlinear_add_kernel.h"

namespace snep {
namespace detail {
namespace {
inline __m512 load16(const uint8_t* p, __m512i zp, __mmask16 m) {
  __m512i v = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p));
  return _mm512_cvtepi32_ps(_mm512_sub_epi32(v, zp));
}
}  // namespace

void qlinear_add_u8_avx512(const uint8_t* a, const uint8_t* b, int64_t b_step, uint8_t* y, int64_t n, float ra,
                           float rb, int32_t za, int32_t zb, int32_t zc, int32_t lo) {
  const __m512 vra = _mm512_set1_ps(ra), vrb = _mm512_set1_ps(rb);
  const __m512i vza = _mm512_set1_epi32(za), vzb = _mm512_set1_epi32(zb), vzc = _mm512_set1_epi32(zc);
  const __m512i vlo = _mm512_set1_epi32(lo);
  const float tol = qadd::add_u8_tol(za, zb, ra, rb);
  if (!(tol < 1.f / 64)) {  // huge ratios (or NaN): all in double
    qadd::add_u8(a, b, b_step, y, n, ra, rb, za, zb, zc, lo);
    return;
  }
  const __m512 near_lo = _mm512_set1_ps(0.5f - tol), abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  __m512 fb = _mm512_setzero_ps();
  if (b_step == 0) fb = _mm512_mul_ps(_mm512_set1_ps((float)((int32_t)b[0] - zb)), vrb);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
    __m512 pb = b_step ? _mm512_mul_ps(load16(b + i, vzb, m), vrb) : fb;
    __m512 f = _mm512_fmadd_ps(load16(a + i, vza, m), vra, pb);
    __m512 r = _mm512_roundscale_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 d = _mm512_and_ps(_mm512_sub_ps(f, r), abs_mask);  // distance to the nearest integer
    if (_mm512_mask_cmp_ps_mask(m, d, near_lo, _CMP_GE_OQ)) {  // near a tie: the exact kernel decides
      const int64_t k = n - i >= 16 ? 16 : n - i;
      qadd::add_u8(a + i, b + i * b_step, b_step, y + i, k, ra, rb, za, zb, zc, lo);
      continue;
    }
    __m512i q = _mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(r), vzc), vlo);
    _mm_mask_storeu_epi8(y + i, m, _mm512_cvtusepi32_epi8(q));  // saturates above 255
  }
}
}  // namespace detail
}  // namespace snep
