// The 12x32 indirect micro-kernel (24 zmm accumulators: 12 pixels x 2 vectors of
// 16 channels), for layers whose channel count leaves much of a 64-wide panel empty
// (M = 96, 160, ...: 32-wide panels pad less). Per input quad: 2 weight vectors, 12
// broadcasts, 24 vpdpbusd.
#include <immintrin.h>

#include "cpu/qigemm/qigemm_epilogue_avx512vnni.h"

namespace snep {
namespace qigemm {
using namespace detail;

#define SNEP_QJ_DECL(i) __m512i a##i##0 = z, a##i##1 = z;
#define SNEP_QJ_STEP(i)                                \
  {                                                    \
    const __m512i x = bcast4(pp[i] + o);               \
    a##i##0 = _mm512_dpbusd_epi32(a##i##0, x, w0);     \
    a##i##1 = _mm512_dpbusd_epi32(a##i##1, x, w1);     \
  }
#define SNEP_QJ_STORE(i)                                                       \
  {                                                                            \
    const __m512i r##i[2] = {a##i##0, a##i##1};                                \
    store_row<2, MODE>(t, r##i, i);                                            \
  }
#define SNEP_QJ_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

void qigemm_12x32_avx512vnni(const QITile& t) {
  const __m512i z = _mm512_setzero_si512();
  SNEP_QJ_ROWS(SNEP_QJ_DECL)
  const int8_t* w = t.w;
  const uint8_t* const* pp = t.ptrs;
  const int64_t kb = 4 * t.kq;
  for (int64_t tap = 0; tap < t.taps; ++tap, pp += 12) {
    for (int64_t o = 0; o < kb; o += 4, w += 4 * 32) {
      const __m512i w0 = _mm512_loadu_si512(w), w1 = _mm512_loadu_si512(w + 64);
      SNEP_QJ_ROWS(SNEP_QJ_STEP)
    }
  }
  SNEP_QIGEMM_STORE_TILE(SNEP_QJ_ROWS, SNEP_QJ_STORE)  // one epilogue path per tile
}

}  // namespace qigemm
}  // namespace snep
