// Conv routines defined in one file and registered in another (conv_gemm.cpp
// registers all Conv routines, so the specialised ones come first).
#pragma once
#include <memory>

#include "core/routine.h"

namespace snep {
namespace conv {
bool depthwise_supports(const Layer& l);
// Few input channels (stems), AVX-512 (conv_smallc.cpp).
bool smallc_supports_fn(const Layer& l);
std::unique_ptr<Kernel> smallc_prepare(const Layer& l);
std::unique_ptr<Kernel> depthwise_prepare(const Layer& l);
// Float32 Conv as GEMM (conv_gemm.cpp): im2col, or 1x1 / stride 1 / no padding when one_by_one.
bool gemm_supports(const Layer& l, bool one_by_one);
// The same in bfloat16 compute (conv_gemm_bf16.cpp), AVX512-BF16 only.
bool bf16_im2col_supports(const Layer& l);
bool bf16_gemm1x1_supports(const Layer& l);
std::unique_ptr<Kernel> bf16_im2col_prepare(const Layer& l);
std::unique_ptr<Kernel> bf16_gemm1x1_prepare(const Layer& l);
}  // namespace conv
}  // namespace snep
