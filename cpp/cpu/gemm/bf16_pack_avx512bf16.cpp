// fp32 rows -> bf16 for the packed operands of bf16gemm: interleaved k pairs
// (B) or contiguous runs (tile-major A) (vcvtne2ps2bf16: round to nearest
// even, denormals to zero).
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

void bf16_convert_row_avx512bf16(const float* src, int n, uint16_t* dst, int width) {
  for (int c = 0; c < width; c += 32) {
    const int l0 = n - c, l1 = n - c - 16;
    const __mmask16 m0 = l0 >= 16 ? (__mmask16)0xFFFF : l0 <= 0 ? (__mmask16)0 : (__mmask16)((1u << l0) - 1);
    const __mmask16 m1 = l1 >= 16 ? (__mmask16)0xFFFF : l1 <= 0 ? (__mmask16)0 : (__mmask16)((1u << l1) - 1);
    const __m512 x0 = _mm512_maskz_loadu_ps(m0, src + c), x1 = _mm512_maskz_loadu_ps(m1, src + c + 16);
    _mm512_storeu_si512(dst + c, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
  }
}

}  // namespace gemm
}  // namespace snep
