#include <immintrin.h>

#include "cpu/probe/peak_probe.h"

namespace snep::probe {

// 16 ymm registers: 14 accumulators + 2 operands.
double fma_chains_avx2(int64_t iters) {
  __m256 acc[14];
  for (int i = 0; i < 14; ++i) acc[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t n = 0; n < iters; ++n) {
#pragma GCC unroll 14
    for (int i = 0; i < 14; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 14; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  volatile float sink = out[0];
  (void)sink;
  return double(iters) * 14 * 8 * 2;
}

}  // namespace snep::probe
