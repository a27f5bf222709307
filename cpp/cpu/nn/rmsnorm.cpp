// RMSNormalization (opset 23): Y = X / sqrt(mean(X^2 over dims >= axis) + eps) * scale,
// scale broadcast (numpy rules) to the normalised dims. float32/float64/float16
// (float16 computed in float), mean of squares accumulated in double.
#include <cmath>
#include <memory>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

bool rms_supports(const Layer& l) {
  if (l.inputs.size() != 2 || l.outputs.size() != 1) return false;
  DType t = l.in(0).dtype;
  if (!is_float(t) || l.in(1).dtype != t || l.out(0).dtype != t || l.out(0).shape != l.in(0).shape) return false;
  if (l.attrs.get_int("stash_type", 1) != 1) return false;
  const auto& s = l.in(0).shape;
  int r = (int)s.size();
  int64_t ax = l.attrs.get_int("axis", -1);
  if (r < 1 || ax < -r || ax >= r) return false;
  int a = norm_axis(ax, r);
  std::vector<int64_t> sc = l.in(1).shape;
  while (!sc.empty() && sc.front() == 1 && (int)sc.size() > r - a) sc.erase(sc.begin());
  if ((int)sc.size() > r - a) return false;
  for (size_t i = 0; i < sc.size(); ++i) {
    int64_t d = s[r - sc.size() + i];
    if (sc[i] != 1 && sc[i] != d) return false;
  }
  return true;
}

template <class T>
std::unique_ptr<Kernel> make_rms(const Layer& l) {
  const auto& s = l.in(0).shape;
  int r = (int)s.size();
  int a = norm_axis(l.attrs.get_int("axis", -1), r);
  const int64_t rows = prod(s, 0, a), D = prod(s, a);
  const double eps = l.attrs.get_float("epsilon", 1e-5);
  // scale offset of each normalised element
  std::vector<int64_t> norm(s.begin() + a, s.end());
  std::vector<int64_t> st = broadcast_strides(l.in(1).shape.size() > norm.size()
      ? std::vector<int64_t>(l.in(1).shape.end() - norm.size(), l.in(1).shape.end()) : l.in(1).shape, norm);
  auto idx = std::make_shared<std::vector<int64_t>>(D);
  for (int64_t e = 0; e < D; ++e) {
    int64_t rem = e, off = 0;
    for (int d = (int)norm.size() - 1; d >= 0; --d) { off += (rem % norm[d]) * st[d]; rem /= norm[d]; }
    (*idx)[e] = off;
  }
  return std::make_unique<FnKernel>([=](const RunArgs& ar) {
    const T* x = static_cast<const T*>(ar.in[0]);
    const T* sc = static_cast<const T*>(ar.in[1]);
    T* y = static_cast<T*>(ar.out[0]);
    const int64_t* ix = idx->data();
    par_for(ar.pool, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, D)), [&](int64_t b, int64_t e) {
      for (int64_t rr = b; rr < e; ++rr) {
        const T* xr = x + rr * D;
        T* yr = y + rr * D;
        double ss = 0;
        for (int64_t i = 0; i < D; ++i) { double v = (double)Num<T>::ld(xr[i]); ss += v * v; }
        using C = CT<T>;
        C inv = (C)(1.0 / std::sqrt(ss / (double)D + eps));
        for (int64_t i = 0; i < D; ++i) yr[i] = Num<T>::st(Num<T>::ld(xr[i]) * inv * Num<T>::ld(sc[ix[i]]));
      }
    });
  });
}

const bool reg_rms = (reg("RMSNormalization", "cpu/direct", rms_supports,
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = make_rms<T>(l));
      return k;
    }), true);

}  // namespace
}  // namespace snep
