// vmath.h kernels built with AVX2 flags; called only from routines whose
// isa() is "avx2" (checked at run time).
#include "cpu/elementwise/vmath.h"

namespace snep {
namespace detail {
void vmath_f32_avx2(int fn, const float* x, float* y, int64_t n) { vm::apply(fn, x, y, n); }
}  // namespace detail
}  // namespace snep
