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
