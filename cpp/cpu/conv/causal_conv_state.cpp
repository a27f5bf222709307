// CausalConvWithState (opset 27): depthwise causal 1-D convolution over
// [past_state | input] (past_state (B, C, k-1), zeros when absent), weight
// (C, 1, k), optional bias (C), optional fused SiLU ("silu" / "swish");
// present_state is the last k-1 positions of [past_state | input].
// float32 / float16 (float16 accumulated in float, rounded before the SiLU as
// onnx's reference does).
#include <cmath>
#include <cstring>
#include <memory>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

bool ccs_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 4 || l.outputs.empty() || l.outputs.size() > 2) return false;
  const DType t = l.in(0).dtype;
  if (t != DType::Float32 && t != DType::Float16) return false;
  for (size_t k = 1; k < l.inputs.size(); ++k) if (l.has_input(k) && l.in(k).dtype != t) return false;
  for (auto& o : l.outputs) if (o.dtype != t) return false;
  const std::string act = l.attrs.get_string("activation", "none");
  if (act != "none" && act != "silu" && act != "swish")
    throw InvalidArgumentError(l.where() + ": unknown activation '" + act + "'");
  const auto &xs = l.in(0).shape, &ws = l.in(1).shape;
  if (xs.size() != 3 || ws.size() != 3) return false;
  const int64_t B = xs[0], C = xs[1], K = ws[2];
  if (ws[0] != C || ws[1] != 1 || K < 1) return false;
  if (l.has_input(2) && l.in(2).shape != std::vector<int64_t>{C}) return false;
  if (l.has_input(3) && l.in(3).shape != std::vector<int64_t>{B, C, K - 1}) return false;
  if (l.out(0).shape != xs) return false;
  if (l.outputs.size() > 1 && l.out(1).shape != std::vector<int64_t>{B, C, K - 1}) return false;
  return true;
}

template <class T>
std::unique_ptr<Kernel> make_ccs(const Layer& l) {
  const int64_t B = l.in(0).shape[0], C = l.in(0).shape[1], L = l.in(0).shape[2], K = l.in(1).shape[2];
  const bool silu = l.attrs.get_string("activation", "none") != "none";
  const bool has_bias = l.has_input(2), has_past = l.has_input(3), out_state = l.outputs.size() > 1;
  const size_t ws = sizeof(float) * (size_t)(B * C) * (size_t)(L + K - 1) + 64;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    const T* w = static_cast<const T*>(a.in[1]);
    const T* bias = has_bias ? static_cast<const T*>(a.in[2]) : nullptr;
    const T* past = has_past ? static_cast<const T*>(a.in[3]) : nullptr;
    T* y = static_cast<T*>(a.out[0]);
    T* ps = out_state ? static_cast<T*>(a.out[1]) : nullptr;
    const int64_t P = L + K - 1;
    par_for(a.pool, B * C, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, L * K)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % C;
        float* pad = static_cast<float*>(a.workspace) + r * P;
        for (int64_t j = 0; j < K - 1; ++j) pad[j] = past ? Num<T>::ld(past[r * (K - 1) + j]) : 0.f;
        for (int64_t j = 0; j < L; ++j) pad[K - 1 + j] = Num<T>::ld(x[r * L + j]);
        const T* wr = w + c * K;
        const float b0 = bias ? Num<T>::ld(bias[c]) : 0.f;
        for (int64_t i = 0; i < L; ++i) {
          float s = 0.f;
          for (int64_t j = 0; j < K; ++j) s += pad[i + j] * Num<T>::ld(wr[j]);
          s = Num<T>::ld(Num<T>::st(s + b0));
          if (silu) s = s / (1.f + std::exp(-s));
          y[r * L + i] = Num<T>::st(s);
        }
        if (ps) {
          // copied from the sources, not through float: bit-exact state
          for (int64_t j = 0; j < K - 1; ++j) {
            const int64_t src = L + j;  // index into [past | x] of the last K-1 positions
            ps[r * (K - 1) + j] = src < K - 1 ? past ? past[r * (K - 1) + src] : Num<T>::st(0.f)
                                              : x[r * L + src - (K - 1)];
          }
        }
      }
    });
  }, ws);
}

const bool reg_ccs = (reg("CausalConvWithState", "cpu/direct", ccs_supports,
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      if (l.in(0).dtype == DType::Float16) return make_ccs<f16>(l);
      return make_ccs<float>(l);
    }), true);

}  // namespace
}  // namespace snep
