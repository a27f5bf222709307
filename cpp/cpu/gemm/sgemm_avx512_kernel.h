// AVX-512 sgemm micro-kernel body, NR = 32 columns (two zmm), up to kMR rows:
// A broadcast from the packed panel (stride kMR), B two zmm loads per k.
// Included only by the sgemm_<MR>x32_avx512.cpp files (compiled with AVX-512
// flags); everything here is in an anonymous namespace.
#pragma once
// GCC 12 warns falsely about _mm512_undefined_ps() inside the intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "cpu/gemm/sgemm_ukernel.h"
#define SNEP_VEC_LANES 16
#include "cpu/simd/vec.h"

namespace snep {
namespace gemm {
namespace {

constexpr int NR = 32;

inline __m512 act_v(__m512 v, int act, __m512 va, __m512 vb) {
  const __m512 zero = _mm512_setzero_ps();
  switch (act) {
    case kActRelu: return _mm512_max_ps(zero, v);  // max_ps returns its second operand for NaN: NaN stays
    case kActClip: return _mm512_min_ps(vb, _mm512_max_ps(va, v));
    case kActLeakyRelu: {
      __mmask16 neg = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ);
      return _mm512_mask_mul_ps(v, neg, v, va);
    }
    case kActHardSigmoid:
      return _mm512_min_ps(_mm512_set1_ps(1.f), _mm512_max_ps(zero, _mm512_fmadd_ps(va, v, vb)));
    case kActHardSwish: {
      __m512 t = _mm512_fmadd_ps(v, _mm512_set1_ps(1.f / 6.f), _mm512_set1_ps(0.5f));
      t = _mm512_min_ps(_mm512_set1_ps(1.f), _mm512_max_ps(zero, t));
      return _mm512_mul_ps(v, t);
    }
    // In registers: a pass over the stored tile (the driver's) costs a store-to-load round
    // trip per vector on top of the GELU itself.
    case kActGelu: return simd::vgelu_erf(v);
    case kActGeluTanh: return simd::vgelu_tanh(v);
    default: return v;
  }
}

// A whole row of the tile with plain stores: a load of the same bytes right after (the
// driver's pass for the activations left to it, kActOther) is forwarded from a plain store,
// not from a masked one.
inline void store_row(float* cr, __m512 v0, __m512 v1, int nr, __mmask16 m0, __mmask16 m1) {
  if (nr == NR) {
    _mm512_storeu_ps(cr, v0);
    _mm512_storeu_ps(cr + 16, v1);
  } else {
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
}

// kDirect: A as the caller holds it, row-major with rows `as` floats apart (element (i, k) at
// a[i * as + k]), instead of a packed panel (a[k * kMR + i]): no packing pass over A.
template <int M, int kMR, bool kDirect = false>
void kern(int64_t kc, const float* a, int64_t as, const float* b, float* c, int64_t ldc, int nr, int accumulate,
          const UkEpilogue* ep) {
  __m512 acc0[M], acc1[M];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) { acc0[i] = _mm512_setzero_ps(); acc1[i] = _mm512_setzero_ps(); }
  (void)as;  // packed: always kMR, the packing contract of this kernel
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const __m512 av = _mm512_set1_ps(kDirect ? a[i * as] : a[i]);
      acc0[i] = _mm512_fmadd_ps(av, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(av, b1, acc1[i]);
    }
    a += kDirect ? 1 : kMR;
    b += NR;
  }
  const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
  if (!ep) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      float* cr = c + i * ldc;
      __m512 v0 = acc0[i], v1 = acc1[i];
      if (accumulate) {
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
      }
      store_row(cr, v0, v1, nr, m0, m1);
    }
    return;
  }
  const __m512 alpha = _mm512_set1_ps(ep->alpha);
  const __m512 va = _mm512_set1_ps(ep->act_a), vb = _mm512_set1_ps(ep->act_b);
  const int act = ep->act;
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    float* cr = c + i * ldc;
    __m512 v0 = acc0[i], v1 = acc1[i];
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    if (ep->alpha != 1.f) { v0 = _mm512_mul_ps(v0, alpha); v1 = _mm512_mul_ps(v1, alpha); }
    for (int t = 0; t < 2; ++t) {
      const float* ad = ep->add[t];
      if (!ad) continue;
      ad += i * ep->add_sm[t];
      __m512 s = _mm512_set1_ps(ep->add_scale[t]);
      if (ep->add_sn[t]) {
        v0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, ad), s, v0);
        v1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, ad + 16), s, v1);
      } else {
        __m512 r = _mm512_mul_ps(_mm512_set1_ps(ad[0]), s);
        v0 = _mm512_add_ps(v0, r);
        v1 = _mm512_add_ps(v1, r);
      }
    }
    v0 = act_v(v0, act, va, vb);
    v1 = act_v(v1, act, va, vb);
    store_row(cr, v0, v1, nr, m0, m1);
  }
}

// kern<mr, kMR, kDirect> for a tile of mr rows (1..kMR; the last panel's may be fewer):
// the entry points of sgemm_<kMR>x32_avx512.cpp.
template <int kMR, bool kDirect, int M = 1>
inline void kern_rows(int mr, int64_t kc, const float* a, int64_t as, const float* b, float* c, int64_t ldc, int nr,
                      int accumulate, const UkEpilogue* ep) {
  if constexpr (M < kMR) {
    if (mr == M) return kern<M, kMR, kDirect>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    return kern_rows<kMR, kDirect, M + 1>(mr, kc, a, as, b, c, ldc, nr, accumulate, ep);
  } else {
    return kern<kMR, kMR, kDirect>(kc, a, as, b, c, ldc, nr, accumulate, ep);
  }
}

}  // namespace
}  // namespace gemm
}  // namespace snep
