// GridSample (opset 16/20/22), as onnx's reference computes it: X (N, C, D1..Dk),
// grid (N, O1..Ok, k) with grid[..., 0] indexing the last spatial dim; modes
// nearest (round half to even) / linear|bilinear / cubic|bicubic (Keys, a=-0.75),
// padding zeros / border / reflection, align_corners. float32/float64, any k <= 3.
#include <cmath>
#include <memory>
#include <string>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

struct GS {
  int k = 0, mode = 0, pad = 0;  // mode 0 nearest 1 linear 2 cubic; pad 0 zeros 1 border 2 reflection
  bool align = false;
  int64_t N = 0, C = 0, dims[3] = {1, 1, 1}, in_sp = 1, out_sp = 1;
};

bool gs_parse(const Layer& l, GS& g) {
  if (l.inputs.size() != 2 || l.outputs.size() != 1) return false;
  DType t = l.in(0).dtype;
  if ((t != DType::Float32 && t != DType::Float64) || l.in(1).dtype != t || l.out(0).dtype != t) return false;
  const auto &x = l.in(0).shape, &gr = l.in(1).shape;
  int r = (int)x.size();
  if (r < 3 || r > 5 || (int)gr.size() != r || gr[0] != x[0] || gr[r - 1] != r - 2) return false;
  int64_t opset = l.attrs.get_int("_opset", 22);
  std::string m = l.attrs.get_string("mode", opset < 20 ? "bilinear" : "linear");
  if (m == "nearest") g.mode = 0;
  else if (m == "linear" || m == "bilinear") g.mode = 1;
  else if (m == "cubic" || m == "bicubic") g.mode = 2;
  else return false;
  if (g.mode == 2 && r != 4) return false;
  std::string p = l.attrs.get_string("padding_mode", "zeros");
  if (p == "zeros") g.pad = 0; else if (p == "border") g.pad = 1; else if (p == "reflection") g.pad = 2; else return false;
  g.align = l.attrs.get_int("align_corners", 0) != 0;
  g.k = r - 2; g.N = x[0]; g.C = x[1];
  for (int i = 0; i < g.k; ++i) g.dims[i] = x[2 + i];
  g.in_sp = prod(x, 2); g.out_sp = prod(gr, 1, r - 1);
  std::vector<int64_t> ys = {x[0], x[1]};
  ys.insert(ys.end(), gr.begin() + 1, gr.end() - 1);
  return l.out(0).shape == ys && g.in_sp > 0;
}

inline double reflect(double x, double lo, double hi) {
  double rng = hi - lo;
  if (x < lo) {
    double dx = lo - x; int64_t n = (int64_t)(dx / rng); double r = dx - n * rng;
    return n % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    double dx = x - hi; int64_t n = (int64_t)(dx / rng); double r = dx - n * rng;
    return n % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

inline void cubic_coeffs(double x, double* c) {
  const double A = -0.75;
  x = std::fabs(x);
  c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  c[3] = ((A * (2 - x) - 5 * A) * (2 - x) + 8 * A) * (2 - x) - 4 * A;
}

template <class T>
std::unique_ptr<Kernel> make_gs(const Layer& l) {
  GS g;
  gs_parse(l, g);
  return std::make_unique<FnKernel>([g](const RunArgs& a) {
    const T* X = static_cast<const T*>(a.in[0]);
    const T* G = static_cast<const T*>(a.in[1]);
    T* Y = static_cast<T*>(a.out[0]);
    const int k = g.k;
    double lo[3], hi[3];
    for (int i = 0; i < k; ++i) {
      lo[i] = g.align ? 0.0 : -0.5;
      hi[i] = g.align ? (double)g.dims[i] - 1 : (double)g.dims[i] - 0.5;
    }
    // index along dim i with padding; -1 = zero
    auto at = [&](int i, int64_t idx) -> int64_t {
      int64_t d = g.dims[i];
      if (g.pad == 0) return idx >= 0 && idx < d ? idx : -1;
      if (g.pad == 1) return idx < 0 ? 0 : idx >= d ? d - 1 : idx;
      return (int64_t)reflect((double)idx, lo[i], hi[i]);
    };
    par_for(a.pool, g.N * g.out_sp, 256, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t n = r / g.out_sp, o = r % g.out_sp;
        const T* gp = G + r * k;
        double x[3];
        for (int i = 0; i < k; ++i) {
          double v = (double)(float)gp[k - 1 - i];
          double len = (double)g.dims[i];
          x[i] = g.align ? (v + 1) / 2.0 * (len - 1) : ((v + 1) * len - 1) / 2.0;
          x[i] = (double)(float)x[i];  // the reference denormalises into float32
          if (g.mode == 0) x[i] = std::nearbyint(x[i]);
          if (x[i] < lo[i] || x[i] > hi[i]) {
            if (g.pad == 1) x[i] = x[i] < 0 ? 0 : x[i] > len - 1 ? len - 1 : x[i];
            else if (g.pad == 2) x[i] = reflect(x[i], lo[i], hi[i]);
          }
        }
        // taps per dim
        int nt = g.mode == 0 ? 1 : g.mode == 1 ? 2 : 4;
        int64_t idx[3][4];
        double w[3][4];
        for (int i = 0; i < k; ++i) {
          if (g.mode == 0) { idx[i][0] = at(i, (int64_t)x[i]); w[i][0] = 1; continue; }
          int64_t x0 = (int64_t)std::floor(x[i]);
          double f = x[i] - (double)x0;
          if (g.mode == 1) {
            w[i][0] = 1 - f; w[i][1] = f;
            idx[i][0] = at(i, x0); idx[i][1] = at(i, x0 + 1);
          } else {
            cubic_coeffs(f, w[i]);
            for (int t = 0; t < 4; ++t) idx[i][t] = at(i, x0 - 1 + t);
          }
        }
        int ncomb = 1;
        for (int i = 0; i < k; ++i) ncomb *= nt;
        for (int64_t c = 0; c < g.C; ++c) {
          const T* xc = X + (n * g.C + c) * g.in_sp;
          double acc = 0;
          for (int cb = 0; cb < ncomb; ++cb) {
            int rem = cb;
            int64_t off = 0;
            double wt = 1;
            bool zero = false;
            for (int i = k - 1; i >= 0; --i) {
              int t = rem % nt; rem /= nt;
              if (idx[i][t] < 0) { zero = true; break; }
              int64_t stride = 1;
              for (int j = i + 1; j < k; ++j) stride *= g.dims[j];
              off += idx[i][t] * stride;
              wt *= w[i][t];
            }
            if (!zero) acc += wt * (double)xc[off];
          }
          Y[(n * g.C + c) * g.out_sp + o] = (T)acc;
        }
      }
    });
  });
}

const bool reg_gs = (reg("GridSample", "cpu/direct",
    [](const Layer& l) { GS g; return gs_parse(l, g); },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      if (l.in(0).dtype == DType::Float64) return make_gs<double>(l);
      return make_gs<float>(l);
    }), true);

}  // namespace
}  // namespace snep
