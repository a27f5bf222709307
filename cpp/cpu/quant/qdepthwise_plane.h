// One depthwise QLinearConv plane (one image, one channel), int32 accumulate.
// The input minus its zero point is laid out as int16 in sh x sw phase planes
// of Hq x Wq (phase (a, b), row i, column j = padded input (i*sh + a, j*sw + b),
// zero outside the input), so for every tap the inputs of consecutive "wide"
// outputs n' = oh * Wq + ow' are consecutive: each tap is one long
// multiply-add over the plane (the columns ow' >= OW are dropped later).
// Included by the generic and the AVX-512 translation unit.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace snep {
namespace qdw {

struct Plane {
  int64_t H, W, OH, OW, kh, kw, sh, sw, pt, pl;
  int64_t Hq, Wq;        // phase plane rows, columns
  int64_t phase_elems;   // int16 elements of the scratch ph (all phases + slack)
};

constexpr int64_t kBlock = 256;  // wide outputs per accumulator block

// x: one input plane (u8); w: kh*kw weights minus their zero point; toff[t]:
// where tap t reads, from ph; block_done(n0, acc, n) per block of wide outputs.
inline void fill(const Plane& g, const uint8_t* x, int32_t xz, int16_t* ph) {
  std::memset(ph, 0, sizeof(int16_t) * g.phase_elems);
  if (g.sw == 2 && g.pl <= 1) {  // both column phases in one pass (stride-2 loads vectorise)
    const int64_t J = std::min(g.Wq, (g.W + g.pl) / 2);  // j with both 2j - pl and 2j + 1 - pl valid but for the edges
    for (int64_t a = 0; a < g.sh; ++a)
      for (int64_t i = 0; i < g.Hq; ++i) {
        const int64_t h = i * g.sh + a - g.pt;
        if (h < 0 || h >= g.H) continue;
        const uint8_t* xr = x + h * g.W;
        int16_t* __restrict d0 = ph + (a * 2) * g.Hq * g.Wq + i * g.Wq;
        int16_t* __restrict d1 = d0 + g.Hq * g.Wq;
        // padded column 2j + b is input column 2j + b - pl
        const int64_t j0 = g.pl;  // first j whose even column is inside (pl is 0 or 1)
        if (g.pl == 1) d1[0] = (int16_t)((int32_t)xr[0] - xz);
        const uint8_t* __restrict src = xr + 2 * j0 - g.pl;
        for (int64_t j = j0; j < J; ++j) {
          d0[j] = (int16_t)((int32_t)src[2 * (j - j0)] - xz);
          d1[j] = (int16_t)((int32_t)src[2 * (j - j0) + 1] - xz);
        }
        for (int64_t j = std::max(J, j0); j < g.Wq; ++j) {
          const int64_t c0 = 2 * j - g.pl, c1 = c0 + 1;
          if (c0 >= 0 && c0 < g.W) d0[j] = (int16_t)((int32_t)xr[c0] - xz);
          if (c1 >= 0 && c1 < g.W) d1[j] = (int16_t)((int32_t)xr[c1] - xz);
        }
      }
    return;
  }
  for (int64_t a = 0; a < g.sh; ++a)
    for (int64_t b = 0; b < g.sw; ++b) {
      int16_t* P = ph + (a * g.sw + b) * g.Hq * g.Wq;
      // phase column j holds input column j*sw + b - pl
      const int64_t jlo = std::max<int64_t>(0, (g.pl - b + g.sw - 1) / g.sw);
      const int64_t jhi = std::min<int64_t>(g.Wq, (g.W + g.pl - b + g.sw - 1) / g.sw);
      for (int64_t i = 0; i < g.Hq; ++i) {
        const int64_t h = i * g.sh + a - g.pt;
        if (h < 0 || h >= g.H) continue;
        const uint8_t* __restrict xr = x + h * g.W + b - g.pl;
        int16_t* __restrict d = P + i * g.Wq;
        if (g.sw == 1)
          for (int64_t j = jlo; j < jhi; ++j) d[j] = (int16_t)((int32_t)xr[j] - xz);
        else
          for (int64_t j = jlo; j < jhi; ++j) d[j] = (int16_t)((int32_t)xr[j * g.sw] - xz);
      }
    }
}

template <class BlockFn>
inline void plane(const Plane& g, const uint8_t* x, int32_t xz, const int32_t* w, const int64_t* toff, int16_t* ph,
                  BlockFn block_done) {
  fill(g, x, xz, ph);
  const int64_t NW = g.OH * g.Wq, KK = g.kh * g.kw;
  alignas(64) int32_t acc[kBlock];
  for (int64_t n0 = 0; n0 < NW; n0 += kBlock) {
    for (int j = 0; j < kBlock; ++j) acc[j] = 0;
    for (int64_t t = 0; t < KK; ++t) {
      const int16_t* r = ph + toff[t] + n0;
      const int32_t wv = w[t];
      for (int j = 0; j < kBlock; ++j) acc[j] += wv * (int32_t)r[j];
    }
    block_done(n0, acc, std::min(kBlock, NW - n0));
  }
}

}  // namespace qdw
}  // namespace snep
