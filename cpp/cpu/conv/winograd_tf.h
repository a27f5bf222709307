// Winograd F(m x m, 3 x 3) tile transforms (m = 2 or 4), written as plain
// loops over runs of up to kWinoSeg tiles of one tile row so that they
// vectorise across tiles. Included by winograd.cpp (baseline ISA) and
// winograd_avx512.cpp (compiled with AVX-512 flags); everything is in an
// anonymous namespace so each translation unit keeps its own copy.
//
// Points 0, 1, -1 (F(2,3)) and 0, +-1, +-2 (F(4,3)), inf; the usual
// Lavin & Gray matrices:
//   F(2,3)  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//           A^T = [1 1 1 0; 0 1 -1 -1]
//   F(4,3)  B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
//                  0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//           A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// (G, the weight transform, is in winograd.cpp: done once at prepare.)
#pragma once
#include <algorithm>
#include <cstdint>

#include "cpu/activation.h"

namespace snep {
namespace wino {

constexpr int kWinoSeg = 64;  // tiles per transform call (stack buffers)

// Signatures shared by both ISA builds.
//  in:  one input channel plane xc [H][W]; the tiles whose (alpha x alpha)
//       windows start at row iy0 and columns ix0 + m*t, t < n (outside the
//       plane reads as zero); writes element xi of tile t at dst[xi*xs + t].
//  out: element xi of tile t at src[xi*ms + t]; writes the m x m outputs of
//       each tile at y[(oy0+a)*OW + ox0 + m*t + b] (clipped to OH x OW) as
//       act(value + bias + z[same index]) (z may be null).
using InFn = void (*)(const float* xc, int64_t H, int64_t W, int64_t iy0, int64_t ix0, int64_t n, float* dst,
                      int64_t xs);
using OutFn = void (*)(const float* src, int64_t ms, int64_t n, float* y, const float* z, int64_t OH, int64_t OW,
                       int64_t oy0, int64_t ox0, float bias, const Activation& act);

//  out_tr (transposed GEMM, tiles as rows): element xi of tile t and output
//       channel oc0 + l at src[xi*ms + l], l < nc <= 16; writes that tile's
//       m x m outputs of channels oc0 + l (planes OH*OW apart, y and z at
//       channel oc0) as act(value + bias[l] + z) (bias, z may be null).
using OutTrFn = void (*)(const float* src, int64_t ms, int64_t nc, float* y, const float* z, int64_t OH, int64_t OW,
                         int64_t oy0, int64_t ox0, const float* bias, const Activation& act);

struct Fns {
  InFn in2, in4;
  OutFn out2, out4;
  OutTrFn out_tr2, out_tr4;  // AVX-512 only (null in the plain build)
};

}  // namespace wino
}  // namespace snep

namespace {

template <int m> struct WT;

template <> struct WT<2> {
  static inline void bt(const float* const* d, float* const* o, int64_t n) {
    const float* __restrict d0 = d[0]; const float* __restrict d1 = d[1];
    const float* __restrict d2 = d[2]; const float* __restrict d3 = d[3];
    float* __restrict o0 = o[0]; float* __restrict o1 = o[1];
    float* __restrict o2 = o[2]; float* __restrict o3 = o[3];
    for (int64_t j = 0; j < n; ++j) {
      float a0 = d0[j], a1 = d1[j], a2 = d2[j], a3 = d3[j];
      o0[j] = a0 - a2;
      o1[j] = a1 + a2;
      o2[j] = a2 - a1;
      o3[j] = a1 - a3;
    }
  }
  static inline void at(const float* const* s, float* const* o, int64_t n) {
    const float* __restrict s0 = s[0]; const float* __restrict s1 = s[1];
    const float* __restrict s2 = s[2]; const float* __restrict s3 = s[3];
    float* __restrict o0 = o[0]; float* __restrict o1 = o[1];
    for (int64_t j = 0; j < n; ++j) {
      float a1 = s1[j], a2 = s2[j];
      o0[j] = s0[j] + a1 + a2;
      o1[j] = a1 - a2 - s3[j];
    }
  }
};

template <> struct WT<4> {
  static inline void bt(const float* const* d, float* const* o, int64_t n) {
    const float* __restrict d0 = d[0]; const float* __restrict d1 = d[1];
    const float* __restrict d2 = d[2]; const float* __restrict d3 = d[3];
    const float* __restrict d4 = d[4]; const float* __restrict d5 = d[5];
    float* __restrict o0 = o[0]; float* __restrict o1 = o[1]; float* __restrict o2 = o[2];
    float* __restrict o3 = o[3]; float* __restrict o4 = o[4]; float* __restrict o5 = o[5];
    for (int64_t j = 0; j < n; ++j) {
      float a0 = d0[j], a1 = d1[j], a2 = d2[j], a3 = d3[j], a4 = d4[j], a5 = d5[j];
      float p = a4 - 4.f * a2, q = a3 - 4.f * a1;   // rows 1,2: p +- q
      float r = a4 - a2, s = 2.f * (a3 - a1);       // rows 3,4: r +- s
      o0[j] = 4.f * a0 - 5.f * a2 + a4;
      o1[j] = p + q;
      o2[j] = p - q;
      o3[j] = r + s;
      o4[j] = r - s;
      o5[j] = 4.f * a1 - 5.f * a3 + a5;
    }
  }
  static inline void at(const float* const* s, float* const* o, int64_t n) {
    const float* __restrict s0 = s[0]; const float* __restrict s1 = s[1]; const float* __restrict s2 = s[2];
    const float* __restrict s3 = s[3]; const float* __restrict s4 = s[4]; const float* __restrict s5 = s[5];
    float* __restrict o0 = o[0]; float* __restrict o1 = o[1];
    float* __restrict o2 = o[2]; float* __restrict o3 = o[3];
    for (int64_t j = 0; j < n; ++j) {
      float p = s1[j] + s2[j], q = s1[j] - s2[j];
      float u = s3[j] + s4[j], v = s3[j] - s4[j];
      o0[j] = s0[j] + p + u;
      o1[j] = q + 2.f * v;
      o2[j] = p + 4.f * u;
      o3[j] = q + 8.f * v + s5[j];
    }
  }
};

template <int m>
void wino_in(const float* xc, int64_t H, int64_t W, int64_t iy0, int64_t ix0, int64_t n, float* dst, int64_t xs) {
  constexpr int A = m + 2;
  constexpr int S = snep::wino::kWinoSeg + 16;
  alignas(64) float ph[A][m][S];  // ph[r][k][t] = x[iy0 + r][ix0 + m*t + k]
  alignas(64) float tt[A][m][S];
  const int64_t np = n + 1;  // the windows overlap: tile t reads phases of t and t+1
  for (int r = 0; r < A; ++r) {
    const int64_t iy = iy0 + r;
    if (iy < 0 || iy >= H) {
      for (int k = 0; k < m; ++k) std::fill(ph[r][k], ph[r][k] + np, 0.f);
      continue;
    }
    const float* row = xc + iy * W;
    if (ix0 >= 0 && ix0 + m * np <= W) {
      const float* rp = row + ix0;
      for (int64_t t = 0; t < np; ++t)
        for (int k = 0; k < m; ++k) ph[r][k][t] = rp[m * t + k];
    } else {
      for (int64_t t = 0; t < np; ++t)
        for (int k = 0; k < m; ++k) {
          const int64_t ix = ix0 + m * t + k;
          ph[r][k][t] = (ix >= 0 && ix < W) ? row[ix] : 0.f;
        }
    }
  }
  // Columns: tt[i][k] = sum_r BT[i][r] ph[r][k].
  for (int k = 0; k < m; ++k) {
    const float* in[A];
    float* out[A];
    for (int r = 0; r < A; ++r) { in[r] = ph[r][k]; out[r] = tt[r][k]; }
    WT<m>::bt(in, out, np);
  }
  // Rows: element (i, j) = sum_q BT[j][q] tt[i][q % m][t + q / m].
  for (int i = 0; i < A; ++i) {
    const float* in[A];
    float* out[A];
    for (int q = 0; q < A; ++q) in[q] = tt[i][q % m] + q / m;
    for (int j = 0; j < A; ++j) out[j] = dst + (int64_t)(i * A + j) * xs;
    WT<m>::bt(in, out, n);
  }
}

template <int m>
void wino_out(const float* src, int64_t ms, int64_t n, float* y, const float* z, int64_t OH, int64_t OW, int64_t oy0,
              int64_t ox0, float bias, const snep::Activation& act) {
  constexpr int A = m + 2;
  constexpr int S = snep::wino::kWinoSeg;
  alignas(64) float s[A][m][S];   // after the row pass
  alignas(64) float o[m][m][S];   // o[a][b][t]: output (a, b) of tile t
  for (int i = 0; i < A; ++i) {
    const float* in[A];
    float* out[m];
    for (int j = 0; j < A; ++j) in[j] = src + (int64_t)(i * A + j) * ms;
    for (int b = 0; b < m; ++b) out[b] = s[i][b];
    WT<m>::at(in, out, n);
  }
  for (int b = 0; b < m; ++b) {
    const float* in[A];
    float* out[m];
    for (int i = 0; i < A; ++i) in[i] = s[i][b];
    for (int a = 0; a < m; ++a) out[a] = o[a][b];
    WT<m>::at(in, out, n);
  }
  const int64_t w = std::min<int64_t>(m * n, OW - ox0);
  for (int a = 0; a < m; ++a) {
    const int64_t oy = oy0 + a;
    if (oy >= OH) break;
    float* __restrict yr = y + oy * OW + ox0;
    const float* oa[m];
    for (int b = 0; b < m; ++b) oa[b] = o[a][b];
    const int64_t full = w / m;
    if (z) {
      const float* __restrict zr = z + oy * OW + ox0;
      for (int64_t t = 0; t < full; ++t)
        for (int b = 0; b < m; ++b) yr[m * t + b] = oa[b][t] + bias + zr[m * t + b];
      for (int64_t x = full * m; x < w; ++x) yr[x] = oa[x % m][x / m] + bias + zr[x];
    } else {
      for (int64_t t = 0; t < full; ++t)
        for (int b = 0; b < m; ++b) yr[m * t + b] = oa[b][t] + bias;
      for (int64_t x = full * m; x < w; ++x) yr[x] = oa[x % m][x / m] + bias;
    }
    act.apply(yr, w);
  }
}

}  // namespace
