// Conv routines defined in one file and registered in another (conv_gemm.cpp
// registers all Conv routines, so the specialised ones come first).
#pragma once
#include <memory>

#include "core/routine.h"

namespace snep {
namespace conv {
bool depthwise_supports(const Layer& l);
std::unique_ptr<Kernel> depthwise_prepare(const Layer& l);
}  // namespace conv
}  // namespace snep
