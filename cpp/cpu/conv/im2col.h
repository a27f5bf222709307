// im2col rows for the GEMM-based Conv routines: rows [k0, k0+kc) x columns
// [n0, n0+nc) of the im2col matrix of one image/group (x at its first channel),
// panel by panel of NR columns: the panel's columns split into runs along
// output rows (computed once per panel), then each row kk of panel q is NR
// floats written at sink.row(q, kk) (tail past the last column zeroed), after
// which sink.done(q, kk) is called. The sink decides the packed layout (fp32
// panels, or bf16 pairs converted from a two-row staging buffer).
#pragma once
#include <algorithm>
#include <cstdint>

#include "cpu/conv/conv_params.h"

namespace snep {
namespace conv {

template <class Sink>
void im2col_rows(const ConvParams& p, const float* x, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int NR,
                 Sink& sink) {
  const int64_t insz = p.in_size();
  const int64_t O1 = p.out[1], O2 = p.out[2], I0 = p.in[0], I1 = p.in[1], I2 = p.in[2];
  const int64_t K1 = p.k[1], K2 = p.k[2], KK = p.k_size();
  const int64_t s2 = p.s[2], d2 = p.d[2], pb2 = p.pb[2];
  struct Run { int64_t j0, len, id0, ih0, iw0; };
  Run runs[64];
  const int64_t npan = (nc + NR - 1) / NR;
  for (int64_t q = 0; q < npan; ++q) {
    const int64_t c0 = n0 + q * NR, cn = std::min<int64_t>(NR, nc - q * NR);
    int nr = 0;
    for (int64_t j = 0; j < cn;) {
      const int64_t n = c0 + j;
      const int64_t od = n / (O1 * O2), oh = (n / O2) % O1, ow = n % O2;
      const int64_t len = std::min(O2 - ow, cn - j);
      runs[nr++] = Run{j, len, od * p.s[0] - p.pb[0], oh * p.s[1] - p.pb[1], ow * s2 - pb2};
      j += len;
    }
    int64_t c = k0 / KK, r = k0 % KK;
    int64_t kd = r / (K1 * K2), kh = (r / K2) % K1, kw = r % K2;
    for (int64_t kk = 0; kk < kc; ++kk) {
      float* d = sink.row(q, kk);
      const float* xc = x + c * insz;
      for (int ri = 0; ri < nr; ++ri) {
        const Run& ru = runs[ri];
        float* dr = d + ru.j0;
        const int64_t id = ru.id0 + kd * p.d[0], ih = ru.ih0 + kh * p.d[1];
        int64_t lo = 0, hi = 0;
        const float* row = nullptr;
        if (id >= 0 && id < I0 && ih >= 0 && ih < I1) {
          const int64_t iw0 = ru.iw0 + kw * d2;
          lo = iw0 >= 0 ? 0 : (-iw0 + s2 - 1) / s2;
          hi = iw0 > I2 - 1 ? 0 : (I2 - 1 - iw0) / s2 + 1;
          lo = std::min(lo, ru.len);
          hi = std::min(std::max(hi, lo), ru.len);
          row = xc + (id * I1 + ih) * I2 + iw0;
        }
        for (int64_t t = 0; t < lo; ++t) dr[t] = 0.f;
        if (s2 == 1) {
          for (int64_t t = lo; t < hi; ++t) dr[t] = row[t];
        } else {
          for (int64_t t = lo; t < hi; ++t) dr[t] = row[t * s2];
        }
        for (int64_t t = hi; t < ru.len; ++t) dr[t] = 0.f;
      }
      for (int64_t t = cn; t < NR; ++t) d[t] = 0.f;
      sink.done(q, kk);
      if (++kw == K2) {
        kw = 0;
        if (++kh == K1) {
          kh = 0;
          if (++kd == p.k[0]) { kd = 0; ++c; }
        }
      }
    }
  }
}

}  // namespace conv
}  // namespace snep
