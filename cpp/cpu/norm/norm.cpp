// Normalisations: LayerNormalization, BatchNormalization (inference),
// InstanceNormalization, GroupNormalization, LRN, LpNormalization.
// float32/float64/float16 (float16 computed in float); statistics two-pass
// (mean, then mean of squared deviations) with 16 partial sums per row.
#include <cmath>
#include <memory>
#include <type_traits>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

template <class T> using A = CT<T>;

template <class T>
inline A<T> row_sum(const T* x, int64_t n) {
  A<T> l[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) l[k] += Num<T>::ld(x[i + k]);
  for (; i < n; ++i) l[0] += Num<T>::ld(x[i]);
  A<T> s = 0;
  for (int k = 0; k < 16; ++k) s += l[k];
  return s;
}

template <class T>
inline A<T> row_sqdev(const T* x, int64_t n, A<T> m) {
  A<T> l[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) { A<T> d = Num<T>::ld(x[i + k]) - m; l[k] += d * d; }
  for (; i < n; ++i) { A<T> d = Num<T>::ld(x[i]) - m; l[0] += d * d; }
  A<T> s = 0;
  for (int k = 0; k < 16; ++k) s += l[k];
  return s;
}

bool float_same(const Layer& l, size_t nin) {
  DType t = l.in(0).dtype;
  if (!is_float(t)) return false;
  for (size_t k = 0; k < nin && k < l.inputs.size(); ++k) if (l.in(k).present && l.in(k).dtype != t) return false;
  return l.out(0).dtype == t && l.out(0).shape == l.in(0).shape;
}

// ---- LayerNormalization ------------------------------------------------------------

// Scale/bias must cover the normalised dims exactly (leading 1s allowed).
bool covers(const TensorInfo& s, const std::vector<int64_t>& norm) {
  std::vector<int64_t> a = s.shape;
  while (!a.empty() && a.front() == 1 && a.size() > norm.size()) a.erase(a.begin());
  std::vector<int64_t> b = norm;
  while (a.size() < b.size()) a.insert(a.begin(), 1);
  return a == b;
}

template <class T>
std::unique_ptr<Kernel> make_layernorm(const Layer& l) {
  const auto& s = l.in(0).shape;
  int ax = norm_axis(l.attrs.get_int("axis", -1), (int)s.size());
  int64_t rows = prod(s, 0, ax), D = prod(s, ax);
  double eps = l.attrs.get_float("epsilon", 1e-5);
  bool has_b = l.has_input(2);
  int nout = (int)l.outputs.size();
  DType mdt = nout > 1 ? l.out(1).dtype : DType::Float32;
  DType idt = nout > 2 ? l.out(2).dtype : DType::Float32;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    const T* sc = static_cast<const T*>(a.in[1]);
    const T* bi = has_b ? static_cast<const T*>(a.in[2]) : nullptr;
    T* y = static_cast<T*>(a.out[0]);
    void* mo = nout > 1 ? a.out[1] : nullptr;
    void* io = nout > 2 ? a.out[2] : nullptr;
    auto put = [](void* p, DType dt, int64_t i, A<T> v) {
      if (!p) return;
      if (dt == DType::Float32) static_cast<float*>(p)[i] = (float)v;
      else if (dt == DType::Float64) static_cast<double*>(p)[i] = (double)v;
      else static_cast<uint16_t*>(p)[i] = f2h((float)v);
    };
    par_for(a.pool, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, D)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = x + r * D;
        T* yr = y + r * D;
        A<T> m = row_sum(xr, D) / (A<T>)D;
        A<T> var = row_sqdev(xr, D, m) / (A<T>)D;
        A<T> inv = (A<T>)(1.0 / std::sqrt((double)var + eps));
        if constexpr (std::is_same_v<T, f16>) {
          for (int64_t i = 0; i < D; ++i) {
            float v = (Num<T>::ld(xr[i]) - m) * inv * Num<T>::ld(sc[i]);
            if (bi) v += Num<T>::ld(bi[i]);
            yr[i] = Num<T>::st(v);
          }
        } else {
          if (bi) for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - m) * inv * sc[i] + bi[i];
          else for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - m) * inv * sc[i];
        }
        put(mo, mdt, r, m);
        put(io, idt, r, inv);
      }
    });
  });
}

const bool reg_ln = (reg("LayerNormalization", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() < 2 || l.inputs.size() > 3 || l.outputs.empty() || l.outputs.size() > 3) return false;
      const auto& s = l.in(0).shape;
      int r = (int)s.size();
      int64_t ax = l.attrs.get_int("axis", -1);
      if (r < 1 || ax < -r || ax >= r || !float_same(l, 3)) return false;
      std::vector<int64_t> norm(s.begin() + norm_axis(ax, r), s.end());
      if (!covers(l.in(1), norm) || (l.has_input(2) && !covers(l.in(2), norm))) return false;
      for (size_t k = 1; k < l.outputs.size(); ++k) {
        DType d = l.out(k).dtype;
        if (d != DType::Float32 && d != l.in(0).dtype) return false;
        if (l.out(k).numel() != prod(s, 0, norm_axis(ax, r))) return false;
      }
      return true;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = make_layernorm<T>(l));
      return k;
    }), true);

// ---- BatchNormalization (inference) ------------------------------------------------

template <class T>
std::unique_ptr<Kernel> make_batchnorm(const Layer& l) {
  const auto& s = l.in(0).shape;
  int64_t N = s[0], C = s[1], inner = prod(s, 2);
  double eps = l.attrs.get_float("epsilon", 1e-5);
  using C_ = A<T>;
  // Plan-time constants: fold once.
  auto folded = std::make_shared<std::vector<C_>>();
  bool all_const = true;
  for (int k = 1; k <= 4; ++k) all_const = all_const && l.in(k).const_data;
  auto fold = [C, eps](const T* sc, const T* bi, const T* mean, const T* var, C_* ab) {
    for (int64_t c = 0; c < C; ++c) {
      double al = (double)Num<T>::ld(sc[c]) / std::sqrt((double)Num<T>::ld(var[c]) + eps);
      ab[c] = (C_)al;
      ab[C + c] = (C_)((double)Num<T>::ld(bi[c]) - (double)Num<T>::ld(mean[c]) * al);
    }
  };
  if (all_const) {
    folded->resize(2 * C);
    fold(l.in(1).cdata<T>(), l.in(2).cdata<T>(), l.in(3).cdata<T>(), l.in(4).cdata<T>(), folded->data());
  }
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const C_* ab;
    if (all_const) ab = folded->data();
    else {
      C_* w = static_cast<C_*>(a.workspace);
      fold(static_cast<const T*>(a.in[1]), static_cast<const T*>(a.in[2]), static_cast<const T*>(a.in[3]),
           static_cast<const T*>(a.in[4]), w);
      ab = w;
    }
    const T* x = static_cast<const T*>(a.in[0]);
    T* y = static_cast<T*>(a.out[0]);
    par_for(a.pool, N * C, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, inner)), [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        int64_t c = nc % C;
        const C_ al = ab[c], be = ab[C + c];
        const T* xp = x + nc * inner;
        T* yp = y + nc * inner;
        for (int64_t i = 0; i < inner; ++i) yp[i] = Num<T>::st(Num<T>::ld(xp[i]) * al + be);
      }
    });
  }, all_const ? 0 : sizeof(C_) * 2 * (size_t)C);
}

const bool reg_bn = (reg("BatchNormalization", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 5 || l.outputs.size() != 1 || l.in(0).rank() < 2) return false;
      if (l.attrs.get_int("training_mode", 0) != 0 || l.attrs.get_int("spatial", 1) != 1) return false;
      if (!float_same(l, 5)) return false;
      int64_t C = l.in(0).shape[1];
      for (int k = 1; k <= 4; ++k) if (!l.in(k).present || l.in(k).numel() != C) return false;
      return true;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = make_batchnorm<T>(l));
      return k;
    }), true);

// ---- InstanceNormalization / GroupNormalization ------------------------------------

// Normalises blocks of `gsize` contiguous planes of `inner` elements each
// (groups), then applies per-channel (or per-group) scale and bias.
template <class T>
void group_norm_run(const T* x, T* y, const T* sc, const T* bi, int64_t N, int64_t C, int64_t G, int64_t inner,
                    double eps, bool per_channel, ThreadPool* pool) {
  int64_t cpg = C / G, blk = cpg * inner;
  par_for(pool, N * G, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, blk)), [&](int64_t b, int64_t e) {
    for (int64_t ng = b; ng < e; ++ng) {
      int64_t g = ng % G;
      const T* xp = x + ng * blk;
      T* yp = y + ng * blk;
      // Statistics in double: small groups of close values lose the
      // difference to the mean's rounding in float (ill-conditioned otherwise).
      double md = 0, vd = 0;
      for (int64_t i = 0; i < blk; ++i) md += (double)Num<T>::ld(xp[i]);
      md /= (double)blk;
      for (int64_t i = 0; i < blk; ++i) { double d = (double)Num<T>::ld(xp[i]) - md; vd += d * d; }
      double inv = 1.0 / std::sqrt(vd / (double)blk + eps);
      for (int64_t c = 0; c < cpg; ++c) {
        int64_t ci = per_channel ? g * cpg + c : g;
        // (x - mean) * s + b, not x * s + (b - mean * s): with a tiny variance
        // s is large and the folded form cancels catastrophically.
        double sd = (double)Num<T>::ld(sc[ci]) * inv, bd = (double)Num<T>::ld(bi[ci]);
        const T* xc = xp + c * inner;
        T* yc = yp + c * inner;
        for (int64_t i = 0; i < inner; ++i)
          yc[i] = Num<T>::st((A<T>)(((double)Num<T>::ld(xc[i]) - md) * sd + bd));
      }
    }
  });
}

const bool reg_in = (reg("InstanceNormalization", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 3 || l.outputs.size() != 1 || l.in(0).rank() < 2 || !float_same(l, 3)) return false;
      int64_t C = l.in(0).shape[1];
      return l.in(1).numel() == C && l.in(2).numel() == C;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      const auto& s = l.in(0).shape;
      int64_t N = s[0], C = s[1], inner = prod(s, 2);
      double eps = l.attrs.get_float("epsilon", 1e-5);
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, {
        k = std::make_unique<FnKernel>([=](const RunArgs& a) {
          group_norm_run<T>(static_cast<const T*>(a.in[0]), static_cast<T*>(a.out[0]), static_cast<const T*>(a.in[1]),
                            static_cast<const T*>(a.in[2]), N, C, C, inner, eps, true, a.pool);
        });
      });
      return k;
    }), true);

const bool reg_gn = (reg("GroupNormalization", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 3 || l.outputs.size() != 1 || l.in(0).rank() < 2 || !float_same(l, 3)) return false;
      int64_t C = l.in(0).shape[1], G = l.attrs.get_int("num_groups", 0);
      if (G <= 0 || C % G != 0) return false;
      int64_t want = l.attrs.get_int("_opset", 21) >= 21 ? C : G;
      if (l.attrs.get_int("stash_type", 1) != 1) return false;
      return l.in(1).numel() == want && l.in(2).numel() == want;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      const auto& s = l.in(0).shape;
      int64_t N = s[0], C = s[1], inner = prod(s, 2), G = l.attrs.get_int("num_groups", 1);
      double eps = l.attrs.get_float("epsilon", 1e-5);
      bool per_channel = l.attrs.get_int("_opset", 21) >= 21;
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, {
        k = std::make_unique<FnKernel>([=](const RunArgs& a) {
          group_norm_run<T>(static_cast<const T*>(a.in[0]), static_cast<T*>(a.out[0]), static_cast<const T*>(a.in[1]),
                            static_cast<const T*>(a.in[2]), N, C, G, inner, eps, per_channel, a.pool);
        });
      });
      return k;
    }), true);

// ---- LRN -----------------------------------------------------------------------------

template <class T>
std::unique_ptr<Kernel> make_lrn(const Layer& l) {
  const auto& s = l.in(0).shape;
  int64_t N = s[0], C = s[1], inner = prod(s, 2);
  int64_t size = l.attrs.get_int("size", 1);
  double alpha = l.attrs.get_float("alpha", 1e-4), beta = l.attrs.get_float("beta", 0.75),
         bias = l.attrs.get_float("bias", 1.0);
  int64_t lo = (size - 1) / 2, hi = size - 1 - lo;  // window [c - lo, c + hi]
  using C_ = A<T>;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    T* y = static_cast<T*>(a.out[0]);
    const C_ k = (C_)(alpha / (double)size), bs = (C_)bias, nb = (C_)-beta;
    const bool b075 = beta == 0.75;
    // chunks of 64 spatial positions per (n, c)
    const int64_t nch = (inner + 63) / 64;
    par_for(a.pool, N * C * nch, std::max<int64_t>(1, 4096 / (64 * size)), [&](int64_t b, int64_t e) {
      C_ acc[64];
      for (int64_t t = b; t < e; ++t) {
        int64_t ch = t % nch, nc = t / nch, c = nc % C, n = nc / C;
        int64_t i0 = ch * 64, len = std::min<int64_t>(64, inner - i0);
        for (int64_t i = 0; i < len; ++i) acc[i] = 0;
        for (int64_t cc = std::max<int64_t>(0, c - lo); cc <= std::min<int64_t>(C - 1, c + hi); ++cc) {
          const T* xp = x + (n * C + cc) * inner + i0;
          for (int64_t i = 0; i < len; ++i) { C_ v = Num<T>::ld(xp[i]); acc[i] += v * v; }
        }
        const T* xp = x + nc * inner + i0;
        T* yp = y + nc * inner + i0;
        if (b075) {
          for (int64_t i = 0; i < len; ++i) {
            C_ d = bs + k * acc[i];
            C_ r = std::sqrt(d);
            yp[i] = Num<T>::st(Num<T>::ld(xp[i]) / (r * std::sqrt(r)));
          }
        } else {
          for (int64_t i = 0; i < len; ++i) yp[i] = Num<T>::st(Num<T>::ld(xp[i]) * std::pow(bs + k * acc[i], nb));
        }
      }
    });
  });
}

const bool reg_lrn = (reg("LRN", "cpu/direct",
    [](const Layer& l) {
      return l.inputs.size() == 1 && l.outputs.size() == 1 && l.in(0).rank() >= 2 && float_same(l, 1) &&
             l.attrs.get_int("size", 0) >= 1;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = make_lrn<T>(l));
      return k;
    }), true);

// ---- LpNormalization -----------------------------------------------------------------

template <class T>
std::unique_ptr<Kernel> make_lpnorm(const Layer& l) {
  const auto& s = l.in(0).shape;
  int ax = norm_axis(l.attrs.get_int("axis", -1), (int)s.size());
  int64_t outer = prod(s, 0, ax), n = s[ax], inner = prod(s, ax + 1);
  bool p1 = l.attrs.get_int("p", 2) == 1;
  using C_ = A<T>;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    T* y = static_cast<T*>(a.out[0]);
    par_for(a.pool, outer * inner, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, n)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t o = t / inner, i = t % inner;
        const T* xp = x + o * n * inner + i;
        T* yp = y + o * n * inner + i;
        C_ acc = 0;
        for (int64_t j = 0; j < n; ++j) { C_ v = Num<T>::ld(xp[j * inner]); acc += p1 ? std::abs(v) : v * v; }
        C_ nrm = p1 ? acc : std::sqrt(acc);
        // a zero norm gives zeros (as onnxruntime does), not NaN
        if (nrm == C_(0)) { for (int64_t j = 0; j < n; ++j) yp[j * inner] = Num<T>::st(C_(0)); continue; }
        for (int64_t j = 0; j < n; ++j) yp[j * inner] = Num<T>::st(Num<T>::ld(xp[j * inner]) / nrm);
      }
    });
  });
}

const bool reg_lp = (reg("LpNormalization", "cpu/direct",
    [](const Layer& l) {
      int r = l.in(0).rank();
      int64_t ax = l.attrs.get_int("axis", -1), p = l.attrs.get_int("p", 2);
      return l.inputs.size() == 1 && l.outputs.size() == 1 && r >= 1 && ax >= -r && ax < r && (p == 1 || p == 2) &&
             float_same(l, 1);
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = make_lpnorm<T>(l));
      return k;
    }), true);

}  // namespace
}  // namespace snep
