// Pooling geometry for the layout routines (NCHW16c, NHWC): the valid taps of
// each output row / column, resolved as cpu/pool/pool.cpp resolves them
// (onnxruntime's output sizes too). 2-D, rank-4 tensors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/routine.h"
#include "cpu/pool/pool_geometry.h"

namespace snep {
namespace layout {

// Per output position q: first valid input position, how many valid taps (they
// are consecutive in steps of the dilation), and how many taps lie inside the padding-extended input.
struct DimTab {
  std::vector<int64_t> first, count, padded;
  int64_t dil = 1;
};

inline bool pool_dims(const Layer& l, bool is_max, DimTab* tabs /*[2]*/) {
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  if (x.rank() != 4 || y.rank() != 4 || y.shape[0] != x.shape[0] || y.shape[1] != x.shape[1]) return false;
  const int nsp = 2;
  auto k = l.attrs.get_ints("kernel_shape");
  if ((int)k.size() != nsp) return false;
  auto s = l.attrs.get_ints("strides", std::vector<int64_t>(nsp, 1));
  auto d = l.attrs.get_ints("dilations", std::vector<int64_t>(nsp, 1));
  auto p = l.attrs.get_ints("pads", std::vector<int64_t>(2 * nsp, 0));
  if ((int)s.size() != nsp || (int)d.size() != nsp || (int)p.size() != 2 * nsp) return false;
  if (!is_max && l.attrs.has("dilations") && l.attrs.get_int("_opset", 19) < 19) return false;
  std::string ap = l.attrs.get_string("auto_pad", "NOTSET");
  bool ceil_mode = l.attrs.get_int("ceil_mode", 0) != 0;
  for (int i = 0; i < nsp; ++i) {
    int64_t n = x.shape[2 + i], o = y.shape[2 + i];
    int64_t pb = p[i], pe = p[i + nsp];
    if (!pool_dim(n, o, k[i], s[i], d[i], ap, ceil_mode, &pb, &pe)) return false;
    if (!tabs) continue;
    DimTab& t = tabs[i];
    t.dil = d[i];
    t.first.resize(o);
    t.count.resize(o);
    t.padded.resize(o);
    for (int64_t q = 0; q < o; ++q) {
      int64_t st = q * s[i] - pb;
      int64_t f = -1, c = 0, pc = 0;
      for (int64_t m = 0; m < k[i]; ++m) {
        int64_t pos = st + m * d[i];
        if (pos >= 0 && pos < n) { if (f < 0) f = pos; ++c; }
        if (pos >= -pb && pos < n + pe) ++pc;
      }
      t.first[q] = f < 0 ? 0 : f;
      t.count[q] = c;
      t.padded[q] = pc;
    }
  }
  return true;
}

}  // namespace layout
}  // namespace snep
