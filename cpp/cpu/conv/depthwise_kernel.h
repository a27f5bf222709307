// The depthwise convolution plane kernel, included by depthwise.cpp (generic
// build) and depthwise_avx512.cpp (compiled with AVX-512 flags: the loops
// auto-vectorise along the output width). Everything here is in an anonymous
// namespace and uses no library templates, so the two copies never merge.
#pragma once
#include <cstdint>

namespace snep {
namespace conv {

// Geometry of one depthwise plane (3-D, 1-D/2-D with leading unit dims).
struct DwGeom {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3];
  int64_t lo[8], hi[8];  // valid ow range per kw (k[2] <= 8), else computed per call
};

namespace {

inline int64_t dw_min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t dw_max(int64_t a, int64_t b) { return a > b ? a : b; }

// y[plane] = sum_k w[k] * x[...] + bias (+ z[plane]).
inline void dw_plane_impl(const DwGeom& g, const float* x, const float* w, float bias, const float* z, float* y) {
  const int64_t I0 = g.in[0], I1 = g.in[1], I2 = g.in[2];
  const int64_t O0 = g.out[0], O1 = g.out[1], O2 = g.out[2];
  const int64_t K1 = g.k[1], K2 = g.k[2];
  const int64_t s2 = g.s[2], d2 = g.d[2], p2 = g.pb[2];
  for (int64_t od = 0; od < O0; ++od) {
    for (int64_t oh = 0; oh < O1; ++oh) {
      float* yr = y + (od * O1 + oh) * O2;
      const float* zr = z ? z + (od * O1 + oh) * O2 : nullptr;
      if (zr) {
        for (int64_t ow = 0; ow < O2; ++ow) yr[ow] = bias + zr[ow];
      } else {
        for (int64_t ow = 0; ow < O2; ++ow) yr[ow] = bias;
      }
      for (int64_t kd = 0; kd < g.k[0]; ++kd) {
        const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
        if (id < 0 || id >= I0) continue;
        for (int64_t kh = 0; kh < K1; ++kh) {
          const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
          if (ih < 0 || ih >= I1) continue;
          const float* xr = x + (id * I1 + ih) * I2;
          const float* wr = w + (kd * K1 + kh) * K2;
          for (int64_t kw = 0; kw < K2; ++kw) {
            const int64_t off = kw * d2 - p2;
            int64_t lo, hi;
            if (kw < 8) {
              lo = g.lo[kw];
              hi = g.hi[kw];
            } else {
              lo = off >= 0 ? 0 : (-off + s2 - 1) / s2;
              hi = (I2 - 1 - off) < 0 ? 0 : (I2 - 1 - off) / s2 + 1;
              lo = dw_min(lo, O2);
              hi = dw_min(dw_max(hi, lo), O2);
            }
            const float wv = wr[kw];
            if (s2 == 1) {
              const float* xs = xr + off;
              for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xs[ow];
            } else if (s2 == 2) {
              const float* xs = xr + off;
              for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xs[2 * ow];
            } else {
              const float* xs = xr + off;
              for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xs[ow * s2];
            }
          }
        }
      }
    }
  }
}

}  // namespace

// Entry points: generic (depthwise.cpp) and AVX-512 (depthwise_avx512.cpp).
void dw_plane_generic(const DwGeom& g, const float* x, const float* w, float bias, const float* z, float* y);
void dw_plane_avx512(const DwGeom& g, const float* x, const float* w, float bias, const float* z, float* y);

}  // namespace conv
}  // namespace snep
