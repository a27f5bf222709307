// Softmax / LogSoftmax / Hardmax row kernels for float32, written as plain
// loops the compiler vectorises. Included by softmax.cpp (baseline ISA) and
// softmax_avx512.cpp (AVX-512 flags); everything here has internal linkage so
// the two builds never mix.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "cpu/elementwise/vmath.h"

namespace snep {
namespace {
namespace smx {

static inline float vexp(float x) { return vm::exp(x); }

static inline float row_max(const float* x, int64_t n) {
  int64_t i = 0;
  float m = -std::numeric_limits<float>::infinity();
#if defined(__AVX512F__)
  __m512 v = _mm512_set1_ps(m);
  for (; i + 16 <= n; i += 16) v = _mm512_max_ps(v, _mm512_loadu_ps(x + i));
  m = _mm512_reduce_max_ps(v);
#elif defined(__AVX2__)
  __m256 v = _mm256_set1_ps(m);
  for (; i + 8 <= n; i += 8) v = _mm256_max_ps(v, _mm256_loadu_ps(x + i));
  float t[8];
  _mm256_storeu_ps(t, v);
  for (int k = 0; k < 8; ++k) m = t[k] > m ? t[k] : m;
#elif defined(__SSE2__)
  __m128 v = _mm_set1_ps(m);
  for (; i + 4 <= n; i += 4) v = _mm_max_ps(v, _mm_loadu_ps(x + i));
  float t[4];
  _mm_storeu_ps(t, v);
  for (int k = 0; k < 4; ++k) m = t[k] > m ? t[k] : m;
#endif
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

static inline float row_sum(const float* x, int64_t n) {
  float l[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) l[k] += x[i + k];
  for (; i < n; ++i) l[0] += x[i];
  float s = 0;
  for (int k = 0; k < 16; ++k) s += l[k];
  return s;
}

// mode 0 Softmax, 1 LogSoftmax, 2 Hardmax. Tasks: rows when inner == 1, else
// (outer, 16-wide inner chunk) pairs.
static inline void softmax_tasks(int mode, const float* x, float* y, int64_t outer, int64_t n, int64_t inner,
                                 int64_t tb, int64_t te) {
  (void)outer;
  if (inner == 1) {
    for (int64_t r = tb; r < te; ++r) {
      const float* xr = x + r * n;
      float* yr = y + r * n;
      if (mode == 2) {
        int64_t bi = 0;
        float best = xr[0];
        for (int64_t i = 1; i < n; ++i) if (xr[i] > best) { best = xr[i]; bi = i; }
        for (int64_t i = 0; i < n; ++i) yr[i] = 0.f;
        if (n) yr[bi] = 1.f;
        continue;
      }
      float m = row_max(xr, n);
      for (int64_t i = 0; i < n; ++i) yr[i] = vexp(xr[i] - m);
      float s = row_sum(yr, n);
      if (mode == 0) {
        float inv = 1.0f / s;
        for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
      } else {
        float ls = std::log(s);
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) - ls;
      }
    }
    return;
  }
  const int64_t W = 16, nch = (inner + W - 1) / W;
  for (int64_t t = tb; t < te; ++t) {
    int64_t o = t / nch, c = t % nch;
    int64_t i0 = c * W, len = inner - i0 < W ? inner - i0 : W;
    const float* xb = x + o * n * inner + i0;
    float* yb = y + o * n * inner + i0;
    float m[W], s[W];
    int64_t bi[W];
    for (int k = 0; k < W; ++k) { m[k] = -std::numeric_limits<float>::infinity(); s[k] = 0.f; bi[k] = 0; }
    if (len == W) {
      for (int64_t j = 0; j < n; ++j)
        for (int k = 0; k < W; ++k) m[k] = xb[j * inner + k] > m[k] ? xb[j * inner + k] : m[k];
    } else {
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < len; ++k) m[k] = xb[j * inner + k] > m[k] ? xb[j * inner + k] : m[k];
    }
    if (mode == 2) {
      for (int64_t k = 0; k < len; ++k) {
        float best = xb[k];
        for (int64_t j = 1; j < n; ++j) if (xb[j * inner + k] > best) { best = xb[j * inner + k]; bi[k] = j; }
      }
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < len; ++k) yb[j * inner + k] = bi[k] == j ? 1.f : 0.f;
      continue;
    }
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < len; ++k) {
        float e = vexp(xb[j * inner + k] - m[k]);
        if (mode == 0) yb[j * inner + k] = e;
        s[k] += e;
      }
    if (mode == 0) {
      for (int64_t k = 0; k < len; ++k) s[k] = 1.0f / s[k];
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < len; ++k) yb[j * inner + k] *= s[k];
    } else {
      for (int64_t k = 0; k < len; ++k) s[k] = std::log(s[k]);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < len; ++k) yb[j * inner + k] = (xb[j * inner + k] - m[k]) - s[k];
    }
  }
}

}  // namespace smx
}  // namespace
}  // namespace snep
