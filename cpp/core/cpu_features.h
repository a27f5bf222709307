// Run-time CPU feature checks: ISA-specific kernels are chosen with these,
// never by compile flags of the whole module.
#pragma once
#include <string>

namespace snep {
struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512_vnni = false, avx512_bf16 = false;
};
const CpuFeatures& cpu_features();
bool cpu_has(const std::string& isa);  // "" is always true
std::string cpu_model_name();
}  // namespace snep
