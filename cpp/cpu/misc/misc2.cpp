// Shape-shaped small ops: CenterCropPad, Hann/Hamming/BlackmanWindow,
// AffineGrid, TensorScatter (opset 24) and Col2Im. Output shapes come from the
// layer; runtime-valued operands (window size, Col2Im block_shape, ...) are
// checked against them at run time. One `cpu/direct` routine per op.
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

int64_t read_int(DType t, const void* p, int64_t i) {
  return t == DType::Int32 ? static_cast<const int32_t*>(p)[i] : static_cast<const int64_t*>(p)[i];
}
bool int_idx(DType t) { return t == DType::Int32 || t == DType::Int64; }

// ---- CenterCropPad ---------------------------------------------------------------

const bool registered_ccp = (reg("CenterCropPad", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 2 || !l.in(0).present || !l.in(1).present || l.outputs.size() != 1) return false;
      const auto& x = l.in(0);
      const auto& y = l.out(0);
      int r = x.rank();
      if (y.dtype != x.dtype || dtype_size(x.dtype) == 0 || y.rank() != r || r < 1 || r > 8) return false;
      if (!int_idx(l.in(1).dtype) || l.in(1).rank() != 1) return false;
      std::vector<int64_t> axes = l.attrs.get_ints("axes", {});
      if (axes.empty()) for (int i = 0; i < r; ++i) axes.push_back(i);
      if ((int64_t)axes.size() != l.in(1).shape[0]) return false;
      std::vector<bool> on(r, false);
      for (auto a : axes) {
        if (a < -r || a >= r) return false;
        int ai = norm_axis(a, r);
        if (on[ai]) return false;
        on[ai] = true;
      }
      for (int i = 0; i < r; ++i) if (!on[i] && y.shape[i] != x.shape[i]) return false;
      if (l.in(1).const_data) {
        for (size_t j = 0; j < axes.size(); ++j)
          if (read_int(l.in(1).dtype, l.in(1).const_data, (int64_t)j) != y.shape[norm_axis(axes[j], r)]) return false;
      }
      return true;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      auto xs = l.in(0).shape, ys = l.out(0).shape;
      int r = (int)xs.size();
      size_t es = dtype_size(l.in(0).dtype);
      std::vector<int64_t> len(r), io(r), oo(r);
      bool pad = false;
      for (int d = 0; d < r; ++d) {
        len[d] = std::min(xs[d], ys[d]);
        io[d] = xs[d] > ys[d] ? (xs[d] - ys[d]) / 2 : 0;
        oo[d] = ys[d] > xs[d] ? (ys[d] - xs[d]) / 2 : 0;
        if (ys[d] > xs[d]) pad = true;
      }
      std::vector<int64_t> xst(r), yst(r);
      int64_t s1 = 1, s2 = 1;
      for (int d = r - 1; d >= 0; --d) { xst[d] = s1; yst[d] = s2; s1 *= xs[d]; s2 *= ys[d]; }
      int64_t total_y = prod(ys);
      return std::make_unique<FnKernel>([=](const RunArgs& a) {
        const char* x = static_cast<const char*>(a.in[0]);
        char* y = static_cast<char*>(a.out[0]);
        if (pad && total_y) std::memset(y, 0, (size_t)total_y * es);
        int64_t rows = prod(len, 0, r - 1);
        int64_t inner = len[r - 1];
        if (inner == 0) return;
        for (int64_t row = 0; row < rows; ++row) {
          int64_t rem = row, xoff = io[r - 1], yoff = oo[r - 1];
          for (int d = r - 2; d >= 0; --d) {
            int64_t i = rem % len[d];
            rem /= len[d];
            xoff += (i + io[d]) * xst[d];
            yoff += (i + oo[d]) * yst[d];
          }
          std::memcpy(y + yoff * es, x + xoff * es, (size_t)inner * es);
        }
      });
    }), true);

// ---- Windows ----------------------------------------------------------------------

template <int W>
void reg_window(const char* op) {
  reg(op, "cpu/direct",
      [](const Layer& l) {
        if (l.inputs.size() != 1 || !l.in(0).present || l.outputs.size() != 1) return false;
        if (!int_idx(l.in(0).dtype) || l.in(0).numel() != 1) return false;
        DType t = l.out(0).dtype;
        if (!is_float(t) || (int64_t)t != l.attrs.get_int("output_datatype", 1)) return false;
        if (l.out(0).rank() != 1) return false;
        if (l.in(0).const_data && read_int(l.in(0).dtype, l.in(0).const_data, 0) != l.out(0).shape[0]) return false;
        return true;
      },
      [](const Layer& l) -> std::unique_ptr<Kernel> {
        int64_t n = l.out(0).shape[0];
        bool periodic = l.attrs.get_int("periodic", 1) != 0;
        DType st = l.in(0).dtype;
        std::unique_ptr<Kernel> k;
        SNEP_EW_DISPATCH_FLOAT(l.out(0).dtype, T, {
          k = std::make_unique<FnKernel>([=](const RunArgs& a) {
            if (read_int(st, a.in[0], 0) != n) throw InvalidArgumentError("window size does not match the planned output");
            T* y = static_cast<T*>(a.out[0]);
            double N = (double)(periodic ? n : n - 1);
            const double pi = 3.14159265358979323846;
            for (int64_t i = 0; i < n; ++i) {
              double v, t = 2.0 * pi * (double)i / N;
              if (W == 0) { double s = std::sin(pi * (double)i / N); v = s * s; }
              else if (W == 1) { double al = 25.0 / 46.0; v = al - std::cos(t) * (1.0 - al); }
              else v = 0.42 - 0.5 * std::cos(t) + 0.08 * std::cos(2.0 * t);
              y[i] = Num<T>::st((CT<T>)v);
            }
          });
        });
        return k;
      });
}

const bool registered_windows = [] {
  reg_window<0>("HannWindow");
  reg_window<1>("HammingWindow");
  reg_window<2>("BlackmanWindow");
  return true;
}();

// ---- AffineGrid ---------------------------------------------------------------------

const bool registered_affine_grid = (reg("AffineGrid", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 2 || !l.in(0).present || !l.in(1).present || l.outputs.size() != 1) return false;
      DType t = l.in(0).dtype;
      if (!is_float(t) || l.out(0).dtype != t || !int_idx(l.in(1).dtype)) return false;
      const auto& th = l.in(0).shape;
      const auto& y = l.out(0).shape;
      if (th.size() != 3 || y.size() < 4) return false;
      int nd = (int)y.size() - 2;  // spatial dims
      if (nd != 2 && nd != 3) return false;
      if (th[1] != nd || th[2] != nd + 1 || y.back() != nd || y[0] != th[0]) return false;
      if (l.in(1).numel() != nd + 2) return false;
      if (l.in(1).const_data) {
        if (read_int(l.in(1).dtype, l.in(1).const_data, 0) != y[0]) return false;
        for (int d = 0; d < nd; ++d)
          if (read_int(l.in(1).dtype, l.in(1).const_data, 2 + d) != y[1 + d]) return false;
      }
      return true;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      auto ys = l.out(0).shape;
      int nd = (int)ys.size() - 2;
      bool ac = l.attrs.get_int("align_corners", 0) != 0;
      DType st = l.in(1).dtype;
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, {
        k = std::make_unique<FnKernel>([=](const RunArgs& a) {
          if (read_int(st, a.in[1], 0) != ys[0]) throw InvalidArgumentError("AffineGrid: size does not match the planned output");
          for (int d = 0; d < nd; ++d)
            if (read_int(st, a.in[1], 2 + d) != ys[1 + d]) throw InvalidArgumentError("AffineGrid: size does not match the planned output");
          const T* th = static_cast<const T*>(a.in[0]);
          T* y = static_cast<T*>(a.out[0]);
          auto coord = [ac](int64_t i, int64_t n) -> double {
            if (ac) return n <= 1 ? -1.0 : -1.0 + 2.0 * (double)i / (double)(n - 1);
            return -1.0 + (2.0 * (double)i + 1.0) / (double)n;
          };
          int64_t N = ys[0];
          int64_t D = nd == 3 ? ys[1] : 1, H = ys[nd - 1], Wd = ys[nd];
          for (int64_t n = 0; n < N; ++n) {
            double t[12];
            for (int q = 0; q < nd * (nd + 1); ++q) t[q] = (double)Num<T>::ld(th[n * nd * (nd + 1) + q]);
            T* yp = y + n * D * H * Wd * nd;
            for (int64_t z = 0; z < D; ++z) {
              double cz = nd == 3 ? coord(z, D) : 0.0;
              for (int64_t h = 0; h < H; ++h) {
                double cy = coord(h, H);
                for (int64_t w = 0; w < Wd; ++w) {
                  double cx = coord(w, Wd);
                  for (int o = 0; o < nd; ++o) {
                    const double* r = t + o * (nd + 1);
                    double v = nd == 2 ? r[0] * cx + r[1] * cy + r[2] : r[0] * cx + r[1] * cy + r[2] * cz + r[3];
                    *yp++ = Num<T>::st((CT<T>)v);
                  }
                }
              }
            }
          }
        });
      });
      return k;
    }), true);

// ---- TensorScatter (opset 24) -----------------------------------------------------------

const bool registered_tensor_scatter = (reg("TensorScatter", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() < 2 || l.inputs.size() > 3 || !l.in(0).present || !l.in(1).present || l.outputs.size() != 1) return false;
      const auto& p = l.in(0);
      const auto& u = l.in(1);
      int r = p.rank();
      if (dtype_size(p.dtype) == 0 || u.dtype != p.dtype || l.out(0).dtype != p.dtype || l.out(0).shape != p.shape) return false;
      if (r < 2 || u.rank() != r) return false;
      int64_t ax = l.attrs.get_int("axis", -2);
      if (ax < -r || ax >= r) return false;
      int axi = norm_axis(ax, r);
      if (axi == 0) return false;
      for (int i = 0; i < r; ++i) {
        if (i == axi) { if (u.shape[i] > p.shape[i]) return false; }
        else if (u.shape[i] != p.shape[i]) return false;
      }
      std::string mode = l.attrs.get_string("mode", "linear");
      if (mode != "linear" && mode != "circular") return false;
      if (l.has_input(2)) {
        if (!int_idx(l.in(2).dtype) || l.in(2).shape != std::vector<int64_t>{p.shape[0]}) return false;
      }
      return true;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      auto ps = l.in(0).shape, us = l.in(1).shape;
      int r = (int)ps.size();
      int axi = norm_axis(l.attrs.get_int("axis", -2), r);
      bool circ = l.attrs.get_string("mode", "linear") == "circular";
      size_t es = dtype_size(l.in(0).dtype);
      int64_t B = ps[0], mid = prod(ps, 1, axi), maxs = ps[axi], seq = us[axi], inner = prod(ps, axi + 1);
      bool has_idx = l.has_input(2);
      DType it = has_idx ? l.in(2).dtype : DType::Int64;
      size_t total = (size_t)prod(ps) * es;
      return std::make_unique<FnKernel>([=](const RunArgs& a) {
        const char* p = static_cast<const char*>(a.in[0]);
        const char* u = static_cast<const char*>(a.in[1]);
        char* y = static_cast<char*>(a.out[0]);
        for (int64_t b = 0; b < B; ++b) {
          int64_t w = has_idx ? read_int(it, a.in[2], b) : 0;
          if (w < 0 || (!circ && w + seq > maxs)) throw InvalidArgumentError("TensorScatter: write index out of range");
        }
        if (y != p && total) std::memmove(y, p, total);
        for (int64_t b = 0; b < B; ++b) {
          int64_t w = has_idx ? read_int(it, a.in[2], b) : 0;
          for (int64_t m = 0; m < mid; ++m) {
            int64_t pre = b * mid + m;
            for (int64_t s = 0; s < seq; ++s) {
              int64_t c = w + s;
              if (circ) c %= maxs;
              std::memcpy(y + ((pre * maxs + c) * inner) * es, u + ((pre * seq + s) * inner) * es, (size_t)inner * es);
            }
          }
        }
      });
    }), true);

// ---- Col2Im ------------------------------------------------------------------------------

constexpr int kMaxSp = 6;

const bool registered_col2im = (reg("Col2Im", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 3 || !l.in(0).present || !l.in(1).present || !l.in(2).present || l.outputs.size() != 1) return false;
      DType t = l.in(0).dtype;
      if (!is_float(t) || l.out(0).dtype != t || l.in(0).rank() != 3) return false;
      if (!int_idx(l.in(1).dtype) || !int_idx(l.in(2).dtype)) return false;
      int nd = l.out(0).rank() - 2;
      if (nd < 1 || nd > kMaxSp || l.in(1).numel() != nd || l.in(2).numel() != nd) return false;
      if (l.out(0).shape[0] != l.in(0).shape[0]) return false;
      auto dil = l.attrs.get_ints("dilations", std::vector<int64_t>(nd, 1));
      auto str = l.attrs.get_ints("strides", std::vector<int64_t>(nd, 1));
      auto pads = l.attrs.get_ints("pads", std::vector<int64_t>(2 * nd, 0));
      if ((int)dil.size() != nd || (int)str.size() != nd || (int)pads.size() != 2 * nd) return false;
      for (int d = 0; d < nd; ++d) if (dil[d] < 1 || str[d] < 1 || pads[d] < 0 || pads[d + nd] < 0) return false;
      if (l.in(1).const_data)
        for (int d = 0; d < nd; ++d)
          if (read_int(l.in(1).dtype, l.in(1).const_data, d) != l.out(0).shape[2 + d]) return false;
      if (l.in(2).const_data) {
        int64_t K = 1, L = 1;
        for (int d = 0; d < nd; ++d) {
          int64_t k = read_int(l.in(2).dtype, l.in(2).const_data, d);
          if (k < 1) return false;
          K *= k;
          int64_t nb = (l.out(0).shape[2 + d] + pads[d] + pads[d + nd] - dil[d] * (k - 1) - 1) / str[d] + 1;
          if (nb < 1) return false;
          L *= nb;
        }
        if (l.in(0).shape[1] != K * l.out(0).shape[1] || l.in(0).shape[2] != L) return false;
      }
      return true;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      auto xs = l.in(0).shape, ys = l.out(0).shape;
      int nd = (int)ys.size() - 2;
      auto dil = l.attrs.get_ints("dilations", std::vector<int64_t>(nd, 1));
      auto str = l.attrs.get_ints("strides", std::vector<int64_t>(nd, 1));
      auto pads = l.attrs.get_ints("pads", std::vector<int64_t>(2 * nd, 0));
      DType it1 = l.in(1).dtype, it2 = l.in(2).dtype;
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, {
        k = std::make_unique<FnKernel>([=](const RunArgs& a) {
          int64_t blk[kMaxSp], nb[kMaxSp], img[kMaxSp];
          int64_t K = 1, L = 1, P = 1;
          for (int d = 0; d < nd; ++d) {
            img[d] = ys[2 + d];
            if (read_int(it1, a.in[1], d) != img[d]) throw InvalidArgumentError("Col2Im: image_shape does not match the planned output");
            blk[d] = read_int(it2, a.in[2], d);
            if (blk[d] < 1) throw InvalidArgumentError("Col2Im: bad block_shape");
            nb[d] = (img[d] + pads[d] + pads[d + nd] - dil[d] * (blk[d] - 1) - 1) / str[d] + 1;
            if (nb[d] < 1) throw InvalidArgumentError("Col2Im: no sliding blocks");
            K *= blk[d]; L *= nb[d]; P *= img[d];
          }
          if (xs[1] != K * ys[1] || xs[2] != L) throw InvalidArgumentError("Col2Im: input shape does not match block_shape");
          const T* x = static_cast<const T*>(a.in[0]);
          T* y = static_cast<T*>(a.out[0]);
          int64_t NC = ys[0] * ys[1];
          par_for(a.pool, NC, 1, [&](int64_t b0, int64_t e0) {
            for (int64_t nc = b0; nc < e0; ++nc) {
              using C = CT<T>;
              T* yp = y + nc * P;
              // accumulate in the compute type directly in the output for float/double,
              // via float for f16 (rounding per add: Col2Im sums few terms)
              for (int64_t i = 0; i < P; ++i) yp[i] = Num<T>::st(C(0));
              for (int64_t kk = 0; kk < K; ++kk) {
                int64_t kidx[kMaxSp];
                int64_t rem = kk;
                for (int d = nd - 1; d >= 0; --d) { kidx[d] = rem % blk[d]; rem /= blk[d]; }
                const T* xp = x + (nc * K + kk) * L;
                for (int64_t ll = 0; ll < L; ++ll) {
                  int64_t r2 = ll, off = 0;
                  bool in = true;
                  int64_t pos[kMaxSp];
                  for (int d = nd - 1; d >= 0; --d) { pos[d] = r2 % nb[d]; r2 /= nb[d]; }
                  for (int d = 0; d < nd; ++d) {
                    int64_t q = pos[d] * str[d] - pads[d] + kidx[d] * dil[d];
                    if (q < 0 || q >= img[d]) { in = false; break; }
                    off = off * img[d] + q;
                  }
                  if (in) yp[off] = Num<T>::st((C)(Num<T>::ld(yp[off]) + Num<T>::ld(xp[ll])));
                }
              }
            }
          });
        });
      });
      return k;
    }), true);

}  // namespace
}  // namespace snep
