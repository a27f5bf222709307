// AVX-512 Winograd tile transforms (same contract as winograd_tf.h's plain
// ones, which are the reference for these): 16 tiles per vector, masked
// loads/stores for the last partial vector, the stride-m split of input rows
// into phases and the interleaving of output rows done with permutes.
// Called only after cpu_has("avx512f").
// GCC 12 flags its own maskz/undefined intrinsics as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "cpu/conv/winograd_tf.h"

namespace {

constexpr int kS = snep::wino::kWinoSeg + 32;  // per-phase buffer length (>= 16 * (n/16 + 2))

inline __mmask16 tmask(int64_t rem) { return rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1); }

template <int m> struct VT;

template <> struct VT<2> {
  static inline void bt(const __m512* d, __m512* o) {
    o[0] = d[0] - d[2];
    o[1] = d[1] + d[2];
    o[2] = d[2] - d[1];
    o[3] = d[1] - d[3];
  }
  static inline void at(const __m512* s, __m512* o) {
    o[0] = s[0] + s[1] + s[2];
    o[1] = s[1] - s[2] - s[3];
  }
  // 32 floats (16 tiles x 2 phases) -> one vector per phase.
  static inline void deint(const float* src, __m512* ph) {
    const __m512 a = _mm512_load_ps(src), b = _mm512_load_ps(src + 16);
    const __m512i i0 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i i1 = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    ph[0] = _mm512_permutex2var_ps(a, i0, b);
    ph[1] = _mm512_permutex2var_ps(a, i1, b);
  }
  // One vector per phase -> 32 floats in tile order.
  static inline void inter(const __m512* p, __m512* u) {
    const __m512 lo = _mm512_unpacklo_ps(p[0], p[1]), hi = _mm512_unpackhi_ps(p[0], p[1]);
    const __m512i i0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i i1 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    u[0] = _mm512_permutex2var_ps(lo, i0, hi);
    u[1] = _mm512_permutex2var_ps(lo, i1, hi);
  }
};

template <> struct VT<4> {
  static inline void bt(const __m512* d, __m512* o) {
    const __m512 p = d[4] - 4.f * d[2], q = d[3] - 4.f * d[1];
    const __m512 r = d[4] - d[2], s = 2.f * (d[3] - d[1]);
    o[0] = 4.f * d[0] - 5.f * d[2] + d[4];
    o[1] = p + q;
    o[2] = p - q;
    o[3] = r + s;
    o[4] = r - s;
    o[5] = 4.f * d[1] - 5.f * d[3] + d[5];
  }
  static inline void at(const __m512* s, __m512* o) {
    const __m512 p = s[1] + s[2], q = s[1] - s[2], u = s[3] + s[4], v = s[3] - s[4];
    o[0] = s[0] + p + u;
    o[1] = q + 2.f * v;
    o[2] = p + 4.f * u;
    o[3] = q + 8.f * v + s[5];
  }
  static inline void deint(const float* src, __m512* ph) {
    const __m512 a = _mm512_load_ps(src), b = _mm512_load_ps(src + 16);
    const __m512 c = _mm512_load_ps(src + 32), d = _mm512_load_ps(src + 48);
    for (int k = 0; k < 4; ++k) {
      const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
                                           _mm512_set1_epi32(k));
      const __m512 ab = _mm512_permutex2var_ps(a, idx, b), cd = _mm512_permutex2var_ps(c, idx, d);
      ph[k] = _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(1, 0, 1, 0));
    }
  }
  static inline void inter(const __m512* p, __m512* u) {
    const __m512 lo01 = _mm512_unpacklo_ps(p[0], p[1]), hi01 = _mm512_unpackhi_ps(p[0], p[1]);
    const __m512 lo23 = _mm512_unpacklo_ps(p[2], p[3]), hi23 = _mm512_unpackhi_ps(p[2], p[3]);
    const __m512 t0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(lo01), _mm512_castps_pd(lo23)));
    const __m512 t1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(lo01), _mm512_castps_pd(lo23)));
    const __m512 t2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(hi01), _mm512_castps_pd(hi23)));
    const __m512 t3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(hi01), _mm512_castps_pd(hi23)));
    const __m512 a01 = _mm512_shuffle_f32x4(t0, t1, _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 a23 = _mm512_shuffle_f32x4(t2, t3, _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 b01 = _mm512_shuffle_f32x4(t0, t1, _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 b23 = _mm512_shuffle_f32x4(t2, t3, _MM_SHUFFLE(3, 2, 3, 2));
    u[0] = _mm512_shuffle_f32x4(a01, a23, _MM_SHUFFLE(2, 0, 2, 0));
    u[1] = _mm512_shuffle_f32x4(a01, a23, _MM_SHUFFLE(3, 1, 3, 1));
    u[2] = _mm512_shuffle_f32x4(b01, b23, _MM_SHUFFLE(2, 0, 2, 0));
    u[3] = _mm512_shuffle_f32x4(b01, b23, _MM_SHUFFLE(3, 1, 3, 1));
  }
};

template <int m>
void in_avx(const float* xc, int64_t H, int64_t W, int64_t iy0, int64_t ix0, int64_t n, float* dst, int64_t xs) {
  constexpr int A = m + 2;
  const int64_t nv = (n + 15) / 16 + 1;  // phase vectors: tile t needs phases of t and t+1
  const int64_t L = m * 16 * nv;
  alignas(64) float lb[m * kS];
  alignas(64) float ph[A][m][kS];
  alignas(64) float tt[A][m][kS];
  for (int r = 0; r < A; ++r) {
    const int64_t iy = iy0 + r;
    if (iy < 0 || iy >= H) {
      for (int k = 0; k < m; ++k)
        for (int64_t v = 0; v < nv; ++v) _mm512_store_ps(ph[r][k] + 16 * v, _mm512_setzero_ps());
      continue;
    }
    const float* row = xc + iy * W + ix0;  // lb[i] = row[i] inside [0, W)
    const int64_t lo = std::min<int64_t>(L, std::max<int64_t>(0, -ix0));
    const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(L, W - ix0));
    std::memset(lb, 0, lo * sizeof(float));
    std::memcpy(lb + lo, row + lo, (hi - lo) * sizeof(float));
    std::memset(lb + hi, 0, (L - hi) * sizeof(float));
    for (int64_t v = 0; v < nv; ++v) {
      __m512 p[m];
      VT<m>::deint(lb + v * 16 * m, p);
      for (int k = 0; k < m; ++k) _mm512_store_ps(ph[r][k] + 16 * v, p[k]);
    }
  }
  for (int k = 0; k < m; ++k)
    for (int64_t v = 0; v < nv; ++v) {
      __m512 d[A], o[A];
      for (int r = 0; r < A; ++r) d[r] = _mm512_load_ps(ph[r][k] + 16 * v);
      VT<m>::bt(d, o);
      for (int i = 0; i < A; ++i) _mm512_store_ps(tt[i][k] + 16 * v, o[i]);
    }
  for (int64_t v = 0; v * 16 < n; ++v) {
    const __mmask16 mk = tmask(n - 16 * v);
    for (int i = 0; i < A; ++i) {
      __m512 d[A], o[A];
      for (int q = 0; q < A; ++q) d[q] = _mm512_loadu_ps(tt[i][q % m] + q / m + 16 * v);
      VT<m>::bt(d, o);
      for (int j = 0; j < A; ++j) _mm512_mask_storeu_ps(dst + (int64_t)(i * A + j) * xs + 16 * v, mk, o[j]);
    }
  }
}

template <int m>
void out_avx(const float* src, int64_t ms, int64_t n, float* y, const float* z, int64_t OH, int64_t OW, int64_t oy0,
             int64_t ox0, float bias, const snep::Activation& act) {
  constexpr int A = m + 2;
  const int64_t w = std::min<int64_t>(m * n, OW - ox0);
  const __m512 vb = _mm512_set1_ps(bias);
  for (int64_t v = 0; v * 16 < n; ++v) {
    const __mmask16 mk = tmask(n - 16 * v);
    __m512 s[A][m];
    for (int i = 0; i < A; ++i) {
      __m512 d[A];
      for (int j = 0; j < A; ++j) d[j] = _mm512_maskz_loadu_ps(mk, src + (int64_t)(i * A + j) * ms + 16 * v);
      VT<m>::at(d, s[i]);
    }
    __m512 o[m][m];
    for (int b = 0; b < m; ++b) {
      __m512 c[A], r[m];
      for (int i = 0; i < A; ++i) c[i] = s[i][b];
      VT<m>::at(c, r);
      for (int a = 0; a < m; ++a) o[a][b] = r[a];
    }
    for (int a = 0; a < m; ++a) {
      const int64_t oy = oy0 + a;
      if (oy >= OH) break;
      __m512 u[m];
      VT<m>::inter(o[a], u);
      float* yr = y + oy * OW + ox0;
      const float* zr = z ? z + oy * OW + ox0 : nullptr;
      for (int k = 0; k < m; ++k) {
        const int64_t x = 16 * (m * v + k);
        if (x >= w) break;
        const __mmask16 mx = tmask(w - x);
        __m512 val = u[k] + vb;
        if (zr) val += _mm512_maskz_loadu_ps(mx, zr + x);
        _mm512_mask_storeu_ps(yr + x, mx, val);
      }
    }
  }
  if (act.kind != snep::Act::None)
    for (int a = 0; a < m && oy0 + a < OH; ++a) act.apply(y + (oy0 + a) * OW + ox0, w);
}

template <int m>
void out_tr_avx(const float* src, int64_t ms, int64_t nc, float* y, const float* z, int64_t OH, int64_t OW,
                int64_t oy0, int64_t ox0, const float* bias, const snep::Activation& act) {
  constexpr int A = m + 2;
  const __mmask16 mk = tmask(nc);
  __m512 s[A][m];
  for (int i = 0; i < A; ++i) {
    __m512 d[A];
    for (int j = 0; j < A; ++j) d[j] = _mm512_maskz_loadu_ps(mk, src + (int64_t)(i * A + j) * ms);
    VT<m>::at(d, s[i]);
  }
  const __m512 vb = bias ? _mm512_maskz_loadu_ps(mk, bias) : _mm512_setzero_ps();
  const int64_t plane = OH * OW;
  const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)plane));
  alignas(64) float tmp[16];
  for (int b = 0; b < m; ++b) {
    const int64_t ox = ox0 + b;
    if (ox >= OW) break;
    __m512 c[A], r[m];
    for (int i = 0; i < A; ++i) c[i] = s[i][b];
    VT<m>::at(c, r);
    for (int a = 0; a < m; ++a) {
      const int64_t oy = oy0 + a;
      if (oy >= OH) break;
      const int64_t off = oy * OW + ox;
      __m512 val = r[a] + vb;
      if (z) val += _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, lanes, z + off, 4);
      if (act.kind != snep::Act::None) {
        _mm512_store_ps(tmp, val);
        act.apply(tmp, 16);
        val = _mm512_load_ps(tmp);
      }
      _mm512_mask_i32scatter_ps(y + off, mk, lanes, val, 4);
    }
  }
}

}  // namespace

namespace snep {
namespace wino {
const Fns& fns_avx512() {
  static const Fns f{in_avx<2>, in_avx<4>, out_avx<2>, out_avx<4>, out_tr_avx<2>, out_tr_avx<4>};
  return f;
}
}  // namespace wino
}  // namespace snep
