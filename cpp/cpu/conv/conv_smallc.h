// Direct float32 Conv for few input channels (network stems: 3 -> 32/64
// channels, 3x3 or 7x7, stride 1 or 2), NCHW in and out. im2col + GEMM runs
// these at K = C*kh*kw = 27..147, too short for a GEMM tile to pay for its
// stores; here each task keeps 8 output channels x 32 output columns in
// registers over every tap. The input is first split, with its zero padding,
// into s x s phase planes so every tap reads contiguous columns:
//   plane (c, a, b)[i][j] = padded x[c][i*s + a][j*s + b]
// Plain C types only (the kernel file is built with AVX-512 flags).
#pragma once
#include <cstdint>

namespace snep {
namespace conv {

constexpr int kSmallcOCB = 8;   // output channels per task (weights padded to a multiple)
constexpr int kSmallcMaxK = 7;  // kernel rows / columns

struct SmallcGeom {
  int64_t C, M, OH, OW, kh, kw, s;
  int64_t Hq, Wq;  // phase plane rows, columns (columns include a vector of slack)
};

// Output rows [oh0, oh1) of output channels [8*ob, 8*ob + 8) (those < M
// stored) of one image: y = bias + conv (+ z), then mode 1: max(y, lo) (Relu),
// 2: min(max(y, lo), hi) (Clip), 0: as is. planes: C*s*s planes of Hq*Wq;
// w: [M/8 blocks][C][kh][kw][8].
void smallc_rows_avx512(const SmallcGeom& g, const float* planes, const float* w, const float* bias, const float* z,
                        float* y, int64_t ob, int64_t oh0, int64_t oh1, int mode, float lo, float hi);
// One phase-plane row: d[j] = x[j*s + off] where 0 <= j*s + off < W, else 0, for j < Wq (s = 1 or 2).
void smallc_fill_row_avx512(const float* x, int64_t W, int64_t s, int64_t off, float* d, int64_t Wq);

}  // namespace conv
}  // namespace snep
