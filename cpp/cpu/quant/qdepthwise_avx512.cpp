// AVX-512 depthwise plane loop: each block of up to 256 wide outputs keeps
// its int32 accumulators in registers over all taps, two taps per vpmaddwd.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cpu/quant/qdepthwise.h"
#include "cpu/quant/qdepthwise_plane.h"

namespace snep {
namespace qdw {
namespace {
// NG groups of 32 wide outputs from ph (already offset by the block start):
// even outputs in ev, odd in od, interleaved back into out at the end.
template <int NG>
inline void block(const int16_t* ph, const int64_t* off, const int32_t* wp, int nop, int32_t* out) {
  __m512i ev[NG], od[NG];
  for (int i = 0; i < NG; ++i) ev[i] = od[i] = _mm512_setzero_si512();
  for (int o = 0; o < nop; ++o) {
    const int16_t* r = ph + off[o];
    const __m512i wv = _mm512_set1_epi32(wp[o]);
#pragma GCC unroll 8
    for (int i = 0; i < NG; ++i) {
      ev[i] = _mm512_add_epi32(ev[i], _mm512_madd_epi16(_mm512_loadu_si512(r + 32 * i), wv));
      od[i] = _mm512_add_epi32(od[i], _mm512_madd_epi16(_mm512_loadu_si512(r + 32 * i + 1), wv));
    }
  }
  // unpack: lo = outputs [0-3 | 8-11 | 16-19 | 24-27], hi = [4-7 | 12-15 | 20-23 | 28-31]
  const __m512i i0 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), i1 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
#pragma GCC unroll 8
  for (int i = 0; i < NG; ++i) {
    const __m512i lo = _mm512_unpacklo_epi32(ev[i], od[i]), hi = _mm512_unpackhi_epi32(ev[i], od[i]);
    _mm512_store_si512(out + 32 * i, _mm512_permutex2var_epi64(lo, i0, hi));
    _mm512_store_si512(out + 32 * i + 16, _mm512_permutex2var_epi64(lo, i1, hi));
  }
}
}  // namespace

int64_t gather_valid_avx512(const int32_t* acc, int64_t n, int64_t w0, int64_t wq, int64_t ow, int32_t* dense) {
  int64_t cnt = 0;
  for (int64_t j = 0; j < n;) {
    const int64_t len = std::min(wq - w0, n - j);
    const int64_t v = w0 < ow ? std::min(len, ow - w0) : 0;
    for (int64_t e = 0; e < v; e += 16) {
      const int64_t left = v - e;
      const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
      _mm512_mask_storeu_epi32(dense + cnt + e, m, _mm512_maskz_loadu_epi32(m, acc + j + e));
    }
    cnt += v;
    j += len;
    w0 = 0;
  }
  return cnt;
}

void plane_avx512(const Plane& g, const uint8_t* x, int32_t xz, const int32_t* w, const TapPairs& tp, int16_t* ph,
                  const BlockSink& sink) {
  static_assert(kBlock == 256, "16 accumulators of 16");
  // the tap loop below reads at most 32 elements past the phase planes: only
  // that much of the kBlock slack (the generic loop's) needs zeroing
  const int64_t zero_elems = std::min<int64_t>(g.phase_elems, g.sh * g.sw * g.Hq * g.Wq + 64);
  if (g.sw == 1) {  // as fill(), rows converted 32 at a time
    std::memset(ph, 0, sizeof(int16_t) * zero_elems);
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
    std::memset(ph, 0, sizeof(int16_t) * zero_elems);
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
  // Taps in pairs (tp): one vpmaddwd of the int16 plane against
  // (w[t0], w[t1]) (w[t1] = 0 for a lone tap) gives the even wide outputs
  // from the plane at r, the odd ones from r + 1. Exact in int32:
  // |x - xz|, |w - wz| <= 255.
  const int64_t NW = g.OH * g.Wq;
  const int64_t* off = tp.off;
  const int nop = tp.nop;
  int32_t wp[32];
  for (int o = 0; o < nop; ++o)
    wp[o] = (int32_t)(((uint32_t)(uint16_t)(int16_t)(tp.t1[o] >= 0 ? w[tp.t1[o]] : 0) << 16) |
                      (uint16_t)(int16_t)w[tp.t0[o]]);
  alignas(64) int32_t out[kBlock];
  for (int64_t n0 = 0; n0 < NW; n0 += kBlock) {
    const int64_t n = NW - n0 < kBlock ? NW - n0 : kBlock;
    switch ((n + 31) / 32) {
      case 1: block<1>(ph + n0, off, wp, nop, out); break;
      case 2: block<2>(ph + n0, off, wp, nop, out); break;
      case 3: block<3>(ph + n0, off, wp, nop, out); break;
      case 4: block<4>(ph + n0, off, wp, nop, out); break;
      case 5: block<5>(ph + n0, off, wp, nop, out); break;
      case 6: block<6>(ph + n0, off, wp, nop, out); break;
      case 7: block<7>(ph + n0, off, wp, nop, out); break;
      default: block<8>(ph + n0, off, wp, nop, out); break;
    }
    sink.fn(sink.ctx, n0, out, n);
  }
}
}  // namespace qdw
}  // namespace snep
