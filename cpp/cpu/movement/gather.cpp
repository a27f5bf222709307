// Gather (any axis, negative indices, int32/int64 indices), GatherElements,
// GatherND (batch_dims). Any data dtype by element size.
#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

inline int64_t fix_index(int64_t v, int64_t n, const std::string& where) {
  if (v < 0) v += n;
  if (v < 0 || v >= n) throw InvalidArgumentError(where + ": index out of range");
  return v;
}

// ---- Gather -----------------------------------------------------------------

bool gather_supports(const Layer& l) {
  if (!l.has_input(0) || !l.has_input(1) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& ind = l.in(1);
  int r = x.rank();
  if (r == 0 || x.dtype != l.out(0).dtype || dtype_size(x.dtype) == 0 || !mv::is_int_index(ind.dtype)) return false;
  int64_t axis = l.attrs.get_int("axis", 0);
  if (axis < -r || axis >= r) return false;
  if (axis < 0) axis += r;
  std::vector<int64_t> want(x.shape.begin(), x.shape.begin() + axis);
  want.insert(want.end(), ind.shape.begin(), ind.shape.end());
  want.insert(want.end(), x.shape.begin() + axis + 1, x.shape.end());
  return want == l.out(0).shape;
}

std::unique_ptr<Kernel> gather_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int64_t axis = mv::norm_axis(l.attrs.get_int("axis", 0), x.rank(), l);
  int64_t outer = prod(x.shape, 0, axis), N = x.shape[axis], inner = prod(x.shape, axis + 1);
  int64_t M = l.in(1).numel();
  size_t esz = dtype_size(x.dtype);
  DType idt = l.in(1).dtype;
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const void* ip = a.in[1];
    for (int64_t m = 0; m < M; ++m) {
      int64_t v = mv::read_int(ip, idt, m);
      if (v < -N || v >= N) throw InvalidArgumentError(where + ": index out of range");
    }
    if (outer * M * inner == 0) return;
    SNEP_BY_SIZE(esz, U, {
      const U* src = static_cast<const U*>(a.in[0]);
      U* dst = static_cast<U*>(a.out[0]);
      int64_t grain = std::max<int64_t>(1, mv::kCopyGrain / std::max<int64_t>(1, inner));
      auto body = [&](auto* idx) {
        a.pool->parallel_for(outer * M, grain, [&](int64_t b, int64_t e) {
          for (int64_t t = b; t < e; ++t) {
            int64_t o = t / M, m = t % M;
            int64_t v = idx[m];
            if (v < 0) v += N;
            const U* s = src + (o * N + v) * inner;
            U* d = dst + t * inner;
            if (inner == 1) *d = *s;
            else std::memcpy(d, s, inner * sizeof(U));
          }
        });
      };
      if (idt == DType::Int64) body(static_cast<const int64_t*>(ip));
      else body(static_cast<const int32_t*>(ip));
    });
  });
}

SNEP_REGISTER_LAMBDA("Gather", "cpu/copy", gather_supports, gather_prepare);

// ---- GatherElements -----------------------------------------------------------

bool gather_elements_supports(const Layer& l) {
  if (!l.has_input(0) || !l.has_input(1) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& ind = l.in(1);
  int r = x.rank();
  if (r == 0 || r > mv::kMaxRank || ind.rank() != r || x.dtype != l.out(0).dtype || dtype_size(x.dtype) == 0 ||
      !mv::is_int_index(ind.dtype) || l.out(0).shape != ind.shape) return false;
  int64_t axis = l.attrs.get_int("axis", 0);
  return axis >= -r && axis < r;
}

std::unique_ptr<Kernel> gather_elements_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int r = x.rank();
  int64_t axis = mv::norm_axis(l.attrs.get_int("axis", 0), r, l);
  auto xst = mv::contiguous_strides(x.shape);
  auto ishape = l.in(1).shape;
  int64_t n = l.in(1).numel(), N = x.shape[axis];
  size_t esz = dtype_size(x.dtype);
  DType idt = l.in(1).dtype;
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    for (int64_t m = 0; m < n; ++m) {
      int64_t v = mv::read_int(a.in[1], idt, m);
      if (v < -N || v >= N) throw InvalidArgumentError(where + ": index out of range");
    }
    if (n == 0) return;
    int64_t inner = ishape[r - 1];
    SNEP_BY_SIZE(esz, U, {
      const U* src = static_cast<const U*>(a.in[0]);
      U* dst = static_cast<U*>(a.out[0]);
      a.pool->parallel_for(n / inner, std::max<int64_t>(1, 4096 / inner), [&](int64_t rb, int64_t re) {
        for (int64_t row = rb; row < re; ++row) {
          int64_t rem = row, base = 0;
          for (int d = r - 2; d >= 0; --d) {
            int64_t i = rem % ishape[d];
            rem /= ishape[d];
            if (d != axis) base += i * xst[d];
          }
          for (int64_t j = 0; j < inner; ++j) {
            int64_t v = mv::read_int(a.in[1], idt, row * inner + j);
            if (v < 0) v += N;
            int64_t off = base + v * xst[axis] + (axis == r - 1 ? 0 : j);
            dst[row * inner + j] = src[off];
          }
        }
      });
    });
  });
}

SNEP_REGISTER_LAMBDA("GatherElements", "cpu/direct", gather_elements_supports, gather_elements_prepare);

// ---- GatherND -----------------------------------------------------------------

bool gather_nd_supports(const Layer& l) {
  if (!l.has_input(0) || !l.has_input(1) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& ind = l.in(1);
  if (x.dtype != l.out(0).dtype || dtype_size(x.dtype) == 0 || ind.dtype != DType::Int64 || ind.rank() < 1) return false;
  int64_t b = l.attrs.get_int("batch_dims", 0);
  int64_t k = ind.shape.back();
  if (b < 0 || b >= ind.rank() || b >= x.rank() || k < 1 || b + k > x.rank()) return false;
  for (int64_t i = 0; i < b; ++i) if (x.shape[i] != ind.shape[i]) return false;
  std::vector<int64_t> want(ind.shape.begin(), ind.shape.end() - 1);
  want.insert(want.end(), x.shape.begin() + b + k, x.shape.end());
  return want == l.out(0).shape;
}

std::unique_ptr<Kernel> gather_nd_prepare(const Layer& l) {
  const auto& x = l.in(0);
  const auto& ind = l.in(1);
  int64_t b = l.attrs.get_int("batch_dims", 0);
  int64_t k = ind.shape.back();
  int64_t B = prod(ind.shape, 0, b);
  int64_t T = prod(ind.shape, 0, ind.rank() - 1);
  int64_t per_batch = B ? T / B : 0;
  int64_t slice = prod(x.shape, b + k);
  int64_t bstride = prod(x.shape, b);
  std::vector<int64_t> dims(x.shape.begin() + b, x.shape.begin() + b + k);
  std::vector<int64_t> dst(k);
  { int64_t s = slice; for (int64_t i = k - 1; i >= 0; --i) { dst[i] = s; s *= dims[i]; } }
  size_t esz = dtype_size(x.dtype);
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const int64_t* idx = static_cast<const int64_t*>(a.in[1]);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < k; ++j) {
        int64_t v = idx[t * k + j];
        if (v < -dims[j] || v >= dims[j]) throw InvalidArgumentError(where + ": index out of range");
      }
    if (T * slice == 0) return;
    const char* src = static_cast<const char*>(a.in[0]);
    char* out = static_cast<char*>(a.out[0]);
    size_t bytes = slice * esz;
    a.pool->parallel_for(T, std::max<int64_t>(1, (1 << 18) / (int64_t)std::max<size_t>(1, bytes)), [&](int64_t tb, int64_t te) {
      for (int64_t t = tb; t < te; ++t) {
        int64_t off = (t / per_batch) * bstride;
        for (int64_t j = 0; j < k; ++j) {
          int64_t v = idx[t * k + j];
          if (v < 0) v += dims[j];
          off += v * dst[j];
        }
        std::memcpy(out + t * bytes, src + off * esz, bytes);
      }
    });
  });
}

SNEP_REGISTER_LAMBDA("GatherND", "cpu/copy", gather_nd_supports, gather_nd_prepare);

}  // namespace
}  // namespace snep
