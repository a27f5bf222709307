// The QLinearAdd row kernel built with AVX-512 flags; called only after a run-time check.
#include "cpu/qelementwise/qlinear_add_kernel.h"

namespace snep {
namespace detail {
void qlinear_add_u8_avx512(const uint8_t* a, const uint8_t* b, int64_t b_step, uint8_t* y, int64_t n, float ra,
                           float rb, int32_t za, int32_t zb, int32_t zc, int32_t lo) {
  qadd::add_u8(a, b, b_step, y, n, ra, rb, za, zb, zc, lo);
}
}  // namespace detail
}  // namespace snep
