// Vectorisable float32 math (exp, erf, tanh, sigmoid, GELU) written as plain
// branch-free C++ so the compiler vectorises loops over them at whatever ISA
// the including file is built for. Internal linkage only: the AVX-512 build
// (unary_avx512.cpp, softmax_avx512.cpp) and the baseline build never mix.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace snep {
namespace {
namespace vm {

// exp: Cephes range reduction and polynomial (about 1 ulp); 0 below -86.5,
// inf above 88.72283, NaN stays NaN.
static inline float exp(float x) {
  const float hi = 88.72283f, lo = -86.5f;
  float xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  float n = (xc * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  int32_t e = (int32_t)n + 126;
  uint32_t bits = (uint32_t)e << 23;
  float s;
  std::memcpy(&s, &bits, 4);
  float res = p * s * 2.0f;
  res = x < lo ? 0.0f : res;
  res = x > hi ? std::numeric_limits<float>::infinity() : res;
  return res;
}

// erf: N. Juffa's faithfully rounded erff (max error about 1 ulp), both
// branches evaluated and selected.
static inline float erf(float a) {
  float t = std::fabs(a);
  float s = a * a;
  float tb = t < 10.f ? t : 10.f;
  float sb = tb * tb;
  float r = -1.72853470e-5f * tb + 3.83197126e-4f;
  float u = -3.88396438e-3f * tb + 2.42546219e-2f;
  r = r * sb + u;
  r = r * tb + -1.06777877e-1f;
  r = r * tb + -6.34846687e-1f;
  r = r * tb + -1.28717512e-1f;
  r = r * tb - tb;
  float big = 1.0f - vm::exp(r);
  big = a < 0 ? -big : big;
  float q = -5.96761703e-4f;
  q = q * s + 4.99119423e-3f;
  q = q * s + -2.67681349e-2f;
  q = q * s + 1.12819925e-1f;
  q = q * s + -3.76125336e-1f;
  q = q * s + 1.28379166e-1f;
  q = q * a + a;
  return t > 0.927734375f ? big : q;
}

// tanh: odd Taylor polynomial below 0.55, 1 - 2/(exp(2|x|)+1) above.
static inline float tanh(float x) {
  float t = std::fabs(x);
  float s = x * x;
  float p = 0.0014558344f;               // 929569/638512875
  p = p * s + -0.0035921280f;            // -21844/6081075
  p = p * s + 0.0088632355f;             // 1382/155925
  p = p * s + -0.0218694885f;            // -62/2835
  p = p * s + 0.0539682540f;             // 17/315
  p = p * s + -0.1333333333f;            // -2/15
  p = p * s + 0.3333333333f;
  float small = x - x * s * p;
  float tc = t < 20.f ? t : 20.f;
  float big = 1.0f - 2.0f / (vm::exp(2.0f * tc) + 1.0f);
  big = x < 0 ? -big : big;
  const float r = t < 0.55f ? small : big;
  return x != x ? x : r;  // NaN: the clamp above would make it 1
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + vm::exp(-x)); }

static inline float gelu_erf(float x) { return 0.5f * x * (1.0f + vm::erf(x * 0.70710678118654752f)); }

static inline float gelu_tanh(float x) {
  return 0.5f * x * (1.0f + vm::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

enum Fn { kExp = 0, kSigmoid, kTanh, kErf, kGeluErf, kGeluTanh };

static inline void apply(int fn, const float* x, float* y, int64_t n) {
  switch (fn) {
    case kExp: for (int64_t i = 0; i < n; ++i) y[i] = vm::exp(x[i]); break;
    case kSigmoid: for (int64_t i = 0; i < n; ++i) y[i] = vm::sigmoid(x[i]); break;
    case kTanh: for (int64_t i = 0; i < n; ++i) y[i] = vm::tanh(x[i]); break;
    case kErf: for (int64_t i = 0; i < n; ++i) y[i] = vm::erf(x[i]); break;
    case kGeluErf: for (int64_t i = 0; i < n; ++i) y[i] = vm::gelu_erf(x[i]); break;
    case kGeluTanh: for (int64_t i = 0; i < n; ++i) y[i] = vm::gelu_tanh(x[i]); break;
  }
}

}  // namespace vm
}  // namespace
}  // namespace snep
