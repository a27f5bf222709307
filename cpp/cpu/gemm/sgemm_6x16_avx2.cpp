// AVX2+FMA sgemm micro-kernel: up to 6 rows x 16 columns (12 ymm accumulators).
// Compiled with AVX2 flags; everything but the entry point is in an anonymous namespace.
#include <immintrin.h>

#include "cpu/gemm/sgemm_ukernel.h"

namespace snep {
namespace gemm {
namespace {

constexpr int NR = 16;

inline __m256 act_v(__m256 v, int act, __m256 va, __m256 vb) {
  const __m256 zero = _mm256_setzero_ps();
  switch (act) {
    case kActRelu: return _mm256_max_ps(zero, v);  // NaN stays NaN
    case kActClip: return _mm256_min_ps(vb, _mm256_max_ps(va, v));
    case kActLeakyRelu: {
      __m256 neg = _mm256_cmp_ps(v, zero, _CMP_LT_OQ);
      return _mm256_blendv_ps(v, _mm256_mul_ps(v, va), neg);
    }
    case kActHardSigmoid:
      return _mm256_min_ps(_mm256_set1_ps(1.f), _mm256_max_ps(zero, _mm256_fmadd_ps(va, v, vb)));
    case kActHardSwish: {
      __m256 t = _mm256_fmadd_ps(v, _mm256_set1_ps(1.f / 6.f), _mm256_set1_ps(0.5f));
      t = _mm256_min_ps(_mm256_set1_ps(1.f), _mm256_max_ps(zero, t));
      return _mm256_mul_ps(v, t);
    }
    default: return v;
  }
}

inline __m256i lane_mask(int n) {  // lanes [0, n) set, n in [0, 8]
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

template <int M>
void kern(int64_t kc, const float* a, int64_t as, const float* b, float* c, int64_t ldc, int nr, int accumulate,
          const UkEpilogue* ep) {
  __m256 acc0[M], acc1[M];
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) { acc0[i] = _mm256_setzero_ps(); acc1[i] = _mm256_setzero_ps(); }
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      __m256 av = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(av, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(av, b1, acc1[i]);
    }
    a += as;
    b += NR;
  }
  const __m256i m0 = lane_mask(nr < 8 ? nr : 8), m1 = lane_mask(nr <= 8 ? 0 : nr - 8);
  const __m256 alpha = _mm256_set1_ps(ep ? ep->alpha : 1.f);
  const __m256 va = _mm256_set1_ps(ep ? ep->act_a : 0.f), vb = _mm256_set1_ps(ep ? ep->act_b : 0.f);
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    float* cr = c + i * ldc;
    __m256 v0 = acc0[i], v1 = acc1[i];
    if (accumulate) {
      v0 = _mm256_add_ps(v0, _mm256_maskload_ps(cr, m0));
      v1 = _mm256_add_ps(v1, _mm256_maskload_ps(cr + 8, m1));
    }
    if (ep) {
      if (ep->alpha != 1.f) { v0 = _mm256_mul_ps(v0, alpha); v1 = _mm256_mul_ps(v1, alpha); }
      for (int t = 0; t < 2; ++t) {
        const float* ad = ep->add[t];
        if (!ad) continue;
        ad += i * ep->add_sm[t];
        __m256 s = _mm256_set1_ps(ep->add_scale[t]);
        if (ep->add_sn[t]) {
          v0 = _mm256_fmadd_ps(_mm256_maskload_ps(ad, m0), s, v0);
          v1 = _mm256_fmadd_ps(_mm256_maskload_ps(ad + 8, m1), s, v1);
        } else {
          __m256 r = _mm256_mul_ps(_mm256_set1_ps(ad[0]), s);
          v0 = _mm256_add_ps(v0, r);
          v1 = _mm256_add_ps(v1, r);
        }
      }
      v0 = act_v(v0, ep->act, va, vb);
      v1 = act_v(v1, ep->act, va, vb);
    }
    _mm256_maskstore_ps(cr, m0, v0);
    _mm256_maskstore_ps(cr + 8, m1, v1);
  }
}

}  // namespace

void sgemm_ukernel_avx2(int64_t kc, const float* a, int64_t as, const float* b, float* c, int64_t ldc, int mr,
                        int nr, int accumulate, const UkEpilogue* ep) {
  switch (mr) {
    case 1: return kern<1>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 2: return kern<2>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 3: return kern<3>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 4: return kern<4>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 5: return kern<5>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    default: return kern<6>(kc, a, as, b, c, ldc, nr, accumulate, ep);
  }
}

}  // namespace gemm
}  // namespace snep
