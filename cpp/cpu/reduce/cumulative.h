// CumSum and CumProd: a running fold along one axis (exclusive, reverse), the
// axis read from input 1 at run time. Shared so both ops stay one loop.
#pragma once
#include <algorithm>
#include <memory>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace ew {

template <class T, class Fold>
std::unique_ptr<Kernel> make_cumulative(const Layer& l, const char* op, CT<T> init, Fold fold) {
  auto shape = l.in(0).shape;
  bool excl = l.attrs.get_int("exclusive", 0) != 0, rev = l.attrs.get_int("reverse", 0) != 0;
  DType adt = l.in(1).dtype;
  std::string name = op;
  return std::make_unique<FnKernel>([shape, excl, rev, adt, init, fold, name](const RunArgs& a) {
    int r = (int)shape.size();
    int64_t ax = adt == DType::Int32 ? *static_cast<const int32_t*>(a.in[1]) : *static_cast<const int64_t*>(a.in[1]);
    if (ax < -r || ax >= r) throw InvalidArgumentError(name + ": axis out of range");
    int axi = norm_axis(ax, r);
    int64_t outer = prod(shape, 0, axi), n = shape[axi], inner = prod(shape, axi + 1);
    const T* x = static_cast<const T*>(a.in[0]);
    T* y = static_cast<T*>(a.out[0]);
    using C = CT<T>;
    par_for(a.pool, outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n * inner)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* xp = x + o * n * inner;
        T* yp = y + o * n * inner;
        for (int64_t i = 0; i < inner; ++i) {
          C acc = init;
          for (int64_t jj = 0; jj < n; ++jj) {
            int64_t j = rev ? n - 1 - jj : jj;
            C v = Num<T>::ld(xp[j * inner + i]);
            if (excl) { yp[j * inner + i] = Num<T>::st(acc); acc = (C)fold(acc, v); }
            else { acc = (C)fold(acc, v); yp[j * inner + i] = Num<T>::st(acc); }
          }
        }
      }
    });
  });
}

}  // namespace ew
}  // namespace snep
