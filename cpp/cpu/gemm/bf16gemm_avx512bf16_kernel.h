// AVX512-BF16 micro-kernel body, NR = 32 columns (two zmm of fp32 sums), up to
// kMR rows: per k pair, one dword broadcast of A (a(i,k), a(i,k+1)) and two
// 64-byte loads of B feed vdpbf16ps (2 products per fp32 lane). The epilogue
// is the sgemm's, in fp32. Included only by bf16gemm_<MR>x32_avx512bf16.cpp.
#pragma once
#include "cpu/gemm/bf16gemm_ukernel.h"
#include "cpu/gemm/sgemm_avx512_kernel.h"  // act_v, NR

namespace snep {
namespace gemm {
namespace {

typedef int32_t pair_t __attribute__((may_alias));

// Writes one row of a 32-column fp32 tile: + C when accumulating, then the epilogue.
struct TileOut {
  __mmask16 m0, m1;
  int accumulate;
  const UkEpilogue* ep;
  __m512 alpha, va, vb;
  TileOut(int nr, int acc, const UkEpilogue* e) : accumulate(acc), ep(e) {
    m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
    alpha = _mm512_set1_ps(ep ? ep->alpha : 1.f);
    va = _mm512_set1_ps(ep ? ep->act_a : 0.f);
    vb = _mm512_set1_ps(ep ? ep->act_b : 0.f);
  }
  inline void row(__m512 v0, __m512 v1, float* cr, int i) const {
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    if (ep) {
      if (ep->alpha != 1.f) { v0 = _mm512_mul_ps(v0, alpha); v1 = _mm512_mul_ps(v1, alpha); }
      for (int t = 0; t < 2; ++t) {
        const float* ad = ep->add[t];
        if (!ad) continue;
        ad += i * ep->add_sm[t];
        const __m512 s = _mm512_set1_ps(ep->add_scale[t]);
        if (ep->add_sn[t]) {
          v0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, ad), s, v0);
          v1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, ad + 16), s, v1);
        } else {
          const __m512 r = _mm512_mul_ps(_mm512_set1_ps(ad[0]), s);
          v0 = _mm512_add_ps(v0, r);
          v1 = _mm512_add_ps(v1, r);
        }
      }
      v0 = act_v(v0, ep->act, va, vb);
      v1 = act_v(v1, ep->act, va, vb);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
};

template <int M, int kMR>
void kern_bf16(int64_t kp, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc, int nr, int accumulate,
               const UkEpilogue* ep) {
  __m512 acc0[M], acc1[M];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) { acc0[i] = _mm512_setzero_ps(); acc1[i] = _mm512_setzero_ps(); }
  const pair_t* ap = reinterpret_cast<const pair_t*>(a);
#pragma GCC unroll 2
  for (int64_t k = 0; k < kp; ++k) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 32);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(ap[i]);
      acc0[i] = _mm512_dpbf16_ps(acc0[i], av, b0);
      acc1[i] = _mm512_dpbf16_ps(acc1[i], av, b1);
    }
    ap += kMR;
    b += 2 * NR;
  }
  TileOut out(nr, accumulate, ep);
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) out.row(acc0[i], acc1[i], c + i * ldc, i);
}

}  // namespace
}  // namespace gemm
}  // namespace snep
