// vmath.h kernels built with AVX-512 flags; called only from routines whose
// isa() is "avx512f" (checked at run time). GELU (erf and tanh forms) runs on whole
// zmm vectors through cpu/simd/vec.h: 1.3-2x faster than the auto-vectorised vmath.h
// loop (98K elements: 72-108 us against 134-144, alternated runs on a noisy host).
#include "cpu/elementwise/vmath.h"
#define SNEP_VEC_LANES 16
#include "cpu/simd/vec.h"

namespace snep {
namespace {

using namespace simd;

template <V (*F)(V)>
void gelu_n(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) vstoreu(y + i, F(vloadu(x + i)));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, F(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

}  // namespace

namespace detail {
// In place over rows [0, mr) of nr floats, ldc apart (a GEMM tile's epilogue): one call per
// tile, the function chosen once (a call per 32-float row cost about a third of the GELU).
void gelu_rows_f32_avx512(bool tanh_form, float* c, int64_t ldc, int mr, int nr) {
  for (int r = 0; r < mr; ++r) {
    if (tanh_form) gelu_n<vgelu_tanh>(c + r * ldc, c + r * ldc, nr);
    else gelu_n<vgelu_erf>(c + r * ldc, c + r * ldc, nr);
  }
}

void vmath_f32_avx512(int fn, const float* x, float* y, int64_t n) {
  if (fn == vm::kGeluErf) return gelu_n<vgelu_erf>(x, y, n);
  if (fn == vm::kGeluTanh) return gelu_n<vgelu_tanh>(x, y, n);
  vm::apply(fn, x, y, n);
}
}  // namespace detail
}  // namespace snep
