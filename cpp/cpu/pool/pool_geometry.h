// One spatial dimension of a pooling window: resolves auto_pad into begin/end
// pads and checks the planned output size. Accepts the ONNX spec's count and
// onnxruntime's where they differ (kernel larger than the padded input, VALID
// with ceil_mode). Shared by the plain and blocked-layout pooling routines.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace snep {

inline bool pool_dim(int64_t n, int64_t o, int64_t k, int64_t s, int64_t d, const std::string& auto_pad,
                     bool ceil_mode, int64_t* pb, int64_t* pe) {
  if (k < 1 || s < 1 || d < 1 || *pb < 0 || *pe < 0) return false;
  int64_t ek = (k - 1) * d + 1;
  int64_t want, want2 = -1;
  if (auto_pad == "NOTSET" || auto_pad == "VALID") {
    if (auto_pad == "VALID") *pb = *pe = 0;
    int64_t span = n + *pb + *pe - ek;
    auto fdiv = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
    want = (ceil_mode ? -fdiv(-span, s) : fdiv(span, s)) + 1;
    // ceil_mode: the last window must start inside the input or left pad
    if (ceil_mode && want > 0 && (want - 1) * s >= n + *pb) --want;
    want = std::max<int64_t>(want, 0);
    want2 = ceil_mode ? (int64_t)std::ceil((double)span / (double)s) + 1 : span / s + 1;
    if (auto_pad == "VALID") want2 = n >= ek ? (n - ek) / s + 1 : 0;
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    want = (n + s - 1) / s;
    int64_t total = std::max<int64_t>(0, (want - 1) * s + ek - n);
    *pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    *pe = total - *pb;
  } else {
    return false;
  }
  return o == want || o == want2;
}

}  // namespace snep
