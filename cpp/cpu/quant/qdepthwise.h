// Entry points of the depthwise plane loop per ISA (plain C types only).
#pragma once
#include <cstdint>

namespace snep {
namespace qdw {
struct Plane;
struct BlockSink {
  void (*fn)(void* ctx, int64_t n0, const int32_t* acc, int64_t n);
  void* ctx;
};
// The taps in pairs (t0, t1) with toff[t1] == toff[t0] + 1 (horizontal
// neighbours in one phase plane), else alone (t1 = -1); set once per kernel.
struct TapPairs {
  int nop = 0;
  int64_t off[32];
  int t0[32], t1[32];
};
inline TapPairs pair_taps(const int64_t* toff, int64_t KK) {  // KK <= 32
  TapPairs p;
  bool used[32] = {};
  for (int64_t t = 0; t < KK; ++t) {
    if (used[t]) continue;
    used[t] = true;
    int u = -1;
    for (int64_t v = 0; v < KK && u < 0; ++v)
      if (!used[v] && toff[v] == toff[t] + 1) u = (int)v;
    if (u >= 0) used[u] = true;
    p.off[p.nop] = toff[t];
    p.t0[p.nop] = (int)t;
    p.t1[p.nop] = u;
    ++p.nop;
  }
  return p;
}
// The valid columns (ow' < ow) of n wide outputs starting at wide column w0
// of a row of wq, copied densely to dense; returns how many (AVX-512 masked
// moves: a 14-wide row of a 14x14 plane is one move instead of 14).
int64_t gather_valid_avx512(const int32_t* acc, int64_t n, int64_t w0, int64_t wq, int64_t ow, int32_t* dense);
void plane_avx512(const Plane& g, const uint8_t* x, int32_t xz, const int32_t* w, const TapPairs& tp, int16_t* ph,
                  const BlockSink& sink);
}  // namespace qdw
}  // namespace snep
