// Ops that only copy bytes: Identity, Dropout (inference), Reshape, Flatten,
// Squeeze, Unsqueeze. Any dtype. (A later plan pass may alias them instead.)
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/common.h"

namespace snep {
namespace {

bool copy_supports(const Layer& l) {
  return !l.inputs.empty() && l.inputs[0].present && !l.outputs.empty() &&
         l.in(0).dtype == l.out(0).dtype && l.in(0).numel() == l.out(0).numel() &&
         dtype_size(l.in(0).dtype) > 0;
}

std::unique_ptr<Kernel> copy_prepare(const Layer& l) {
  size_t bytes = l.in(0).bytes();
  bool dropout_mask = l.op == "Dropout" && l.outputs.size() > 1;
  size_t mask_bytes = dropout_mask ? l.out(1).bytes() : 0;
  return std::make_unique<FnKernel>([bytes, mask_bytes](const RunArgs& a) {
    if (a.out[0] != a.in[0] && bytes) std::memcpy(a.out[0], a.in[0], bytes);
    if (mask_bytes) std::memset(a.out[1], 1, mask_bytes);  // inference: every element kept
  });
}

SNEP_REGISTER_LAMBDA("Identity", "cpu/copy", copy_supports, copy_prepare);
SNEP_REGISTER_LAMBDA("Dropout", "cpu/copy", copy_supports, copy_prepare);
SNEP_REGISTER_LAMBDA("Reshape", "cpu/copy", copy_supports, copy_prepare);
SNEP_REGISTER_LAMBDA("Flatten", "cpu/copy", copy_supports, copy_prepare);
SNEP_REGISTER_LAMBDA("Squeeze", "cpu/copy", copy_supports, copy_prepare);
SNEP_REGISTER_LAMBDA("Unsqueeze", "cpu/copy", copy_supports, copy_prepare);

}  // namespace
}  // namespace snep
