// NHWC float32 kernels (channels last: every pixel's channels contiguous), in
// one portable body (nhwc_kernels_impl.h) compiled three times: with AVX-512
// flags (nhwc_avx512.cpp), AVX2 + FMA (nhwc_avx2.cpp) and the x86-64 baseline
// (nhwc_generic.cpp). The loops run along channels, so each build vectorises
// them at its own width. Plain structs only cross this interface.
#pragma once
#include <cstdint>

#include "cpu/layout/layout_kernels.h"

namespace snep {
namespace layout {

// Depthwise conv (group == C == M): x [N][H][W][C], w [KH*KW][C] (packed at
// prepare), bias [C] (zeros when the layer has none), z (residual, NHWC) or null.
struct NhwcDw {
  const float *x, *w, *bias, *z;
  float* y;
  int64_t H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW;
  ActP act;
};

// MaxPool / AveragePool: per output row and column, the first valid input
// position, the valid tap count and (AveragePool, count_include_pad) the
// padded tap count, as layout::pool_dims resolves them.
struct NhwcPool {
  const float* x;
  float* y;
  int64_t IH, IW, C, OH, OW, dh, dw;
  const int64_t *hf, *hc, *hp, *wf, *wc, *wp;
  int max = 1;
  int include_pad = 0;
};

// Work items are output rows: item t is image t / OH, row t % OH.
using NhwcDwFn = void (*)(const NhwcDw&, int64_t b, int64_t e);
using NhwcPoolFn = void (*)(const NhwcPool&, int64_t b, int64_t e);

void dw_nhwc_avx512(const NhwcDw& g, int64_t b, int64_t e);
void dw_nhwc_avx2(const NhwcDw& g, int64_t b, int64_t e);
void dw_nhwc_generic(const NhwcDw& g, int64_t b, int64_t e);
void pool_nhwc_avx512(const NhwcPool& g, int64_t b, int64_t e);
void pool_nhwc_avx2(const NhwcPool& g, int64_t b, int64_t e);
void pool_nhwc_generic(const NhwcPool& g, int64_t b, int64_t e);

}  // namespace layout
}  // namespace snep
