// Depthwise QLinearConv vectorised over channels (onnxruntime runs these in
// NHWC; one plane per task spends more on its setup than on its multiply-adds
// on the 14x14 / 7x7 layers of MobileNet-style networks). The tensors stay NCHW:
// a group of 16 channels is transposed (16x16 byte blocks in registers, 64
// pixels at a time) into a zero-padded int32 plane of 16-channel pixels,
// each pixel paired with its right neighbour (two int16 in a 32-bit lane), so
// one multiply-add of whole vectors covers two horizontal taps of 16
// channels, and the requantised bytes go back to the channel planes through
// the same transpose. Planes are computed in bands of output rows whose input
// rows and accumulators fit the caches.
// Plain C types only at this boundary (the loop is compiled for AVX-512).
#pragma once
#include <cstdint>

namespace snep {
namespace qdwcv {

constexpr int kMaxTapPairs = 5 * 3;  // 5x5 kernels at most

struct Geom {
  int64_t H, W, OH, OW, kh, kw, sh, sw, pt, pl;
  int64_t Wp;      // padded row: columns (covers every tap of every output)
  int64_t BH;      // output rows per band (the plane is computed in bands that fit the caches)
};

// Scratch per group: a band of the padded plane then its int32 accumulators, 64 bytes a pixel.
inline int64_t scratch_bytes(const Geom& g) { return (((g.BH - 1) * g.sh + g.kh) * g.Wp + g.BH * g.OW) * 64; }

struct Group {
  const uint8_t* x;     // channel c0's input plane (H*W bytes; the group's channels follow at H*W apart)
  uint8_t* y;           // channel c0's output plane (OH*OW bytes)
  const uint8_t* z;     // residual, laid out like y, or nullptr
  int nc;               // channels in the group (1..16)
  int32_t xz;
  const int32_t* w;     // [kh][(kw+1)/2][16]: taps (j, j+1) of a kernel row minus their zero point as two
                        // int16 (low: j; high: j + 1, 0 past the row's end)
  const int32_t* bias;  // [16]
  const float* mult;    // [16]: x_scale * w_scale / y_scale
  int32_t yz, zz;
  float zmult, flo, fhi;  // flo/fhi: the output range minus yz
  bool y_signed, z_signed;
  void* scratch;        // scratch_bytes(), 64-byte aligned
};

// Output row bands [band0, band1) (band b: rows b*BH .. b*BH + BH - 1) of one group.
void group_avx512(const Geom& g, const Group& q, int64_t band0, int64_t band1);

}  // namespace qdwcv
}  // namespace snep
