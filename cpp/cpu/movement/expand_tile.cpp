// Expand and Tile (any dtype by element size) as strided copies: Expand with
// zero strides on broadcast dims, Tile as a rank-2r view (repeat, dim) with
// zero stride on the repeat axis.
#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

bool expand_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  if (x.dtype != y.dtype || dtype_size(x.dtype) == 0 || y.rank() > mv::kMaxRank || x.rank() > y.rank()) return false;
  for (int i = 0; i < x.rank(); ++i) {
    int64_t xd = x.shape[x.rank() - 1 - i], yd = y.shape[y.rank() - 1 - i];
    if (xd != yd && xd != 1) return false;
  }
  if (l.has_input(1) && !mv::is_int_index(l.in(1).dtype)) return false;
  if (l.has_input(1) && l.in(1).const_data) {
    // shape input broadcast with x must give y
    auto s = mv::read_ints(l.in(1).const_data, l.in(1));
    size_t r = std::max(s.size(), (size_t)x.rank());
    if (r != (size_t)y.rank()) return false;
    for (size_t i = 0; i < r; ++i) {
      int64_t a = i < s.size() ? s[s.size() - 1 - i] : 1;
      int64_t b = i < (size_t)x.rank() ? x.shape[x.rank() - 1 - i] : 1;
      int64_t o = a == 1 ? b : (b == 1 ? a : (a == b ? a : -1));
      if (o != y.shape[y.rank() - 1 - i]) return false;
    }
  }
  return true;
}

std::unique_ptr<Kernel> expand_prepare(const Layer& l) {
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  auto xs = x.shape;
  auto st = broadcast_strides(xs, y.shape);
  mv::StridedCopy sc;
  sc.init(y.shape.data(), st.data(), y.rank(), 0, dtype_size(x.dtype));
  bool check = l.has_input(1) && !l.in(1).const_data;
  int64_t ns = check ? l.in(1).numel() : 0;
  DType sdt = check ? l.in(1).dtype : DType::Int64;
  std::string where = l.where();
  return std::make_unique<FnKernel>([sc, check, ns, sdt, xs, y = y.shape, where](const RunArgs& a) {
    if (check) {
      int64_t xr = (int64_t)xs.size(), yr = (int64_t)y.size();
      bool ok = std::max(ns, xr) == yr;
      for (int64_t i = 0; ok && i < yr; ++i) {
        int64_t s = i < ns ? mv::read_int(a.in[1], sdt, ns - 1 - i) : 1;
        int64_t b = i < xr ? xs[xr - 1 - i] : 1;
        int64_t o = s == 1 ? b : (b == 1 ? s : (s == b ? s : -1));
        ok = o == y[yr - 1 - i];
      }
      if (!ok) throw InvalidArgumentError(where + ": shape input does not match the output shape");
    }
    sc.run(a.in[0], a.out[0], a.pool);
  });
}

SNEP_REGISTER_LAMBDA("Expand", "cpu/strided", expand_supports, expand_prepare);

bool tile_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  if (x.dtype != y.dtype || dtype_size(x.dtype) == 0 || 2 * x.rank() > mv::kMaxRank || x.rank() != y.rank()) return false;
  for (int i = 0; i < x.rank(); ++i) {
    if (x.shape[i] == 0 ? y.shape[i] != 0 : y.shape[i] % x.shape[i] != 0) return false;
  }
  if (l.has_input(1)) {
    if (!mv::is_int_index(l.in(1).dtype) || l.in(1).numel() != x.rank()) return false;
    if (l.in(1).const_data) {
      auto rp = mv::read_ints(l.in(1).const_data, l.in(1));
      for (int i = 0; i < x.rank(); ++i) if (rp[i] < 0 || x.shape[i] * rp[i] != y.shape[i]) return false;
    }
  }
  return true;
}

std::unique_ptr<Kernel> tile_prepare(const Layer& l) {
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  auto cs = mv::contiguous_strides(x.shape);
  std::vector<int64_t> shp, st;
  bool zero = false;
  for (int i = 0; i < x.rank(); ++i) {
    if (x.shape[i] == 0) { zero = true; break; }
    shp.push_back(y.shape[i] / x.shape[i]); st.push_back(0);
    shp.push_back(x.shape[i]); st.push_back(cs[i]);
  }
  mv::StridedCopy sc;
  if (zero || y.numel() == 0) { int64_t z = 0, one = 1; sc.init(&z, &one, 1, 0, dtype_size(x.dtype)); }
  else sc.init(shp.data(), st.data(), (int)shp.size(), 0, dtype_size(x.dtype));
  bool check = l.has_input(1) && !l.in(1).const_data;
  DType rdt = check ? l.in(1).dtype : DType::Int64;
  std::string where = l.where();
  return std::make_unique<FnKernel>([sc, check, rdt, xs = x.shape, ys = y.shape, where](const RunArgs& a) {
    if (check)
      for (size_t i = 0; i < xs.size(); ++i) {
        int64_t r = mv::read_int(a.in[1], rdt, (int64_t)i);
        if (r < 0 || r * xs[i] != ys[i]) throw InvalidArgumentError(where + ": repeats do not match the output shape");
      }
    sc.run(a.in[0], a.out[0], a.pool);
  });
}

SNEP_REGISTER_LAMBDA("Tile", "cpu/strided", tile_supports, tile_prepare);

}  // namespace
}  // namespace snep
