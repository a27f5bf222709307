// Relu: the simplest routine, and the model for a LambdaRoutine.
#include <algorithm>

#include "core/thread_pool.h"
#include "cpu/common.h"

namespace snep {
namespace {

bool relu_supports(const Layer& l) { return l.inputs.size() == 1 && all_float32(l); }

std::unique_ptr<Kernel> relu_prepare(const Layer& l) {
  int64_t n = l.in(0).numel();
  return std::make_unique<FnKernel>([n](const RunArgs& a) {
    const float* x = static_cast<const float*>(a.in[0]);
    float* y = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = std::max(x[i], 0.0f);
    });
  });
}

SNEP_REGISTER_LAMBDA("Relu", "cpu:float32/direct", relu_supports, relu_prepare);

}  // namespace
}  // namespace snep
