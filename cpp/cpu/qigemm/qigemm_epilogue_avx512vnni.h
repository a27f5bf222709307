// The AVX-512 epilogue shared by the indirect micro-kernels: one vector of 16 channels of
// pixel i requantized (and the rounded residual's add done) and stored, masked to the tile.
// Included only by files compiled with AVX-512 VNNI flags.
#pragma once
#include <immintrin.h>

#include <cstring>

#include "cpu/qelementwise/qlinear_add_kernel.h"
#include "cpu/qigemm/qigemm_ukernel.h"

namespace snep {
namespace qigemm {
namespace detail {

inline __attribute__((always_inline)) __m512i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// One vector of 16 channels of pixel i with the rounded residual, its lanes near a tie redone
// exactly (store_row's fallback for such rows): requantize to a, add z, store (masked to nc).
inline __attribute__((always_inline)) void store16_rounded(const QITile& t, __m512i acc, int i, int v) {
  const int c = 16 * v;
  if (c >= t.nc || i >= t.mr) return;
  const int left = t.nc - c;
  const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
  __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, _mm512_loadu_si512(t.c0 + c))),
                           _mm512_loadu_ps(t.mult + c));
  f = _mm512_min_ps(_mm512_max_ps(f, _mm512_set1_ps(t.flo)), _mm512_set1_ps(t.fhi));
  const __m512i q = _mm512_add_epi32(_mm512_cvt_roundps_epi32(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                     _mm512_set1_epi32(t.yz));
  uint8_t* yr = t.y + i * t.ld + c;
  const uint8_t* zr = t.z + i * t.ld + c;
  const __m512i zi = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, zr));
  const __m512 pb = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(zi, _mm512_set1_epi32(t.zb))),
                                  _mm512_set1_ps(t.rb));
  const __m512 s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, _mm512_set1_epi32(t.ya))),
                                   _mm512_set1_ps(t.ra), pb);
  const __m512 r = _mm512_roundscale_ps(s, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 d = _mm512_abs_ps(_mm512_sub_ps(s, r));  // distance to the nearest integer
  if (_mm512_mask_cmp_ps_mask(m, d, _mm512_set1_ps(0.5f - t.tol), _CMP_GE_OQ)) {  // near a tie: exactly
    alignas(16) uint8_t a[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(a), _mm512_cvtepi32_epi8(q));
    qadd::add_u8(a, zr, 1, yr, left >= 16 ? 16 : left, t.ra, t.rb, t.ya, t.zb, t.yc, t.lo);
    return;
  }
  const __m512i q2 = _mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(r), _mm512_set1_epi32(t.yc)),
                                      _mm512_set1_epi32(t.lo));
  _mm_mask_storeu_epi8(yr, m, _mm512_cvtusepi32_epi8(q2));  // saturates above 255
}

// The NV vectors (16 channels each, NV = 2 or 4) of pixel i requantized (and the residual added),
// packed to bytes with saturating packs and stored at once. The packs' saturation is the clamp:
// to the output type, then a byte max / min to the activation's range where the float clamp was
// left out (fclamp 0), or a byte max to lo for the rounded residual's add.
// The rounded residual here: a - ya is the requantized value before its zero point is added
// (ya, the conv's output zero point, is yz), kept in float, so s = (a - ya) * ra + (z - zb) * rb
// is the same float32 sum as store16_rounded's. A row with a lane within tol of a tie goes
// through store16_rounded, whose near-tie lanes are redone exactly.
// MODE: kPlain, kAddZ (the additive residual) or kRounded, fixed per tile by the caller so that
// each row's code holds only its own path: with all three tested in every row the epilogue of
// a 12x32 tile ran at a quarter of the speed its instructions allow (K = 16: 79% of the kernel's
// time, sampled), and the 6x64 and 12x32 kernels 0.83-0.98 of the time with it split.
enum RowMode { kPlain = 0, kAddZ = 1, kRounded = 2 };
template <int NV, int MODE>
inline __attribute__((always_inline)) void store_row(const QITile& t, const __m512i (&acc)[NV], int i) {
  constexpr bool addz = MODE == kAddZ, rnd = MODE == kRounded;
  if (i >= t.mr) return;
  __m512i q[NV];
  __mmask16 near = 0;
  for (int v = 0; v < NV; ++v) {
    const int c = 16 * v;
    const int left = t.nc - c;
    const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc[v], _mm512_loadu_si512(t.c0 + c))),
                             _mm512_loadu_ps(t.mult + c));
    if (addz) {
      const __m128i zb = _mm_maskz_loadu_epi8(m, t.z + i * t.ld + c);
      const __m512i zi = t.z_signed ? _mm512_cvtepi8_epi32(zb) : _mm512_cvtepu8_epi32(zb);
      f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(zi, _mm512_set1_epi32(t.zz))),
                                         _mm512_set1_ps(t.zmult)));
    }
    if (t.fclamp || rnd) f = _mm512_min_ps(_mm512_max_ps(f, _mm512_set1_ps(t.flo)), _mm512_set1_ps(t.fhi));
    if (rnd) {
      const __m512 qa = _mm512_roundscale_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m512 zf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, t.z + i * t.ld + c)));
      const __m512 pb = _mm512_mul_ps(_mm512_sub_ps(zf, _mm512_set1_ps((float)t.zb)), _mm512_set1_ps(t.rb));
      const __m512 s = _mm512_fmadd_ps(qa, _mm512_set1_ps(t.ra), pb);
      // s minus its nearest integer (AVX512DQ vreduceps): exact, in [-0.5, 0.5]
      const __m512 d = _mm512_reduce_ps(s, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      near |= _mm512_mask_cmp_ps_mask(m, _mm512_abs_ps(d), _mm512_set1_ps(0.5f - t.tol), _CMP_GE_OQ);
      q[v] = _mm512_cvt_roundps_epi32(s, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    } else {
      q[v] = _mm512_cvt_roundps_epi32(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
  }
  if (rnd && near) {  // rare: the row again, lane by lane where needed
    for (int v = 0; v < NV; ++v) store16_rounded(t, acc[v], i, v);
    return;
  }
  // after the packs, dword 4k + s holds channels 16s + 4k .. 16s + 4k + 3
  const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  // the zero point added to the int16 words with saturation: beyond int16 the sum stays beyond
  // the byte range, on the side it was, so the final clamp is unchanged
  const __m512i zp = _mm512_set1_epi16((short)(rnd ? t.yc : t.yz));
  const __m512i w01 = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), zp);
  const __m512i w23 = NV == 4 ? _mm512_adds_epi16(_mm512_packs_epi32(q[NV - 2], q[NV - 1]), zp) : w01;
  __m512i b;
  if (rnd) {
    b = _mm512_max_epu8(_mm512_packus_epi16(w01, w23), _mm512_set1_epi8((char)t.lo));
  } else if (t.y_signed) {
    b = _mm512_packs_epi16(w01, w23);
    if (!t.fclamp) b = _mm512_min_epi8(_mm512_max_epi8(b, _mm512_set1_epi8((char)t.qlo)), _mm512_set1_epi8((char)t.qhi));
  } else {
    b = _mm512_packus_epi16(w01, w23);
    if (!t.fclamp) b = _mm512_min_epu8(_mm512_max_epu8(b, _mm512_set1_epi8((char)t.qlo)), _mm512_set1_epi8((char)t.qhi));
  }
  const int n = t.nc < 16 * NV ? t.nc : 16 * NV;
  const __mmask64 m = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
  _mm512_mask_storeu_epi8(t.y + i * t.ld, m, _mm512_permutexvar_epi32(perm, b));
}

// A tile's rows through store_row with the tile's MODE: ROWS(STORE) expands STORE(i) per row i,
// which calls store_row<NV, MODE>(t, ...). Used by both micro-kernels after their K loop.
#define SNEP_QIGEMM_STORE_TILE(ROWS, STORE) \
  if (!t.z) {                               \
    constexpr int MODE = kPlain;            \
    ROWS(STORE)                             \
  } else if (!t.rounded) {                  \
    constexpr int MODE = kAddZ;             \
    ROWS(STORE)                             \
  } else {                                  \
    constexpr int MODE = kRounded;          \
    ROWS(STORE)                             \
  }

}  // namespace detail

}  // namespace qigemm
}  // namespace snep
