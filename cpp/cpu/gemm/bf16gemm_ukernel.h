// The bf16 GEMM micro-kernel and packing interface: plain C types only, as in
// sgemm_ukernel.h (included by files compiled with AVX512-BF16 flags).
//
// Packed operands hold bf16 (uint16_t) pairs along K, the layout vdpbf16ps
// reads: K is padded to even, and one "k pair" of a panel is
//   A: [MR][2]  (row i: a(i,k), a(i,k+1))      B: [NR][2]  (column j: b(k,j), b(k+1,j))
// Products are accumulated in fp32; the epilogue (UkEpilogue) is fp32.
#pragma once
#include <cstdint>

#include "cpu/gemm/sgemm_ukernel.h"

namespace snep {
namespace gemm {

// C[mr x nr] = (accumulate ? C : 0) + A_panel * B_panel over kp k pairs, then the epilogue when ep.
using Bf16UkernelFn = void (*)(int64_t kp, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc, int mr,
                               int nr, int accumulate, const UkEpilogue* ep);

void bf16gemm_ukernel_12x32_avx512bf16(int64_t kp, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
                                       int mr, int nr, int accumulate, const UkEpilogue* ep);
void bf16gemm_ukernel_8x32_avx512bf16(int64_t kp, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
                                      int mr, int nr, int accumulate, const UkEpilogue* ep);

// AMX-BF16 (bf16gemm_32x32_amx_avx512bf16.cpp): kp a multiple of 16, A packed tile-major
// ([kp/16][32 rows][32 k]). amx_bf16_ready(): the CPU has AMX-BF16 and Linux granted the tile state.
void bf16gemm_ukernel_32x32_amx(int64_t kp, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc, int mr,
                                int nr, int accumulate, const UkEpilogue* ep);
bool amx_bf16_ready();
// Loads the kernel's tile configuration on the calling thread: before its first
// call in a task (other code in the process may have configured the tiles otherwise).
void bf16_amx_configure();

// One k pair of a B panel from two contiguous fp32 rows: dst[2j] = bf16(r0[j]), dst[2j+1] = bf16(r1[j])
// for j < n (r1 may be null: zeros), zeros up to nr (a multiple of 16). Round to nearest even.
void bf16_pack_row_pair_avx512bf16(const float* r0, const float* r1, int n, uint16_t* dst, int nr);
// dst[j] = bf16(src[j]) for j < n, zeros up to width (a multiple of 32).
void bf16_convert_row_avx512bf16(const float* src, int n, uint16_t* dst, int width);

}  // namespace gemm
}  // namespace snep
