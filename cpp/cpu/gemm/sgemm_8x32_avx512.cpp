// AVX-512 sgemm micro-kernel 8x32 (16 zmm accumulators); see sgemm_avx512_kernel.h.
#include "cpu/gemm/sgemm_avx512_kernel.h"

namespace snep {
namespace gemm {

void sgemm_ukernel_8x32_avx512(int64_t kc, const float* a, int64_t as, const float* b, float* c, int64_t ldc,
                               int mr, int nr, int accumulate, const UkEpilogue* ep) {
  switch (mr) {
    case 1: return kern<1, 8>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 2: return kern<2, 8>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 3: return kern<3, 8>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 4: return kern<4, 8>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 5: return kern<5, 8>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 6: return kern<6, 8>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 7: return kern<7, 8>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    default: return kern<8, 8>(kc, a, as, b, c, ldc, nr, accumulate, ep);
  }
}

// A row-major, rows lda floats apart (no packing): MatMul's fed A.
void sgemm_ukernel_direct_8x32_avx512(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                                       int64_t ldc, int mr, int nr, int accumulate, const UkEpilogue* ep) {
  switch (mr) {
    case 1: return kern<1, 8, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 2: return kern<2, 8, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 3: return kern<3, 8, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 4: return kern<4, 8, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 5: return kern<5, 8, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 6: return kern<6, 8, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 7: return kern<7, 8, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    default: return kern<8, 8, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
  }
}

}  // namespace gemm
}  // namespace snep
