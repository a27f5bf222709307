// Softmax, LogSoftmax, Hardmax over float64 (computed in double) and float16
// (computed in float), same axis rules as softmax.cpp: before opset 13 the
// input is flattened to 2-D at `axis` (default 1), from 13 along `axis`
// (default -1). Plain strided loops, one (outer, inner) lane per task.
// float16 Softmax rounds to float16 after each step, as onnx's reference does.
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

int64_t smfp_default_axis(const Layer& l) { return l.attrs.get_int("_opset", 13) < 13 ? 1 : -1; }

template <DType DT>
bool smfp_supports(const Layer& l) {
  if (l.inputs.size() != 1 || l.outputs.size() != 1 || l.out(0).shape != l.in(0).shape) return false;
  if (l.in(0).dtype != DT || l.out(0).dtype != DT) return false;
  const int r = l.in(0).rank();
  const int64_t ax = l.attrs.get_int("axis", smfp_default_axis(l));
  return r > 0 && ax >= -r && ax < r;
}

template <class T>
std::unique_ptr<Kernel> make_smfp(const Layer& l) {
  const auto& s = l.in(0).shape;
  const int ax = norm_axis(l.attrs.get_int("axis", smfp_default_axis(l)), (int)s.size());
  int64_t outer = prod(s, 0, ax), n, inner;
  if (l.attrs.get_int("_opset", 13) < 13) { n = prod(s, ax); inner = 1; }
  else { n = s[ax]; inner = prod(s, ax + 1); }
  const int mode = l.op == "Softmax" ? 0 : (l.op == "LogSoftmax" ? 1 : 2);
  const int64_t lanes = n == 0 ? 0 : outer * inner;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    using C = CT<T>;
    const T* x = static_cast<const T*>(a.in[0]);
    T* y = static_cast<T*>(a.out[0]);
    par_for(a.pool, lanes, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, n)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t base = (t / inner) * n * inner + t % inner;
        const T* xr = x + base;
        T* yr = y + base;
        if (mode == 2) {
          int64_t bi = 0;
          C best = Num<T>::ld(xr[0]);
          for (int64_t i = 1; i < n; ++i) {
            C v = Num<T>::ld(xr[i * inner]);
            if (v > best) { best = v; bi = i; }
          }
          for (int64_t i = 0; i < n; ++i) yr[i * inner] = Num<T>::st(C(i == bi ? 1 : 0));
          continue;
        }
        C m = -std::numeric_limits<C>::infinity();
        for (int64_t i = 0; i < n; ++i) m = std::max(m, Num<T>::ld(xr[i * inner]));
        if (std::is_same_v<T, f16> && mode == 0) {
          // float16 rounds each step as onnx's reference (numpy in float16)
          // does: x - max, exp, the sum, the quotient
          C sum = 0;
          for (int64_t i = 0; i < n; ++i) {
            const C e = Num<T>::ld(Num<T>::st(std::exp(Num<T>::ld(Num<T>::st(Num<T>::ld(xr[i * inner]) - m)))));
            yr[i * inner] = Num<T>::st(e);
            sum += e;
          }
          const C s16 = Num<T>::ld(Num<T>::st(sum));
          for (int64_t i = 0; i < n; ++i) yr[i * inner] = Num<T>::st(Num<T>::ld(yr[i * inner]) / s16);
          continue;
        }
        C sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += std::exp(Num<T>::ld(xr[i * inner]) - m);
        if (mode == 0) {
          const C inv = C(1) / sum;
          for (int64_t i = 0; i < n; ++i) yr[i * inner] = Num<T>::st(std::exp(Num<T>::ld(xr[i * inner]) - m) * inv);
        } else {
          const C lse = std::log(sum) + m;
          for (int64_t i = 0; i < n; ++i) yr[i * inner] = Num<T>::st(Num<T>::ld(xr[i * inner]) - lse);
        }
      }
    });
  });
}

const bool reg_smfp = [] {
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    reg(op, "cpu:float64/direct", smfp_supports<DType::Float64>, make_smfp<double>);
    reg(op, "cpu:float16/direct", smfp_supports<DType::Float16>, make_smfp<f16>);
  }
  return true;
}();

}  // namespace
}  // namespace snep
