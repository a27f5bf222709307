// The float32 Reorder kernel (reorder.cpp) for other routines whose work is a
// layout change of the same bytes (a Transpose between NCHW and NHWC orders).
#pragma once
#include <memory>
#include <vector>

#include "core/routine.h"

namespace snep {

// A kernel converting a float32 tensor of logical `shape` from layout `from` to
// `to` (the pairs the Reorder routine supports; FailError otherwise).
std::unique_ptr<Kernel> make_reorder_kernel(const std::vector<int64_t>& shape, Layout from, Layout to);

}  // namespace snep
