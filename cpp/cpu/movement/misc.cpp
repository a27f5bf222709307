// DepthToSpace (DCR/CRD), SpaceToDepth, Trilu, Compress, NonZero, TopK,
// ReverseSequence.
#include <numeric>

#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

// ---- DepthToSpace / SpaceToDepth: strided copies -------------------------------

bool d2s_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  int64_t b = l.attrs.get_int("blocksize", 0);
  if (x.rank() != 4 || x.dtype != y.dtype || dtype_size(x.dtype) == 0 || b < 1) return false;
  std::string m = l.attrs.get_string("mode", "DCR");
  if (m != "DCR" && m != "CRD") return false;
  if (x.shape[1] % (b * b)) return false;
  return y.shape == std::vector<int64_t>{x.shape[0], x.shape[1] / (b * b), x.shape[2] * b, x.shape[3] * b};
}

std::unique_ptr<Kernel> d2s_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int64_t b = l.attrs.get_int("blocksize", 0);
  int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], Co = C / (b * b);
  bool dcr = l.attrs.get_string("mode", "DCR") == "DCR";
  // output view (N, Co, H, b1, W, b2); input channel = DCR: (b1*b + b2)*Co + c, CRD: c*b*b + b1*b + b2
  int64_t cs = H * W;
  int64_t sc = dcr ? cs : b * b * cs, sb1 = dcr ? b * Co * cs : b * cs, sb2 = dcr ? Co * cs : cs;
  std::vector<int64_t> shp{N, Co, H, b, W, b}, st{C * cs, sc, W, sb1, 1, sb2};
  mv::StridedCopy s;
  s.init(shp.data(), st.data(), 6, 0, dtype_size(x.dtype));
  return std::make_unique<FnKernel>([s](const RunArgs& a) { s.run(a.in[0], a.out[0], a.pool); });
}

SNEP_REGISTER_LAMBDA("DepthToSpace", "cpu/strided", d2s_supports, d2s_prepare);

bool s2d_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  int64_t b = l.attrs.get_int("blocksize", 0);
  if (x.rank() != 4 || x.dtype != y.dtype || dtype_size(x.dtype) == 0 || b < 1) return false;
  if (x.shape[2] % b || x.shape[3] % b) return false;
  std::string m = l.attrs.get_string("mode", "DCR");  // opset 28
  if (m != "DCR" && m != "CRD") return false;
  return y.shape == std::vector<int64_t>{x.shape[0], x.shape[1] * b * b, x.shape[2] / b, x.shape[3] / b};
}

std::unique_ptr<Kernel> s2d_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int64_t b = l.attrs.get_int("blocksize", 0);
  int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  // output view DCR (N, b1, b2, C, H/b, W/b), CRD (N, C, b1, b2, H/b, W/b)
  const bool dcr = l.attrs.get_string("mode", "DCR") == "DCR";
  std::vector<int64_t> shp{N, b, b, C, H / b, W / b}, st{C * H * W, W, 1, H * W, b * W, b};
  if (!dcr) {
    shp = {N, C, b, b, H / b, W / b};
    st = {C * H * W, H * W, W, 1, b * W, b};
  }
  mv::StridedCopy s;
  s.init(shp.data(), st.data(), 6, 0, dtype_size(x.dtype));
  return std::make_unique<FnKernel>([s](const RunArgs& a) { s.run(a.in[0], a.out[0], a.pool); });
}

SNEP_REGISTER_LAMBDA("SpaceToDepth", "cpu/strided", s2d_supports, s2d_prepare);

// ---- Trilu ---------------------------------------------------------------------

bool trilu_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  if (x.rank() < 2 || x.dtype != l.out(0).dtype || x.shape != l.out(0).shape || dtype_size(x.dtype) == 0) return false;
  if (l.has_input(1) && (!mv::is_int_index(l.in(1).dtype) || l.in(1).numel() != 1)) return false;
  return true;
}

std::unique_ptr<Kernel> trilu_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int64_t R = x.shape[x.rank() - 2], C = x.shape[x.rank() - 1], B = prod(x.shape, 0, x.rank() - 2);
  bool upper = l.attrs.get_int("upper", 1) != 0;
  bool has_k = l.has_input(1);
  DType kdt = has_k ? l.in(1).dtype : DType::Int64;
  size_t esz = dtype_size(x.dtype);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    int64_t k = has_k ? mv::read_int(a.in[1], kdt, 0) : 0;
    SNEP_BY_SIZE(esz, U, {
      const U* src = static_cast<const U*>(a.in[0]);
      U* dst = static_cast<U*>(a.out[0]);
      a.pool->parallel_for(B * R, std::max<int64_t>(1, mv::kCopyGrain / std::max<int64_t>(1, C)), [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          int64_t i = t % R;
          const U* s = src + t * C;
          U* d = dst + t * C;
          // keep j - i >= k (upper) or j - i <= k (lower)
          int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, C) : 0;
          int64_t hi = upper ? C : std::clamp<int64_t>(i + k + 1, 0, C);
          for (int64_t j = 0; j < lo; ++j) d[j] = U(0);
          if (hi > lo) std::memcpy(d + lo, s + lo, (hi - lo) * sizeof(U));
          for (int64_t j = std::max(hi, lo); j < C; ++j) d[j] = U(0);
        }
      });
    });
  });
}

SNEP_REGISTER_LAMBDA("Trilu", "cpu/direct", trilu_supports, trilu_prepare);

// ---- Compress --------------------------------------------------------------------

bool compress_supports(const Layer& l) {
  if (!l.has_input(0) || !l.has_input(1) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& c = l.in(1);
  if (c.rank() != 1 || c.dtype != DType::Bool || x.dtype != l.out(0).dtype || dtype_size(x.dtype) == 0) return false;
  if (l.attrs.has("axis")) {
    int64_t r = x.rank(), ax = l.attrs.get_int("axis", 0);
    if (ax < -r || ax >= r) return false;
    if (ax < 0) ax += r;
    if (l.out(0).rank() != r) return false;
    for (int d = 0; d < r; ++d) if (d != ax && l.out(0).shape[d] != x.shape[d]) return false;
    return c.numel() <= x.shape[ax] || true;
  }
  return l.out(0).rank() == 1;
}

std::unique_ptr<Kernel> compress_prepare(const Layer& l) {
  const auto& x = l.in(0);
  bool has_axis = l.attrs.has("axis");
  int64_t ax = has_axis ? mv::norm_axis(l.attrs.get_int("axis", 0), x.rank(), l) : 0;
  int64_t outer = has_axis ? prod(x.shape, 0, ax) : 1;
  int64_t N = has_axis ? x.shape[ax] : x.numel();
  int64_t inner = has_axis ? prod(x.shape, ax + 1) : 1;
  int64_t M = has_axis ? l.out(0).shape[ax] : l.out(0).numel();
  int64_t nc = std::min<int64_t>(l.in(1).numel(), N);
  size_t esz = dtype_size(x.dtype);
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const bool* c = static_cast<const bool*>(a.in[1]);
    int64_t cnt = 0;
    for (int64_t i = 0; i < nc; ++i) cnt += c[i] ? 1 : 0;
    if (cnt != M) throw InvalidArgumentError(where + ": condition does not match the output shape");
    const char* src = static_cast<const char*>(a.in[0]);
    char* dst = static_cast<char*>(a.out[0]);
    size_t chunk = inner * esz;
    for (int64_t o = 0; o < outer; ++o) {
      int64_t m = 0;
      for (int64_t i = 0; i < nc; ++i)
        if (c[i]) { std::memcpy(dst + (o * M + m) * chunk, src + (o * N + i) * chunk, chunk); ++m; }
    }
  });
}

SNEP_REGISTER_LAMBDA("Compress", "cpu/direct", compress_supports, compress_prepare);

// ---- NonZero -------------------------------------------------------------------

bool nonzero_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  if (y.dtype != DType::Int64 || y.rank() != 2 || y.shape[0] != std::max(1, x.rank()) || x.rank() > mv::kMaxRank)
    return false;
  switch (x.dtype) {
    case DType::Float16: case DType::BFloat16: case DType::String: case DType::Undefined: return false;
    default: return true;
  }
}

std::unique_ptr<Kernel> nonzero_prepare(const Layer& l) {
  const auto& x = l.in(0);
  auto shape = x.shape;
  int r = x.rank();
  int64_t n = x.numel(), M = l.out(0).shape[1];
  DType dt = x.dtype;
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    SNEP_DISPATCH_NUMERIC(dt, T, {
      const T* p = static_cast<const T*>(a.in[0]);
      int64_t cnt = 0;
      for (int64_t i = 0; i < n; ++i) cnt += p[i] != T(0);
      if (cnt != M) throw InvalidArgumentError(where + ": non-zero count does not match the output shape");
      int64_t* y = static_cast<int64_t*>(a.out[0]);
      std::array<int64_t, mv::kMaxRank> idx{};
      int64_t m = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (p[i] != T(0)) {
          if (r == 0) y[m] = 0;
          for (int d = 0; d < r; ++d) y[d * M + m] = idx[d];
          ++m;
        }
        for (int d = r - 1; d >= 0; --d) {
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
        }
      }
    });
  });
}

SNEP_REGISTER_LAMBDA("NonZero", "cpu/direct", nonzero_supports, nonzero_prepare);

// ---- TopK --------------------------------------------------------------------------

bool topk_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 2) return false;
  const auto& x = l.in(0);
  int r = x.rank();
  if (r == 0 || l.out(0).dtype != x.dtype || l.out(1).dtype != DType::Int64) return false;
  switch (x.dtype) {
    case DType::Float32: case DType::Float64: case DType::Int64: case DType::Int32: case DType::Int16:
    case DType::Int8: case DType::UInt8: case DType::UInt16: case DType::UInt32: case DType::UInt64: break;
    default: return false;
  }
  int64_t axis = l.attrs.get_int("axis", -1);
  if (axis < -r || axis >= r) return false;
  if (axis < 0) axis += r;
  if (l.out(0).shape != l.out(1).shape || l.out(0).rank() != r) return false;
  for (int d = 0; d < r; ++d) if (d != axis && l.out(0).shape[d] != x.shape[d]) return false;
  if (l.out(0).shape[axis] > x.shape[axis]) return false;
  int64_t opset = l.attrs.get_int("_opset", 11);
  if (opset < 10) return l.attrs.get_int("k", -1) == l.out(0).shape[axis];
  return l.has_input(1) && l.in(1).dtype == DType::Int64 && l.in(1).numel() == 1;
}

constexpr int64_t kTopkTasks = 16;

std::unique_ptr<Kernel> topk_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int r = x.rank();
  int64_t axis = mv::norm_axis(l.attrs.get_int("axis", -1), r, l);
  int64_t outer = prod(x.shape, 0, axis), n = x.shape[axis], inner = prod(x.shape, axis + 1);
  int64_t K = l.out(0).shape[axis];
  bool largest = l.attrs.get_int("largest", 1) != 0;
  bool check_k = l.attrs.get_int("_opset", 11) >= 10;
  DType dt = x.dtype;
  std::string where = l.where();
  size_t ws = (size_t)kTopkTasks * (size_t)std::max<int64_t>(n, 1) * sizeof(int64_t);
  return std::make_unique<FnKernel>(
      [=](const RunArgs& a) {
        if (check_k && *static_cast<const int64_t*>(a.in[1]) != K)
          throw InvalidArgumentError(where + ": K does not match the output shape");
        int64_t slices = outer * inner;
        if (slices == 0 || K == 0) return;
        int64_t tasks = std::min(kTopkTasks, slices);
        SNEP_DISPATCH_NUMERIC(dt, T, {
          const T* xp = static_cast<const T*>(a.in[0]);
          T* yv = static_cast<T*>(a.out[0]);
          int64_t* yi = static_cast<int64_t*>(a.out[1]);
          a.pool->run_tasks(tasks, [&](int64_t task) {
            int64_t* ord = static_cast<int64_t*>(a.workspace) + task * n;
            int64_t b = slices * task / tasks, e = slices * (task + 1) / tasks;
            for (int64_t s = b; s < e; ++s) {
              int64_t o = s / inner, i = s % inner;
              const T* base = xp + o * n * inner + i;
              for (int64_t j = 0; j < n; ++j) ord[j] = j;
              // NaN ranks above every number (a strict weak order even with NaNs)
              auto gt = [](T u, T v) {
                if (u != u) return v == v;
                if (v != v) return false;
                return u > v;
              };
              auto cmp = [&](int64_t p, int64_t q) {
                T vp = base[p * inner], vq = base[q * inner];
                if (largest) { if (gt(vp, vq)) return true; if (gt(vq, vp)) return false; }
                else { if (gt(vq, vp)) return true; if (gt(vp, vq)) return false; }
                return p < q;
              };
              if (K < n) std::partial_sort(ord, ord + K, ord + n, cmp);
              else std::sort(ord, ord + n, cmp);
              for (int64_t j = 0; j < K; ++j) {
                int64_t off = (o * K + j) * inner + i;
                yv[off] = base[ord[j] * inner];
                yi[off] = ord[j];
              }
            }
          });
        });
      },
      ws);
}

SNEP_REGISTER_LAMBDA("TopK", "cpu/partial_sort", topk_supports, topk_prepare);

// ---- ReverseSequence -----------------------------------------------------------

bool revseq_supports(const Layer& l) {
  if (!l.has_input(0) || !l.has_input(1) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  if (x.rank() < 2 || x.dtype != l.out(0).dtype || x.shape != l.out(0).shape || dtype_size(x.dtype) == 0) return false;
  int64_t ba = l.attrs.get_int("batch_axis", 1), ta = l.attrs.get_int("time_axis", 0);
  if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0))) return false;
  return l.in(1).dtype == DType::Int64 && l.in(1).numel() == x.shape[ba];
}

std::unique_ptr<Kernel> revseq_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int64_t ba = l.attrs.get_int("batch_axis", 1);
  int64_t D0 = x.shape[0], D1 = x.shape[1], inner = prod(x.shape, 2);
  int64_t T = ba == 1 ? D0 : D1, B = ba == 1 ? D1 : D0;
  size_t bytes = inner * dtype_size(x.dtype);
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const int64_t* lens = static_cast<const int64_t*>(a.in[1]);
    for (int64_t b = 0; b < B; ++b)
      if (lens[b] < 0 || lens[b] > T) throw InvalidArgumentError(where + ": sequence length out of range");
    const char* src = static_cast<const char*>(a.in[0]);
    char* dst = static_cast<char*>(a.out[0]);
    a.pool->parallel_for(D0 * D1, std::max<int64_t>(1, (1 << 18) / (int64_t)std::max<size_t>(bytes, 1)), [&](int64_t s, int64_t e) {
      for (int64_t q = s; q < e; ++q) {
        int64_t i0 = q / D1, i1 = q % D1;
        int64_t t = ba == 1 ? i0 : i1, b = ba == 1 ? i1 : i0;
        int64_t st = t < lens[b] ? lens[b] - 1 - t : t;
        int64_t sq = ba == 1 ? st * D1 + b : b * D1 + st;
        std::memcpy(dst + q * bytes, src + sq * bytes, bytes);
      }
    });
  });
}

SNEP_REGISTER_LAMBDA("ReverseSequence", "cpu/copy", revseq_supports, revseq_prepare);

}  // namespace
}  // namespace snep
