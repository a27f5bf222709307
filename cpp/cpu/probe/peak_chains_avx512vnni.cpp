#include "cpu/probe/peak_probe.h"

namespace snep::probe {

// vpdpbusd: 16 lanes x 4 u8*s8 products + the add = 128 int8 ops per instruction.
// Inline asm: the compiler, given intrinsics, copies the destructive operand
// around and spills (it reached 40% of this).
#define SNEP_VNNI_ROW(i) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #i "\n\t"
double vnni_chains_avx512vnni(int64_t iters) {
  int64_t n = iters;
  if (n <= 0) return 0;
  __asm__ volatile(
      "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"
      "1:\n\t" SNEP_VNNI_ROW(0) SNEP_VNNI_ROW(1) SNEP_VNNI_ROW(2) SNEP_VNNI_ROW(3) SNEP_VNNI_ROW(4)
      SNEP_VNNI_ROW(5) SNEP_VNNI_ROW(6) SNEP_VNNI_ROW(7) SNEP_VNNI_ROW(8) SNEP_VNNI_ROW(9) SNEP_VNNI_ROW(10)
      SNEP_VNNI_ROW(11) SNEP_VNNI_ROW(12) SNEP_VNNI_ROW(13) SNEP_VNNI_ROW(14) SNEP_VNNI_ROW(15)
      SNEP_VNNI_ROW(16) SNEP_VNNI_ROW(17) SNEP_VNNI_ROW(18) SNEP_VNNI_ROW(19) SNEP_VNNI_ROW(20)
      SNEP_VNNI_ROW(21) SNEP_VNNI_ROW(22) SNEP_VNNI_ROW(23)
      "dec %0\n\tjnz 1b\n\t"
      : "+r"(n)
      :
      : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
        "xmm22", "xmm23", "xmm30", "xmm31");
  return double(iters) * 24 * 128;
}
#undef SNEP_VNNI_ROW

}  // namespace snep::probe
