// The softmax_impl.h kernels compiled with AVX2 flags; called only after a
// run-time cpu_has("avx2") check (routine isa()).
#include "cpu/softmax/softmax_impl.h"

namespace snep {
namespace detail {
void softmax_f32_avx2(int mode, const float* x, float* y, int64_t outer, int64_t n, int64_t inner, int64_t tb,
                        int64_t te) {
  smx::softmax_tasks(mode, x, y, outer, n, inner, tb, te);
}
}  // namespace detail
}  // namespace snep
