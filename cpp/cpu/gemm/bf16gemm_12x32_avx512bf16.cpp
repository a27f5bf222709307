// AVX512-BF16 bf16gemm micro-kernel 12x32 (24 zmm accumulators); see bf16gemm_avx512bf16_kernel.h.
#include "cpu/gemm/bf16gemm_avx512bf16_kernel.h"

namespace snep {
namespace gemm {

void bf16gemm_ukernel_12x32_avx512bf16(int64_t kp, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
                                       int mr, int nr, int accumulate, const UkEpilogue* ep) {
  switch (mr) {
    case 1: return kern_bf16<1, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 2: return kern_bf16<2, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 3: return kern_bf16<3, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 4: return kern_bf16<4, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 5: return kern_bf16<5, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 6: return kern_bf16<6, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 7: return kern_bf16<7, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 8: return kern_bf16<8, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 9: return kern_bf16<9, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 10: return kern_bf16<10, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    case 11: return kern_bf16<11, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
    default: return kern_bf16<12, 12>(kp, a, b, c, ldc, nr, accumulate, ep);
  }
}

}  // namespace gemm
}  // namespace snep
