// Unary elementwise ops over float32/float64/float16 (float16 computed in
// float): math functions and activations, Clip (float and integer types),
// Abs/Neg/Sign (also integers), Not, IsNaN, IsInf. One `cpu/direct` routine
// per op. float32 Relu/Clip/Sigmoid/HardSigmoid/HardSwish/LeakyRelu/Tanh use
// cpu/activation.h so fused epilogues and standalone layers agree.
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "cpu/activation.h"
#include "cpu/elementwise/ew_util.h"
#include "cpu/elementwise/vmath.h"

namespace snep {
namespace detail {
void vmath_f32_avx512(int fn, const float* x, float* y, int64_t n);
}
namespace {
using namespace ew;

constexpr int64_t kCheapGrain = 1 << 16;
constexpr int64_t kMathGrain = 1 << 12;

template <class TI, class TO, class Op>
std::unique_ptr<Kernel> make_unary(const Layer& l, Op op, int64_t grain) {
  int64_t n = l.in(0).numel();
  return std::make_unique<FnKernel>([n, op, grain](const RunArgs& a) {
    const TI* x = static_cast<const TI*>(a.in[0]);
    TO* y = static_cast<TO*>(a.out[0]);
    par_for(a.pool, n, grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = Num<TO>::st(op(Num<TI>::ld(x[i])));
    });
  });
}

bool unary_shape_ok(const Layer& l) {
  return l.inputs.size() >= 1 && l.in(0).present && l.outputs.size() >= 1 && l.out(0).shape == l.in(0).shape;
}

// Registers op for float types with the generic lambda `f(x, attrs-captured)`.
// MakeOp(l) returns the functor (attributes read at prepare).
template <class MakeOp>
void reg_float(const char* op, MakeOp mk, int64_t grain, bool f32_via_act = false) {
  Registry::get().add(std::make_unique<LambdaRoutine>(
      op, "cpu/direct",
      [](const Layer& l) {
        return l.inputs.size() == 1 && unary_shape_ok(l) && is_float(l.in(0).dtype) && l.out(0).dtype == l.in(0).dtype;
      },
      [mk, grain, f32_via_act, op](const Layer& l) -> std::unique_ptr<Kernel> {
        if (f32_via_act && l.in(0).dtype == DType::Float32) {
          Activation act;
          std::string o = op;
          if (o == "Relu") act.kind = Act::Relu;
          else if (o == "Sigmoid") act.kind = Act::Sigmoid;
          else if (o == "Tanh") act.kind = Act::Tanh;
          else if (o == "HardSwish") act.kind = Act::HardSwish;
          else if (o == "HardSigmoid") {
            act.kind = Act::HardSigmoid;
            act.a = (float)l.attrs.get_float("alpha", 0.2);
            act.b = (float)l.attrs.get_float("beta", 0.5);
          } else if (o == "LeakyRelu") {
            act.kind = Act::LeakyRelu;
            act.a = (float)l.attrs.get_float("alpha", 0.01);
          }
          int64_t n = l.in(0).numel();
          return std::make_unique<FnKernel>([n, act, grain](const RunArgs& a) {
            const float* x = static_cast<const float*>(a.in[0]);
            float* y = static_cast<float*>(a.out[0]);
            par_for(a.pool, n, grain, [&](int64_t b, int64_t e) {
              if (y != x) std::memcpy(y + b, x + b, (size_t)(e - b) * sizeof(float));
              act.apply(y + b, e - b);
            });
          });
        }
        auto f = mk(l);
        std::unique_ptr<Kernel> k;
        SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = (make_unary<T, T>(l, f, grain)));
        return k;
      }));
}

#define UOP(expr) [](const Layer&) { return [](auto x) { using X = decltype(x); (void)sizeof(X); return (X)(expr); }; }

template <class X> X softplus(X x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

const bool registered_float = [] {
  reg_float("Exp", UOP(std::exp(x)), kMathGrain);
  reg_float("Log", UOP(std::log(x)), kMathGrain);
  reg_float("Sqrt", UOP(std::sqrt(x)), kCheapGrain);
  reg_float("Reciprocal", UOP(X(1) / x), kCheapGrain);
  reg_float("Floor", UOP(std::floor(x)), kCheapGrain);
  reg_float("Ceil", UOP(std::ceil(x)), kCheapGrain);
  reg_float("Round", UOP(std::nearbyint(x)), kCheapGrain);
  reg_float("Erf", UOP(std::erf(x)), kMathGrain);
  reg_float("Tanh", UOP(std::tanh(x)), kMathGrain, true);
  reg_float("Sigmoid", UOP(X(1) / (X(1) + std::exp(-x))), kMathGrain, true);
  reg_float("Sin", UOP(std::sin(x)), kMathGrain);
  reg_float("Cos", UOP(std::cos(x)), kMathGrain);
  reg_float("Tan", UOP(std::tan(x)), kMathGrain);
  reg_float("Asin", UOP(std::asin(x)), kMathGrain);
  reg_float("Acos", UOP(std::acos(x)), kMathGrain);
  reg_float("Atan", UOP(std::atan(x)), kMathGrain);
  reg_float("Sinh", UOP(std::sinh(x)), kMathGrain);
  reg_float("Cosh", UOP(std::cosh(x)), kMathGrain);
  reg_float("Asinh", UOP(std::asinh(x)), kMathGrain);
  reg_float("Acosh", UOP(std::acosh(x)), kMathGrain);
  reg_float("Atanh", UOP(std::atanh(x)), kMathGrain);
  reg_float("Softplus", UOP(softplus(x)), kMathGrain);
  reg_float("Softsign", UOP(x / (X(1) + std::abs(x))), kCheapGrain);
  reg_float("Mish", UOP(x * std::tanh(softplus(x))), kMathGrain);
  reg_float("Relu", UOP(x < X(0) ? X(0) : x), kCheapGrain);  // NaN stays NaN, as onnxruntime
  reg_float("HardSwish", UOP(x * std::max(std::min(x * X(1.0 / 6.0) + X(0.5), X(1)), X(0))), kCheapGrain, true);
  reg_float("Elu", [](const Layer& l) {
    double alpha = l.attrs.get_float("alpha", 1.0);
    return [alpha](auto x) { using X = decltype(x); return x >= X(0) ? x : (X)((X)alpha * (std::exp(x) - X(1))); };
  }, kMathGrain);
  reg_float("Selu", [](const Layer& l) {
    double alpha = l.attrs.get_float("alpha", 1.67326319217681884765625);
    double gamma = l.attrs.get_float("gamma", 1.05070102214813232421875);
    return [alpha, gamma](auto x) {
      using X = decltype(x);
      return x > X(0) ? (X)((X)gamma * x) : (X)((X)gamma * ((X)alpha * std::exp(x) - (X)alpha));
    };
  }, kMathGrain);
  reg_float("Celu", [](const Layer& l) {
    double alpha = l.attrs.get_float("alpha", 1.0);
    return [alpha](auto x) {
      using X = decltype(x);
      X al = (X)alpha;
      return (X)(std::max(x, X(0)) + std::min(al * (std::exp(x / al) - X(1)), X(0)));
    };
  }, kMathGrain);
  reg_float("LeakyRelu", [](const Layer& l) {
    double alpha = l.attrs.get_float("alpha", 0.01);
    return [alpha](auto x) { using X = decltype(x); return x >= X(0) ? x : (X)((X)alpha * x); };
  }, kCheapGrain, true);
  reg_float("HardSigmoid", [](const Layer& l) {
    double alpha = l.attrs.get_float("alpha", 0.2), beta = l.attrs.get_float("beta", 0.5);
    return [alpha, beta](auto x) {
      using X = decltype(x);
      return std::max(std::min((X)alpha * x + (X)beta, X(1)), X(0));
    };
  }, kCheapGrain, true);
  reg_float("Swish", [](const Layer& l) {  // opset 24: x * sigmoid(alpha * x)
    double alpha = l.attrs.get_float("alpha", 1.0);
    return [alpha](auto x) { using X = decltype(x); return (X)(x / (X(1) + std::exp(-(X)alpha * x))); };
  }, kMathGrain);
  reg_float("ThresholdedRelu", [](const Layer& l) {
    double alpha = l.attrs.get_float("alpha", 1.0);
    return [alpha](auto x) { using X = decltype(x); return x > (X)alpha ? x : X(0); };
  }, kCheapGrain);
  return true;
}();

// Gelu (opset 20): approximate "none" (erf) or "tanh".
const bool reg_0 = (reg(
    "Gelu", "cpu/direct",
    [](const Layer& l) {
      std::string ap = l.attrs.get_string("approximate", "none");
      return l.inputs.size() == 1 && unary_shape_ok(l) && is_float(l.in(0).dtype) &&
             l.out(0).dtype == l.in(0).dtype && (ap == "none" || ap == "tanh");
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      bool tanh_ap = l.attrs.get_string("approximate", "none") == "tanh";
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, {
        using X = CT<T>;
        if (tanh_ap)
          k = make_unary<T, T>(l, [](X x) {
            const X c = (X)0.7978845608028654;  // sqrt(2/pi)
            return (X)(X(0.5) * x * (X(1) + std::tanh(c * (x + (X)0.044715 * x * x * x))));
          }, kMathGrain);
        else
          k = make_unary<T, T>(l, [](X x) { return (X)(X(0.5) * x * (X(1) + std::erf(x * (X)0.7071067811865476))); },
                               kMathGrain);
      });
      return k;
    }), true);

// ---- ops over float and integer types -----------------------------------------

template <class F>
void reg_numeric(const char* op, F f) {
  Registry::get().add(std::make_unique<LambdaRoutine>(
      op, "cpu/direct",
      [](const Layer& l) {
        return l.inputs.size() == 1 && unary_shape_ok(l) && is_numeric(l.in(0).dtype) && l.out(0).dtype == l.in(0).dtype;
      },
      [f](const Layer& l) -> std::unique_ptr<Kernel> {
        std::unique_ptr<Kernel> k;
        SNEP_EW_DISPATCH(l.in(0).dtype, T, {
          if constexpr (!std::is_same_v<T, bool>) k = make_unary<T, T>(l, f, kCheapGrain);
        });
        return k;
      }));
}

struct AbsF {
  template <class X> X operator()(X x) const {
    if constexpr (std::is_floating_point_v<X>) return std::abs(x);
    else if constexpr (std::is_unsigned_v<X>) return x;
    else return x < 0 ? (X)(0 - (std::make_unsigned_t<X>)x) : x;
  }
};
struct NegF {
  template <class X> X operator()(X x) const {
    if constexpr (std::is_floating_point_v<X>) return -x;
    else return (X)(0 - (std::make_unsigned_t<X>)x);
  }
};
struct SignF {
  template <class X> X operator()(X x) const {
    if constexpr (std::is_floating_point_v<X>) return x > 0 ? X(1) : (x < 0 ? X(-1) : (x == 0 ? X(0) : x));
    else if constexpr (std::is_unsigned_v<X>) return x > 0 ? X(1) : X(0);
    else return x > 0 ? X(1) : (x < 0 ? X(-1) : X(0));
  }
};

const bool registered_numeric = [] {
  reg_numeric("Abs", AbsF{});
  reg_numeric("Neg", NegF{});
  reg_numeric("Sign", SignF{});
  return true;
}();

// Clip: attributes min/max before opset 11, optional scalar inputs after.
template <class T>
std::unique_ptr<Kernel> make_clip(const Layer& l) {
  using C = CT<T>;
  int64_t n = l.in(0).numel();
  int64_t opset = l.attrs.get_int("_opset", 13);
  bool attr_form = opset < 11;
  C amin = std::numeric_limits<C>::lowest(), amax = std::numeric_limits<C>::max();
  if (attr_form) {
    if (std::is_floating_point_v<C>) { amin = -std::numeric_limits<C>::infinity(); amax = std::numeric_limits<C>::infinity(); }
    amin = (C)l.attrs.get_float("min", (double)amin);
    amax = (C)l.attrs.get_float("max", (double)amax);
  } else if (std::is_floating_point_v<C>) {
    amin = -std::numeric_limits<C>::infinity();
    amax = std::numeric_limits<C>::infinity();
  }
  const bool has_min = l.has_input(1), has_max = l.has_input(2);
  return std::make_unique<FnKernel>([n, attr_form, amin, amax, has_min, has_max](const RunArgs& a) {
    C lo = amin, hi = amax;
    if (!attr_form) {
      if (has_min) lo = Num<T>::ld(*static_cast<const T*>(a.in[1]));
      if (has_max) hi = Num<T>::ld(*static_cast<const T*>(a.in[2]));
    }
    const T* x = static_cast<const T*>(a.in[0]);
    T* y = static_cast<T*>(a.out[0]);
    par_for(a.pool, n, kCheapGrain, [&](int64_t b, int64_t e) {
      const C l0 = lo, h0 = hi;  // locals: no reload per element, so the loop vectorises
      for (int64_t i = b; i < e; ++i) {
        C v = Num<T>::ld(x[i]);
        v = v < l0 ? l0 : v;
        v = h0 < v ? h0 : v;
        y[i] = Num<T>::st(v);
      }
    });
  });
}

const bool reg_1 = (reg(
    "Clip", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.empty() || l.inputs.size() > 3 || !unary_shape_ok(l)) return false;
      DType t = l.in(0).dtype;
      if (!is_numeric(t) || l.out(0).dtype != t) return false;
      bool attr_form = l.attrs.get_int("_opset", 13) < 11;
      if (attr_form) return l.inputs.size() == 1 && is_float(t);
      for (size_t k = 1; k < l.inputs.size(); ++k)
        if (l.in(k).present && (l.in(k).dtype != t || l.in(k).numel() != 1)) return false;
      return true;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH(l.in(0).dtype, T, {
        if constexpr (!std::is_same_v<T, bool>) k = make_clip<T>(l);
      });
      return k;
    }), true);

// ---- bool results / bool inputs -------------------------------------------------

const bool reg_2 = (reg(
    "Not", "cpu/direct",
    [](const Layer& l) {
      return l.inputs.size() == 1 && unary_shape_ok(l) && l.in(0).dtype == DType::Bool && l.out(0).dtype == DType::Bool;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      return make_unary<bool, bool>(l, [](bool x) { return !x; }, kCheapGrain);
    }), true);

const bool reg_3 = (reg(
    "IsNaN", "cpu/direct",
    [](const Layer& l) {
      return l.inputs.size() == 1 && unary_shape_ok(l) && is_float(l.in(0).dtype) && l.out(0).dtype == DType::Bool;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = (make_unary<T, bool>(l, [](auto x) { return x != x; }, kCheapGrain)));
      return k;
    }), true);

const bool reg_4 = (reg(
    "IsInf", "cpu/direct",
    [](const Layer& l) {
      return l.inputs.size() == 1 && unary_shape_ok(l) && is_float(l.in(0).dtype) && l.out(0).dtype == DType::Bool;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      bool neg = l.attrs.get_int("detect_negative", 1) != 0, pos = l.attrs.get_int("detect_positive", 1) != 0;
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = (make_unary<T, bool>(l, [neg, pos](auto x) {
        using X = decltype(x);
        return (pos && x == std::numeric_limits<X>::infinity()) || (neg && x == -std::numeric_limits<X>::infinity());
      }, kCheapGrain)));
      return k;
    }), true);

// ---- vectorised float32 Exp/Sigmoid/Tanh/Erf/Gelu (vmath.h) --------------------
// Only an AVX-512 build (cpu:float32/avx512): at the baseline ISA and with AVX2
// gcc does not if-convert these loops, so they are no faster than libm there.

int vm_fn(const Layer& l) {
  if (l.op == "Exp") return vm::kExp;
  if (l.op == "Sigmoid") return vm::kSigmoid;
  if (l.op == "Tanh") return vm::kTanh;
  if (l.op == "Erf") return vm::kErf;
  return l.attrs.get_string("approximate", "none") == "tanh" ? vm::kGeluTanh : vm::kGeluErf;
}

bool vm_supports(const Layer& l) {
  if (!(l.inputs.size() == 1 && unary_shape_ok(l) && all_float32(l))) return false;
  if (l.op == "Gelu") {
    std::string ap = l.attrs.get_string("approximate", "none");
    return ap == "none" || ap == "tanh";
  }
  return true;
}

std::unique_ptr<Kernel> vm_prepare(const Layer& l, void (*f)(int, const float*, float*, int64_t)) {
  int64_t n = l.in(0).numel();
  int fn = vm_fn(l);
  return std::make_unique<FnKernel>([n, fn, f](const RunArgs& a) {
    const float* x = static_cast<const float*>(a.in[0]);
    float* y = static_cast<float*>(a.out[0]);
    par_for(a.pool, n, 1 << 13, [&](int64_t b, int64_t e) { f(fn, x + b, y + b, e - b); });
  });
}

const bool registered_vm = [] {
  for (const char* op : {"Exp", "Sigmoid", "Tanh", "Erf", "Gelu"}) {
    Registry::get().add(std::make_unique<LambdaRoutine>(
        op, "cpu:float32/avx512", vm_supports, [](const Layer& l) { return vm_prepare(l, &detail::vmath_f32_avx512); },
        "avx512f"));
  }
  return true;
}();

}  // namespace
}  // namespace snep
