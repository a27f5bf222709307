// Depthwise QLinearConv on NHWC u8 activations, one output row per call (AVX-512 BW).
// 32 channels at a time: the u8 inputs of two taps are widened to int16 and
// interleaved per channel, so one vpmaddwd against the packed weights adds both
// taps' products into int32 (exact). The interleave works within 128-bit lanes, so
// the two int32 halves ("lo", "hi") hold channels 8L+j and 8L+4+j (L the lane, j < 4);
// weights, c0 and mult are packed in that order, and the saturating int32 -> int16
// pack of lo and hi puts the results back in channel order.
//   packed weights: [C/32 groups][tap pairs][lo, hi][32] int16 (missing taps and channels 0)
//   c0, mult:       [C/32 groups][lo, hi][16]
// The requantization is QRow's (cpu/qgemm/qgemm_ukernel.h) without zero-point or residual terms:
// v = float(acc + c0) * mult, clamped to [flo, fhi], rounded half to even, + yz.
#pragma once
#include <cstdint>

namespace snep {
namespace qdw {

constexpr int64_t kMaxTaps = 25;  // 5x5: the row kernel's pointer array

struct NhwcRow {
  int64_t ow;                // output pixels in the row
  int64_t taps, C;
  const int32_t* off;        // [ow][taps]: input offset of each tap, -1 in the padding
  const uint8_t* x;          // the image
  const uint8_t* pad;        // C bytes of x_zp (32 more readable)
  const int16_t* w;
  const int32_t* c0;
  const float* mult;
  int32_t yz;
  float flo, fhi;            // the output range minus yz
  uint8_t* y;                // pixel i's C channels at y + i * C
};

inline int64_t groups(int64_t C) { return (C + 31) / 32; }
inline int64_t pairs(int64_t taps) { return (taps + 1) / 2; }
// Where channel c's weight for tap t goes in the packed weights, and its c0 / mult slot.
inline int64_t packed_w_index(int64_t c, int64_t t, int64_t taps) {
  const int64_t g = c / 32, cc = c % 32, lane = cc / 8, half = (cc % 8) / 4, j = cc % 4;
  return ((g * pairs(taps) + t / 2) * 2 + half) * 32 + lane * 8 + 2 * j + t % 2;
}
inline int64_t packed_c_index(int64_t c) {
  const int64_t g = c / 32, cc = c % 32, lane = cc / 8, half = (cc % 8) / 4, j = cc % 4;
  return (g * 2 + half) * 16 + lane * 4 + j;
}

void nhwc_row_avx512(const NhwcRow& r);

}  // namespace qdw
}  // namespace snep
