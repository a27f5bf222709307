// AVX-512 rows of the small-input-channel direct Conv (conv_smallc.h).
#include <immintrin.h>

#include "cpu/conv/conv_smallc.h"

namespace snep {
namespace conv {
namespace {

// NV vectors of 16 output columns from ow0 (mask on the last), 8 channels.
template <int NV>
inline void block(const SmallcGeom& g, const float* planes, const float* wb, const float* bias, const float* z,
                  float* y, int64_t ob, int64_t oh, int64_t ow0, __mmask16 last, int mode, __m512 lo, __m512 hi) {
  __m512 acc[kSmallcOCB][NV];
#pragma GCC unroll 8
  for (int o = 0; o < kSmallcOCB; ++o)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[o][v] = _mm512_set1_ps(bias[o]);
  const int64_t s = g.s, plane = g.Hq * g.Wq;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const float* xr = planes + ((c * s + kh % s) * s + kw % s) * plane + (oh + kh / s) * g.Wq + ow0 + kw / s;
        const float* wt = wb + ((c * g.kh + kh) * g.kw + kw) * kSmallcOCB;
        __m512 x[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) x[v] = _mm512_loadu_ps(xr + 16 * v);
#pragma GCC unroll 8
        for (int o = 0; o < kSmallcOCB; ++o) {
          const __m512 wv = _mm512_set1_ps(wt[o]);
#pragma GCC unroll 2
          for (int v = 0; v < NV; ++v) acc[o][v] = _mm512_fmadd_ps(wv, x[v], acc[o][v]);
        }
      }
  const int64_t osz = g.OH * g.OW;
#pragma GCC unroll 8
  for (int o = 0; o < kSmallcOCB; ++o) {
    const int64_t m = ob * kSmallcOCB + o;
    if (m >= g.M) break;
    float* yr = y + m * osz + oh * g.OW + ow0;
    const float* zr = z ? z + m * osz + oh * g.OW + ow0 : nullptr;
    for (int v = 0; v < NV; ++v) {
      const __mmask16 k = v == NV - 1 ? last : (__mmask16)0xFFFF;
      __m512 r = acc[o][v];
      if (zr) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(k, zr + 16 * v));
      // NaN stays NaN, as Activation::apply (max_ps returns its second operand for NaN)
      if (mode == 1) r = _mm512_max_ps(lo, r);
      else if (mode == 2) r = _mm512_min_ps(hi, _mm512_max_ps(lo, r));
      _mm512_mask_storeu_ps(yr + 16 * v, k, r);
    }
  }
}

}  // namespace

void smallc_fill_row_avx512(const float* x, int64_t W, int64_t s, int64_t off, float* d, int64_t Wq) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i vW = _mm512_set1_epi32((int)W), zero = _mm512_setzero_si512();
  for (int64_t j0 = 0; j0 < Wq; j0 += 16) {
    const __mmask16 st = Wq - j0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (Wq - j0)) - 1);
    // input columns of the lanes (masked loads never touch masked-off lanes)
    const int64_t c0 = j0 * s + off;
    if (s == 1) {
      const __m512i col = _mm512_add_epi32(lane, _mm512_set1_epi32((int)c0));
      const __mmask16 m = _mm512_cmpge_epi32_mask(col, zero) & _mm512_cmplt_epi32_mask(col, vW);
      _mm512_mask_storeu_ps(d + j0, st, _mm512_maskz_loadu_ps(m, x + c0));
    } else {
      const __m512i c_lo = _mm512_add_epi32(lane, _mm512_set1_epi32((int)c0));
      const __m512i c_hi = _mm512_add_epi32(c_lo, _mm512_set1_epi32(16));
      const __mmask16 m0 = _mm512_cmpge_epi32_mask(c_lo, zero) & _mm512_cmplt_epi32_mask(c_lo, vW);
      const __mmask16 m1 = _mm512_cmpge_epi32_mask(c_hi, zero) & _mm512_cmplt_epi32_mask(c_hi, vW);
      const __m512 a = _mm512_maskz_loadu_ps(m0, x + c0), b = _mm512_maskz_loadu_ps(m1, x + c0 + 16);
      _mm512_mask_storeu_ps(d + j0, st, _mm512_permutex2var_ps(a, evens, b));
    }
  }
}

void smallc_rows_avx512(const SmallcGeom& g, const float* planes, const float* w, const float* bias, const float* z,
                        float* y, int64_t ob, int64_t oh0, int64_t oh1, int mode, float flo, float fhi) {
  const __m512 lo = _mm512_set1_ps(flo), hi = _mm512_set1_ps(fhi);
  const float* wb = w + ob * g.C * g.kh * g.kw * kSmallcOCB;
  const float* bb = bias + ob * kSmallcOCB;
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    int64_t ow0 = 0;
    for (; ow0 + 32 <= g.OW; ow0 += 32) block<2>(g, planes, wb, bb, z, y, ob, oh, ow0, (__mmask16)0xFFFF, mode, lo, hi);
    const int64_t left = g.OW - ow0;
    if (left > 16) block<2>(g, planes, wb, bb, z, y, ob, oh, ow0, (__mmask16)((1u << (left - 16)) - 1), mode, lo, hi);
    else if (left == 16) block<1>(g, planes, wb, bb, z, y, ob, oh, ow0, (__mmask16)0xFFFF, mode, lo, hi);
    else if (left > 0) block<1>(g, planes, wb, bb, z, y, ob, oh, ow0, (__mmask16)((1u << left) - 1), mode, lo, hi);
  }
}

}  // namespace conv
}  // namespace snep
