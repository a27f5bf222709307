// ScatterElements (reduction none/add/mul/max/min), Scatter (opset < 11),
// ScatterND (reduction). Output = data, then updates applied in index order.
#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

enum Red { kNone, kAdd, kMul, kMax, kMin };

bool red_of(const Layer& l, Red* r) {
  std::string s = l.attrs.get_string("reduction", "none");
  if (s == "none") *r = kNone;
  else if (s == "add") *r = kAdd;
  else if (s == "mul") *r = kMul;
  else if (s == "max") *r = kMax;
  else if (s == "min") *r = kMin;
  else return false;
  return true;
}

bool arith(DType t) {
  switch (t) {
    case DType::Float32: case DType::Float64: case DType::Int64: case DType::Int32: case DType::Int16:
    case DType::Int8: case DType::UInt8: case DType::UInt16: case DType::UInt32: case DType::UInt64: return true;
    default: return false;
  }
}

template <class T>
inline void apply(T& d, T u, Red r) {
  switch (r) {
    case kNone: d = u; break;
    case kAdd: d = (T)(d + u); break;
    case kMul: d = (T)(d * u); break;
    case kMax: d = std::max(d, u); break;
    case kMin: d = std::min(d, u); break;
  }
}

// ---- ScatterElements / Scatter -------------------------------------------------

bool se_supports(const Layer& l) {
  if (l.inputs.size() != 3 || l.outputs.size() != 1) return false;
  for (auto& t : l.inputs) if (!t.present) return false;
  const auto& x = l.in(0);
  const auto& ind = l.in(1);
  const auto& u = l.in(2);
  int r = x.rank();
  if (r == 0 || ind.rank() != r || u.shape != ind.shape || u.dtype != x.dtype || l.out(0).shape != x.shape ||
      l.out(0).dtype != x.dtype || !mv::is_int_index(ind.dtype) || dtype_size(x.dtype) == 0)
    return false;
  int64_t axis = l.attrs.get_int("axis", 0);
  if (axis < -r || axis >= r) return false;
  if (axis < 0) axis += r;
  for (int d = 0; d < r; ++d) if (d != axis && ind.shape[d] > x.shape[d]) return false;
  Red red;
  if (!red_of(l, &red)) return false;
  if (red != kNone && (!arith(x.dtype) || l.op == "Scatter")) return false;
  return true;
}

std::unique_ptr<Kernel> se_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int r = x.rank();
  int64_t axis = mv::norm_axis(l.attrs.get_int("axis", 0), r, l);
  Red red;
  red_of(l, &red);
  auto xst = mv::contiguous_strides(x.shape);
  auto ishape = l.in(1).shape;
  auto xshape = x.shape;
  int64_t n = l.in(1).numel(), N = x.shape[axis], total = x.numel();
  DType dt = x.dtype, idt = l.in(1).dtype;
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    for (int64_t m = 0; m < n; ++m) {
      int64_t v = mv::read_int(a.in[1], idt, m);
      if (v < -N || v >= N) throw InvalidArgumentError(where + ": index out of range");
    }
    size_t esz = dtype_size(dt);
    if (a.out[0] != a.in[0]) std::memcpy(a.out[0], a.in[0], total * esz);
    auto body = [&](auto tag) {
      using T = decltype(tag);
      T* y = static_cast<T*>(a.out[0]);
      const T* u = static_cast<const T*>(a.in[2]);
      std::array<int64_t, mv::kMaxRank> idx{};
      for (int64_t m = 0; m < n; ++m) {
        int64_t off = 0;
        for (int d = 0; d < r; ++d) {
          int64_t i = d == axis ? mv::read_int(a.in[1], idt, m) : idx[d];
          if (d == axis && i < 0) i += N;
          off += i * xst[d];
        }
        apply<T>(y[off], u[m], red);
        for (int d = r - 1; d >= 0; --d) {
          if (++idx[d] < ishape[d]) break;
          idx[d] = 0;
        }
      }
    };
    if (red == kNone) {
      SNEP_BY_SIZE(esz, U, body(U{}));
    } else {
      SNEP_DISPATCH_NUMERIC(dt, T, body(T{}));
    }
  });
}

SNEP_REGISTER_LAMBDA("ScatterElements", "cpu/direct", se_supports, se_prepare);
SNEP_REGISTER_LAMBDA("Scatter", "cpu/direct", se_supports, se_prepare);

// ---- ScatterND ---------------------------------------------------------------

bool snd_supports(const Layer& l) {
  if (l.inputs.size() != 3 || l.outputs.size() != 1) return false;
  for (auto& t : l.inputs) if (!t.present) return false;
  const auto& x = l.in(0);
  const auto& ind = l.in(1);
  const auto& u = l.in(2);
  if (ind.dtype != DType::Int64 || ind.rank() < 1 || u.dtype != x.dtype || l.out(0).shape != x.shape ||
      l.out(0).dtype != x.dtype || dtype_size(x.dtype) == 0)
    return false;
  int64_t k = ind.shape.back();
  if (k < 1 || k > x.rank()) return false;
  std::vector<int64_t> want(ind.shape.begin(), ind.shape.end() - 1);
  want.insert(want.end(), x.shape.begin() + k, x.shape.end());
  if (want != u.shape) return false;
  Red red;
  if (!red_of(l, &red)) return false;
  if (red != kNone && !arith(x.dtype)) return false;
  return true;
}

std::unique_ptr<Kernel> snd_prepare(const Layer& l) {
  const auto& x = l.in(0);
  const auto& ind = l.in(1);
  int64_t k = ind.shape.back();
  int64_t T_ = prod(ind.shape, 0, ind.rank() - 1);
  int64_t slice = prod(x.shape, k);
  std::vector<int64_t> dims(x.shape.begin(), x.shape.begin() + k), dst(k);
  { int64_t s = slice; for (int64_t i = k - 1; i >= 0; --i) { dst[i] = s; s *= dims[i]; } }
  Red red;
  red_of(l, &red);
  DType dt = x.dtype;
  int64_t total = x.numel();
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const int64_t* idx = static_cast<const int64_t*>(a.in[1]);
    for (int64_t t = 0; t < T_; ++t)
      for (int64_t j = 0; j < k; ++j) {
        int64_t v = idx[t * k + j];
        if (v < -dims[j] || v >= dims[j]) throw InvalidArgumentError(where + ": index out of range");
      }
    size_t esz = dtype_size(dt);
    if (a.out[0] != a.in[0]) std::memcpy(a.out[0], a.in[0], total * esz);
    auto body = [&](auto tag) {
      using T = decltype(tag);
      T* y = static_cast<T*>(a.out[0]);
      const T* u = static_cast<const T*>(a.in[2]);
      for (int64_t t = 0; t < T_; ++t) {
        int64_t off = 0;
        for (int64_t j = 0; j < k; ++j) {
          int64_t v = idx[t * k + j];
          if (v < 0) v += dims[j];
          off += v * dst[j];
        }
        for (int64_t i = 0; i < slice; ++i) apply<T>(y[off + i], u[t * slice + i], red);
      }
    };
    if (red == kNone) {
      SNEP_BY_SIZE(esz, U, body(U{}));
    } else {
      SNEP_DISPATCH_NUMERIC(dt, T, body(T{}));
    }
  });
}

SNEP_REGISTER_LAMBDA("ScatterND", "cpu/direct", snd_supports, snd_prepare);

}  // namespace
}  // namespace snep
