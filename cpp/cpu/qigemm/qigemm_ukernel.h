// Indirect qgemm micro-kernels for NHWC convolution: u8 activations read in
// place through a table of pixel pointers (no im2col, no packing), s8 weights
// pre-packed, the requantization fused. Shapes 6x64 and 12x32 (MR x NR below).
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
  // fclamp 0: no requantized value can reach +-2^30 (checked per run), so the clamp to [qlo, qhi] (the output
  // range met with the activation's) is left to the byte packs' saturation and a byte max / min
  int fclamp;
  int32_t qlo, qhi;
};
using QITileFn = void (*)(const QITile& t);

// MR pixels x NR channels; packed weights [tap][C/4][NR][4], ptrs [tap][MR].
struct QIKernel {
  int mr, nr;
  QITileFn fn;
};
void qigemm_6x64_avx512vnni(const QITile& t);
void qigemm_12x32_avx512vnni(const QITile& t);
// 6x64, or 12x32 where M leaves at most half of its last 64-wide panel used (M % 64 in 1..32).
inline QIKernel kernel_for(int64_t M) {
  const int64_t r = M % 64;
  if (r != 0 && r <= 32) return QIKernel{12, 32, qigemm_12x32_avx512vnni};
  return QIKernel{6, 64, qigemm_6x64_avx512vnni};
}

}  // namespace qigemm
}  // namespace snep
