// Depthwise QLinearConv vectorised over channels, for small planes (the
// 14x14 / 7x7 layers of MobileNet-style networks, where one plane per task
// spends more on its setup than on its multiply-adds). The tensors stay NCHW:
// a group of 16 channels is gathered into a zero-padded int32 plane of
// 16-channel pixels (one 32-bit gather brings 4 consecutive pixels of each
// channel), every tap is then one multiply-add of whole vectors, and the
// requantised bytes go back 4 pixels per channel with one 32-bit scatter.
// Plain C types only at this boundary (the loop is compiled for AVX-512).
#pragma once
#include <cstdint>

namespace snep {
namespace qdwcv {

struct Geom {
  int64_t H, W, OH, OW, kh, kw, sh, sw, pt, pl;
  int64_t Hp, Wp;  // padded plane: rows, columns (covers every tap of every output)
};

// Scratch per group: the padded plane then the int32 accumulators, 64 bytes a pixel.
inline int64_t scratch_bytes(const Geom& g) { return (g.Hp * g.Wp + g.OH * g.OW) * 64; }

struct Group {
  const uint8_t* x;     // channel c0's input plane (H*W bytes; the group's channels follow at H*W apart)
  uint8_t* y;           // channel c0's output plane (OH*OW bytes)
  const uint8_t* z;     // residual, laid out like y, or nullptr
  int nc;               // channels in the group (1..16)
  int32_t xz;
  const int32_t* w;     // [kh*kw][16]: weight minus its zero point in the low 16 bits, high 16 bits zero
  const int32_t* bias;  // [16]
  const float* mult;    // [16]: x_scale * w_scale / y_scale
  int32_t yz, zz;
  float zmult, flo, fhi;  // flo/fhi: the output range minus yz
  bool y_signed, z_signed;
  void* scratch;        // scratch_bytes(), 64-byte aligned
};

void group_avx512(const Geom& g, const Group& q);

}  // namespace qdwcv
}  // namespace snep
