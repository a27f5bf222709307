// Plain <-> NCHW16c float32 reorders with 16x16 in-register transposes.
#include <immintrin.h>

#include "cpu/layout/layout_kernels.h"

namespace snep {
namespace layout {
namespace {

// Transposes the 16x16 matrix held in r[0..15] (row i in r[i]) in place.
inline void transpose16(__m512* r) {
  __m512 t[16];
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
  }
  for (int b = 0; b < 16; b += 4) {
    __m512d a0 = _mm512_castps_pd(t[b]), a1 = _mm512_castps_pd(t[b + 1]);
    __m512d a2 = _mm512_castps_pd(t[b + 2]), a3 = _mm512_castps_pd(t[b + 3]);
    r[b] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
    r[b + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
    r[b + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
    r[b + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
  }
  for (int b = 0; b < 16; b += 8) {
    for (int i = 0; i < 4; ++i) {
      t[b + i] = _mm512_shuffle_f32x4(r[b + i], r[b + 4 + i], 0x88);
      t[b + 4 + i] = _mm512_shuffle_f32x4(r[b + i], r[b + 4 + i], 0xdd);
    }
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
  }
}

inline __mmask16 tail_mask(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }

}  // namespace

void plain_to_16c_avx512(const float* x, float* y, int64_t C, int64_t S, int64_t cb, int64_t s_b, int64_t s_e) {
  __m512 r[16];
  {
    const int64_t cv = C - cb * 16 < 16 ? C - cb * 16 : 16;
    const float* xb = x + cb * 16 * S;
    float* yb = y + cb * S * 16;
    for (int64_t s0 = s_b; s0 < s_e; s0 += 16) {
      const int64_t n = s_e - s0 < 16 ? s_e - s0 : 16;
      const __mmask16 m = tail_mask(n);
      for (int j = 0; j < 16; ++j)
        r[j] = j < cv ? _mm512_maskz_loadu_ps(m, xb + j * S + s0) : _mm512_setzero_ps();
      transpose16(r);
      for (int64_t i = 0; i < n; ++i) _mm512_storeu_ps(yb + (s0 + i) * 16, r[i]);
    }
  }
}

void b16c_to_plain_avx512(const float* x, float* y, int64_t C, int64_t S, int64_t cb, int64_t s_b, int64_t s_e) {
  __m512 r[16];
  {
    const int64_t cv = C - cb * 16 < 16 ? C - cb * 16 : 16;
    const float* xb = x + cb * S * 16;
    float* yb = y + cb * 16 * S;
    for (int64_t s0 = s_b; s0 < s_e; s0 += 16) {
      const int64_t n = s_e - s0 < 16 ? s_e - s0 : 16;
      const __mmask16 m = tail_mask(n);
      for (int64_t i = 0; i < 16; ++i) r[i] = i < n ? _mm512_loadu_ps(xb + (s0 + i) * 16) : _mm512_setzero_ps();
      transpose16(r);
      for (int64_t j = 0; j < cv; ++j) _mm512_mask_storeu_ps(yb + j * S + s0, m, r[j]);
    }
  }
}

}  // namespace layout
}  // namespace snep
