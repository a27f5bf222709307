// AVX-VNNI qgemm micro-kernel 6x16 for AVX2-class CPUs with the VEX-encoded
// vpdpbusd (u8 activations x s8 weights summed 4 at a time into int32, no
// saturation): 12 ymm accumulators, two B vectors and one broadcast, within
// the 16 ymm registers. Same panels as the AVX-512 VNNI kernels, NR = 16.
#include <immintrin.h>

#include "cpu/qgemm/qgemm_ukernel.h"

namespace snep {
namespace qgemm {
namespace {

constexpr int MR = 6;

// Named accumulators (an array of them spilled to the stack), all MR rows computed, R stored.
#define SNEP_V_DECL(i) __m256i c##i##_0 = _mm256_setzero_si256(), c##i##_1 = _mm256_setzero_si256();
#define SNEP_V_STEP(i)                                                                  \
  {                                                                                   \
    const __m256i w = _mm256_set1_epi32(*reinterpret_cast<const int32_t*>(a + 4 * i)); \
    c##i##_0 = _mm256_dpbusd_avx_epi32(c##i##_0, b0, w);                              \
    c##i##_1 = _mm256_dpbusd_avx_epi32(c##i##_1, b1, w);                              \
  }
#define SNEP_V_STORE(i)                                                           \
  if (i < R) {                                                                  \
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * ldc), c##i##_0);      \
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * ldc + 8), c##i##_1);  \
  }
#define SNEP_V_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

template <int R>
void kern(int64_t kq, const int8_t* a, const uint8_t* b, int32_t* c, int64_t ldc) {
  SNEP_V_ROWS(SNEP_V_DECL)
  for (int64_t q = 0; q < kq; ++q) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
    SNEP_V_ROWS(SNEP_V_STEP)
    a += 4 * MR;
    b += 64;
  }
  SNEP_V_ROWS(SNEP_V_STORE)
}

}  // namespace

void qgemm_ukernel_6x16_avxvnni(int64_t kq, const void* av, const uint8_t* b, int32_t* c, int64_t ldc, int mr) {
  const int8_t* a = static_cast<const int8_t*>(av);
  switch (mr) {
    case 1: return kern<1>(kq, a, b, c, ldc);
    case 2: return kern<2>(kq, a, b, c, ldc);
    case 3: return kern<3>(kq, a, b, c, ldc);
    case 4: return kern<4>(kq, a, b, c, ldc);
    case 5: return kern<5>(kq, a, b, c, ldc);
    default: return kern<6>(kq, a, b, c, ldc);
  }
}

}  // namespace qgemm
}  // namespace snep
