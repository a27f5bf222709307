// Pad (modes constant / reflect / edge / wrap; pads as attribute before opset
// 11, as inputs after, axes input from 18). Any dtype by element size. Each
// output row maps to one source row (or the constant); the last dim is copied
// as [mapped | memcpy | mapped].
#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

enum Mode { kConstant, kReflect, kEdge, kWrap };

struct PadPlan {
  int r = 0;
  size_t esz = 4;
  Mode mode = kConstant;
  std::vector<int64_t> in_shape, out_shape, in_str;
  int64_t tables = 0;  // sum of out dims
  std::string where;
  // Fills map (sum(out) entries): source index per output index, -1 = constant.
  void build(const int64_t* pb, int64_t* map) const {
    for (int d = 0; d < r; ++d) {
      int64_t n = in_shape[d];
      for (int64_t o = 0; o < out_shape[d]; ++o) {
        int64_t s = o - pb[d];
        if (s < 0 || s >= n) {
          if (mode == kConstant || n == 0) s = -1;
          else if (mode == kEdge) s = s < 0 ? 0 : n - 1;
          else if (mode == kWrap) s = ((s % n) + n) % n;
          else {
            int64_t p = 2 * (n - 1);
            if (p == 0) s = 0;
            else { s = ((s % p) + p) % p; if (s >= n) s = p - s; }
          }
        }
        map[o] = s;
      }
      map += out_shape[d];
    }
  }
  template <class U>
  void run(const U* x, U* y, U val, const int64_t* map, int64_t pb_last, ThreadPool* pool) const {
    int64_t ylast = out_shape[r - 1];
    int64_t rows = prod(out_shape) / std::max<int64_t>(1, ylast);
    if (ylast == 0 || rows == 0) return;
    const int64_t* lmap = map;
    for (int d = 0; d < r - 1; ++d) lmap += out_shape[d];
    // the identity part of the last dim: a memcpy
    int64_t n = in_shape[r - 1];
    int64_t j0 = std::clamp<int64_t>(pb_last, 0, ylast), j1 = std::clamp<int64_t>(pb_last + n, 0, ylast);
    if (j1 < j0) j1 = j0;
    int64_t soff = j0 - pb_last;
    pool->parallel_for(rows, std::max<int64_t>(1, mv::kCopyGrain / ylast), [&](int64_t rb, int64_t re) {
      for (int64_t row = rb; row < re; ++row) {
        int64_t rem = row, so = 0;
        bool cst = false;
        const int64_t* m = map;
        std::array<int64_t, mv::kMaxRank> idx{};
        for (int d = r - 2; d >= 0; --d) { idx[d] = rem % out_shape[d]; rem /= out_shape[d]; }
        for (int d = 0; d < r - 1; ++d) {
          int64_t s = m[idx[d]];
          m += out_shape[d];
          if (s < 0) { cst = true; break; }
          so += s * in_str[d];
        }
        U* yr = y + row * ylast;
        if (cst) { std::fill(yr, yr + ylast, val); continue; }
        const U* xr = x + so;
        for (int64_t j = 0; j < j0; ++j) yr[j] = lmap[j] < 0 ? val : xr[lmap[j]];
        if (j1 > j0) std::memcpy(yr + j0, xr + soff, (j1 - j0) * sizeof(U));
        for (int64_t j = j1; j < ylast; ++j) yr[j] = lmap[j] < 0 ? val : xr[lmap[j]];
      }
    });
  }
};

Mode mode_of(const std::string& s, bool* ok) {
  *ok = true;
  if (s == "constant") return kConstant;
  if (s == "reflect") return kReflect;
  if (s == "edge") return kEdge;
  if (s == "wrap") return kWrap;
  *ok = false;
  return kConstant;
}

bool pad_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  int r = x.rank();
  if (x.dtype != y.dtype || dtype_size(x.dtype) == 0 || r == 0 || r > mv::kMaxRank || y.rank() != r) return false;
  bool ok;
  Mode m = mode_of(l.attrs.get_string("mode", "constant"), &ok);
  if (!ok) return false;
  int64_t opset = l.attrs.get_int("_opset", 18);
  if (m == kWrap && opset < 19) return false;
  if (m != kConstant)
    for (int d = 0; d < r; ++d) if (x.shape[d] == 0 && y.shape[d] != 0) return false;
  std::vector<int64_t> pads;
  if (opset < 11) {
    pads = l.attrs.get_ints(opset < 2 ? "paddings" : "pads");
    if ((int)pads.size() != 2 * r) return false;
  } else {
    if (!l.has_input(1) || l.in(1).dtype != DType::Int64) return false;
    int64_t na = r;
    if (l.has_input(3)) {
      if (opset < 18 || !mv::is_int_index(l.in(3).dtype)) return false;
      na = l.in(3).numel();
    }
    if (l.in(1).numel() != 2 * na) return false;
    if (l.has_input(2) && (l.in(2).dtype != x.dtype || l.in(2).numel() != 1)) return false;
    return true;  // values checked at prepare/run
  }
  for (int d = 0; d < r; ++d) if (x.shape[d] + pads[d] + pads[d + r] != y.shape[d]) return false;
  return true;
}

// Begin pads per dim from pads (+ axes); checks them against the shapes.
template <class RdP, class RdA>
void begin_pads(const PadPlan& p, int64_t na, RdP pads, RdA axes, bool has_axes, int64_t* pb) {
  std::array<int64_t, mv::kMaxRank> pe{};
  for (int d = 0; d < p.r; ++d) { pb[d] = 0; pe[d] = 0; }
  for (int64_t i = 0; i < na; ++i) {
    int64_t ax = has_axes ? axes(i) : i;
    if (ax < 0) ax += p.r;
    if (ax < 0 || ax >= p.r) throw InvalidArgumentError(p.where + ": axis out of range");
    pb[ax] = pads(i);
    pe[ax] = pads(i + na);
  }
  for (int d = 0; d < p.r; ++d)
    if (p.in_shape[d] + pb[d] + pe[d] != p.out_shape[d])
      throw InvalidArgumentError(p.where + ": pads do not match the output shape");
}

class PadKernel : public Kernel {
 public:
  PadPlan p;
  std::vector<int64_t> map;  // prepared when the pads are constant
  bool runtime_pads = false, runtime_value = false;
  int64_t na = 0;
  bool has_axes = false;
  DType adt = DType::Int64;
  uint64_t value = 0;  // the constant, as element bytes
  int64_t pb_last = 0;
  size_t workspace_bytes() const override { return runtime_pads ? (size_t)p.tables * sizeof(int64_t) : 0; }
  void run(const RunArgs& a) override {
    const int64_t* m = map.data();
    int64_t pbl = pb_last;
    if (runtime_pads) {
      std::array<int64_t, mv::kMaxRank> pb{};
      const int64_t* pads = static_cast<const int64_t*>(a.in[1]);
      const void* ap = a.in[3];
      DType dt = adt;
      begin_pads(p, na, [&](int64_t i) { return pads[i]; }, [&](int64_t i) { return mv::read_int(ap, dt, i); },
                 has_axes, pb.data());
      int64_t* w = static_cast<int64_t*>(a.workspace);
      p.build(pb.data(), w);
      m = w;
      pbl = pb[p.r - 1];
    }
    uint64_t v = value;
    if (runtime_value) std::memcpy(&v, a.in[2], p.esz);
    SNEP_BY_SIZE(p.esz, U, {
      U uv;
      std::memcpy(&uv, &v, sizeof(U));
      p.run<U>(static_cast<const U*>(a.in[0]), static_cast<U*>(a.out[0]), uv, m, pbl, a.pool);
    });
  }
};

std::unique_ptr<Kernel> pad_prepare(const Layer& l) {
  auto k = std::make_unique<PadKernel>();
  PadPlan& p = k->p;
  const auto& x = l.in(0);
  p.r = x.rank();
  p.esz = dtype_size(x.dtype);
  bool ok;
  p.mode = mode_of(l.attrs.get_string("mode", "constant"), &ok);
  p.in_shape = x.shape;
  p.out_shape = l.out(0).shape;
  p.in_str = mv::contiguous_strides(x.shape);
  p.tables = 0;
  for (auto d : p.out_shape) p.tables += d;
  p.where = l.where();
  int64_t opset = l.attrs.get_int("_opset", 18);
  std::array<int64_t, mv::kMaxRank> pb{};
  if (opset < 11) {
    auto pads = l.attrs.get_ints(opset < 2 ? "paddings" : "pads");
    begin_pads(p, p.r, [&](int64_t i) { return pads[i]; }, [](int64_t i) { return i; }, false, pb.data());
    double fv = l.attrs.get_float("value", 0.0);
    SNEP_DISPATCH_NUMERIC(x.dtype, T, { T t = (T)fv; std::memcpy(&k->value, &t, sizeof(T)); });
  } else {
    k->na = l.in(1).numel() / 2;
    k->has_axes = l.has_input(3);
    if (k->has_axes) k->adt = l.in(3).dtype;
    bool cpads = l.in(1).const_data && (!k->has_axes || l.in(3).const_data);
    if (cpads) {
      const int64_t* pads = l.in(1).cdata<int64_t>();
      const void* ap = mv::in_ptr(l, 3);
      DType dt = k->adt;
      begin_pads(p, k->na, [&](int64_t i) { return pads[i]; }, [&](int64_t i) { return mv::read_int(ap, dt, i); },
                 k->has_axes, pb.data());
    } else {
      k->runtime_pads = true;
    }
    if (l.has_input(2)) {
      if (l.in(2).const_data) std::memcpy(&k->value, l.in(2).const_data, p.esz);
      else k->runtime_value = true;
    }
  }
  if (!k->runtime_pads) {
    k->map.resize((size_t)p.tables + 1);
    p.build(pb.data(), k->map.data());
    k->pb_last = pb[p.r - 1];
  }
  return k;
}

SNEP_REGISTER_LAMBDA("Pad", "cpu/rowmap", pad_supports, pad_prepare);

}  // namespace
}  // namespace snep
