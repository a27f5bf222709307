// The direct conv's register tile from L1: per step 4 weight vectors loaded, 6 input
// values broadcast, 24 FMAs into 24 accumulators (NCHW16c, 4 output blocks x 6 columns),
// the data a 1 KB buffer. What the tile's instruction mix can reach on this core, to
// set beside peak_asm.c's register-only figure and a layer's GFLOP/s.
//
//   gcc -O2 tools/probes/tile_probe.c -o /tmp/tile_probe && /tmp/tile_probe
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static float buf[256] __attribute__((aligned(64)));

// weights: zmm24-27 from (%2); input value at off(%1) broadcast to zmm28, 4 FMAs
#define WL "vmovups (%2), %%zmm24\n\tvmovups 64(%2), %%zmm25\n\tvmovups 128(%2), %%zmm26\n\tvmovups 192(%2), %%zmm27\n\t"
#define FMA(acc, w) "vfmadd231ps %%zmm28, %%zmm" #w ", %%zmm" #acc "\n\t"
#define COL(off, a0, a1, a2, a3) "vbroadcastss " #off "(%1), %%zmm28\n\t" FMA(a0, 24) FMA(a1, 25) FMA(a2, 26) FMA(a3, 27)

int main(void) {
  const long iters = 50000000;
  for (int rep = 0; rep < 3; rep++) {
    long n = iters;
    const double t0 = now();
    __asm__ volatile("1:\n\t" WL COL(0, 0, 1, 2, 3) COL(64, 4, 5, 6, 7) COL(128, 8, 9, 10, 11) COL(192, 12, 13, 14, 15)
                     COL(256, 16, 17, 18, 19) COL(320, 20, 21, 22, 23) "dec %0\n\tjnz 1b\n\t"
                     : "+r"(n)
                     : "r"(buf), "r"(buf + 128)
                     : "memory");
    const double s = now() - t0;
    printf("4x6 tile from L1: %.1f GFLOP/s\n", iters * 24.0 * 32 / s / 1e9);
  }
  return 0;
}
