// Indirect qgemm micro-kernels for NHWC convolution: u8 activations read in
// place through a table of pixel pointers (no im2col, no packing), s8 weights
// pre-packed, the requantization fused.
//
//   y[i][c] = requant( sum_tap sum_k x_i,tap[k] * w[c][tap][k] )   i < MR pixels, c < NR channels
//
// ptrs[tap * MR + i] points at the C input bytes pixel i reads at that tap (a
// row of x_zp bytes where the tap falls in the padding); rows i >= mr repeat a
// valid pointer and are computed but not stored. C is a multiple of 4.
//   packed weights: [tap][C/4][NR][4] s8, channels past the layer's zero.
// The epilogue is QRow's (cpu/qgemm/qgemm_ukernel.h) without colsum, weight
// zero points being 0: v = float(acc + c0[c]) * mult[c] (+ float(z - zz) * zmult),
// clamped to [flo, fhi], rounded half to even, + yz.
#pragma once
#include <cstdint>

namespace snep {
namespace qigemm {

struct QITile {
  int64_t taps, kq;            // kernel taps; quads per tap (C / 4)
  const uint8_t* const* ptrs;  // [taps][MR]
  const int8_t* w;             // the channel panel's packed weights
  int mr, nc;                  // pixels and channels stored (mr <= MR, nc <= NR)
  const int32_t* c0;           // per channel (NR readable)
  const float* mult;
  int32_t yz, zz;
  float flo, fhi, zmult;       // flo / fhi: the output range minus yz
  const uint8_t* z;            // residual (pixel i's channels at z + i * ld), or null
  int z_signed, y_signed;
  uint8_t* y;                  // pixel i's channels at y + i * ld
  int64_t ld;
  // The rounded residual (qlinear_fused.h), when rounded: the u8 result above is a, and
  // y = QLinearAdd(a, z) = clamp(round_half_even((a - ya) * ra + (z - zb) * rb) + yc, lo, 255)
  // with the arithmetic of qlinear_add_u8_avx512: float32 with an error bound tol (< 1/64),
  // lanes within tol of a tie redone exactly (qlinear_add_kernel.h).
  int rounded;
  float ra, rb, tol;
  int32_t ya, zb, yc, lo;
};
using QITileFn = void (*)(const QITile& t);

constexpr int kMR = 6, kNR = 64;
void qigemm_6x64_avx512vnni(const QITile& t);

}  // namespace qigemm
}  // namespace snep
