// Gemm / MatMul routines defined in one file and registered in another
// (gemm_op.cpp and matmul.cpp register every routine of their op, float32
// first, so a reduced-precision routine is never an op's default).
#pragma once
#include <cstdint>
#include <memory>

#include "core/routine.h"

namespace snep {
namespace linear {

// Float32 Gemm: whether the layer is an ONNX Gemm the gemm routines compute (gemm_op.cpp).
bool gemm_supports(const Layer& l);

// Y [M x N] = act( alpha * A B + beta * C ) with B [K x N] the weights, as a
// Gemm (transA/transB, C broadcast) or a MatMul whose B is 2-D (A's batch
// dims folded into M; the fused bias input 2 as C with beta 1).
struct Linear {
  bool ok = false;
  int64_t M = 0, K = 0, N = 0;
  int64_t ars = 0, acs = 0, brs = 0, bcs = 0;  // element (i,k) of A at a[i*ars + k*acs]; (k,j) of B likewise
  float alpha = 1.f, beta = 1.f;
  int c_input = -1;            // input index of C / bias, -1 when absent
  int64_t c_sm = 0, c_sn = 0;  // strides of C over (i, j), 0 on broadcast dims
};
Linear linear_of(const Layer& l);  // gemm_bf16.cpp; ok false when unsupported

// bfloat16 compute (gemm_bf16.cpp), AVX512-BF16.
bool bf16_supports(const Layer& l);
std::unique_ptr<Kernel> bf16_prepare(const Layer& l);
// float16 weights, fp32 compute, M <= 16 (gemv_f16.cpp), AVX-512.
bool f16_gemv_supports(const Layer& l);
std::unique_ptr<Kernel> f16_gemv_prepare(const Layer& l);

}  // namespace linear
}  // namespace snep
