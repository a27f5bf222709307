// Cast and CastLike between float32/float64/float16, the integer types and
// bool. Float -> integer truncates toward zero; out-of-range values and
// NaN/inf follow onnxruntime on x86-64 (through int32 for the <= 32-bit
// types: INT_MIN, then the low bits; int64 and the unsigned types as the
// compiler's cvtt sequences produce them).
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

template <class F> inline int32_t f_to_i32(F x) {
  return (x >= (F)-2147483648.0 && x < (F)2147483648.0) ? (int32_t)x : std::numeric_limits<int32_t>::min();
}
template <class F> inline int64_t f_to_i64(F x) {
  return (x >= (F)-9223372036854775808.0 && x < (F)9223372036854775808.0) ? (int64_t)x
                                                                             : std::numeric_limits<int64_t>::min();
}

template <class TO, class TI> inline TO conv(TI in) {
  using CI = CT<TI>;
  CI x = Num<TI>::ld(in);
  if constexpr (std::is_same_v<TO, bool>) {
    return x != CI(0);
  } else if constexpr (std::is_same_v<TO, f16>) {
    return f16{f2h((float)x)};
  } else if constexpr (std::is_floating_point_v<TO>) {
    return (TO)x;
  } else if constexpr (std::is_floating_point_v<CI>) {
    if constexpr (std::is_same_v<TO, int64_t>) return f_to_i64(x);
    else if constexpr (std::is_same_v<TO, uint64_t>)
      return x >= (CI)9223372036854775808.0 ? (uint64_t)f_to_i64(x - (CI)9223372036854775808.0) ^ (1ull << 63)
                                            : (uint64_t)f_to_i64(x);
    else if constexpr (std::is_same_v<TO, uint32_t>)
      return x >= (CI)2147483648.0 ? (uint32_t)f_to_i32(x - (CI)2147483648.0) ^ 0x80000000u : (uint32_t)f_to_i32(x);
    else return (TO)f_to_i32(x);
  } else {
    return (TO)x;
  }
}

template <class TI, class TO>
std::unique_ptr<Kernel> make_cast(int64_t n) {
  return std::make_unique<FnKernel>([n](const RunArgs& a) {
    const TI* x = static_cast<const TI*>(a.in[0]);
    TO* y = static_cast<TO*>(a.out[0]);
    if constexpr (std::is_same_v<TI, TO>) {
      if ((const void*)x != (void*)y && n) std::memcpy(y, x, (size_t)n * sizeof(TI));
    } else {
      par_for(a.pool, n, 1 << 16, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = conv<TO>(x[i]);
      });
    }
  });
}

bool cast_type(DType t) { return is_numeric(t) || t == DType::Bool; }

std::unique_ptr<Kernel> cast_prepare(const Layer& l) {
  int64_t n = l.in(0).numel();
  std::unique_ptr<Kernel> k;
  SNEP_EW_DISPATCH(l.in(0).dtype, TI, {
    SNEP_EW_DISPATCH(l.out(0).dtype, TO, k = (make_cast<TI, TO>(n)));
  });
  return k;
}

SNEP_REGISTER_LAMBDA(
    "Cast", "cpu/direct",
    [](const Layer& l) {
      return l.inputs.size() == 1 && l.in(0).present && l.outputs.size() == 1 && cast_type(l.in(0).dtype) &&
             cast_type(l.out(0).dtype) && l.attrs.get_int("to", -1) == (int64_t)l.out(0).dtype &&
             l.in(0).shape == l.out(0).shape;
    },
    cast_prepare);

SNEP_REGISTER_LAMBDA(
    "CastLike", "cpu/direct",
    [](const Layer& l) {
      return l.inputs.size() == 2 && l.in(0).present && l.outputs.size() == 1 && cast_type(l.in(0).dtype) &&
             l.out(0).dtype == l.in(1).dtype && cast_type(l.out(0).dtype) && l.in(0).shape == l.out(0).shape;
    },
    cast_prepare);

}  // namespace
}  // namespace snep
