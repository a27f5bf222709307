#include "core/cpu_features.h"

#include <cstdlib>
#include <fstream>
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "core/routine.h"

namespace snep {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__)
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.fma = __builtin_cpu_supports("fma");
    c.f16c = c.avx2;  // every AVX2 CPU we target has F16C
    c.avx512f = __builtin_cpu_supports("avx512f");
    c.avx512bw = __builtin_cpu_supports("avx512bw");
    c.avx512dq = __builtin_cpu_supports("avx512dq");
    c.avx512vl = __builtin_cpu_supports("avx512vl");
    c.avx512_vnni = __builtin_cpu_supports("avx512vnni");
    c.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
    c.avx_vnni = __builtin_cpu_supports("avxvnni");
#if defined(__linux__)
    {
      // CPUID.(7,0).EDX: AMX-TILE bit 24, AMX-INT8 bit 25; then ask Linux for
      // the tile data state (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
      unsigned a = 7, b = 0, cc = 0, d = 0;
      __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(cc), "=d"(d));
      (void)b;
      if ((d >> 24 & 1) && (d >> 25 & 1) && c.avx512_vnni)
        c.amx_int8 = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    }
#endif
#endif
    // SNEP_MAX_ISA=avx2|plain lets tests exercise the fallbacks on a big CPU.
    if (const char* cap = std::getenv("SNEP_MAX_ISA")) {
      std::string s(cap);
      if (s == "avx512" || s == "avxvnni" || s == "avx2" || s == "plain") c.amx_int8 = false;
      if (s == "avxvnni" || s == "avx2" || s == "plain") {
        c.avx512f = c.avx512bw = c.avx512dq = c.avx512vl = c.avx512_vnni = c.avx512_bf16 = false;
      }
      if (s == "avx2" || s == "plain") c.avx_vnni = false;
      if (s == "plain") c.avx2 = c.fma = c.f16c = false;
    }
    return c;
  }();
  return f;
}

bool cpu_has(const std::string& isa) {
  const auto& f = cpu_features();
  if (isa.empty()) return true;
  if (isa == "avx2") return f.avx2 && f.fma;
  // routines that a wider set supersedes where AVX-512 is present (the NCHW8c set: NCHW16c there)
  if (isa == "avx2_only") return f.avx2 && f.fma && !cpu_has("avx512f");
  if (isa == "avx512f") return f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl;
  if (isa == "avx512_vnni") return f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.avx512_vnni;
  if (isa == "avx512_bf16") return f.avx512f && f.avx512_bf16;
  if (isa == "avx_vnni") return f.avx2 && f.fma && f.avx_vnni;
  if (isa == "amx_int8") return f.amx_int8;
  return false;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      return p == std::string::npos ? line : line.substr(p + 2);
    }
  }
  return "unknown";
}

bool Routine::usable() const { return cpu_has(isa()); }

}  // namespace snep
