// Per-tensor QuantizeLinear (float32 -> u8/s8) and DequantizeLinear
// (u8/s8 -> float32) "cpu/vec": the adapt routines between float32 and qint8,
// AVX-512, split over the pool for large tensors. Same results as "cpu/direct".
#include "core/thread_pool.h"
#include "cpu/elementwise/ew_util.h"
#include "cpu/quant/quantize_vec.h"

namespace snep {
namespace {

bool q8(DType t) { return t == DType::Int8 || t == DType::UInt8; }
constexpr int64_t kGrain = 1 << 15;

bool per_tensor(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 3 || l.outputs.size() != 1 || !l.has_input(0) || !l.has_input(1))
    return false;
  const auto& s = l.in(1);
  if (s.dtype != DType::Float32 || s.numel() != 1 || s.rank() > 1 || l.attrs.get_int("block_size", 0) != 0) return false;
  if (l.in(0).shape != l.out(0).shape || l.in(0).layout != Layout::Plain) return false;
  return true;
}

bool quantize_supports(const Layer& l) {
  if (!per_tensor(l) || l.in(0).dtype != DType::Float32 || !q8(l.out(0).dtype)) return false;
  if (l.attrs.get_int("precision", 0) != 0) return false;
  return !l.has_input(2) || (l.in(2).dtype == l.out(0).dtype && l.in(2).numel() == 1);
}

bool dequantize_supports(const Layer& l) {
  if (!per_tensor(l) || !q8(l.in(0).dtype) || l.out(0).dtype != DType::Float32) return false;
  return !l.has_input(2) || (l.in(2).dtype == l.in(0).dtype && l.in(2).numel() == 1);
}

int32_t zp_of(const RunArgs& a, bool has, bool sgn) {
  if (!has) return 0;
  return sgn ? (int32_t) static_cast<const int8_t*>(a.in[2])[0] : (int32_t) static_cast<const uint8_t*>(a.in[2])[0];
}

std::unique_ptr<Kernel> quantize_prepare(const Layer& l) {
  const int64_t n = l.in(0).numel();
  const bool sgn = l.out(0).dtype == DType::Int8, hz = l.has_input(2);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const float* x = static_cast<const float*>(a.in[0]);
    const float s = static_cast<const float*>(a.in[1])[0];
    const int32_t zp = zp_of(a, hz, sgn);
    uint8_t* y = static_cast<uint8_t*>(a.out[0]);
    ew::par_for(a.pool, n, kGrain, [&](int64_t b, int64_t e) { qvec::quantize_avx512(x + b, e - b, s, zp, sgn, y + b); });
  });
}

std::unique_ptr<Kernel> dequantize_prepare(const Layer& l) {
  const int64_t n = l.in(0).numel();
  const bool sgn = l.in(0).dtype == DType::Int8, hz = l.has_input(2);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const uint8_t* x = static_cast<const uint8_t*>(a.in[0]);
    const float s = static_cast<const float*>(a.in[1])[0];
    const int32_t zp = zp_of(a, hz, sgn);
    float* y = static_cast<float*>(a.out[0]);
    ew::par_for(a.pool, n, kGrain, [&](int64_t b, int64_t e) { qvec::dequantize_avx512(x + b, e - b, s, zp, sgn, y + b); });
  });
}

const bool registered = [] {
  Registry::get().add(std::make_unique<LambdaRoutine>("QuantizeLinear", "cpu/vec", quantize_supports, quantize_prepare, "avx512f"));
  Registry::get().add(std::make_unique<LambdaRoutine>("DequantizeLinear", "cpu/vec", dequantize_supports, dequantize_prepare, "avx512f"));
  return true;
}();

}  // namespace
}  // namespace snep
