// What the layout routines need of Resize (resize.cpp resolves every mode): the
// source row of each output row and source column of each output column of a
// nearest-neighbour Resize / Upsample of a rank-4 float32 tensor with constant
// scales or sizes that keeps N and C; false when the layer is not such a resize.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/routine.h"

namespace snep {
namespace resize {

bool nearest_2d_tables(const Layer& l, std::vector<int64_t>* rows, std::vector<int64_t>* cols);

// Its kernel for tensors laid out as `planes` planes of [H][W][lanes] (NHWC: N planes of C lanes;
// NCHW16c: N*ceil(C/16) planes of 16): per output pixel, its source pixel's lanes.
std::unique_ptr<Kernel> nearest_2d_kernel(const Layer& l, int64_t planes, int64_t lanes);

}  // namespace resize
}  // namespace snep
