// The bodies of the NHWC kernels (nhwc_kernels.h), included by one .cpp per ISA.
// Everything here is in an anonymous namespace, so no copy compiled with wider
// instructions can stand in for another at link time.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cpu/activation.h"
#include "cpu/layout/nhwc_kernels.h"

namespace snep {
namespace layout {
namespace {

// Channels per register-resident chunk of one pixel: 4 zmm / 8 ymm accumulators.
constexpr int kChunk = 64;

// The including build's vector width in floats (16 AVX-512, 8 AVX2, 4 baseline SSE).
#ifndef SNEP_NHWC_LANES
#define SNEP_NHWC_LANES 4
#endif
constexpr int kLanes = SNEP_NHWC_LANES;
// Depthwise register tiles: BC channels (4, 2 or 1 vectors) x BP pixels, about 16
// accumulators (AVX-512: 4 x 64, 8 x 32, 12 x 16 in zmm; AVX2 and SSE: 3 x 4 vectors,
// 6 x 2, 8 x 1), so each weight vector loaded serves BP pixels. A channel count that is
// not a multiple of 4 vectors takes the narrower tiles for its rest (96 channels: 64 +
// 32), not the per-pixel path.
constexpr int kTileP4 = kLanes == 16 ? 4 : 3;
constexpr int kTileP2 = kLanes == 16 ? 8 : 6;
constexpr int kTileP1 = kLanes == 16 ? 12 : 8;

inline float fmax_(float a, float b) { return a > b ? a : b; }
inline float fmin_(float a, float b) { return a < b ? a : b; }

// The activation over n floats, the switch outside the loops so each vectorises.
inline void act_n(const ActP& a, float* v, int n) {
  switch ((Act)a.kind) {
    case Act::None: return;
    case Act::Relu: for (int i = 0; i < n; ++i) v[i] = fmax_(0.f, v[i]); return;  // NaN stays NaN, as below
    case Act::Clip: for (int i = 0; i < n; ++i) v[i] = fmin_(a.b, fmax_(a.a, v[i])); return;
    case Act::HardSigmoid: for (int i = 0; i < n; ++i) v[i] = fmax_(0.f, fmin_(1.f, a.a * v[i] + a.b)); return;
    case Act::HardSwish:
      for (int i = 0; i < n; ++i) v[i] = v[i] * fmax_(0.f, fmin_(1.f, v[i] * (1.f / 6.f) + 0.5f));
      return;
    case Act::LeakyRelu: for (int i = 0; i < n; ++i) v[i] = v[i] >= 0.f ? v[i] : a.a * v[i]; return;
    case Act::Sigmoid: for (int i = 0; i < n; ++i) v[i] = 1.f / (1.f + std::exp(-v[i])); return;
    case Act::Tanh: for (int i = 0; i < n; ++i) v[i] = std::tanh(v[i]); return;
  }
}

// One output pixel's channels [c0, c0 + n); N is the tile's channel count (a constant
// trip count, so the accumulators can stay in registers) or 0 for a tail of n < kLanes.
template <int N>
inline void dw_chunk(const NhwcDw& g, const float* xn, int64_t oh, int64_t ow, int64_t c0, int n_tail, float* yp,
                     const float* zp) {
  const int n = N ? N : n_tail;
  float acc[N ? N : kLanes];
  const float* __restrict bias = g.bias + c0;
  for (int c = 0; c < n; ++c) acc[c] = bias[c];
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t iw = ow * g.SW - g.PW + kw * g.DW;
      if (iw < 0 || iw >= g.W) continue;
      const float* __restrict xp = xn + (ih * g.W + iw) * g.C + c0;
      const float* __restrict wp = g.w + (kh * g.KW + kw) * g.C + c0;
      for (int c = 0; c < n; ++c) acc[c] += xp[c] * wp[c];
    }
  }
  if (zp)
    for (int c = 0; c < n; ++c) acc[c] += zp[c0 + c];
  act_n(g.act, acc, n);
  for (int c = 0; c < n; ++c) yp[c0 + c] = acc[c];
}

// Pixels [ow, ow + BP) of row oh, channels [c0, c0 + BC), every tap column inside the
// input; yp / zp at pixel ow.
template <int BC, int BP>
inline void dw_block(const NhwcDw& g, const float* xn, int64_t oh, int64_t ow, int64_t c0, float* yp,
                     const float* zp) {
  float acc[BP][BC];
  for (int p = 0; p < BP; ++p)
    for (int c = 0; c < BC; ++c) acc[p][c] = g.bias[c0 + c];
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
    if (ih < 0 || ih >= g.H) continue;
    const float* xr = xn + ih * g.W * g.C + c0;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const float* __restrict wp = g.w + (kh * g.KW + kw) * g.C + c0;
      const float* x0 = xr + (ow * g.SW - g.PW + kw * g.DW) * g.C;
      for (int p = 0; p < BP; ++p) {
        const float* __restrict xp = x0 + p * g.SW * g.C;
        for (int c = 0; c < BC; ++c) acc[p][c] += xp[c] * wp[c];
      }
    }
  }
  for (int p = 0; p < BP; ++p) {
    if (zp)
      for (int c = 0; c < BC; ++c) acc[p][c] += zp[p * g.C + c0 + c];
    act_n(g.act, acc[p], BC);
    for (int c = 0; c < BC; ++c) yp[p * g.C + c0 + c] = acc[p][c];
  }
}

// One output row, channels [c0, c0 + BC): register tiles over the columns whose taps all
// lie inside the input ([ow_lo, ow_hi)), one pixel at a time elsewhere.
template <int BC, int BP>
inline void dw_row_tile(const NhwcDw& g, const float* xn, int64_t oh, int64_t c0, float* yr, const float* zr,
                        int64_t ow_lo, int64_t ow_hi) {
  for (int64_t ow = 0; ow < g.OW;) {
    const int64_t at = ow * g.C;
    if (ow >= ow_lo && ow + BP <= ow_hi) {
      dw_block<BC, BP>(g, xn, oh, ow, c0, yr + at, zr ? zr + at : nullptr);
      ow += BP;
    } else {
      dw_chunk<BC>(g, xn, oh, ow, c0, BC, yr + at, zr ? zr + at : nullptr);
      ++ow;
    }
  }
}

void dw_rows(const NhwcDw& g, int64_t b, int64_t e) {
  // output columns whose every tap column lies inside the input: [ow_lo, ow_hi)
  const int64_t ow_lo = (g.PW + g.SW - 1) / g.SW;
  const int64_t span = g.W - 1 + g.PW - (g.KW - 1) * g.DW;
  const int64_t ow_hi = span < 0 ? 0 : std::min<int64_t>(g.OW, span / g.SW + 1);
  for (int64_t t = b; t < e; ++t) {
    const int64_t n = t / g.OH, oh = t % g.OH;
    const float* xn = g.x + n * g.H * g.W * g.C;
    const int64_t row = (n * g.OH + oh) * g.OW * g.C;
    float* yr = g.y + row;
    const float* zr = g.z ? g.z + row : nullptr;
    int64_t c0 = 0;
    for (; c0 + 4 * kLanes <= g.C; c0 += 4 * kLanes) dw_row_tile<4 * kLanes, kTileP4>(g, xn, oh, c0, yr, zr, ow_lo, ow_hi);
    if (c0 + 2 * kLanes <= g.C) {
      dw_row_tile<2 * kLanes, kTileP2>(g, xn, oh, c0, yr, zr, ow_lo, ow_hi);
      c0 += 2 * kLanes;
    }
    if (c0 + kLanes <= g.C) {
      dw_row_tile<kLanes, kTileP1>(g, xn, oh, c0, yr, zr, ow_lo, ow_hi);
      c0 += kLanes;
    }
    if (c0 < g.C)
      for (int64_t ow = 0; ow < g.OW; ++ow)
        dw_chunk<0>(g, xn, oh, ow, c0, (int)(g.C - c0), yr + ow * g.C, zr ? zr + ow * g.C : nullptr);
  }
}

template <int N>
inline void pool_chunk(const NhwcPool& g, const float* xn, int64_t oh, int64_t ow, int64_t c0, int n_tail,
                       float* yp) {
  const int n = N ? N : n_tail;
  float acc[kChunk];
  const int64_t h0 = g.hf[oh], hc = g.hc[oh], w0 = g.wf[ow], wc = g.wc[ow];
  const float init = g.max ? -3.402823466e+38f : 0.f;
  for (int c = 0; c < n; ++c) acc[c] = init;
  for (int64_t a = 0; a < hc; ++a)
    for (int64_t k = 0; k < wc; ++k) {
      const float* __restrict xp = xn + ((h0 + a * g.dh) * g.IW + w0 + k * g.dw) * g.C + c0;
      if (g.max)
        for (int c = 0; c < n; ++c) acc[c] = fmax_(acc[c], xp[c]);
      else
        for (int c = 0; c < n; ++c) acc[c] += xp[c];
    }
  if (!g.max) {
    const int64_t cnt = g.include_pad ? g.hp[oh] * g.wp[ow] : hc * wc;
    // a division, as the other pooling routines round it; no tap at all gives 0
    for (int c = 0; c < n; ++c) acc[c] = cnt ? acc[c] / (float)cnt : 0.f;
  }
  for (int c = 0; c < n; ++c) yp[c0 + c] = acc[c];
}

void pool_rows(const NhwcPool& g, int64_t b, int64_t e) {
  for (int64_t t = b; t < e; ++t) {
    const int64_t n = t / g.OH, oh = t % g.OH;
    const float* xn = g.x + n * g.IH * g.IW * g.C;
    float* yr = g.y + (n * g.OH + oh) * g.OW * g.C;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      float* yp = yr + ow * g.C;
      int64_t c0 = 0;
      for (; c0 + kChunk <= g.C; c0 += kChunk) pool_chunk<kChunk>(g, xn, oh, ow, c0, kChunk, yp);
      if (c0 < g.C) pool_chunk<0>(g, xn, oh, ow, c0, (int)(g.C - c0), yp);
    }
  }
}

}  // namespace
}  // namespace layout
}  // namespace snep

// Defines the entry points of one build: SNEP_NHWC_ENTRY_POINTS(avx512).
#define SNEP_NHWC_ENTRY_POINTS(ISA)                                                                   \
  namespace snep {                                                                                    \
  namespace layout {                                                                                  \
  void dw_nhwc_##ISA(const NhwcDw& g, int64_t b, int64_t e) { dw_rows(g, b, e); }                     \
  void pool_nhwc_##ISA(const NhwcPool& g, int64_t b, int64_t e) { pool_rows(g, b, e); }               \
  }                                                                                                   \
  }
