// AVX-512 sgemm micro-kernel 12x32 (24 zmm accumulators); see sgemm_avx512_kernel.h.
#include "cpu/gemm/sgemm_avx512_kernel.h"

namespace snep {
namespace gemm {

void sgemm_ukernel_12x32_avx512(int64_t kc, const float* a, int64_t as, const float* b, float* c, int64_t ldc,
                               int mr, int nr, int accumulate, const UkEpilogue* ep) {
  kern_rows<12, false>(mr, kc, a, as, b, c, ldc, nr, accumulate, ep);
}

// A row-major, rows lda floats apart (no packing): MatMul's fed A.
void sgemm_ukernel_direct_12x32_avx512(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                                       int64_t ldc, int mr, int nr, int accumulate, const UkEpilogue* ep) {
  kern_rows<12, true>(mr, kc, a, lda, b, c, ldc, nr, accumulate, ep);
}

}  // namespace gemm
}  // namespace snep
