// Helpers shared by CPU routines: shape arithmetic and broadcasting.
#pragma once
#include <cstdint>
#include <vector>

#include "core/routine.h"

namespace snep {

inline int64_t prod(const std::vector<int64_t>& s, size_t b = 0, size_t e = (size_t)-1) {
  int64_t n = 1;
  if (e > s.size()) e = s.size();
  for (size_t i = b; i < e; ++i) n *= s[i];
  return n;
}

inline bool all_float32(const Layer& l) {
  for (auto& t : l.inputs) if (t.present && t.dtype != DType::Float32) return false;
  for (auto& t : l.outputs) if (t.dtype != DType::Float32) return false;
  return true;
}

// Strides (in elements) of `in` broadcast to the rank/shape of `out`: 0 on
// broadcast dimensions. Follows numpy/ONNX multidirectional broadcasting.
inline std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t s = 1;
  for (int i = (int)in.size() - 1, j = (int)out.size() - 1; i >= 0; --i, --j) {
    st[j] = in[i] == 1 ? 0 : s;
    s *= in[i];
  }
  return st;
}

}  // namespace snep
