// Single-core peaks from register-only inline-asm loops: 24 independent AVX-512
// chains of vfmadd231ps (fp32: 32 FLOP each) or vpdpbusd (int8 VNNI: 128 ops each),
// no loads, one dec/jnz per 24. The clock these run at (two per cycle) is the
// turbo the cores hold under AVX-512 load, above /proc/cpuinfo's nominal one.
//
//   gcc -O2 tools/probes/peak_asm.c -o /tmp/peak_asm && /tmp/peak_asm
#include <stdio.h>
#include <time.h>

#define R(OP, i) OP " %%zmm30, %%zmm31, %%zmm" #i "\n\t"
#define ROWS(OP)                                                                                              \
  R(OP, 0) R(OP, 1) R(OP, 2) R(OP, 3) R(OP, 4) R(OP, 5) R(OP, 6) R(OP, 7) R(OP, 8) R(OP, 9) R(OP, 10) R(OP, 11) \
  R(OP, 12) R(OP, 13) R(OP, 14) R(OP, 15) R(OP, 16) R(OP, 17) R(OP, 18) R(OP, 19) R(OP, 20) R(OP, 21) R(OP, 22) \
  R(OP, 23)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
  const long iters = 100000000;
  for (int rep = 0; rep < 3; ++rep) {
    long n = iters;
    double t0 = now();
    __asm__ volatile("vpxord %%zmm30,%%zmm30,%%zmm30\n\tvpxord %%zmm31,%%zmm31,%%zmm31\n\t"
                     "1:\n\t" ROWS("vfmadd231ps") "dec %0\n\tjnz 1b\n\t" : "+r"(n) : : "memory");
    double fma_s = now() - t0;
    n = iters;
    t0 = now();
    __asm__ volatile("vpxord %%zmm30,%%zmm30,%%zmm30\n\tvpxord %%zmm31,%%zmm31,%%zmm31\n\t"
                     "1:\n\t" ROWS("vpdpbusd") "dec %0\n\tjnz 1b\n\t" : "+r"(n) : : "memory");
    double vnni_s = now() - t0;
    printf("fp32 FMA %.1f GFLOP/s (%.2f GHz at 2/cycle)   int8 VNNI %.1f GOP/s (%.2f GHz)\n",
           iters * 24.0 * 32 / fma_s / 1e9, iters * 24.0 / fma_s / 2e9, iters * 24.0 * 128 / vnni_s / 1e9,
           iters * 24.0 / vnni_s / 2e9);
  }
  return 0;
}
