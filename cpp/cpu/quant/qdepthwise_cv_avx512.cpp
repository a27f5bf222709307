// The channel-vectorised depthwise group loop (qdepthwise_cv.h), AVX-512.
#include <immintrin.h>

#include <algorithm>

#include "cpu/quant/qdepthwise_cv.h"

namespace snep {
namespace qdwcv {
namespace {

// NB outputs of row `oh` from column ow0: int32 sums of (x - xz)(w - wz) over the taps.
// A pixel's lane holds (x - xz) of it and of its right neighbour as two
// int16, a weight lane the taps (j, j + 1) of a kernel row (the second 0 past
// the row's end), so one vpmaddwd covers two taps exactly. KH/KW/SW > 0:
// compile-time geometry (the common 3x3 / 5x5, stride 1 / 2 layers), 0: runtime.
template <int NB, int KH, int KW, int SW>
inline void outputs(const Geom& g, const __m512i* P, const __m512i* wv, int64_t oh, int64_t ow0, __m512i* acc) {
  const int64_t kh = KH ? KH : g.kh, kwp = ((KW ? KW : g.kw) + 1) / 2, sw = SW ? SW : g.sw;
  __m512i a[NB];
  for (int q = 0; q < NB; ++q) a[q] = _mm512_setzero_si512();
#pragma GCC unroll 5
  for (int64_t i = 0; i < kh; ++i) {
    const __m512i* row = P + (oh * g.sh + i) * g.Wp + ow0 * sw;
#pragma GCC unroll 3
    for (int64_t jj = 0; jj < kwp; ++jj) {
      const __m512i w = wv[i * kwp + jj];
#pragma GCC unroll 8
      for (int q = 0; q < NB; ++q) a[q] = _mm512_add_epi32(a[q], _mm512_madd_epi16(row[q * sw + 2 * jj], w));
    }
  }
  for (int q = 0; q < NB; ++q) _mm512_store_si512(acc + q, a[q]);
}

// Output rows [0, rows) of a band, whose P row 0 is the input row of its first output's first tap.
template <int KH, int KW, int SW>
void all_outputs(const Geom& g, const __m512i* P, const __m512i* wv, __m512i* acc, int64_t rows) {
  for (int64_t oh = 0; oh < rows; ++oh) {
    __m512i* ar = acc + oh * g.OW;
    int64_t ow = 0;
    for (; ow + 8 <= g.OW; ow += 8) outputs<8, KH, KW, SW>(g, P, wv, oh, ow, ar + ow);
    if (ow + 4 <= g.OW) { outputs<4, KH, KW, SW>(g, P, wv, oh, ow, ar + ow); ow += 4; }
    for (; ow < g.OW; ++ow) outputs<1, KH, KW, SW>(g, P, wv, oh, ow, ar + ow);
  }
}

// In every 128-bit lane L, the 16x16 byte block r[a] byte b -> r[b] byte a.
// For the input: r[c] = 64 pixels of channel c, lane L holding pixels
// 16L..16L+15; after it r[j] lane L = the 16 channels of pixel 16L + j.
// The same network maps those pixel vectors back to channel rows (its own inverse).
inline void transpose_16x16_lanes(__m512i r[16]) {
  __m512i s1[16], s2[16], s3[16];
  for (int g = 0; g < 8; ++g) {  // s1[2g + h]: channels 2g, 2g+1; 16-bit element k is pixel 8h + k
    s1[2 * g] = _mm512_unpacklo_epi8(r[2 * g], r[2 * g + 1]);
    s1[2 * g + 1] = _mm512_unpackhi_epi8(r[2 * g], r[2 * g + 1]);
  }
  for (int g = 0; g < 4; ++g)  // s2[4g + h]: channels 4g..4g+3; 32-bit element k is pixel 4h + k
    for (int h = 0; h < 2; ++h) {
      s2[4 * g + 2 * h] = _mm512_unpacklo_epi16(s1[4 * g + h], s1[4 * g + 2 + h]);
      s2[4 * g + 2 * h + 1] = _mm512_unpackhi_epi16(s1[4 * g + h], s1[4 * g + 2 + h]);
    }
  for (int g = 0; g < 2; ++g)  // s3[8g + h]: channels 8g..8g+7; 64-bit element k is pixel 2h + k
    for (int h = 0; h < 4; ++h) {
      s3[8 * g + 2 * h] = _mm512_unpacklo_epi32(s2[8 * g + h], s2[8 * g + 4 + h]);
      s3[8 * g + 2 * h + 1] = _mm512_unpackhi_epi32(s2[8 * g + h], s2[8 * g + 4 + h]);
    }
  for (int h = 0; h < 8; ++h) {  // r[j]: channels 0..15 of pixel j
    r[2 * h] = _mm512_unpacklo_epi64(s3[h], s3[8 + h]);
    r[2 * h + 1] = _mm512_unpackhi_epi64(s3[h], s3[8 + h]);
  }
}

// 64 pixels from p of the group's channel planes (stride `plane` bytes) as
// 16-byte pixel vectors: pixel p + k at tb + (k % 16) * 64 + (k / 16) * 16.
inline void pixels_of(const uint8_t* src, int64_t plane, int nc, __mmask64 lm, uint8_t* tb) {
  __m512i r[16];
  for (int c = 0; c < 16; ++c) r[c] = c < nc ? _mm512_maskz_loadu_epi8(lm, src + c * plane) : _mm512_setzero_si512();
  transpose_16x16_lanes(r);
  for (int j = 0; j < 16; ++j) _mm512_store_si512(tb + 64 * j, r[j]);
}

inline int64_t tb_off(int64_t k) { return (k & 15) * 64 + (k >> 4) * 16; }

}  // namespace

void group_avx512(const Geom& g, const Group& q, int64_t band0, int64_t band1) {
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
  __m512i* P = static_cast<__m512i*>(q.scratch);
  __m512i* acc = P + ((g.BH - 1) * g.sh + g.kh) * g.Wp;
  const __m512i zero = _mm512_setzero_si512();
  const __m512i vxz = _mm512_set1_epi32(q.xz), lo16 = _mm512_set1_epi32(0xFFFF);
  const int64_t KP = g.kh * ((g.kw + 1) / 2);
  __m512i wv[kMaxTapPairs];
  for (int64_t t = 0; t < KP; ++t) wv[t] = _mm512_loadu_si512(q.w + 16 * t);
  const __m512i vc0 = _mm512_loadu_si512(q.bias), vyz = _mm512_set1_epi32(q.yz), vzz = _mm512_set1_epi32(q.zz);
  const __m512 vm = _mm512_loadu_ps(q.mult), vzm = _mm512_set1_ps(q.zmult);
  const __m512 flo = _mm512_set1_ps(q.flo), fhi = _mm512_set1_ps(q.fhi);
  alignas(64) uint8_t tb[1024], zb[1024];
  for (int64_t oh0 = band0 * g.BH; oh0 < std::min(g.OH, band1 * g.BH); oh0 += g.BH) {  // bands of BH output rows
    const int64_t bh = std::min(g.BH, g.OH - oh0), ph = (bh - 1) * g.sh + g.kh, top = oh0 * g.sh - g.pt;
    // zero padding: rows outside the input, and the columns left and right of it
    for (int64_t r = 0; r < ph; ++r) {
      __m512i* row = P + r * g.Wp;
      if (top + r < 0 || top + r >= g.H) {
        for (int64_t c = 0; c < g.Wp; ++c) _mm512_store_si512(row + c, zero);
      } else {
        for (int64_t c = 0; c < g.pl; ++c) _mm512_store_si512(row + c, zero);
        for (int64_t c = g.pl + g.W; c < g.Wp; ++c) _mm512_store_si512(row + c, zero);
      }
    }
    // the band's input rows, 64 pixels at a time through an in-register transpose; each
    // lane gets (x - xz) of its pixel (low int16) and of the right neighbour (high)
    const int64_t W = g.W, Wp = g.Wp, pl = g.pl, pend = std::min(g.H, top + ph) * W;
    __m512i prev = zero;
    for (int64_t p = std::max<int64_t>(0, top) * W; p < pend; p += 64) {
      const int64_t n = std::min<int64_t>(64, pend - p);
      pixels_of(q.x + p, HW, q.nc, n >= 64 ? ~0ULL : (1ULL << n) - 1, tb);
      int64_t h = p / W, w = p - h * W, k = 0;
      const auto pix = [&](int64_t kk) {
        return _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(tb + tb_off(kk)))), vxz);
      };
      while (k < n) {  // the chunk's pixels of row h: columns [w, end)
        const int64_t end = std::min(W, w + (n - k));
        __m512i* row = P + (h - top) * Wp + pl;
        if (w == 0) {  // the padding column before the row pairs 0 with the first pixel
          prev = pix(k++);
          if (pl > 0) _mm512_store_si512(row - 1, _mm512_slli_epi32(prev, 16));
          ++w;
        }
        for (; w < end; ++w, ++k) {
          const __m512i v = pix(k);
          _mm512_store_si512(row + w - 1, _mm512_mask_blend_epi16(0xAAAAAAAAu, prev, _mm512_slli_epi32(v, 16)));
          prev = v;
        }
        if (w == W) {  // the last pixel pairs with the padding (0)
          _mm512_store_si512(row + W - 1, _mm512_and_si512(prev, lo16));
          w = 0;
          ++h;
        }
      }
    }
    // the taps, two per multiply-add
    if (g.kh == 3 && g.kw == 3 && g.sw == 1) all_outputs<3, 3, 1>(g, P, wv, acc, bh);
    else if (g.kh == 3 && g.kw == 3 && g.sw == 2) all_outputs<3, 3, 2>(g, P, wv, acc, bh);
    else if (g.kh == 5 && g.kw == 5 && g.sw == 1) all_outputs<5, 5, 1>(g, P, wv, acc, bh);
    else if (g.kh == 5 && g.kw == 5 && g.sw == 2) all_outputs<5, 5, 2>(g, P, wv, acc, bh);
    else all_outputs<0, 0, 0>(g, P, wv, acc, bh);
    // requantise (as qlinear_fused.h) 64 pixels at a time, bytes back to the channel planes through the transpose
    const int64_t o0 = oh0 * g.OW, oend = (oh0 + bh) * g.OW;
    for (int64_t p = o0; p < oend; p += 64) {
      const int64_t n = std::min<int64_t>(64, oend - p);
      const __mmask64 lm = n >= 64 ? ~0ULL : (1ULL << n) - 1;
      if (q.z) pixels_of(q.z + p, OHW, q.nc, lm, zb);
      if (n < 64) std::fill(tb, tb + sizeof(tb), 0);  // the pixels past the band are stored masked off
      const __m512i* ap = acc + (p - o0);
      for (int64_t k = 0; k < n; ++k) {
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_load_si512(ap + k), vc0)), vm);
        if (q.z) {
          const __m128i b = _mm_load_si128(reinterpret_cast<const __m128i*>(zb + tb_off(k)));
          const __m512i zi = q.z_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
          v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(zi, vzz)), vzm));
        }
        v = _mm512_min_ps(_mm512_max_ps(v, flo), fhi);
        const __m512i r = _mm512_add_epi32(_mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz);
        // r lies in the output type's range: its low byte is the u8 / s8 value
        _mm_store_si128(reinterpret_cast<__m128i*>(tb + tb_off(k)), _mm512_cvtepi32_epi8(r));
      }
      __m512i r[16];
      for (int j = 0; j < 16; ++j) r[j] = _mm512_load_si512(tb + 64 * j);
      transpose_16x16_lanes(r);
      for (int c = 0; c < q.nc; ++c) _mm512_mask_storeu_epi8(q.y + c * OHW + p, lm, r[c]);
    }
  }
}

}  // namespace qdwcv
}  // namespace snep
