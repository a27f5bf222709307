// AVX-512 kernels of gemv_f16w.h: vcvtph2ps on load, fp32 FMA.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "cpu/gemm/gemv_f16w.h"

namespace snep {
namespace gemm {
namespace {

template <int MM, int NT>
void panel(const float* x, int64_t K, const uint16_t* w, float* acc) {
  constexpr int wc = 16 * NT;
  __m512 s[MM][NT];
#pragma GCC unroll 4
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) s[i][t] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t k = 0; k < K; ++k) {
    __m512 wv[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t)
      wv[t] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k * wc + 16 * t)));
#pragma GCC unroll 4
    for (int i = 0; i < MM; ++i) {
      const __m512 xv = _mm512_set1_ps(x[i * K + k]);
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) s[i][t] = _mm512_fmadd_ps(xv, wv[t], s[i][t]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(acc + i * kF16PanelCols + 16 * t, s[i][t]);
}

template <int MM>
void panel_m(const float* x, int64_t K, const uint16_t* w, int wc, float* acc) {
  switch (wc) {
    case 16: return panel<MM, 1>(x, K, w, acc);
    case 32: return panel<MM, 2>(x, K, w, acc);
    case 48: return panel<MM, 3>(x, K, w, acc);
    default: return panel<MM, 4>(x, K, w, acc);
  }
}

}  // namespace

void gemv_f16w_panel_avx512(const float* x, int64_t K, int m, const uint16_t* w, int wc, float* acc) {
  switch (m) {
    case 1: return panel_m<1>(x, K, w, wc, acc);
    case 2: return panel_m<2>(x, K, w, wc, acc);
    case 3: return panel_m<3>(x, K, w, wc, acc);
    default: return panel_m<4>(x, K, w, wc, acc);
  }
}

void f32_to_f16_avx512(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t j = 0; j < n; j += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j),
                        _mm512_cvtps_ph(_mm512_loadu_ps(src + j), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

}  // namespace gemm
}  // namespace snep
