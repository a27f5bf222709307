// Run-time CPU feature checks: ISA-specific kernels are chosen with these,
// never by compile flags of the whole module.
#pragma once
#include <string>

namespace snep {
struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512_vnni = false, avx512_bf16 = false;
  bool avx_vnni = false;  // VEX-encoded vpdpbusd on ymm (AVX2-class CPUs: Alder Lake and later)
  bool amx_int8 = false;  // AMX tiles + int8, and the kernel lets this process use them
};
const CpuFeatures& cpu_features();
bool cpu_has(const std::string& isa);  // "" is always true; "amx_int8" too
// SNEP_MAX_ISA caps: avx512 (no AMX), avxvnni (AVX2 + AVX-VNNI), avx2 (no VNNI of either kind), plain.
std::string cpu_model_name();
}  // namespace snep
