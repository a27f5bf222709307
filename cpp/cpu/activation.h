// Activations fused into Conv/Gemm/MatMul epilogues (attrs "activation" and
// "activation_params", set by graph_passes/fuse.py) and used by the
// standalone activation routines, so both compute the same function.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>

#include "core/attrs.h"
#include "core/errors.h"

namespace snep {

// Gelu / GeluTanh (ONNX Gelu, approximate "none" / "tanh") are fused into MatMul and Gemm
// only (fuse.py), whose epilogues compute them through apply(); routines with their own
// activation code reject them (gemm::activation_supported).
enum class Act { None, Relu, Clip, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Tanh, Gelu, GeluTanh };

struct Activation {
  Act kind = Act::None;
  float a = 0, b = 0;  // Clip: min,max  LeakyRelu: alpha  HardSigmoid: alpha,beta

  static Activation from_attrs(const Attrs& attrs) {
    Activation act;
    std::string k = attrs.get_string("activation", "");
    auto p = attrs.get_floats("activation_params");
    auto param = [&](size_t i, double d) { return (float)(i < p.size() ? p[i] : d); };
    if (k.empty()) act.kind = Act::None;
    else if (k == "Relu") act.kind = Act::Relu;
    else if (k == "Clip") { act.kind = Act::Clip; act.a = param(0, -INFINITY); act.b = param(1, INFINITY); }
    else if (k == "Sigmoid") act.kind = Act::Sigmoid;
    else if (k == "HardSigmoid") { act.kind = Act::HardSigmoid; act.a = param(0, 0.2); act.b = param(1, 0.5); }
    else if (k == "HardSwish") act.kind = Act::HardSwish;
    else if (k == "LeakyRelu") { act.kind = Act::LeakyRelu; act.a = param(0, 0.01); }
    else if (k == "Tanh") act.kind = Act::Tanh;
    else if (k == "Gelu") act.kind = Act::Gelu;
    else if (k == "GeluTanh") act.kind = Act::GeluTanh;
    else throw NotImplementedError("fused activation " + k + " is not supported");
    return act;
  }

  inline float operator()(float x) const {
    switch (kind) {
      case Act::None: return x;
      case Act::Relu: return x < 0.f ? 0.f : x;  // NaN stays NaN (as onnxruntime), here and below
      case Act::Clip: return std::min(std::max(x, a), b);
      case Act::Sigmoid: return 1.f / (1.f + std::exp(-x));
      case Act::HardSigmoid: return std::max(std::min(a * x + b, 1.f), 0.f);
      case Act::HardSwish: return x * std::max(std::min(x * (1.f / 6.f) + 0.5f, 1.f), 0.f);
      case Act::LeakyRelu: return x >= 0.f ? x : a * x;
      case Act::Tanh: return std::tanh(x);
      case Act::Gelu: return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f));
      case Act::GeluTanh: return 0.5f * x * (1.f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    }
    return x;
  }

  // Applies in place to n contiguous floats; the switch is outside the loop so
  // each case vectorises.
  // (libm for Sigmoid, Tanh, Gelu: callers with a vector build of these use it first, see sgemm.cpp)
  void apply(float* x, int64_t n) const {
    switch (kind) {
      case Act::None: return;
      case Act::Relu: for (int64_t i = 0; i < n; ++i) x[i] = x[i] < 0.f ? 0.f : x[i]; return;
      case Act::Clip: for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], a), b); return;
      case Act::HardSigmoid: for (int64_t i = 0; i < n; ++i) x[i] = std::max(std::min(a * x[i] + b, 1.f), 0.f); return;
      case Act::HardSwish:
        for (int64_t i = 0; i < n; ++i) x[i] = x[i] * std::max(std::min(x[i] * (1.f / 6.f) + 0.5f, 1.f), 0.f);
        return;
      case Act::LeakyRelu: for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= 0.f ? x[i] : a * x[i]; return;
      default: for (int64_t i = 0; i < n; ++i) x[i] = (*this)(x[i]); return;
    }
  }
};

}  // namespace snep
