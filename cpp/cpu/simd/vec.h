// A small vector layer over one register width, for kernels written once and built per
// ISA: SNEP_VEC_LANES 16 (zmm, AVX-512 F/BW/DQ/VL) or 8 (ymm, AVX2 + FMA). Inline
// wrappers only (always_inline, so code built through them is what the intrinsics give),
// plus exp / tanh / erf on whole vectors. Everything has internal linkage: builds for
// different ISAs never mix at link time. Users: blocked_kernels_impl.h (NCHW16c /
// NCHW8c), elementwise/unary_avx512.cpp (GELU), the AVX-512 sgemm micro-kernels (GELU epilogue).
#pragma once
#include <immintrin.h>

#include <cstdint>

#ifndef SNEP_VEC_LANES
#error "define SNEP_VEC_LANES (16 or 8) before including cpu/simd/vec.h"
#endif

namespace snep {
namespace {
namespace simd {

#define SNEP_VI __attribute__((always_inline)) inline
#if SNEP_VEC_LANES == 16
using V = __m512;
using Mask = __mmask16;  // lanes selected
constexpr Mask kAll = 0xFFFF;
SNEP_VI Mask lanes(int64_t n) { return n >= 16 ? kAll : (Mask)((1u << (n < 0 ? 0 : n)) - 1u); }
SNEP_VI bool vall(Mask m) { return m == kAll; }
SNEP_VI V vloadu(const float* p) { return _mm512_loadu_ps(p); }
SNEP_VI V vload(const float* p) { return _mm512_load_ps(p); }
SNEP_VI void vstoreu(float* p, V v) { _mm512_storeu_ps(p, v); }
SNEP_VI V vset1(float f) { return _mm512_set1_ps(f); }
SNEP_VI V vzero() { return _mm512_setzero_ps(); }
SNEP_VI V vfmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
SNEP_VI V vfnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
SNEP_VI V vadd(V a, V b) { return _mm512_add_ps(a, b); }
SNEP_VI V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
SNEP_VI V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
SNEP_VI V vdiv(V a, V b) { return _mm512_div_ps(a, b); }
SNEP_VI V vmax(V a, V b) { return _mm512_max_ps(a, b); }
SNEP_VI V vmin(V a, V b) { return _mm512_min_ps(a, b); }
SNEP_VI V vabs(V a) { return _mm512_abs_ps(a); }
SNEP_VI V vmaskz(Mask m, V v) { return _mm512_maskz_mov_ps(m, v); }
SNEP_VI Mask vlt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
SNEP_VI Mask vgt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
SNEP_VI Mask vnan(V a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
SNEP_VI V vsel(Mask m, V yes, V no) { return _mm512_mask_mov_ps(no, m, yes); }  // m ? yes : no
SNEP_VI V vround(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
SNEP_VI V vscale2(V p, V n) { return _mm512_scalef_ps(p, n); }  // p * 2^n, n integral
#elif SNEP_VEC_LANES == 8
using V = __m256;
using Mask = __m256;  // all-ones lanes selected
const Mask kAll = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
SNEP_VI Mask lanes(int64_t n) {
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n > 8 ? 8 : n)),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
}
SNEP_VI bool vall(Mask m) { return _mm256_movemask_ps(m) == 0xFF; }
SNEP_VI V vloadu(const float* p) { return _mm256_loadu_ps(p); }
SNEP_VI V vload(const float* p) { return _mm256_load_ps(p); }
SNEP_VI void vstoreu(float* p, V v) { _mm256_storeu_ps(p, v); }
SNEP_VI V vset1(float f) { return _mm256_set1_ps(f); }
SNEP_VI V vzero() { return _mm256_setzero_ps(); }
SNEP_VI V vfmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
SNEP_VI V vfnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
SNEP_VI V vadd(V a, V b) { return _mm256_add_ps(a, b); }
SNEP_VI V vsub(V a, V b) { return _mm256_sub_ps(a, b); }
SNEP_VI V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
SNEP_VI V vdiv(V a, V b) { return _mm256_div_ps(a, b); }
SNEP_VI V vmax(V a, V b) { return _mm256_max_ps(a, b); }
SNEP_VI V vmin(V a, V b) { return _mm256_min_ps(a, b); }
SNEP_VI V vabs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
SNEP_VI V vmaskz(Mask m, V v) { return _mm256_and_ps(m, v); }
SNEP_VI Mask vlt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
SNEP_VI Mask vgt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
SNEP_VI Mask vnan(V a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
SNEP_VI V vsel(Mask m, V yes, V no) { return _mm256_blendv_ps(no, yes, m); }
SNEP_VI V vround(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// p * 2^n for integral n in [-126, 128] (vexp's range): 2^(n-1) built in the exponent bits, times 2
SNEP_VI V vscale2(V p, V n) {
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(126)), 23);
  return _mm256_mul_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), _mm256_set1_ps(2.f));
}
#else
#error "SNEP_VEC_LANES must be 16 or 8"
#endif

// exp(x) for finite x in [-87, 88.73] (no NaN, no clamps, no range selects).
inline V vexp_finite(V xc) {
  V n = vround(vmul(xc, vset1(1.44269504088896341f)));
  V r = vfnmadd(n, vset1(0.693359375f), xc);
  r = vfnmadd(n, vset1(-2.12194440e-4f), r);
  V z = vmul(r, r);
  V p = vset1(1.9875691500e-4f);
  p = vfmadd(p, r, vset1(1.3981999507e-3f));
  p = vfmadd(p, r, vset1(8.3334519073e-3f));
  p = vfmadd(p, r, vset1(4.1665795894e-2f));
  p = vfmadd(p, r, vset1(1.6666665459e-1f));
  p = vfmadd(p, r, vset1(5.0000001201e-1f));
  p = vfmadd(p, z, vadd(r, vset1(1.0f)));
  return vscale2(p, n);
}

// exp(x) for any x: 0 below the float range, inf above, NaN kept.
inline V vexp(V x) {
  const V hi = vset1(88.72283f), lo = vset1(-86.5f);
  V res = vexp_finite(vmin(vmax(x, lo), hi));
  res = vsel(vlt(x, lo), vzero(), res);
  res = vsel(vgt(x, hi), vset1(__builtin_inff()), res);
  return vsel(vnan(x), x, res);
}

// exp(x) for x <= 0 with no NaN (erf's tail): below -87 the result is below 2^-125, which
// only ever meets a 1 there (1 - exp), so the clamp stands in for vexp's range selects.
inline V vexp_tail(V x) { return vexp_finite(vmax(x, vset1(-87.f))); }

inline V vtanh(V x) {
  V t = vabs(x);
  V s = vmul(x, x);
  V p = vset1(0.0014558344f);
  p = vfmadd(p, s, vset1(-0.0035921280f));
  p = vfmadd(p, s, vset1(0.0088632355f));
  p = vfmadd(p, s, vset1(-0.0218694885f));
  p = vfmadd(p, s, vset1(0.0539682540f));
  p = vfmadd(p, s, vset1(-0.1333333333f));
  p = vfmadd(p, s, vset1(0.3333333333f));
  V small = vfnmadd(vmul(x, s), p, x);
  V tc = vmin(t, vset1(20.f));
  V e = vexp_finite(vadd(tc, tc));  // 2|x| clamped to [0, 40]: finite (NaN is selected below)
  V big = vsub(vset1(1.f), vdiv(vset1(2.f), vadd(e, vset1(1.f))));
  big = vsel(vlt(x, vzero()), vsub(vzero(), big), big);
  // NaN: the clamp above (min returns its second operand) made the big branch read 1
  return vsel(vnan(x), x, vsel(vlt(t, vset1(0.55f)), small, big));
}

// erf: N. Juffa's faithfully rounded erff (as vmath.h's scalar erf), both branches
// evaluated and selected per lane.
inline V verf(V a) {
  const V t = vabs(a), s = vmul(a, a);
  const V tb = vmin(t, vset1(10.f)), sb = vmul(tb, tb);
  V r = vfmadd(vset1(-1.72853470e-5f), tb, vset1(3.83197126e-4f));
  const V u = vfmadd(vset1(-3.88396438e-3f), tb, vset1(2.42546219e-2f));
  r = vfmadd(r, sb, u);
  r = vfmadd(r, tb, vset1(-1.06777877e-1f));
  r = vfmadd(r, tb, vset1(-6.34846687e-1f));
  r = vfmadd(r, tb, vset1(-1.28717512e-1f));
  r = vfmadd(r, tb, vsub(vzero(), tb));
  V big = vsub(vset1(1.f), vexp_tail(r));  // r <= 0 and finite: tb is clamped to [0, 10]
  big = vsel(vlt(a, vzero()), vsub(vzero(), big), big);
  V q = vfmadd(vset1(-5.96761703e-4f), s, vset1(4.99119423e-3f));
  q = vfmadd(q, s, vset1(-2.67681349e-2f));
  q = vfmadd(q, s, vset1(1.12819925e-1f));
  q = vfmadd(q, s, vset1(-3.76125336e-1f));
  q = vfmadd(q, s, vset1(1.28379166e-1f));
  q = vfmadd(q, a, a);
  return vsel(vgt(t, vset1(0.927734375f)), big, q);
}

// GELU, x * (1 + erf(x / sqrt 2)) / 2 and its tanh form.
inline V vgelu_erf(V x) {
  const V half_x = vmul(x, vset1(0.5f));
  return vfmadd(half_x, verf(vmul(x, vset1(0.70710678118654752f))), half_x);
}

inline V vgelu_tanh(V x) {
  const V u = vmul(vset1(0.7978845608028654f), vfmadd(vmul(vset1(0.044715f), vmul(x, x)), x, x));
  const V half_x = vmul(x, vset1(0.5f));
  return vfmadd(half_x, vtanh(u), half_x);
}

}  // namespace simd
}  // namespace
}  // namespace snep
