// AVX-512BW 8-bit MaxPool, bit-identical to the generic loop of pool.cpp.
// Each 64-output chunk of a row keeps its window maxima in registers (two
// vectors for stride 2: one lane per input column from the chunk's first
// window start). Every valid input row is read once per horizontal tap with
// an unaligned masked load; the mask drops the columns in the pads (no fault
// past a row's ends) and a masked max leaves those lanes alone. Lanes start
// at the type's lowest value, so an all-pad window gives lowest. For stride
// 2 the window starts are the even lanes, narrowed from 16-bit words.
// GCC 12 flags its own _mm*_undefined intrinsics as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "cpu/pool/maxpool8.h"

namespace snep {
namespace mp8 {
namespace {

// Stride 2, dilation 1: one load serves taps t (even lanes) and t + 1 (odd
// lanes), folded together at the end.
inline bool paired(const Job& j) { return j.sw == 2 && j.dw == 1; }
inline int64_t loads_per_chunk(const Job& j) { return paired(j) ? (j.kw + 1) / 2 : j.kw; }
inline int64_t chunks(const Job& j) { return (j.ow + 63) / 64; }

// Lanes l of a vector whose lane 0 is input column c with 0 <= c + l < iw.
inline uint64_t inside(int64_t c, int64_t iw) {
  const int64_t lo = c < 0 ? -c : 0, hi = iw - c < 64 ? iw - c : 64;
  if (hi <= lo) return 0;
  return (hi == 64 ? ~0ull : (1ull << hi) - 1) & (~0ull << lo);
}

template <bool S>
inline __m512i vmax(__m512i a, __m512i b) { return S ? _mm512_max_epi8(a, b) : _mm512_max_epu8(a, b); }

template <bool S>
inline __m512i max_in(__m512i acc, __mmask64 m, const uint8_t* p) {
  const __m512i v = _mm512_maskz_loadu_epi8(m, p);
  return S ? _mm512_mask_max_epi8(acc, m, acc, v) : _mm512_mask_max_epu8(acc, m, acc, v);
}

// NL: loads per chunk when fixed at compile time (0: j's), which keeps the
// per-row overhead low for the common small kernels.
template <bool S, int SW, int NL>
void rows(const Job& j, int64_t rb, int64_t re) {
  const __m512i low = _mm512_set1_epi8(S ? -128 : 0);
  const int64_t nl = NL ? NL : loads_per_chunk(j), nq = chunks(j);
  const bool pair = SW == 2 && paired(j);
  const int64_t toff = pair ? 2 : j.dw;  // columns between a chunk's loads
  int64_t r = rb % j.rows, pl = rb / j.rows;
  const uint8_t* xp = j.x + pl * j.isz;
  uint8_t* y = j.y + pl * j.osz + r * j.ow;
  for (int64_t row = rb; row < re; ++row, y += j.ow) {
    const int64_t kb = j.row_beg[r], ke = j.row_beg[r + 1];
    const uint64_t* m = j.masks;
    for (int64_t q = 0; q < nq; ++q, m += 2 * nl) {
      __m512i e = low, f = low;  // f: lanes 64..127 (stride 2)
      const uint8_t* xq = xp + q * 64 * SW - j.pw;
      for (int64_t k = kb; k < ke; ++k) {
        const uint8_t* p = xq + j.row_off[k];
        for (int64_t u = 0; u < nl; ++u, p += toff) {
          e = max_in<S>(e, m[2 * u], p);
          if (SW == 2) f = max_in<S>(f, m[2 * u + 1], p + 64);
        }
      }
      if (pair) {  // fold the odd lanes (taps t + 1) onto the even ones
        e = vmax<S>(e, _mm512_srli_epi16(e, 8));
        f = vmax<S>(f, _mm512_srli_epi16(f, 8));
      }
      const int64_t n = j.ow - q * 64;
      const __mmask64 mo = n >= 64 ? ~0ull : (1ull << n) - 1;
      if (SW == 1) {
        _mm512_mask_storeu_epi8(y + q * 64, mo, e);
      } else {  // even lanes = low bytes of the 16-bit words (vpmovwb)
        const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(e)), _mm512_cvtepi16_epi8(f), 1);
        _mm512_mask_storeu_epi8(y + q * 64, mo, v);
      }
    }
    if (++r == j.rows) r = 0, xp += j.isz;
  }
}

template <bool S, int SW>
void rows_nl(const Job& j, int64_t rb, int64_t re) {
  switch (loads_per_chunk(j)) {
    case 1: rows<S, SW, 1>(j, rb, re); break;
    case 2: rows<S, SW, 2>(j, rb, re); break;
    case 3: rows<S, SW, 3>(j, rb, re); break;
    default: rows<S, SW, 0>(j, rb, re);
  }
}

}  // namespace

int64_t mask_words(const Job& j) { return 2 * chunks(j) * loads_per_chunk(j); }

void fill_masks(const Job& j, uint64_t* m) {
  const int64_t tstep = paired(j) ? 2 : 1;
  for (int64_t q = 0; q < chunks(j); ++q)
    for (int64_t u = 0; u < loads_per_chunk(j); ++u, m += 2) {
      const int64_t t = u * tstep, c = q * 64 * j.sw - j.pw + t * j.dw;
      m[0] = inside(c, j.iw);
      m[1] = j.sw == 2 ? inside(c + 64, j.iw) : 0;
      if (tstep == 2 && t + 1 == j.kw) {  // a last lone tap: its odd lanes would be tap kw
        m[0] &= 0x5555555555555555ull;
        m[1] &= 0x5555555555555555ull;
      }
    }
}

void rows_avx512(const Job& j, int64_t rb, int64_t re) {
  if (j.sw == 1) j.sgn ? rows_nl<true, 1>(j, rb, re) : rows_nl<false, 1>(j, rb, re);
  else j.sgn ? rows_nl<true, 2>(j, rb, re) : rows_nl<false, 2>(j, rb, re);
}

}  // namespace mp8
}  // namespace snep
