// Ops whose output size depends on the data: NonZero, Compress, Unique and
// NonMaxSuppression in "bounded" form, for the dynamic runner
// (softneuro_ep/graph_passes/dynamic.py). Each writes its outputs into buffers
// sized for the largest possible result, zero-fills what it does not use, and
// writes the real extent of the data-dependent dimension into a last output,
// int64[1]; the runner slices. Ops are named <Op>Bounded so they never meet the
// exact-shape routines of the same ONNX op.
#include <algorithm>
#include <array>
#include <cstring>
#include <numeric>
#include <vector>

#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

bool count_output_ok(const Layer& l) {
  const auto& c = l.outputs.back();
  return c.dtype == DType::Int64 && c.shape == std::vector<int64_t>{1};
}

bool numeric(DType dt) {
  switch (dt) {
    case DType::Float16: case DType::BFloat16: case DType::String: case DType::Undefined: return false;
    default: return dtype_size(dt) > 0;
  }
}

// ---- NonZeroBounded: x -> y int64[max(1, rank), numel], count ----------------------

bool nonzero_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 2 || !count_output_ok(l)) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  if (!numeric(x.dtype) || x.rank() > mv::kMaxRank) return false;
  return y.dtype == DType::Int64 && y.shape == std::vector<int64_t>{std::max(1, x.rank()), x.numel()};
}

std::unique_ptr<Kernel> nonzero_prepare(const Layer& l) {
  const auto& x = l.in(0);
  auto shape = x.shape;
  int r = x.rank();
  int64_t n = x.numel();
  int rows = std::max(1, r);
  DType dt = x.dtype;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    int64_t* y = static_cast<int64_t*>(a.out[0]);
    std::memset(y, 0, sizeof(int64_t) * rows * n);
    int64_t m = 0;
    SNEP_DISPATCH_NUMERIC(dt, T, {
      const T* p = static_cast<const T*>(a.in[0]);
      std::array<int64_t, mv::kMaxRank> idx{};
      for (int64_t i = 0; i < n; ++i) {
        if (p[i] != T(0)) {
          for (int d = 0; d < r; ++d) y[d * n + m] = idx[d];
          ++m;
        }
        for (int d = r - 1; d >= 0; --d) {
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
        }
      }
    });
    *static_cast<int64_t*>(a.out[1]) = m;
  });
}

SNEP_REGISTER_LAMBDA("NonZeroBounded", "cpu/direct", nonzero_supports, nonzero_prepare);

// ---- CompressBounded: (x, condition) -> y with the compressed dim at its full
// length (x.shape[axis], or numel without axis), count ------------------------------

bool compress_supports(const Layer& l) {
  if (!l.has_input(0) || !l.has_input(1) || l.outputs.size() != 2 || !count_output_ok(l)) return false;
  const auto& x = l.in(0);
  const auto& c = l.in(1);
  if (c.rank() != 1 || c.dtype != DType::Bool || x.dtype != l.out(0).dtype || dtype_size(x.dtype) == 0) return false;
  if (x.dtype == DType::String) return false;
  if (!l.attrs.has("axis")) return l.out(0).shape == std::vector<int64_t>{x.numel()};
  int64_t r = x.rank(), ax = l.attrs.get_int("axis", 0);
  if (ax < -r || ax >= r) return false;
  return l.out(0).shape == x.shape;
}

std::unique_ptr<Kernel> compress_prepare(const Layer& l) {
  const auto& x = l.in(0);
  bool has_axis = l.attrs.has("axis");
  int64_t ax = has_axis ? mv::norm_axis(l.attrs.get_int("axis", 0), x.rank(), l) : 0;
  int64_t outer = has_axis ? prod(x.shape, 0, ax) : 1;
  int64_t N = has_axis ? x.shape[ax] : x.numel();
  int64_t inner = has_axis ? prod(x.shape, ax + 1) : 1;
  int64_t nc = std::min<int64_t>(l.in(1).numel(), N);
  size_t esz = dtype_size(x.dtype);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const bool* c = static_cast<const bool*>(a.in[1]);
    const char* src = static_cast<const char*>(a.in[0]);
    char* dst = static_cast<char*>(a.out[0]);
    size_t chunk = inner * esz;
    std::memset(dst, 0, outer * N * chunk);
    int64_t m = 0;
    for (int64_t o = 0; o < outer; ++o) {
      m = 0;
      for (int64_t i = 0; i < nc; ++i)
        if (c[i]) { std::memcpy(dst + (o * N + m) * chunk, src + (o * N + i) * chunk, chunk); ++m; }
    }
    if (outer == 0) for (int64_t i = 0; i < nc; ++i) m += c[i] ? 1 : 0;
    *static_cast<int64_t*>(a.out[1]) = m;
  });
}

SNEP_REGISTER_LAMBDA("CompressBounded", "cpu/direct", compress_supports, compress_prepare);

// ---- UniqueBounded: x -> (y, indices, inverse_indices, counts, count) ----------------
// Without axis the input is flattened. y has the unique dim at its full length
// (numel, or x.shape[axis]); indices and counts are [that length];
// inverse_indices has its exact length.

bool unique_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 5 || !count_output_ok(l)) return false;
  const auto& x = l.in(0);
  if (!numeric(x.dtype) || l.out(0).dtype != x.dtype) return false;
  int64_t n;
  if (l.attrs.has("axis")) {
    int64_t r = x.rank(), ax = l.attrs.get_int("axis", 0);
    if (ax < -r || ax >= r) return false;
    if (ax < 0) ax += r;
    n = x.shape[ax];
    if (l.out(0).shape != x.shape) return false;
  } else {
    n = x.numel();
    if (l.out(0).shape != std::vector<int64_t>{n}) return false;
  }
  for (int k = 1; k < 4; ++k)
    if (l.out(k).dtype != DType::Int64 || l.out(k).shape != std::vector<int64_t>{n}) return false;
  return true;
}

std::unique_ptr<Kernel> unique_prepare(const Layer& l) {
  const auto& x = l.in(0);
  bool has_axis = l.attrs.has("axis");
  int64_t ax = has_axis ? mv::norm_axis(l.attrs.get_int("axis", 0), x.rank(), l) : 0;
  int64_t outer = has_axis ? prod(x.shape, 0, ax) : 1;
  int64_t N = has_axis ? x.shape[ax] : x.numel();
  int64_t inner = has_axis ? prod(x.shape, ax + 1) : 1;
  bool sorted = l.attrs.get_int("sorted", 1) != 0;
  DType dt = x.dtype;
  size_t esz = dtype_size(dt);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    int64_t* first = static_cast<int64_t*>(a.out[1]);
    int64_t* inverse = static_cast<int64_t*>(a.out[2]);
    int64_t* counts = static_cast<int64_t*>(a.out[3]);
    char* y = static_cast<char*>(a.out[0]);
    std::memset(y, 0, outer * N * inner * esz);
    std::memset(first, 0, N * sizeof(int64_t));
    std::memset(counts, 0, N * sizeof(int64_t));
    int64_t m = 0;
    SNEP_DISPATCH_NUMERIC(dt, T, {
      const T* p = static_cast<const T*>(a.in[0]);
      // slice i = the elements p[o*N*inner + i*inner + k] for all o, k, compared in that order
      auto cmp = [&](int64_t i, int64_t j) -> int {
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t k = 0; k < inner; ++k) {
            T u = p[(o * N + i) * inner + k], v = p[(o * N + j) * inner + k];
            if (u < v) return -1;
            if (v < u) return 1;
          }
        return 0;
      };
      std::vector<int64_t> order(N);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return cmp(i, j) < 0; });
      // group equal slices; each group's first member (lowest index, the sort is stable) represents it
      std::vector<int64_t> group_of(N), reps;
      for (int64_t s = 0; s < N; ++s) {
        int64_t i = order[s];
        if (s == 0 || cmp(order[s - 1], i) != 0) reps.push_back(i);
        group_of[i] = (int64_t)reps.size() - 1;
      }
      m = (int64_t)reps.size();
      std::vector<int64_t> rank(m);  // group -> output position
      if (sorted) {
        std::iota(rank.begin(), rank.end(), 0);
      } else {
        std::vector<int64_t> g(m);
        std::iota(g.begin(), g.end(), 0);
        std::sort(g.begin(), g.end(), [&](int64_t u, int64_t v) { return reps[u] < reps[v]; });
        for (int64_t k = 0; k < m; ++k) rank[g[k]] = k;
      }
      for (int64_t i = 0; i < N; ++i) {
        int64_t q = rank[group_of[i]];
        inverse[i] = q;
        counts[q] += 1;
      }
      for (int64_t gi = 0; gi < m; ++gi) {
        int64_t q = rank[gi], i = reps[gi];
        first[q] = i;
        for (int64_t o = 0; o < outer; ++o)
          std::memcpy(y + ((o * N + q) * inner) * esz, p + (o * N + i) * inner, inner * esz);
      }
    });
    *static_cast<int64_t*>(a.out[4]) = m;
  });
}

SNEP_REGISTER_LAMBDA("UniqueBounded", "cpu/direct", unique_supports, unique_prepare);

// ---- NonMaxSuppressionBounded: (boxes, scores, [max_output_boxes_per_class],
// [iou_threshold], [score_threshold]) -> selected int64[B*C*S, 3], count -----------
// Greedy per (batch, class) as onnxruntime does: candidates above the score
// threshold by descending score (ties: lower box index first).

bool nms_supports(const Layer& l) {
  if (!l.has_input(0) || !l.has_input(1) || l.outputs.size() != 2 || !count_output_ok(l)) return false;
  const auto& b = l.in(0);
  const auto& s = l.in(1);
  if (b.dtype != DType::Float32 || s.dtype != DType::Float32) return false;
  if (b.rank() != 3 || s.rank() != 3 || b.shape[2] != 4 || b.shape[0] != s.shape[0] || b.shape[1] != s.shape[2])
    return false;
  if (l.has_input(2) && (l.in(2).dtype != DType::Int64 || l.in(2).numel() > 1)) return false;
  if (l.has_input(3) && (l.in(3).dtype != DType::Float32 || l.in(3).numel() > 1)) return false;
  if (l.has_input(4) && (l.in(4).dtype != DType::Float32 || l.in(4).numel() > 1)) return false;
  int64_t cpb = l.attrs.get_int("center_point_box", 0);
  if (cpb != 0 && cpb != 1) return false;
  int64_t bound = b.shape[0] * s.shape[1] * b.shape[1];
  return l.out(0).dtype == DType::Int64 && l.out(0).shape == std::vector<int64_t>{bound, 3};
}

std::unique_ptr<Kernel> nms_prepare(const Layer& l) {
  int64_t B = l.in(0).shape[0], S = l.in(0).shape[1], C = l.in(1).shape[1];
  bool center = l.attrs.get_int("center_point_box", 0) == 1;
  bool has_max = l.has_input(2) && l.in(2).numel() == 1;
  bool has_iou = l.has_input(3) && l.in(3).numel() == 1;
  bool has_score = l.has_input(4) && l.in(4).numel() == 1;
  struct Box { float x0, x1, y0, y1; };
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const float* boxes = static_cast<const float*>(a.in[0]);
    const float* scores = static_cast<const float*>(a.in[1]);
    int64_t max_out = has_max ? std::max<int64_t>(0, *static_cast<const int64_t*>(a.in[2])) : 0;
    float iou_th = has_iou ? *static_cast<const float*>(a.in[3]) : 0.f;
    float score_th = has_score ? *static_cast<const float*>(a.in[4]) : 0.f;
    int64_t* out = static_cast<int64_t*>(a.out[0]);
    std::memset(out, 0, sizeof(int64_t) * B * C * S * 3);
    int64_t m = 0;
    std::vector<Box> bx(S);
    std::vector<int64_t> cand, sel;
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t i = 0; i < S; ++i) {
        const float* p = boxes + (b * S + i) * 4;
        if (center) {
          bx[i] = {p[0] - p[2] / 2, p[0] + p[2] / 2, p[1] - p[3] / 2, p[1] + p[3] / 2};
        } else {
          bx[i] = {std::min(p[1], p[3]), std::max(p[1], p[3]), std::min(p[0], p[2]), std::max(p[0], p[2])};
        }
      }
      auto suppress = [&](int64_t i, int64_t j) {
        const Box &u = bx[i], &v = bx[j];
        float ix0 = std::max(u.x0, v.x0), ix1 = std::min(u.x1, v.x1);
        if (ix1 <= ix0) return false;
        float iy0 = std::max(u.y0, v.y0), iy1 = std::min(u.y1, v.y1);
        if (iy1 <= iy0) return false;
        float inter = (ix1 - ix0) * (iy1 - iy0);
        if (inter <= 0) return false;
        float a1 = (u.x1 - u.x0) * (u.y1 - u.y0), a2 = (v.x1 - v.x0) * (v.y1 - v.y0);
        float uni = a1 + a2 - inter;
        if (a1 <= 0 || a2 <= 0 || uni <= 0) return false;
        return inter / uni > iou_th;
      };
      for (int64_t c = 0; c < C; ++c) {
        const float* sc = scores + (b * C + c) * S;
        cand.clear();
        for (int64_t i = 0; i < S; ++i)
          if (!has_score || sc[i] > score_th) cand.push_back(i);
        std::stable_sort(cand.begin(), cand.end(), [&](int64_t i, int64_t j) { return sc[i] > sc[j]; });
        sel.clear();
        for (int64_t i : cand) {
          if ((int64_t)sel.size() >= max_out) break;
          bool keep = true;
          for (int64_t j : sel)
            if (suppress(i, j)) { keep = false; break; }
          if (!keep) continue;
          sel.push_back(i);
          out[m * 3] = b; out[m * 3 + 1] = c; out[m * 3 + 2] = i;
          ++m;
        }
      }
    }
    *static_cast<int64_t*>(a.out[1]) = m;
  });
}

SNEP_REGISTER_LAMBDA("NonMaxSuppressionBounded", "cpu/direct", nms_supports, nms_prepare);

}  // namespace
}  // namespace snep
