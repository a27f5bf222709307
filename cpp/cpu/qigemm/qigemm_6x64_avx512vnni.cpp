// The 6x64 indirect micro-kernel (24 zmm accumulators: 6 pixels x 4 vectors of
// 16 channels). Per input quad: 4 weight vectors loaded, each pixel's 4 bytes
// broadcast (vpdpbusd takes the u8 operand from a register), 24 vpdpbusd.
#include <immintrin.h>

#include "cpu/qigemm/qigemm_epilogue_avx512vnni.h"

namespace snep {
namespace qigemm {
using namespace detail;


#define SNEP_QI_DECL(i) __m512i a##i##0 = z, a##i##1 = z, a##i##2 = z, a##i##3 = z;
#define SNEP_QI_STEP(i)                                \
  {                                                    \
    const __m512i x = bcast4(p##i + o);                \
    a##i##0 = _mm512_dpbusd_epi32(a##i##0, x, w0);     \
    a##i##1 = _mm512_dpbusd_epi32(a##i##1, x, w1);     \
    a##i##2 = _mm512_dpbusd_epi32(a##i##2, x, w2);     \
    a##i##3 = _mm512_dpbusd_epi32(a##i##3, x, w3);     \
  }
#define SNEP_QI_STORE(i)                                                       \
  {                                                                            \
    const __m512i r##i[4] = {a##i##0, a##i##1, a##i##2, a##i##3};              \
    store_row<4, MODE>(t, r##i, i);                                            \
  }
#define SNEP_QI_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

void qigemm_6x64_avx512vnni(const QITile& t) {
  const __m512i z = _mm512_setzero_si512();
  SNEP_QI_ROWS(SNEP_QI_DECL)
  const int8_t* w = t.w;
  const uint8_t* const* pp = t.ptrs;
  const int64_t kb = 4 * t.kq;
  for (int64_t tap = 0; tap < t.taps; ++tap, pp += 6) {
    const uint8_t *p0 = pp[0], *p1 = pp[1], *p2 = pp[2], *p3 = pp[3], *p4 = pp[4], *p5 = pp[5];
    for (int64_t o = 0; o < kb; o += 4, w += 4 * 64) {
      const __m512i w0 = _mm512_loadu_si512(w), w1 = _mm512_loadu_si512(w + 64);
      const __m512i w2 = _mm512_loadu_si512(w + 128), w3 = _mm512_loadu_si512(w + 192);
      SNEP_QI_ROWS(SNEP_QI_STEP)
    }
  }
  SNEP_QIGEMM_STORE_TILE(SNEP_QI_ROWS, SNEP_QI_STORE)  // one epilogue path per tile
}

}  // namespace qigemm
}  // namespace snep
