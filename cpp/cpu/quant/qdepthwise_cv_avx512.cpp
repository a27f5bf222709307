// The channel-vectorised depthwise group loop (qdepthwise_cv.h), AVX-512.
#include <immintrin.h>

#include <algorithm>

#include "cpu/quant/qdepthwise_cv.h"

namespace snep {
namespace qdwcv {
namespace {

// NB outputs of row `oh` from column ow0: int32 sums of (x - xz)(w - wz) over the taps.
// A pixel's lane holds x - xz sign-extended to 32 bits and the weight's high
// 16 bits are zero, so vpmaddwd's pair sum is exactly x * w. KH/KW/SW > 0:
// compile-time geometry (the common 3x3 / 5x5, stride 1 / 2 layers), 0: runtime.
template <int NB, int KH, int KW, int SW>
inline void outputs(const Geom& g, const __m512i* P, const __m512i* wv, int64_t oh, int64_t ow0, __m512i* acc) {
  const int64_t kh = KH ? KH : g.kh, kw = KW ? KW : g.kw, sw = SW ? SW : g.sw;
  __m512i a[NB];
  for (int q = 0; q < NB; ++q) a[q] = _mm512_setzero_si512();
#pragma GCC unroll 5
  for (int64_t i = 0; i < kh; ++i) {
    const __m512i* row = P + (oh * g.sh + i) * g.Wp + ow0 * sw;
#pragma GCC unroll 5
    for (int64_t j = 0; j < kw; ++j) {
      const __m512i w = wv[i * kw + j];
#pragma GCC unroll 8
      for (int q = 0; q < NB; ++q) a[q] = _mm512_add_epi32(a[q], _mm512_madd_epi16(row[q * sw + j], w));
    }
  }
  for (int q = 0; q < NB; ++q) _mm512_store_si512(acc + q, a[q]);
}

template <int KH, int KW, int SW>
void all_outputs(const Geom& g, const __m512i* P, const __m512i* wv, __m512i* acc) {
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    __m512i* ar = acc + oh * g.OW;
    int64_t ow = 0;
    for (; ow + 8 <= g.OW; ow += 8) outputs<8, KH, KW, SW>(g, P, wv, oh, ow, ar + ow);
    if (ow + 4 <= g.OW) { outputs<4, KH, KW, SW>(g, P, wv, oh, ow, ar + ow); ow += 4; }
    for (; ow < g.OW; ++ow) outputs<1, KH, KW, SW>(g, P, wv, oh, ow, ar + ow);
  }
}

// Byte k (0..3) of each lane, zero- or sign-extended.
inline __m512i byte_of(__m512i v, int k, bool sign) {
  switch (k) {
    case 0: return sign ? _mm512_srai_epi32(_mm512_slli_epi32(v, 24), 24) : _mm512_and_si512(v, _mm512_set1_epi32(0xFF));
    case 1: return sign ? _mm512_srai_epi32(_mm512_slli_epi32(v, 16), 24) : _mm512_and_si512(_mm512_srli_epi32(v, 8), _mm512_set1_epi32(0xFF));
    case 2: return sign ? _mm512_srai_epi32(_mm512_slli_epi32(v, 8), 24) : _mm512_and_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(0xFF));
    default: return sign ? _mm512_srai_epi32(v, 24) : _mm512_srli_epi32(v, 24);
  }
}

}  // namespace

void group_avx512(const Geom& g, const Group& q) {
  const __mmask16 m = q.nc >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << q.nc) - 1);
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
  __m512i* P = static_cast<__m512i*>(q.scratch);
  __m512i* acc = P + g.Hp * g.Wp;
  const __m512i zero = _mm512_setzero_si512();
  // zero padding: the rows above and below, the columns left and right
  for (int64_t r = 0; r < g.Hp; ++r) {
    __m512i* row = P + r * g.Wp;
    if (r < g.pt || r >= g.pt + g.H) {
      for (int64_t c = 0; c < g.Wp; ++c) _mm512_store_si512(row + c, zero);
    } else {
      for (int64_t c = 0; c < g.pl; ++c) _mm512_store_si512(row + c, zero);
      for (int64_t c = g.pl + g.W; c < g.Wp; ++c) _mm512_store_si512(row + c, zero);
    }
  }
  // the input: 4 consecutive pixels of every channel per gather (the last
  // chunk of a plane overlaps the one before rather than reading past it)
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i xoff = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)HW));
  const __m512i yoff = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)OHW));
  const __m512i vxz = _mm512_set1_epi32(q.xz);
  for (int64_t p0 = 0; p0 < HW; p0 += 4) {
    const int64_t p = std::min(p0, HW - 4);
    const __m512i v = _mm512_mask_i32gather_epi32(zero, m, xoff, q.x + p, 1);
    int64_t h = p / g.W, w = p - h * g.W;
    for (int k = 0; k < 4; ++k) {
      _mm512_store_si512(P + (h + g.pt) * g.Wp + w + g.pl, _mm512_sub_epi32(byte_of(v, k, false), vxz));
      if (++w == g.W) { w = 0; ++h; }
    }
  }
  // the taps
  const int64_t KK = g.kh * g.kw;
  __m512i wv[49];
  for (int64_t t = 0; t < KK; ++t) wv[t] = _mm512_loadu_si512(q.w + 16 * t);
  if (g.kh == 3 && g.kw == 3 && g.sw == 1) all_outputs<3, 3, 1>(g, P, wv, acc);
  else if (g.kh == 3 && g.kw == 3 && g.sw == 2) all_outputs<3, 3, 2>(g, P, wv, acc);
  else if (g.kh == 5 && g.kw == 5 && g.sw == 1) all_outputs<5, 5, 1>(g, P, wv, acc);
  else if (g.kh == 5 && g.kw == 5 && g.sw == 2) all_outputs<5, 5, 2>(g, P, wv, acc);
  else all_outputs<0, 0, 0>(g, P, wv, acc);
  // requantise (as qlinear_fused.h) and scatter 4 output pixels per channel
  const __m512i vc0 = _mm512_loadu_si512(q.bias), vyz = _mm512_set1_epi32(q.yz), vzz = _mm512_set1_epi32(q.zz);
  const __m512 vm = _mm512_loadu_ps(q.mult), vzm = _mm512_set1_ps(q.zmult);
  const __m512 flo = _mm512_set1_ps(q.flo), fhi = _mm512_set1_ps(q.fhi);
  for (int64_t p0 = 0; p0 < OHW; p0 += 4) {
    const int64_t p = std::min(p0, OHW - 4);
    __m512i zb = zero;
    if (q.z) zb = _mm512_mask_i32gather_epi32(zero, m, yoff, q.z + p, 1);
    __m512i packed = zero;
    for (int k = 0; k < 4; ++k) {
      __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_load_si512(acc + p + k), vc0)), vm);
      if (q.z) v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(byte_of(zb, k, q.z_signed), vzz)), vzm));
      v = _mm512_min_ps(_mm512_max_ps(v, flo), fhi);
      const __m512i r = _mm512_add_epi32(_mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz);
      packed = _mm512_or_si512(packed, _mm512_slli_epi32(_mm512_and_si512(r, _mm512_set1_epi32(0xFF)), 8 * k));
    }
    _mm512_mask_i32scatter_epi32(q.y + p, m, yoff, packed, 1);
  }
}

}  // namespace qdwcv
}  // namespace snep
