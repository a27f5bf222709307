#include "cpu/probe/peak_probe.h"

namespace snep::probe {

// 24 independent vfmadd231ps chains on zmm registers (4-cycle latency, 2 per cycle:
// 8 in flight needed, 24 leave slack), one loop branch per 24. Inline asm so that
// no compiler choice (moves, spills, loop shape) lowers the figure.
#define SNEP_FMA_ROW(i) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #i "\n\t"
double fma_chains_avx512(int64_t iters) {
  int64_t n = iters;
  if (n <= 0) return 0;
  __asm__ volatile(
      "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"
      "1:\n\t" SNEP_FMA_ROW(0) SNEP_FMA_ROW(1) SNEP_FMA_ROW(2) SNEP_FMA_ROW(3) SNEP_FMA_ROW(4) SNEP_FMA_ROW(5)
      SNEP_FMA_ROW(6) SNEP_FMA_ROW(7) SNEP_FMA_ROW(8) SNEP_FMA_ROW(9) SNEP_FMA_ROW(10) SNEP_FMA_ROW(11)
      SNEP_FMA_ROW(12) SNEP_FMA_ROW(13) SNEP_FMA_ROW(14) SNEP_FMA_ROW(15) SNEP_FMA_ROW(16) SNEP_FMA_ROW(17)
      SNEP_FMA_ROW(18) SNEP_FMA_ROW(19) SNEP_FMA_ROW(20) SNEP_FMA_ROW(21) SNEP_FMA_ROW(22) SNEP_FMA_ROW(23)
      "dec %0\n\tjnz 1b\n\t"
      : "+r"(n)
      :
      : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
        "xmm22", "xmm23", "xmm30", "xmm31");
  return double(iters) * 24 * 16 * 2;
}
#undef SNEP_FMA_ROW

}  // namespace snep::probe
