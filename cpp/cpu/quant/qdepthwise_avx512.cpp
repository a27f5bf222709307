// AVX-512 depthwise plane loop: each block of 256 wide outputs keeps its 16
// int32 accumulators in registers over all taps.
#include <immintrin.h>

#include <cstring>

#include "cpu/quant/qdepthwise.h"
#include "cpu/quant/qdepthwise_plane.h"

namespace snep {
namespace qdw {
void plane_avx512(const Plane& g, const uint8_t* x, int32_t xz, const int32_t* w, const int64_t* toff, int16_t* ph,
                  const BlockSink& sink) {
  static_assert(kBlock == 256, "16 accumulators of 16");
  if (g.sw == 1) {  // as fill(), rows converted 32 at a time
    std::memset(ph, 0, sizeof(int16_t) * g.phase_elems);
    const __m512i vz = _mm512_set1_epi16((short)xz);
    for (int64_t a = 0; a < g.sh; ++a)
      for (int64_t i = 0; i < g.Hq; ++i) {
        const int64_t h = i * g.sh + a - g.pt;
        if (h < 0 || h >= g.H) continue;
        const uint8_t* xr = x + h * g.W;
        int16_t* d = ph + a * g.Hq * g.Wq + i * g.Wq + g.pl;
        for (int64_t j = 0; j < g.W; j += 32) {
          const int64_t left = g.W - j;
          const __mmask32 m = left >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << left) - 1);
          const __m512i v = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, xr + j));
          _mm512_mask_storeu_epi16(d + j, m, _mm512_sub_epi16(v, vz));
        }
      }
  } else if (g.sw == 2) {  // as fill(): 64 input bytes = 32 (even, odd) pairs split by 16-bit shifts
    std::memset(ph, 0, sizeof(int16_t) * g.phase_elems);
    const __m512i vz = _mm512_set1_epi16((short)xz), lo = _mm512_set1_epi16(0x00FF);
    alignas(64) int16_t iota[32];
    for (int t = 0; t < 32; ++t) iota[t] = (int16_t)t;
    const __m512i vi = _mm512_load_si512(iota), vW = _mm512_set1_epi16((short)g.W);
    for (int64_t a = 0; a < g.sh; ++a)
      for (int64_t i = 0; i < g.Hq; ++i) {
        const int64_t h = i * g.sh + a - g.pt;
        if (h < 0 || h >= g.H) continue;
        const uint8_t* xr = x + h * g.W;
        int16_t* d0 = ph + (a * 2) * g.Hq * g.Wq + i * g.Wq;
        int16_t* d1 = d0 + g.Hq * g.Wq;
        for (int64_t j0 = 0; j0 < g.Wq; j0 += 32) {
          // lane t: input columns c = 2*(j0 + t) - pl (phase 0) and c + 1 (phase 1)
          const __m512i c0 = _mm512_sub_epi16(_mm512_add_epi16(vi, vi), _mm512_set1_epi16((short)(g.pl - 2 * j0)));
          const __m512i c1 = _mm512_add_epi16(c0, _mm512_set1_epi16(1));
          const __mmask32 lane = g.Wq - j0 >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << (g.Wq - j0)) - 1);
          const __mmask32 m0 = lane & _mm512_cmpge_epi16_mask(c0, _mm512_setzero_si512()) & _mm512_cmplt_epi16_mask(c0, vW);
          const __mmask32 m1 = lane & _mm512_cmpge_epi16_mask(c1, _mm512_setzero_si512()) & _mm512_cmplt_epi16_mask(c1, vW);
          // byte 2t + b is input column 2*j0 - pl + 2t + b
          const int64_t base = 2 * j0 - g.pl;
          const __mmask64 bm = _mm512_movepi8_mask(_mm512_or_si512(
              _mm512_maskz_mov_epi16(m0, _mm512_set1_epi16(0x00FF)), _mm512_maskz_mov_epi16(m1, _mm512_set1_epi16(-256))));
          const __m512i v = _mm512_maskz_loadu_epi8(bm, xr + base);
          _mm512_mask_storeu_epi16(d0 + j0, m0, _mm512_sub_epi16(_mm512_and_si512(v, lo), vz));
          _mm512_mask_storeu_epi16(d1 + j0, m1, _mm512_sub_epi16(_mm512_srli_epi16(v, 8), vz));
        }
      }
  } else {
    fill(g, x, xz, ph);
  }
  const int64_t NW = g.OH * g.Wq, KK = g.kh * g.kw;
  alignas(64) int32_t out[kBlock];
  for (int64_t n0 = 0; n0 < NW; n0 += kBlock) {
    __m512i acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_si512();
    for (int64_t t = 0; t < KK; ++t) {
      const int16_t* r = ph + toff[t] + n0;
      const __m512i wv = _mm512_set1_epi32(w[t]);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const __m512i v = _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + 16 * i)));
        acc[i] = _mm512_add_epi32(acc[i], _mm512_mullo_epi32(v, wv));
      }
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) _mm512_store_si512(out + 16 * i, acc[i]);
    sink.fn(sink.ctx, n0, out, NW - n0 < kBlock ? NW - n0 : kBlock);
  }
}
}  // namespace qdw
}  // namespace snep
