// Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare
// (axes as attribute before opset 18 -- ReduceSum 13 -- and as input after,
// keepdims, noop_with_empty_axes), ArgMax/ArgMin and CumSum.
//
// The input shape is collapsed into alternating kept/reduced groups. The
// innermost group decides the inner loop: reduced -> a contiguous row folded
// with 16 partial accumulators (vectorisable); kept -> contiguous vectors
// accumulated into the output. Outer kept coordinates are split over threads.
// The plan is built in fixed arrays so axes given as a run-time input need no
// allocation.
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "cpu/elementwise/ew_util.h"
#include "cpu/reduce/cumulative.h"

namespace snep {
namespace {
using namespace ew;

constexpr int kMax = kMaxRank;

struct RPlan {
  int m = 0;                 // collapsed dims
  int64_t d[kMax];
  bool red[kMax];
  int64_t st[kMax];          // input strides
  int64_t count = 1;         // reduced elements per output
  int64_t out_n = 1;
  bool inner_red = false;
  int64_t inner = 1;
  // outer kept dims (all kept dims except the inner one when inner is kept)
  int nk = 0; int64_t kd[kMax]; int64_t kst[kMax];
  // reduced dims excluding the inner one when inner is reduced
  int nr = 0; int64_t rd[kMax]; int64_t rst[kMax];
  int64_t outer_n = 1;       // product of kd
  int64_t red_outer_n = 1;   // product of rd

  // Returns false on a bad axis.
  bool build(const std::vector<int64_t>& shape, const int64_t* axes, int64_t naxes) {
    int r = (int)shape.size();
    bool isred[kMax] = {false};
    if (naxes == 0) { for (int i = 0; i < r; ++i) isred[i] = true; }
    for (int64_t k = 0; k < naxes; ++k) {
      int64_t a = axes[k] < 0 ? axes[k] + r : axes[k];
      if (a < 0 || a >= r) return false;
      isred[a] = true;
    }
    count = 1; out_n = 1;
    for (int i = 0; i < r; ++i) (isred[i] ? count : out_n) *= shape[i];
    // collapse: drop size-1 dims, merge neighbours of the same kind
    m = 0;
    for (int i = 0; i < r; ++i) {
      if (shape[i] == 1) continue;
      if (m > 0 && red[m - 1] == isred[i]) { d[m - 1] *= shape[i]; continue; }
      d[m] = shape[i]; red[m] = isred[i]; ++m;
    }
    if (m == 0) { d[0] = 1; red[0] = false; m = 1; }
    int64_t s = 1;
    for (int i = m - 1; i >= 0; --i) { st[i] = s; s *= d[i]; }
    inner_red = red[m - 1];
    inner = d[m - 1];
    nk = nr = 0; outer_n = red_outer_n = 1;
    for (int i = 0; i < m - 1; ++i) {
      if (red[i]) { rd[nr] = d[i]; rst[nr] = st[i]; ++nr; red_outer_n *= d[i]; }
      else { kd[nk] = d[i]; kst[nk] = st[i]; ++nk; outer_n *= d[i]; }
    }
    return true;
  }
  int64_t outer_offset(int64_t o) const {
    int64_t off = 0;
    for (int i = nk - 1; i >= 0; --i) { off += (o % kd[i]) * kst[i]; o /= kd[i]; }
    return off;
  }
};

// Reducers: A accumulator type; map(x, shift); comb; fin(acc, count, shift).
template <class T> using Acc = std::conditional_t<std::is_floating_point_v<CT<T>>, CT<T>, CT<T>>;

template <class A> struct SumR {
  static A init() { return A(0); }
  static A map(A x, A) { return x; }
  static A comb(A a, A b) { return (A)(a + b); }
  static A fin(A a, int64_t, A) { return a; }
};
template <class A> struct MeanR : SumR<A> { static A fin(A a, int64_t n, A) { return (A)(a / (A)n); } };
template <class A> struct ProdR : SumR<A> {
  static A init() { return A(1); }
  static A comb(A a, A b) { return (A)(a * b); }
};
template <class A> struct MaxR : SumR<A> {
  static A init() { return std::is_floating_point_v<A> ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::lowest(); }
  static A comb(A a, A b) { return (b > a || b != b) ? b : a; }
};
template <class A> struct MinR : SumR<A> {
  static A init() { return std::is_floating_point_v<A> ? std::numeric_limits<A>::infinity() : std::numeric_limits<A>::max(); }
  static A comb(A a, A b) { return (b < a || b != b) ? b : a; }
};
template <class A> struct L1R : SumR<A> {
  static A map(A x, A) {
    if constexpr (std::is_unsigned_v<A>) return x;
    else return x < 0 ? (A)-x : x;
  }
};
template <class A> struct L2R : SumR<A> {
  static A map(A x, A) { return (A)(x * x); }
  static A fin(A a, int64_t, A) { return (A)std::sqrt(a); }
};
template <class A> struct SumSqR : SumR<A> { static A map(A x, A) { return (A)(x * x); } };
template <class A> struct LogSumR : SumR<A> { static A fin(A a, int64_t, A) { return (A)std::log(a); } };
template <class A> struct LogSumExpR : SumR<A> {
  static A map(A x, A s) { return (A)std::exp(x - s); }
  static A fin(A a, int64_t, A s) { return (A)(std::log(a) + s); }
};

template <class T, class R, bool Shifted>
void reduce_run(const RPlan& p, const T* x, T* y, const CT<T>* shift, ThreadPool* pool) {
  using A = CT<T>;
  if (p.inner_red) {
    // one output per outer kept index
    par_for(pool, p.outer_n, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.count)), [&](int64_t ob, int64_t oe) {
      int64_t ridx[kMax];
      for (int64_t o = ob; o < oe; ++o) {
        const A sh = Shifted ? shift[o] : A(0);
        int64_t base = p.outer_offset(o);
        A lanes[16];
        for (int l = 0; l < 16; ++l) lanes[l] = R::init();
        for (int i = 0; i < p.nr; ++i) ridx[i] = 0;
        int64_t roff = 0;
        for (int64_t rr = 0; rr < p.red_outer_n; ++rr) {
          const T* row = x + base + roff;
          int64_t n = p.inner, i = 0;
          for (; i + 16 <= n; i += 16)
            for (int l = 0; l < 16; ++l) lanes[l] = R::comb(lanes[l], R::map(Num<T>::ld(row[i + l]), sh));
          for (; i < n; ++i) lanes[0] = R::comb(lanes[0], R::map(Num<T>::ld(row[i]), sh));
          for (int k = p.nr - 1; k >= 0; --k) {
            ++ridx[k]; roff += p.rst[k];
            if (ridx[k] < p.rd[k]) break;
            roff -= p.rst[k] * p.rd[k]; ridx[k] = 0;
          }
        }
        A acc = lanes[0];
        for (int l = 1; l < 16; ++l) acc = R::comb(acc, lanes[l]);
        y[o] = Num<T>::st(R::fin(acc, p.count, sh));
      }
    });
  } else {
    // inner kept: vectors of `inner` outputs; split inner into chunks too
    const int64_t K = p.inner;
    const int64_t kc = std::max<int64_t>(256, (K + 1) / 2);
    const int64_t nchunks = (K + kc - 1) / kc;
    const int64_t tasks = p.outer_n * nchunks;
    par_for(pool, tasks, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.count * std::min(K, kc))), [&](int64_t tb, int64_t te) {
      int64_t ridx[kMax];
      A accbuf[256];
      for (int64_t t = tb; t < te; ++t) {
        int64_t o = t / nchunks, c = t % nchunks;
        int64_t k0 = c * kc, k1 = std::min(K, k0 + kc);
        int64_t base = p.outer_offset(o) + k0;
        T* yo = y + o * K + k0;
        const A* sh = Shifted ? shift + o * K + k0 : nullptr;
        for (int64_t kb = 0; kb < k1 - k0; kb += 256) {
          int64_t kn = std::min<int64_t>(256, k1 - k0 - kb);
          for (int64_t j = 0; j < kn; ++j) accbuf[j] = R::init();
          for (int i = 0; i < p.nr; ++i) ridx[i] = 0;
          int64_t roff = 0;
          for (int64_t rr = 0; rr < p.red_outer_n; ++rr) {
            const T* row = x + base + roff + kb;
            for (int64_t j = 0; j < kn; ++j)
              accbuf[j] = R::comb(accbuf[j], R::map(Num<T>::ld(row[j]), Shifted ? sh[kb + j] : A(0)));
            for (int k = p.nr - 1; k >= 0; --k) {
              ++ridx[k]; roff += p.rst[k];
              if (ridx[k] < p.rd[k]) break;
              roff -= p.rst[k] * p.rd[k]; ridx[k] = 0;
            }
          }
          for (int64_t j = 0; j < kn; ++j)
            yo[kb + j] = Num<T>::st(R::fin(accbuf[j], p.count, Shifted ? sh[kb + j] : A(0)));
        }
      }
    });
  }
}

enum class RK { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

template <class T>
void reduce_dispatch(RK k, const RPlan& p, const T* x, T* y, CT<T>* ws, ThreadPool* pool) {
  using A = CT<T>;
  switch (k) {
    case RK::Sum: reduce_run<T, SumR<A>, false>(p, x, y, nullptr, pool); break;
    case RK::Mean: reduce_run<T, MeanR<A>, false>(p, x, y, nullptr, pool); break;
    case RK::Max: reduce_run<T, MaxR<A>, false>(p, x, y, nullptr, pool); break;
    case RK::Min: reduce_run<T, MinR<A>, false>(p, x, y, nullptr, pool); break;
    case RK::Prod: reduce_run<T, ProdR<A>, false>(p, x, y, nullptr, pool); break;
    case RK::L1: reduce_run<T, L1R<A>, false>(p, x, y, nullptr, pool); break;
    case RK::L2: reduce_run<T, L2R<A>, false>(p, x, y, nullptr, pool); break;
    case RK::SumSquare: reduce_run<T, SumSqR<A>, false>(p, x, y, nullptr, pool); break;
    case RK::LogSum: reduce_run<T, LogSumR<A>, false>(p, x, y, nullptr, pool); break;
    case RK::LogSumExp:
      if constexpr (std::is_floating_point_v<A>) {
        // max into y (as T), then widen into the workspace as the shift
        reduce_run<T, MaxR<A>, false>(p, x, y, nullptr, pool);
        for (int64_t o = 0; o < p.out_n; ++o) {
          A m = Num<T>::ld(y[o]);
          ws[o] = std::isinf(m) ? A(0) : m;
        }
        reduce_run<T, LogSumExpR<A>, true>(p, x, y, ws, pool);
      }
      break;
  }
}

bool axes_from_attr(const Layer& l) {
  int64_t opset = l.attrs.get_int("_opset", 18);
  return l.op == "ReduceSum" ? opset < 13 : opset < 18;
}

template <class T>
std::unique_ptr<Kernel> make_reduce(const Layer& l, RK kind) {
  const auto shape = l.in(0).shape;
  const int64_t in_n = l.in(0).numel();
  bool attr_axes = axes_from_attr(l);
  bool noop = l.attrs.get_int("noop_with_empty_axes", 0) != 0;
  std::vector<int64_t> axes;
  bool static_axes = true;
  if (attr_axes) axes = l.attrs.get_ints("axes");
  else if (l.has_input(1)) {
    if (l.in(1).const_data) axes.assign(l.in(1).cdata<int64_t>(), l.in(1).cdata<int64_t>() + l.in(1).numel());
    else static_axes = false;
  }
  int64_t naxes_rt = l.has_input(1) ? l.in(1).numel() : 0;
  auto plan = std::make_shared<RPlan>();
  bool copy = false;
  if (static_axes) {
    if (axes.empty() && noop) copy = true;
    else if (!plan->build(shape, axes.data(), (int64_t)axes.size())) throw InvalidArgumentError("bad axes in " + l.where());
  }
  size_t ws = sizeof(CT<T>) * (size_t)l.out(0).numel();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    T* y = static_cast<T*>(a.out[0]);
    CT<T>* w = static_cast<CT<T>*>(a.workspace);
    if (static_axes) {
      if (copy) { if (in_n) std::memcpy(y, x, sizeof(T) * (size_t)in_n); return; }
      reduce_dispatch<T>(kind, *plan, x, y, w, a.pool);
      return;
    }
    const int64_t* ax = static_cast<const int64_t*>(a.in[1]);
    if (naxes_rt == 0 && noop) { if (in_n) std::memcpy(y, x, sizeof(T) * (size_t)in_n); return; }
    RPlan p;
    if (!p.build(shape, ax, naxes_rt)) throw InvalidArgumentError("bad axes for Reduce");
    reduce_dispatch<T>(kind, p, x, y, w, a.pool);
  }, ws);
}

void reg_reduce(const char* op, RK kind) {
  reg(op, "cpu/direct",
      [kind](const Layer& l) {
        if (l.inputs.empty() || !l.in(0).present || l.outputs.size() != 1) return false;
        DType t = l.in(0).dtype;
        // bool Max/Min (opset 20) run as uint8 max/min of 0/1
        const bool bool_ok = t == DType::Bool && (kind == RK::Max || kind == RK::Min);
        if ((!is_numeric(t) && !bool_ok) || l.out(0).dtype != t || l.in(0).rank() > kMax) return false;
        if ((kind == RK::LogSumExp || kind == RK::LogSum || kind == RK::L2) && !is_float(t)) return false;
        if (axes_from_attr(l)) return l.inputs.size() == 1 || !l.has_input(1);
        if (l.has_input(1) && (l.in(1).dtype != DType::Int64 || l.in(1).rank() > 1)) return false;
        return l.inputs.size() <= 2;
      },
      [kind](const Layer& l) -> std::unique_ptr<Kernel> {
        std::unique_ptr<Kernel> k;
        if (l.in(0).dtype == DType::Bool) {
          if (kind == RK::Max) return make_reduce<uint8_t>(l, kind);
          std::shared_ptr<Kernel> u8(make_reduce<uint8_t>(l, kind));
          // an empty Min leaves uint8's identity 255: store it as true
          const int64_t on = l.out(0).numel();
          return std::make_unique<FnKernel>([u8, on](const RunArgs& a) {
            u8->run(a);
            uint8_t* y = static_cast<uint8_t*>(a.out[0]);
            for (int64_t i = 0; i < on; ++i) y[i] = y[i] != 0;
          }, u8->workspace_bytes());
        }
        SNEP_EW_DISPATCH(l.in(0).dtype, T, {
          if constexpr (!std::is_same_v<T, bool>) k = make_reduce<T>(l, kind);
        });
        return k;
      });
}

const bool registered = [] {
  reg_reduce("ReduceSum", RK::Sum);
  reg_reduce("ReduceMean", RK::Mean);
  reg_reduce("ReduceMax", RK::Max);
  reg_reduce("ReduceMin", RK::Min);
  reg_reduce("ReduceProd", RK::Prod);
  reg_reduce("ReduceL1", RK::L1);
  reg_reduce("ReduceL2", RK::L2);
  reg_reduce("ReduceLogSum", RK::LogSum);
  reg_reduce("ReduceLogSumExp", RK::LogSumExp);
  reg_reduce("ReduceSumSquare", RK::SumSquare);
  return true;
}();

// ---- ArgMax / ArgMin -------------------------------------------------------------

template <class T, bool IsMax, bool Last>
void arg_run(const T* x, int64_t* y, int64_t outer, int64_t n, int64_t inner, ThreadPool* pool) {
  using C = CT<T>;
  par_for(pool, outer * inner, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      int64_t o = t / inner, i = t % inner;
      const T* p = x + o * n * inner + i;
      C best = Num<T>::ld(p[0]);
      int64_t bi = 0;
      for (int64_t j = 1; j < n; ++j) {
        C v = Num<T>::ld(p[j * inner]);
        bool better = IsMax ? (Last ? v >= best : v > best) : (Last ? v <= best : v < best);
        if (better) { best = v; bi = j; }
      }
      y[t] = bi;
    }
  });
}

const bool registered_arg = [] {
  for (const char* op : {"ArgMax", "ArgMin"}) {
    bool is_max = std::string(op) == "ArgMax";
    reg(op, "cpu/direct",
        [](const Layer& l) {
          if (l.inputs.size() != 1 || l.outputs.size() != 1 || l.out(0).dtype != DType::Int64) return false;
          DType t = l.in(0).dtype;
          int r = l.in(0).rank();
          int64_t ax = l.attrs.get_int("axis", 0);
          return is_numeric(t) && r >= 1 && ax >= -r && ax < r && l.in(0).shape[norm_axis(ax, r)] > 0;
        },
        [is_max](const Layer& l) -> std::unique_ptr<Kernel> {
          const auto& s = l.in(0).shape;
          int ax = norm_axis(l.attrs.get_int("axis", 0), (int)s.size());
          int64_t outer = prod(s, 0, ax), n = s[ax], inner = prod(s, ax + 1);
          bool last = l.attrs.get_int("select_last_index", 0) != 0;
          std::unique_ptr<Kernel> k;
          SNEP_EW_DISPATCH(l.in(0).dtype, T, {
            if constexpr (!std::is_same_v<T, bool>) {
              auto f = is_max ? (last ? &arg_run<T, true, true> : &arg_run<T, true, false>)
                              : (last ? &arg_run<T, false, true> : &arg_run<T, false, false>);
              k = std::make_unique<FnKernel>([f, outer, n, inner](const RunArgs& a) {
                f(static_cast<const T*>(a.in[0]), static_cast<int64_t*>(a.out[0]), outer, n, inner, a.pool);
              });
            }
          });
          return k;
        });
  }
  return true;
}();

// ---- CumSum --------------------------------------------------------------------------

template <class T>
std::unique_ptr<Kernel> make_cumsum(const Layer& l) {
  using C = CT<T>;
  return make_cumulative<T>(l, "CumSum", C(0), [](C a, C b) { return (C)(a + b); });
}

const bool registered_cumsum = (reg("CumSum", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 2 || !l.in(1).present || l.outputs.size() != 1) return false;
      DType t = l.in(0).dtype;
      return is_numeric(t) && l.out(0).dtype == t && l.in(0).rank() >= 1 && l.in(1).numel() == 1 &&
             (l.in(1).dtype == DType::Int32 || l.in(1).dtype == DType::Int64);
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH(l.in(0).dtype, T, {
        if constexpr (!std::is_same_v<T, bool>) k = make_cumsum<T>(l);
      });
      return k;
    }), true);

}  // namespace
}  // namespace snep

namespace snep {
namespace {
using namespace ew;

// ---- MeanVarianceNormalization: (x - mean) / (sqrt(var) + 1e-9) over `axes` ----------

template <class A> struct VarR : SumR<A> {
  static A map(A x, A s) { A d = x - s; return d * d; }
  static A fin(A a, int64_t n, A) { return a / (A)n; }
};

template <class T>
std::unique_ptr<Kernel> make_mvn(const Layer& l) {
  const auto shape = l.in(0).shape;
  auto axes = l.attrs.get_ints("axes", {0, 2, 3});
  auto plan = std::make_shared<RPlan>();
  if (!plan->build(shape, axes.data(), (int64_t)axes.size())) throw InvalidArgumentError("bad axes in " + l.where());
  std::vector<int64_t> keep = shape;
  for (auto a : axes) keep[norm_axis(a, (int)shape.size())] = 1;
  auto bc = std::make_shared<Bcast>();
  bc->init({&shape, &keep, &keep}, shape);
  int64_t on = plan->out_n;
  return std::make_unique<FnKernel>([plan, bc, on](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    T* y = static_cast<T*>(a.out[0]);
    T* mean = static_cast<T*>(a.workspace);
    T* sd = mean + on;
    reduce_run<T, MeanR<T>, false>(*plan, x, mean, nullptr, a.pool);
    reduce_run<T, VarR<T>, true>(*plan, x, sd, mean, a.pool);
    for (int64_t o = 0; o < on; ++o) sd[o] = T(1) / (std::sqrt(sd[o]) + T(1e-9));
    const bool sx = bc->inner_st[0] != 0, sm = bc->inner_st[1] != 0;
    bc->for_rows(a.pool, [&](int64_t oo, const int64_t* off, int64_t n) {
      const T* xp = x + off[0];
      const T* mp = mean + off[1];
      const T* sp = sd + off[2];
      T* yp = y + oo;
      if (sx && sm) for (int64_t i = 0; i < n; ++i) yp[i] = (xp[i] - mp[i]) * sp[i];
      else if (sx) { const T m = mp[0], s = sp[0]; for (int64_t i = 0; i < n; ++i) yp[i] = (xp[i] - m) * s; }
      else for (int64_t i = 0; i < n; ++i) yp[i] = (xp[0] - mp[i * (sm ? 1 : 0)]) * sp[i * (sm ? 1 : 0)];
    });
  }, sizeof(T) * 2 * (size_t)on);
}

const bool registered_mvn = (reg("MeanVarianceNormalization", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 1 || l.outputs.size() != 1) return false;
      DType t = l.in(0).dtype;
      if ((t != DType::Float32 && t != DType::Float64) || l.out(0).dtype != t || l.out(0).shape != l.in(0).shape) return false;
      int r = l.in(0).rank();
      if (r > kMax) return false;
      auto axes = l.attrs.get_ints("axes", {0, 2, 3});
      for (auto a : axes) if (a < -r || a >= r) return false;
      return true;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      if (l.in(0).dtype == DType::Float64) return make_mvn<double>(l);
      return make_mvn<float>(l);
    }), true);

}  // namespace
}  // namespace snep
