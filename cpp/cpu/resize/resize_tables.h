// What the layout routines need of Resize (resize.cpp resolves every mode): the
// source row of each output row and source column of each output column of a
// nearest-neighbour Resize / Upsample of a rank-4 float32 tensor with constant
// scales or sizes that keeps N and C; false when the layer is not such a resize.
#pragma once
#include <cstdint>
#include <vector>

#include "core/routine.h"

namespace snep {
namespace resize {

bool nearest_2d_tables(const Layer& l, std::vector<int64_t>* rows, std::vector<int64_t>* cols);

}  // namespace resize
}  // namespace snep
