// fp32 rows -> interleaved bf16 k pairs for the packed B of bf16gemm
// (vcvtne2ps2bf16: round to nearest even, denormals to zero).
#include <immintrin.h>

#include "cpu/gemm/bf16gemm_ukernel.h"

namespace snep {
namespace gemm {

void bf16_pack_row_pair_avx512bf16(const float* r0, const float* r1, int n, uint16_t* dst, int nr) {
  // word 2j <- r0[j] (low half after the conversion), word 2j+1 <- r1[j] (high half)
  static const __m512i kInterleave = [] {
    alignas(64) short idx[32];
    for (int j = 0; j < 16; ++j) { idx[2 * j] = (short)j; idx[2 * j + 1] = (short)(16 + j); }
    return _mm512_load_si512(idx);
  }();
  for (int c = 0; c < nr; c += 16) {
    const int left = n - c;
    const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
    const __m512 x0 = _mm512_maskz_loadu_ps(m, r0 + c);
    const __m512 x1 = r1 ? _mm512_maskz_loadu_ps(m, r1 + c) : _mm512_setzero_ps();
    const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
    _mm512_storeu_si512(dst + 2 * c, _mm512_permutexvar_epi16(kInterleave, v));
  }
}

}  // namespace gemm
}  // namespace snep
