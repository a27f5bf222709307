// One depthwise QLinearConv plane (one image, one channel), int32 accumulate:
// the input minus its zero point is laid out as int16 in `s` column phases
// (phase ph, row ih, column j = input column j*s + ph - pad_left, zero outside),
// so every kernel tap reads a contiguous run for any stride. Included by the
// generic and the AVX-512 translation unit (compiled with their own flags).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace snep {
namespace qdw {

struct Plane {
  int64_t H, W, OH, OW, kh, kw, sh, sw, pt, pl;
  int64_t Hp, Wq;  // padded rows; columns per phase
};

// x: one input plane (u8); w: kh*kw weights minus their zero point; ph: scratch
// of sw*Hp*Wq int16; acc: OW int32; row_done(oh, acc) called per output row.
template <class RowFn>
inline void plane(const Plane& g, const uint8_t* x, int32_t xz, const int32_t* w, int16_t* ph, int32_t* acc,
                  RowFn row_done) {
  std::memset(ph, 0, sizeof(int16_t) * g.sw * g.Hp * g.Wq);
  for (int64_t b = 0; b < g.sw; ++b) {
    // phase b holds padded columns j*sw + b, i.e. input columns j*sw + b - pl
    const int64_t jlo = std::max<int64_t>(0, (g.pl - b + g.sw - 1) / g.sw);
    const int64_t jhi = std::min<int64_t>(g.Wq, (g.W + g.pl - b + g.sw - 1) / g.sw);
    for (int64_t i = 0; i < g.H; ++i) {
      const uint8_t* xr = x + i * g.W + b - g.pl;
      int16_t* d = ph + (b * g.Hp + i + g.pt) * g.Wq;
      for (int64_t j = jlo; j < jhi; ++j) d[j] = (int16_t)((int32_t)xr[j * g.sw] - xz);
    }
  }
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    for (int64_t o = 0; o < g.OW; ++o) acc[o] = 0;
    for (int64_t a = 0; a < g.kh; ++a) {
      const int64_t ih = oh * g.sh + a;
      for (int64_t b = 0; b < g.kw; ++b) {
        const int16_t* r = ph + ((b % g.sw) * g.Hp + ih) * g.Wq + b / g.sw;
        const int32_t wv = w[a * g.kw + b];
        for (int64_t o = 0; o < g.OW; ++o) acc[o] += wv * (int32_t)r[o];
      }
    }
    row_done(oh, acc);
  }
}

}  // namespace qdw
}  // namespace snep
