// AVX-512 per-tensor QuantizeLinear (float32 -> u8/s8) and DequantizeLinear
// (u8/s8 -> float32), bit-identical to the scalar routines of quant.cpp:
// x / s in float32, round half to even, + zp, saturate (NaN gives zp).
#include <immintrin.h>

#include "cpu/quant/quantize_vec.h"

namespace snep {
namespace qvec {

void quantize_avx512(const float* x, int64_t n, float s, int32_t zp, bool sgn, uint8_t* y) {
  const __m512 vs = _mm512_set1_ps(s);
  const __m512 flo = _mm512_set1_ps((float)((sgn ? -128 : 0) - zp)), fhi = _mm512_set1_ps((float)((sgn ? 127 : 255) - zp));
  const __m512i vz = _mm512_set1_epi32(zp);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);  // NaN -> 0 -> zp
    v = _mm512_min_ps(_mm512_max_ps(v, flo), fhi);
    const __m512i q = _mm512_add_epi32(_mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
    _mm_mask_storeu_epi8(y + i, m, _mm512_cvtepi32_epi8(q));
  }
}

void dequantize_avx512(const uint8_t* x, int64_t n, float s, int32_t zp, bool sgn, float* y) {
  const __m512 vs = _mm512_set1_ps(s);
  const __m512i vz = _mm512_set1_epi32(zp);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    const __m128i b = _mm_maskz_loadu_epi8(m, x + i);
    const __m512i v = _mm512_sub_epi32(sgn ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b), vz);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(v), vs));
  }
}

}  // namespace qvec
}  // namespace snep
