// ai.onnx.ml ops on numeric tensors (strings are not a supported dtype):
//   Binarizer: y = x > threshold ? 1 : 0, in x's type (float32/float64/int32/int64).
//   ArrayFeatureExtractor: y[..., j] = x[..., idx[j]] over the last axis, idx
//   int64 flattened; a 1-D x gives a (1, k) output, as onnxruntime and onnx's
//   reference do.
#include <cstring>
#include <memory>
#include <type_traits>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

bool bin_type(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::Int32 || t == DType::Int64;
}

template <class T>
std::unique_ptr<Kernel> make_binarizer(const Layer& l) {
  // numpy's comparison: float x against the threshold in x's type, integers in double
  using Cmp = std::conditional_t<std::is_integral_v<T>, double, T>;
  const Cmp t = (Cmp)l.attrs.get_float("threshold", 0.0);
  const int64_t n = l.in(0).numel();
  return std::make_unique<FnKernel>([n, t](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    T* y = static_cast<T*>(a.out[0]);
    par_for(a.pool, n, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = (Cmp)x[i] > t ? T(1) : T(0);
    });
  });
}

const bool reg_binarizer = (reg("Binarizer", "cpu/direct",
    [](const Layer& l) {
      return l.inputs.size() == 1 && l.has_input(0) && l.outputs.size() == 1 && bin_type(l.in(0).dtype) &&
             l.out(0).dtype == l.in(0).dtype && l.out(0).shape == l.in(0).shape;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      switch (l.in(0).dtype) {
        case DType::Float64: return make_binarizer<double>(l);
        case DType::Int32: return make_binarizer<int32_t>(l);
        case DType::Int64: return make_binarizer<int64_t>(l);
        default: return make_binarizer<float>(l);
      }
    }), true);

bool afe_supports(const Layer& l) {
  if (l.inputs.size() != 2 || !l.has_input(0) || !l.has_input(1) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  if (!bin_type(x.dtype) || l.in(1).dtype != DType::Int64 || l.out(0).dtype != x.dtype || x.rank() < 1) return false;
  std::vector<int64_t> want = x.rank() == 1 ? std::vector<int64_t>{1} : std::vector<int64_t>(x.shape.begin(), x.shape.end() - 1);
  want.push_back(l.in(1).numel());
  return l.out(0).shape == want;
}

std::unique_ptr<Kernel> afe_prepare(const Layer& l) {
  const int64_t N = l.in(0).shape.back(), rows = N ? l.in(0).numel() / N : 0, k = l.in(1).numel();
  const size_t es = dtype_size(l.in(0).dtype);
  const std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const char* x = static_cast<const char*>(a.in[0]);
    const int64_t* idx = static_cast<const int64_t*>(a.in[1]);
    char* y = static_cast<char*>(a.out[0]);
    for (int64_t j = 0; j < k; ++j)
      if (idx[j] < 0 || idx[j] >= N) throw InvalidArgumentError(where + ": index out of range");
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < k; ++j)
        std::memcpy(y + es * (size_t)(r * k + j), x + es * (size_t)(r * N + idx[j]), es);
  });
}

const bool reg_afe = (reg("ArrayFeatureExtractor", "cpu/direct", afe_supports, afe_prepare), true);

}  // namespace
}  // namespace snep
