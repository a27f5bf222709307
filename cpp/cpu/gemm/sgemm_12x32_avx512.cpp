// AVX-512 sgemm micro-kernel 12x32 (24 zmm accumulators); see sgemm_avx512_kernel.h.
#include "cpu/gemm/sgemm_avx512_kernel.h"

namespace snep {
namespace gemm {

void sgemm_ukernel_12x32_avx512(int64_t kc, const float* a, int64_t as, const float* b, float* c, int64_t ldc,
                               int mr, int nr, int accumulate, const UkEpilogue* ep) {
  switch (mr) {
    case 1: return kern<1, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 2: return kern<2, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 3: return kern<3, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 4: return kern<4, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 5: return kern<5, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 6: return kern<6, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 7: return kern<7, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 8: return kern<8, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 9: return kern<9, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 10: return kern<10, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 11: return kern<11, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    default: return kern<12, 12>(kc, a, as, b, c, ldc, nr, accumulate, ep);
  }
}

// A row-major, rows lda floats apart (no packing): MatMul's fed A.
void sgemm_ukernel_direct_12x32_avx512(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                                       int64_t ldc, int mr, int nr, int accumulate, const UkEpilogue* ep) {
  switch (mr) {
    case 1: return kern<1, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 2: return kern<2, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 3: return kern<3, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 4: return kern<4, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 5: return kern<5, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 6: return kern<6, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 7: return kern<7, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 8: return kern<8, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 9: return kern<9, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 10: return kern<10, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    case 11: return kern<11, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
    default: return kern<12, 12, true>(kc, a, lda, b, c, ldc, nr, accumulate, ep);
  }
}

}  // namespace gemm
}  // namespace snep
