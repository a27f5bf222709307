// Binary and variadic elementwise ops with multidirectional broadcasting:
// Add, Sub, Mul, Div, Pow, Max, Min, Sum, Mean, Mod, BitShift, PRelu,
// Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor, Where.
//
// One routine per op (`cpu/broadcast`), every numeric dtype the op allows. The
// broadcast is collapsed once at prepare (ew::Bcast) so the inner loop is one
// contiguous row where each operand is either contiguous or a scalar: that
// covers same-shape, scalar-operand and per-channel ([N,C,H,W] op [C,1,1])
// cases with loops the compiler vectorises.
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

// ---- kernels -------------------------------------------------------------------

template <class TA, class TB, class TO, class Op>
void binary_rows(const Bcast& bc, const TA* a, const TB* b, TO* o, ThreadPool* pool, const Op& op) {
  const bool sa = bc.inner_st[0] != 0, sb = bc.inner_st[1] != 0;
  bc.for_rows(pool, [&](int64_t oo, const int64_t* off, int64_t n) {
    const TA* pa = a + off[0];
    const TB* pb = b + off[1];
    TO* po = o + oo;
    if (sa && sb) {
      for (int64_t i = 0; i < n; ++i) po[i] = Num<TO>::st(op(Num<TA>::ld(pa[i]), Num<TB>::ld(pb[i])));
    } else if (sa) {
      const auto vb = Num<TB>::ld(pb[0]);
      for (int64_t i = 0; i < n; ++i) po[i] = Num<TO>::st(op(Num<TA>::ld(pa[i]), vb));
    } else if (sb) {
      const auto va = Num<TA>::ld(pa[0]);
      for (int64_t i = 0; i < n; ++i) po[i] = Num<TO>::st(op(va, Num<TB>::ld(pb[i])));
    } else {
      const TO v = Num<TO>::st(op(Num<TA>::ld(pa[0]), Num<TB>::ld(pb[0])));
      for (int64_t i = 0; i < n; ++i) po[i] = v;
    }
  });
}

template <class TA, class TB, class TO, class Op>
std::unique_ptr<Kernel> make_binary(const Layer& l, Op op) {
  auto bc = std::make_shared<Bcast>();
  bc->init({&l.in(0).shape, &l.in(1).shape}, l.out(0).shape);
  return std::make_unique<FnKernel>([bc, op](const RunArgs& a) {
    binary_rows(*bc, static_cast<const TA*>(a.in[0]), static_cast<const TB*>(a.in[1]),
                static_cast<TO*>(a.out[0]), a.pool, op);
  });
}

// Variadic: out = op(in0, in1), out = op(out, in_k), ...; Mean divides at the end.
template <class T, class Op>
std::unique_ptr<Kernel> make_variadic(const Layer& l, Op op, bool mean) {
  size_t n = l.inputs.size();
  auto plans = std::make_shared<std::vector<Bcast>>();
  const auto& os = l.out(0).shape;
  if (n == 1) {
    plans->emplace_back();
    plans->back().init({&l.in(0).shape, &l.in(0).shape}, os);
  } else {
    for (size_t k = 1; k < n; ++k) {
      plans->emplace_back();
      plans->back().init({k == 1 ? &l.in(0).shape : &os, &l.in(k).shape}, os);
    }
  }
  int64_t numel = l.out(0).numel();
  return std::make_unique<FnKernel>([plans, op, n, mean, numel](const RunArgs& a) {
    T* o = static_cast<T*>(a.out[0]);
    if (n == 1) {
      if (a.out[0] != a.in[0]) std::memcpy(o, a.in[0], (size_t)numel * sizeof(T));
    } else {
      for (size_t k = 1; k < n; ++k)
        binary_rows((*plans)[k - 1], k == 1 ? static_cast<const T*>(a.in[0]) : (const T*)o,
                    static_cast<const T*>(a.in[k]), o, a.pool, op);
    }
    if (mean) {
      using C = CT<T>;
      const C inv = (C)n;
      par_for(a.pool, numel, 1 << 15, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) o[i] = Num<T>::st(Num<T>::ld(o[i]) / inv);
      });
    }
  });
}

// ---- ops -----------------------------------------------------------------------

struct AddOp { template <class X> X operator()(X x, X y) const { return (X)(x + y); } };
struct SubOp { template <class X> X operator()(X x, X y) const { return (X)(x - y); } };
struct MulOp { template <class X> X operator()(X x, X y) const { return (X)(x * y); } };
struct DivOp {
  template <class X> X operator()(X x, X y) const {
    if constexpr (std::is_integral_v<X>) {
      if (y == 0) return 0;  // undefined in ONNX; avoid the trap
      if constexpr (std::is_signed_v<X>) {
        if (y == -1) return (X)(0 - (std::make_unsigned_t<X>)x);
      }
      return (X)(x / y);
    } else {
      return x / y;
    }
  }
};
// NaN propagates (as onnxruntime's Max/Min do).
struct MaxOp {
  template <class X> X operator()(X x, X y) const {
    if constexpr (std::is_floating_point_v<X>) { if (x != x) return x; }
    return x > y ? x : y;
  }
};
struct MinOp {
  template <class X> X operator()(X x, X y) const {
    if constexpr (std::is_floating_point_v<X>) { if (x != x) return x; }
    return x < y ? x : y;
  }
};
struct ModOp {
  bool fmod;
  template <class X> X operator()(X x, X y) const {
    if constexpr (std::is_integral_v<X>) {
      if (y == 0) return 0;
      if constexpr (std::is_signed_v<X>) {
        if (y == -1) return 0;
        X r = (X)(x % y);
        if (!fmod && r != 0 && ((r < 0) != (y < 0))) r = (X)(r + y);
        return r;
      } else {
        return (X)(x % y);
      }
    } else {
      X r = std::fmod(x, y);
      if (!fmod) {
        if (r != 0) { if ((r < 0) != (y < 0)) r += y; }
        else r = std::copysign(X(0), y);
      }
      return r;
    }
  }
};
// Shifts by a negative amount or by the width or more give 0 (left) or the
// sign fill (right); signed right shifts are arithmetic.
struct ShlOp {
  template <class X> X operator()(X x, X y) const {
    using U = std::make_unsigned_t<X>;
    if (y < 0 || (U)y >= sizeof(X) * 8) return (X)0;
    return (X)((U)x << (U)y);
  }
};
struct ShrOp {
  template <class X> X operator()(X x, X y) const {
    using U = std::make_unsigned_t<X>;
    if (y < 0 || (U)y >= sizeof(X) * 8) return x < 0 ? (X)-1 : (X)0;
    return (X)(x >> y);
  }
};
// Pow: float32 (and float16, computed in float) with a float exponent uses
// powf; every other pair goes through double, as std::pow promotes them.
struct PowOp {
  template <class X, class Y> auto operator()(X x, Y y) const {
    if constexpr (std::is_same_v<X, float> && std::is_same_v<Y, float>) return std::pow(x, y);
    else return std::pow((double)x, (double)y);
  }
};
struct PowSq { template <class X, class Y> X operator()(X x, Y) const { return (X)(x * x); } };
struct PowCube { template <class X, class Y> X operator()(X x, Y) const { return (X)(x * x * x); } };
struct PowOne { template <class X, class Y> X operator()(X x, Y) const { return x; } };

struct PReluOp { template <class X> X operator()(X x, X s) const { return x < 0 ? (X)(s * x) : x; } };

struct EqOp { template <class X> bool operator()(X x, X y) const { return x == y; } };
struct LtOp { template <class X> bool operator()(X x, X y) const { return x < y; } };
struct GtOp { template <class X> bool operator()(X x, X y) const { return x > y; } };
struct LeOp { template <class X> bool operator()(X x, X y) const { return x <= y; } };
struct GeOp { template <class X> bool operator()(X x, X y) const { return x >= y; } };
struct AndOp { bool operator()(bool x, bool y) const { return x && y; } };
struct OrOp { bool operator()(bool x, bool y) const { return x || y; } };
struct XorOp { bool operator()(bool x, bool y) const { return x != y; } };

// ---- supports helpers ----------------------------------------------------------

bool bcast_shape_ok(const Layer& l, size_t nin) {
  if (l.inputs.size() < nin || l.outputs.empty()) return false;
  for (size_t k = 0; k < l.inputs.size(); ++k) if (!l.in(k).present) return false;
  size_t r = 0;
  for (auto& t : l.inputs) r = std::max(r, t.shape.size());
  if (r > (size_t)kMaxRank || l.out(0).shape.size() != r) return false;
  for (size_t i = 0; i < r; ++i) {
    int64_t d = 1;
    bool zero = false;
    for (auto& t : l.inputs) {
      int j = (int)i - (int)(r - t.shape.size());
      if (j < 0) continue;
      int64_t s = t.shape[j];
      if (s == 0) zero = true;
      if (s == 1) continue;
      if (d != 1 && d != s) return false;
      d = s;
    }
    if (zero) {
      for (auto& t : l.inputs) {
        int j = (int)i - (int)(r - t.shape.size());
        if (j >= 0 && t.shape[j] != 0 && t.shape[j] != 1) return false;
      }
      d = 0;
    }
    if (l.out(0).shape[i] != d) return false;
  }
  return true;
}

bool same_in_dtype(const Layer& l) {
  for (auto& t : l.inputs) if (t.dtype != l.in(0).dtype) return false;
  return true;
}

bool arith_dtype(DType t) { return is_numeric(t); }

// ---- registration ----------------------------------------------------------------

template <class Op>
void reg_arith(const char* op, Op fn) {
  Registry::get().add(std::make_unique<LambdaRoutine>(
      op, "cpu/broadcast",
      [](const Layer& l) {
        return l.inputs.size() == 2 && bcast_shape_ok(l, 2) && same_in_dtype(l) && arith_dtype(l.in(0).dtype) &&
               l.out(0).dtype == l.in(0).dtype;
      },
      [fn](const Layer& l) -> std::unique_ptr<Kernel> {
        std::unique_ptr<Kernel> k;
        SNEP_EW_DISPATCH(l.in(0).dtype, T, k = (make_binary<T, T, T>(l, fn)));
        return k;
      }));
}

template <class Op>
void reg_cmp(const char* op, Op fn, bool allow_bool) {
  Registry::get().add(std::make_unique<LambdaRoutine>(
      op, "cpu/broadcast",
      [allow_bool](const Layer& l) {
        DType t = l.in(0).dtype;
        return l.inputs.size() == 2 && bcast_shape_ok(l, 2) && same_in_dtype(l) &&
               (is_numeric(t) || (allow_bool && t == DType::Bool)) && l.out(0).dtype == DType::Bool;
      },
      [fn](const Layer& l) -> std::unique_ptr<Kernel> {
        std::unique_ptr<Kernel> k;
        SNEP_EW_DISPATCH(l.in(0).dtype, T, k = (make_binary<T, T, bool>(l, fn)));
        return k;
      }));
}

template <class Op>
void reg_logic(const char* op, Op fn) {
  Registry::get().add(std::make_unique<LambdaRoutine>(
      op, "cpu/broadcast",
      [](const Layer& l) {
        return l.inputs.size() == 2 && bcast_shape_ok(l, 2) && l.in(0).dtype == DType::Bool &&
               l.in(1).dtype == DType::Bool && l.out(0).dtype == DType::Bool;
      },
      [fn](const Layer& l) -> std::unique_ptr<Kernel> { return make_binary<bool, bool, bool>(l, fn); }));
}

template <class Op>
void reg_variadic(const char* op, Op fn, bool float_only, bool mean) {
  Registry::get().add(std::make_unique<LambdaRoutine>(
      op, "cpu/broadcast",
      [float_only](const Layer& l) {
        DType t = l.in(0).dtype;
        return !l.inputs.empty() && bcast_shape_ok(l, 1) && same_in_dtype(l) && l.out(0).dtype == t &&
               (float_only ? is_float(t) : is_numeric(t));
      },
      [fn, mean](const Layer& l) -> std::unique_ptr<Kernel> {
        std::unique_ptr<Kernel> k;
        SNEP_EW_DISPATCH(l.in(0).dtype, T, k = (make_variadic<T>(l, fn, mean)));
        return k;
      }));
}

bool pow_base(DType t) {
  return is_float(t) || t == DType::Int32 || t == DType::Int64;
}

// Exponent value when it is a plan-time scalar constant (for x*x, x*x*x).
bool const_scalar_exponent(const TensorInfo& e, double* v) {
  if (!e.const_data || e.numel() != 1) return false;
  switch (e.dtype) {
    case DType::Float32: *v = *e.cdata<float>(); return true;
    case DType::Float64: *v = *e.cdata<double>(); return true;
    case DType::Int32: *v = *e.cdata<int32_t>(); return true;
    case DType::Int64: *v = (double)*e.cdata<int64_t>(); return true;
    default: return false;
  }
}

template <class TA>
std::unique_ptr<Kernel> pow_prepare_base(const Layer& l) {
  std::unique_ptr<Kernel> k;
  double ev = 0;
  bool cs = const_scalar_exponent(l.in(1), &ev);
  SNEP_EW_DISPATCH(l.in(1).dtype, TB, {
    if constexpr (!std::is_same_v<TB, bool>) {
      if (cs && ev == 2) k = make_binary<TA, TB, TA>(l, PowSq{});
      else if (cs && ev == 3) k = make_binary<TA, TB, TA>(l, PowCube{});
      else if (cs && ev == 1) k = make_binary<TA, TB, TA>(l, PowOne{});
      else k = make_binary<TA, TB, TA>(l, PowOp{});
    }
  });
  return k;
}

const bool registered = [] {
  reg_arith("Add", AddOp{});
  reg_arith("Sub", SubOp{});
  reg_arith("Mul", MulOp{});
  reg_arith("Div", DivOp{});
  reg_variadic("Max", MaxOp{}, false, false);
  reg_variadic("Min", MinOp{}, false, false);
  reg_variadic("Sum", AddOp{}, true, false);
  reg_variadic("Mean", AddOp{}, true, true);
  reg_cmp("Equal", EqOp{}, true);
  reg_cmp("Less", LtOp{}, false);
  reg_cmp("Greater", GtOp{}, false);
  reg_cmp("LessOrEqual", LeOp{}, false);
  reg_cmp("GreaterOrEqual", GeOp{}, false);
  reg_logic("And", AndOp{});
  reg_logic("Or", OrOp{});
  reg_logic("Xor", XorOp{});

  Registry::get().add(std::make_unique<LambdaRoutine>(
      "Mod", "cpu/broadcast",
      [](const Layer& l) {
        DType t = l.in(0).dtype;
        bool fm = l.attrs.get_int("fmod", 0) != 0;
        (void)fm;
        return l.inputs.size() == 2 && bcast_shape_ok(l, 2) && same_in_dtype(l) && l.out(0).dtype == t &&
               (is_int(t) || is_float(t));
      },
      [](const Layer& l) -> std::unique_ptr<Kernel> {
        std::unique_ptr<Kernel> k;
        ModOp op{l.attrs.get_int("fmod", 0) != 0};
        SNEP_EW_DISPATCH(l.in(0).dtype, T, {
          if constexpr (!std::is_same_v<T, bool>) k = make_binary<T, T, T>(l, op);
        });
        return k;
      }));

  Registry::get().add(std::make_unique<LambdaRoutine>(
      "BitShift", "cpu/broadcast",
      [](const Layer& l) {
        DType t = l.in(0).dtype;
        std::string d = l.attrs.get_string("direction", "");
        return l.inputs.size() == 2 && bcast_shape_ok(l, 2) && same_in_dtype(l) && l.out(0).dtype == t &&
               is_int(t) && (d == "LEFT" || d == "RIGHT");
      },
      [](const Layer& l) -> std::unique_ptr<Kernel> {
        std::unique_ptr<Kernel> k;
        bool left = l.attrs.get_string("direction", "") == "LEFT";
        SNEP_EW_DISPATCH(l.in(0).dtype, T, {
          if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
            k = left ? make_binary<T, T, T>(l, ShlOp{}) : make_binary<T, T, T>(l, ShrOp{});
        });
        return k;
      }));

  Registry::get().add(std::make_unique<LambdaRoutine>(
      "Pow", "cpu/broadcast",
      [](const Layer& l) {
        return l.inputs.size() == 2 && bcast_shape_ok(l, 2) && pow_base(l.in(0).dtype) &&
               is_numeric(l.in(1).dtype) && l.out(0).dtype == l.in(0).dtype;
      },
      [](const Layer& l) -> std::unique_ptr<Kernel> {
        switch (l.in(0).dtype) {
          case DType::Float32: return pow_prepare_base<float>(l);
          case DType::Float64: return pow_prepare_base<double>(l);
          case DType::Float16: return pow_prepare_base<f16>(l);
          case DType::Int32: return pow_prepare_base<int32_t>(l);
          default: return pow_prepare_base<int64_t>(l);
        }
      }));

  // PRelu: slope broadcasts (unidirectionally) to X.
  Registry::get().add(std::make_unique<LambdaRoutine>(
      "PRelu", "cpu/broadcast",
      [](const Layer& l) {
        DType t = l.in(0).dtype;
        return l.inputs.size() == 2 && bcast_shape_ok(l, 2) && same_in_dtype(l) && l.out(0).dtype == t &&
               l.out(0).shape == l.in(0).shape &&
               (is_float(t) || t == DType::Int32 || t == DType::Int64);
      },
      [](const Layer& l) -> std::unique_ptr<Kernel> {
        std::unique_ptr<Kernel> k;
        SNEP_EW_DISPATCH(l.in(0).dtype, T, {
          if constexpr (!std::is_same_v<T, bool>) k = make_binary<T, T, T>(l, PReluOp{});
        });
        return k;
      }));
  return true;
}();

// ---- Where ---------------------------------------------------------------------

template <class T>
std::unique_ptr<Kernel> make_where(const Layer& l) {
  auto bc = std::make_shared<Bcast>();
  bc->init({&l.in(0).shape, &l.in(1).shape, &l.in(2).shape}, l.out(0).shape);
  return std::make_unique<FnKernel>([bc](const RunArgs& a) {
    const bool* c = static_cast<const bool*>(a.in[0]);
    const T* x = static_cast<const T*>(a.in[1]);
    const T* y = static_cast<const T*>(a.in[2]);
    T* o = static_cast<T*>(a.out[0]);
    const int64_t sc = bc->inner_st[0], sx = bc->inner_st[1], sy = bc->inner_st[2];
    bc->for_rows(a.pool, [&](int64_t oo, const int64_t* off, int64_t n) {
      const bool* pc = c + off[0];
      const T* px = x + off[1];
      const T* py = y + off[2];
      T* po = o + oo;
      if (sc && sx && sy) {
        for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? px[i] : py[i];
      } else if (sc && !sx && !sy) {
        const T vx = px[0], vy = py[0];
        for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? vx : vy;
      } else if (!sc) {
        if (pc[0]) { for (int64_t i = 0; i < n; ++i) po[i] = px[i * sx]; }
        else { for (int64_t i = 0; i < n; ++i) po[i] = py[i * sy]; }
      } else {
        for (int64_t i = 0; i < n; ++i) po[i] = pc[i * sc] ? px[i * sx] : py[i * sy];
      }
    });
  });
}

SNEP_REGISTER_LAMBDA(
    "Where", "cpu/broadcast",
    [](const Layer& l) {
      return l.inputs.size() == 3 && bcast_shape_ok(l, 3) && l.in(0).dtype == DType::Bool &&
             l.in(1).dtype == l.in(2).dtype && l.out(0).dtype == l.in(1).dtype && dtype_size(l.in(1).dtype) > 0 &&
             l.in(1).dtype != DType::String;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      switch (dtype_size(l.in(1).dtype)) {
        case 1: return make_where<uint8_t>(l);
        case 2: return make_where<uint16_t>(l);
        case 4: return make_where<uint32_t>(l);
        default: return make_where<uint64_t>(l);
      }
    });

}  // namespace
}  // namespace snep
