// Slice (opset 1-9 attributes, 10+ inputs; negative steps, clamping, axes):
// a strided copy, planned at prepare when starts/ends/axes/steps are constant.
#include <limits>

#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

struct SliceSpec {
  int rank;
  size_t esz;
  std::vector<int64_t> in_shape, out_shape;
  std::string where;
  // attribute form (opset < 10) or constant inputs
  bool from_attrs;
  std::vector<DType> dts;  // dtypes of inputs 1..4
  std::vector<int64_t> nvals;  // numel of starts/ends/axes/steps (0 when absent)
};

// Builds the copy from starts/ends/axes/steps readers; throws if inconsistent.
template <class Get>
void build(const SliceSpec& s, int64_t n, Get starts, Get ends, const Get* axes, const Get* steps, mv::StridedCopy& sc) {
  std::array<int64_t, mv::kMaxRank> st{}, en{}, stp{}, shp{}, cst{};
  std::array<bool, mv::kMaxRank> set{};
  int r = s.rank;
  for (int d = 0; d < r; ++d) { st[d] = 0; en[d] = s.in_shape[d]; stp[d] = 1; set[d] = false; }
  for (int64_t i = 0; i < n; ++i) {
    int64_t ax = axes ? (*axes)(i) : i;
    if (ax < 0) ax += r;
    if (ax < 0 || ax >= r || set[ax]) throw InvalidArgumentError(s.where + ": bad or repeated axis");
    set[ax] = true;
    int64_t step = steps ? (*steps)(i) : 1;
    if (step == 0) throw InvalidArgumentError(s.where + ": step 0");
    int64_t dim = s.in_shape[ax];
    int64_t b = starts(i), e = ends(i);
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    if (step > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
    } else {
      b = std::clamp<int64_t>(b, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
    }
    st[ax] = b; en[ax] = e; stp[ax] = step;
  }
  int64_t c = 1, off = 0;
  for (int d = r - 1; d >= 0; --d) { cst[d] = c; c *= s.in_shape[d]; }
  for (int d = 0; d < r; ++d) {
    int64_t cnt;
    if (stp[d] > 0) cnt = en[d] > st[d] ? (en[d] - st[d] + stp[d] - 1) / stp[d] : 0;
    else cnt = st[d] > en[d] ? (st[d] - en[d] + (-stp[d]) - 1) / (-stp[d]) : 0;
    if (cnt != s.out_shape[d]) throw InvalidArgumentError(s.where + ": slice parameters do not match the output shape");
    shp[d] = cnt;
    if (cnt > 0) off += st[d] * cst[d];
    cst[d] *= stp[d];
  }
  sc.init(shp.data(), cst.data(), r, off, s.esz);
}

bool slice_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  if (x.dtype != l.out(0).dtype || dtype_size(x.dtype) == 0 || x.rank() > mv::kMaxRank || x.rank() == 0) return false;
  if (l.out(0).rank() != x.rank()) return false;
  int64_t opset = l.attrs.get_int("_opset", 13);
  if (opset < 10) {
    auto s = l.attrs.get_ints("starts"), e = l.attrs.get_ints("ends"), ax = l.attrs.get_ints("axes");
    return s.size() == e.size() && (ax.empty() || ax.size() == s.size()) && (int)s.size() <= x.rank();
  }
  if (!l.has_input(1) || !l.has_input(2)) return false;
  int64_t n = l.in(1).numel();
  if (l.in(2).numel() != n || n > x.rank()) return false;
  for (size_t k = 1; k < 5; ++k) {
    if (!l.has_input(k)) continue;
    if (!mv::is_int_index(l.in(k).dtype) || l.in(k).numel() != n) return false;
  }
  return true;
}

std::unique_ptr<Kernel> slice_prepare(const Layer& l) {
  SliceSpec s;
  s.rank = l.in(0).rank();
  s.esz = dtype_size(l.in(0).dtype);
  s.in_shape = l.in(0).shape;
  s.out_shape = l.out(0).shape;
  s.where = l.where();
  s.from_attrs = l.attrs.get_int("_opset", 13) < 10;
  using Get = std::function<int64_t(int64_t)>;
  if (s.from_attrs) {
    auto st = l.attrs.get_ints("starts"), en = l.attrs.get_ints("ends"), ax = l.attrs.get_ints("axes");
    Get gs = [&](int64_t i) { return st[i]; }, ge = [&](int64_t i) { return en[i]; }, ga = [&](int64_t i) { return ax[i]; };
    mv::StridedCopy sc;
    build<Get>(s, (int64_t)st.size(), gs, ge, ax.empty() ? nullptr : &ga, nullptr, sc);
    return std::make_unique<FnKernel>([sc](const RunArgs& a) { sc.run(a.in[0], a.out[0], a.pool); });
  }
  bool all_const = true;
  for (size_t k = 1; k < 5; ++k) if (l.has_input(k) && !l.in(k).const_data) all_const = false;
  int64_t n = l.in(1).numel();
  std::array<DType, 5> dts{};
  std::array<bool, 5> has{};
  for (size_t k = 1; k < 5; ++k) { has[k] = l.has_input(k); if (has[k]) dts[k] = l.in(k).dtype; }
  if (all_const) {
    std::array<const void*, 5> p{};
    for (size_t k = 1; k < 5; ++k) p[k] = mv::in_ptr(l, k);
    auto mk = [&](int k) { return Get([&, k](int64_t i) { return mv::read_int(p[k], dts[k], i); }); };
    Get gs = mk(1), ge = mk(2), ga = mk(3), gp = mk(4);
    mv::StridedCopy sc;
    build<Get>(s, n, gs, ge, has[3] ? &ga : nullptr, has[4] ? &gp : nullptr, sc);
    return std::make_unique<FnKernel>([sc](const RunArgs& a) { sc.run(a.in[0], a.out[0], a.pool); });
  }
  // Values known only at run time: plan the copy on the stack each run.
  struct Rd {
    const void* p; DType dt;
    int64_t operator()(int64_t i) const { return mv::read_int(p, dt, i); }
  };
  return std::make_unique<FnKernel>([s, n, dts, has](const RunArgs& a) {
    Rd gs{a.in[1], dts[1]}, ge{a.in[2], dts[2]}, ga{a.in[3], dts[3]}, gp{a.in[4], dts[4]};
    mv::StridedCopy sc;
    build<Rd>(s, n, gs, ge, has[3] ? &ga : nullptr, has[4] ? &gp : nullptr, sc);
    sc.run(a.in[0], a.out[0], a.pool);
  });
}

SNEP_REGISTER_LAMBDA("Slice", "cpu/strided", slice_supports, slice_prepare);

}  // namespace
}  // namespace snep
