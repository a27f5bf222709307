// The 6x64 indirect micro-kernel (24 zmm accumulators: 6 pixels x 4 vectors of
// 16 channels). Per input quad: 4 weight vectors loaded, each pixel's 4 bytes
// broadcast (vpdpbusd takes the u8 operand from a register), 24 vpdpbusd.
#include <immintrin.h>

#include <cstring>

#include "cpu/qelementwise/qlinear_add_kernel.h"
#include "cpu/qigemm/qigemm_ukernel.h"

namespace snep {
namespace qigemm {
namespace {

inline __m512i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// One vector of 16 channels of pixel i: requantize and store (masked to nc).
inline void store16(const QITile& t, __m512i acc, int i, int v) {
  const int c = 16 * v;
  if (c >= t.nc || i >= t.mr) return;
  const int left = t.nc - c;
  const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
  __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, _mm512_loadu_si512(t.c0 + c))),
                           _mm512_loadu_ps(t.mult + c));
  if (t.z && !t.rounded) {
    const __m128i zb = _mm_maskz_loadu_epi8(m, t.z + i * t.ld + c);
    const __m512i zi = t.z_signed ? _mm512_cvtepi8_epi32(zb) : _mm512_cvtepu8_epi32(zb);
    f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(zi, _mm512_set1_epi32(t.zz))),
                                       _mm512_set1_ps(t.zmult)));
  }
  f = _mm512_min_ps(_mm512_max_ps(f, _mm512_set1_ps(t.flo)), _mm512_set1_ps(t.fhi));
  const __m512i q = _mm512_add_epi32(_mm512_cvt_roundps_epi32(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                     _mm512_set1_epi32(t.yz));
  uint8_t* yr = t.y + i * t.ld + c;
  if (t.rounded) {  // a = q (u8), then the add of z
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
    return;
  }
  // q lies in the output type's range after the clamp: vpmovdb's truncation keeps it (u8 or s8)
  _mm_mask_storeu_epi8(yr, m, _mm512_cvtepi32_epi8(q));
}

}  // namespace

#define SNEP_QI_DECL(i) __m512i a##i##0 = z, a##i##1 = z, a##i##2 = z, a##i##3 = z;
#define SNEP_QI_STEP(i)                                \
  {                                                    \
    const __m512i x = bcast4(p##i + o);                \
    a##i##0 = _mm512_dpbusd_epi32(a##i##0, x, w0);     \
    a##i##1 = _mm512_dpbusd_epi32(a##i##1, x, w1);     \
    a##i##2 = _mm512_dpbusd_epi32(a##i##2, x, w2);     \
    a##i##3 = _mm512_dpbusd_epi32(a##i##3, x, w3);     \
  }
#define SNEP_QI_STORE(i) store16(t, a##i##0, i, 0); store16(t, a##i##1, i, 1); \
                         store16(t, a##i##2, i, 2); store16(t, a##i##3, i, 3);
#define SNEP_QI_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

void qigemm_6x64_avx512vnni(const QITile& t) {
  const __m512i z = _mm512_setzero_si512();
  SNEP_QI_ROWS(SNEP_QI_DECL)
  const int8_t* w = t.w;
  const uint8_t* const* pp = t.ptrs;
  const int64_t kb = 4 * t.kq;
  for (int64_t tap = 0; tap < t.taps; ++tap, pp += kMR) {
    const uint8_t *p0 = pp[0], *p1 = pp[1], *p2 = pp[2], *p3 = pp[3], *p4 = pp[4], *p5 = pp[5];
    for (int64_t o = 0; o < kb; o += 4, w += 4 * kNR) {
      const __m512i w0 = _mm512_loadu_si512(w), w1 = _mm512_loadu_si512(w + 64);
      const __m512i w2 = _mm512_loadu_si512(w + 128), w3 = _mm512_loadu_si512(w + 192);
      SNEP_QI_ROWS(SNEP_QI_STEP)
    }
  }
  SNEP_QI_ROWS(SNEP_QI_STORE)
}

}  // namespace qigemm
}  // namespace snep
