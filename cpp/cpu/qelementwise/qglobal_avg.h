// The int8 global average of NCHW planes as onnxruntime's MLAS computes it, shared by
// QLinearGlobalAveragePool and QLinearAveragePool (whose whole-plane windows take this path):
//   y = saturate(nearbyint(float(sum(x) - zx * HW) * float32(sx / (sy * HW))) + zy)
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace qpool {

template <class T>
void global_avg_planes(ThreadPool* pool, const T* x, T* y, int64_t planes, int64_t hw, float sx, float sy, int32_t zx,
                       int32_t zy) {
  constexpr int32_t qmin = std::numeric_limits<T>::lowest(), qmax = std::numeric_limits<T>::max();
  const float scale = sx / (sy * (float)hw);
  ew::par_for(pool, planes, 64, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const T* xp = x + pl * hw;
      int32_t acc = 0;
      for (int64_t i = 0; i < hw; ++i) acc += (int32_t)xp[i];
      acc -= zx * (int32_t)hw;
      const int32_t q = (int32_t)std::nearbyint((float)acc * scale) + zy;
      y[pl] = (T)std::min(std::max(q, qmin), qmax);
    }
  });
}

}  // namespace qpool
}  // namespace snep
