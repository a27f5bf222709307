// The NHWC depthwise row kernel (qdepthwise_nhwc_kernel.h); called only where the CPU has AVX-512 BW.
#include <immintrin.h>

#include "cpu/quant/qdepthwise_nhwc_kernel.h"

namespace snep {
namespace qdw {

void nhwc_row_avx512(const NhwcRow& r) {
  const int64_t taps = r.taps, C = r.C, np = pairs(taps), ng = groups(C);
  const uint8_t* p[kMaxTaps + 1];  // + the partner of an odd last tap
  const __m512 flo = _mm512_set1_ps(r.flo), fhi = _mm512_set1_ps(r.fhi);
  const __m512i vyz = _mm512_set1_epi32(r.yz);
  for (int64_t i = 0; i < r.ow; ++i) {
    const int32_t* o = r.off + i * taps;
    for (int64_t t = 0; t < taps; ++t) p[t] = o[t] >= 0 ? r.x + o[t] : r.pad;
    p[taps] = r.pad;  // the partner of an odd last tap (its weights are 0)
    uint8_t* yp = r.y + i * C;
    for (int64_t g = 0; g < ng; ++g) {
      const int64_t c = g * 32, left = C - c;
      const __mmask32 m = left >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << left) - 1);
      const int16_t* w = r.w + g * np * 64;
      __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
      for (int64_t k = 0; k < np; ++k, w += 64) {
        const __m512i a = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, p[2 * k] + c));
        const __m512i b = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, p[2 * k + 1] + c));
        lo = _mm512_add_epi32(lo, _mm512_madd_epi16(_mm512_unpacklo_epi16(a, b), _mm512_loadu_si512(w)));
        hi = _mm512_add_epi32(hi, _mm512_madd_epi16(_mm512_unpackhi_epi16(a, b), _mm512_loadu_si512(w + 32)));
      }
      const int32_t* c0 = r.c0 + g * 32;
      const float* mu = r.mult + g * 32;
      __m512 vl = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(lo, _mm512_loadu_si512(c0))), _mm512_loadu_ps(mu));
      __m512 vh = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(hi, _mm512_loadu_si512(c0 + 16))),
                                _mm512_loadu_ps(mu + 16));
      vl = _mm512_min_ps(_mm512_max_ps(vl, flo), fhi);
      vh = _mm512_min_ps(_mm512_max_ps(vh, flo), fhi);
      const __m512i ql = _mm512_add_epi32(_mm512_cvt_roundps_epi32(vl, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz);
      const __m512i qh = _mm512_add_epi32(_mm512_cvt_roundps_epi32(vh, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz);
      // lane L of the pack: lo's channels 8L..8L+3 then hi's 8L+4..8L+7: channel order; q lies in the
      // output type's range, so the int16 -> byte truncation keeps it (u8 or s8)
      _mm256_mask_storeu_epi8(yp + c, m, _mm512_cvtepi16_epi8(_mm512_packs_epi32(ql, qh)));
    }
  }
}

}  // namespace qdw
}  // namespace snep
