// GEMV-like products with float16 (IEEE binary16) weights and fp32 compute,
// for few-row (batch 1..4) fully-connected layers where reading the weights
// dominates: the weights take half the bytes of fp32.
// Weights are packed as column panels of up to 64 columns (a multiple of 16),
// each [K][wc] halves, panel q at w + q*64*K. Plain C types: included by the
// AVX-512 file.
#pragma once
#include <cstdint>

namespace snep {
namespace gemm {

constexpr int kF16PanelCols = 64;

// acc[i*64 + j] = sum_k x[i*K + k] * w[k*wc + j] for i < m (1..4), j < wc (16, 32, 48, 64).
void gemv_f16w_panel_avx512(const float* x, int64_t K, int m, const uint16_t* w, int wc, float* acc);
// dst[j] = fp16(src[j]) for j < n (n a multiple of 16), round to nearest even.
void f32_to_f16_avx512(const float* src, int64_t n, uint16_t* dst);

}  // namespace gemm
}  // namespace snep
