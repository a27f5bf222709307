// Vectorised per-tensor (de)quantization kernels (plain C types only).
#pragma once
#include <cstdint>

namespace snep {
namespace qvec {
void quantize_avx512(const float* x, int64_t n, float s, int32_t zp, bool sgn, uint8_t* y);
void dequantize_avx512(const uint8_t* x, int64_t n, float s, int32_t zp, bool sgn, float* y);
}  // namespace qvec
}  // namespace snep
