#include "cpu/probe/peak_probe.h"

namespace snep::probe {

// 24 independent chains of one instruction on zmm registers (4-cycle latency, 2 per cycle:
// 8 in flight needed, 24 leave slack), one loop branch per 24. Inline asm: given intrinsics
// the compiler copied vpdpbusd's destructive operand around and spilled (40% of this rate).
// The assembler takes vpdpbusd whatever the compile flags; it runs only where VNNI is.
#define SNEP_ROW(op, i) op " %%zmm30, %%zmm31, %%zmm" #i "\n\t"
#define SNEP_CHAINS(op)                                                                                     \
  "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"                               \
  "1:\n\t" SNEP_ROW(op, 0) SNEP_ROW(op, 1) SNEP_ROW(op, 2) SNEP_ROW(op, 3) SNEP_ROW(op, 4) SNEP_ROW(op, 5) \
  SNEP_ROW(op, 6) SNEP_ROW(op, 7) SNEP_ROW(op, 8) SNEP_ROW(op, 9) SNEP_ROW(op, 10) SNEP_ROW(op, 11)        \
  SNEP_ROW(op, 12) SNEP_ROW(op, 13) SNEP_ROW(op, 14) SNEP_ROW(op, 15) SNEP_ROW(op, 16) SNEP_ROW(op, 17)    \
  SNEP_ROW(op, 18) SNEP_ROW(op, 19) SNEP_ROW(op, 20) SNEP_ROW(op, 21) SNEP_ROW(op, 22) SNEP_ROW(op, 23)    \
  "dec %0\n\tjnz 1b\n\t"
#define SNEP_CLOBBERS                                                                                      \
  "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", \
      "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",   \
      "xmm23", "xmm30", "xmm31"

double fma_chains_avx512(int64_t iters) {
  int64_t n = iters;
  if (n <= 0) return 0;
  __asm__ volatile(SNEP_CHAINS("vfmadd231ps") : "+r"(n) : : SNEP_CLOBBERS);
  return double(iters) * 24 * 16 * 2;  // 16 lanes, 2 FLOP each
}

double vnni_chains_avx512vnni(int64_t iters) {
  int64_t n = iters;
  if (n <= 0) return 0;
  __asm__ volatile(SNEP_CHAINS("vpdpbusd") : "+r"(n) : : SNEP_CLOBBERS);
  return double(iters) * 24 * 128;  // 16 lanes x 4 u8*s8 products + the add
}

#undef SNEP_CLOBBERS
#undef SNEP_CHAINS
#undef SNEP_ROW

}  // namespace snep::probe
