// vmath.h kernels built with AVX-512 flags; called only from routines whose
// isa() is "avx512f" (checked at run time).
#include "cpu/elementwise/vmath.h"

namespace snep {
namespace detail {
void vmath_f32_avx512(int fn, const float* x, float* y, int64_t n) { vm::apply(fn, x, y, n); }
}  // namespace detail
}  // namespace snep
