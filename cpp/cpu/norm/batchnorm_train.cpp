// BatchNormalization with training_mode=1 (opset 14/15): Y normalised with the
// batch statistics (mean and population variance over every axis but 1);
// optional outputs running_mean = mean_in * momentum + batch_mean * (1 - momentum)
// and running_var likewise with the batch variance. float32/float64/float16
// (statistics in double).
#include <cmath>
#include <memory>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

bool bnt_supports(const Layer& l) {
  if (l.inputs.size() != 5 || l.outputs.empty() || l.outputs.size() > 3 || l.in(0).rank() < 2) return false;
  if (l.attrs.get_int("training_mode", 0) != 1 || l.attrs.get_int("_opset", 14) < 14) return false;
  const DType t = l.in(0).dtype;
  if (!is_float(t)) return false;
  const int64_t C = l.in(0).shape[1];
  for (int k = 1; k <= 4; ++k) if (!l.in(k).present || l.in(k).dtype != t || l.in(k).numel() != C) return false;
  if (l.out(0).dtype != t || l.out(0).shape != l.in(0).shape) return false;
  for (size_t k = 1; k < l.outputs.size(); ++k) if (l.out(k).dtype != t || l.out(k).numel() != C) return false;
  return true;
}

template <class T>
std::unique_ptr<Kernel> make_bnt(const Layer& l) {
  const auto& s = l.in(0).shape;
  const int64_t N = s[0], C = s[1], inner = prod(s, 2);
  const double eps = l.attrs.get_float("epsilon", 1e-5), mom = l.attrs.get_float("momentum", 0.9);
  const size_t nout = l.outputs.size();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    const T* sc = static_cast<const T*>(a.in[1]);
    const T* bi = static_cast<const T*>(a.in[2]);
    const T* rm = static_cast<const T*>(a.in[3]);
    const T* rv = static_cast<const T*>(a.in[4]);
    T* y = static_cast<T*>(a.out[0]);
    T* om = nout > 1 ? static_cast<T*>(a.out[1]) : nullptr;
    T* ov = nout > 2 ? static_cast<T*>(a.out[2]) : nullptr;
    par_for(a.pool, C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const double cnt = (double)(N * inner);
        double m = 0, v = 0;
        for (int64_t n = 0; n < N; ++n) {
          const T* xp = x + (n * C + c) * inner;
          for (int64_t i = 0; i < inner; ++i) m += (double)Num<T>::ld(xp[i]);
        }
        m /= cnt;
        for (int64_t n = 0; n < N; ++n) {
          const T* xp = x + (n * C + c) * inner;
          for (int64_t i = 0; i < inner; ++i) { const double d = (double)Num<T>::ld(xp[i]) - m; v += d * d; }
        }
        v /= cnt;
        const double al = (double)Num<T>::ld(sc[c]) / std::sqrt(v + eps), be = (double)Num<T>::ld(bi[c]);
        for (int64_t n = 0; n < N; ++n) {
          const T* xp = x + (n * C + c) * inner;
          T* yp = y + (n * C + c) * inner;
          for (int64_t i = 0; i < inner; ++i) yp[i] = Num<T>::st((CT<T>)(((double)Num<T>::ld(xp[i]) - m) * al + be));
        }
        if (om) om[c] = Num<T>::st((CT<T>)((double)Num<T>::ld(rm[c]) * mom + m * (1 - mom)));
        if (ov) ov[c] = Num<T>::st((CT<T>)((double)Num<T>::ld(rv[c]) * mom + v * (1 - mom)));
      }
    });
  });
}

const bool reg_bnt = (reg("BatchNormalization", "cpu/training", bnt_supports,
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = make_bnt<T>(l));
      return k;
    }), true);

}  // namespace
}  // namespace snep
