// The micro-kernel interface: plain C types only, because this header is
// included by files compiled with AVX-512 / AVX2 flags (no inline C++ library
// code may be shared with generic translation units).
#pragma once
#include <cstdint>

namespace snep {
namespace gemm {

// Activation codes the micro-kernels apply in registers; others (sigmoid, tanh)
// are applied by the driver on the tile right after the kernel stored it.
// kActGelu / kActGeluTanh only for kernels whose Ukernel::gelu is set (the AVX-512 ones).
enum UkAct : int { kActNone = 0, kActRelu = 1, kActClip = 2, kActLeakyRelu = 3, kActHardSigmoid = 4,
                   kActHardSwish = 5, kActGelu = 6, kActGeluTanh = 7, kActOther = 99 };

// Epilogue of one tile, pointers already at the tile's (0,0).
struct UkEpilogue {
  float alpha;
  const float* add[2];
  int64_t add_sm[2], add_sn[2];  // sn is 0 (one value per row) or 1
  float add_scale[2];
  int act;  // UkAct; kActOther: none here
  float act_a, act_b;
};

// C[mr x nr] = (accumulate ? C : 0) + A_panel * B_panel, then the epilogue when ep != nullptr.
// a: kc x a_stride (a_stride = the packing MR, mr <= MR rows used); b: kc x NR.
using UkernelFn = void (*)(int64_t kc, const float* a, int64_t a_stride, const float* b, float* c, int64_t ldc,
                           int mr, int nr, int accumulate, const UkEpilogue* ep);

// Entry points (defined in the per-ISA files).
void sgemm_ukernel_12x32_avx512(int64_t kc, const float* a, int64_t a_stride, const float* b, float* c, int64_t ldc,
                                int mr, int nr, int accumulate, const UkEpilogue* ep);
void sgemm_ukernel_8x32_avx512(int64_t kc, const float* a, int64_t a_stride, const float* b, float* c, int64_t ldc,
                               int mr, int nr, int accumulate, const UkEpilogue* ep);
// The same tiles reading A row-major (element (i, k) at a[i * a_stride + k]), unpacked.
void sgemm_ukernel_direct_12x32_avx512(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                                       int64_t ldc, int mr, int nr, int accumulate, const UkEpilogue* ep);
void sgemm_ukernel_direct_8x32_avx512(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                                      int64_t ldc, int mr, int nr, int accumulate, const UkEpilogue* ep);
void sgemm_ukernel_avx2(int64_t kc, const float* a, int64_t a_stride, const float* b, float* c, int64_t ldc,
                        int mr, int nr, int accumulate, const UkEpilogue* ep);

}  // namespace gemm
}  // namespace snep
