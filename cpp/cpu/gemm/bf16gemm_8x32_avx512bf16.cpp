// AVX512-BF16 bf16gemm micro-kernel 8x32 (16 zmm accumulators); see bf16gemm_avx512bf16_kernel.h.
#include "cpu/gemm/bf16gemm_avx512bf16_kernel.h"

namespace snep {
namespace gemm {

void bf16gemm_ukernel_8x32_avx512bf16(int64_t kp, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
                                      int mr, int nr, int accumulate, const UkEpilogue* ep) {
  switch (mr) {
    case 1: return kern_bf16<1, 8>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 2: return kern_bf16<2, 8>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 3: return kern_bf16<3, 8>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 4: return kern_bf16<4, 8>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 5: return kern_bf16<5, 8>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 6: return kern_bf16<6, 8>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 7: return kern_bf16<7, 8>(kp, a, b, c, ldc, nr, accumulate, ep);
    default: return kern_bf16<8, 8>(kp, a, b, c, ldc, nr, accumulate, ep);
  }
}

}  // namespace gemm
}  // namespace snep
