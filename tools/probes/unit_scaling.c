// Does a compute unit scale from one thread to two on this machine? Runs the same
// register-only loop on one thread, then on two at once, and prints each thread's time.
// FMA: 12 independent AVX-512 FMA chains (both FMA ports busy). AMX: four independent
// tile dot products (TDPBUSD, int8) on tiles loaded once. On the project's 2-vCPU VM
// (12 runs each, 2026-11-27) the FMA loop scaled 1.21-2.06x (median 1.74) and the AMX loop
// 0.85-2.03x, below 1.0 in 5 of the 12: a second thread of AMX work often gains nothing
// there, which is why qint8 ResNet50 reads about the same at 2 threads as at 1.
//
//   gcc -O2 -pthread tools/probes/unit_scaling.c -o /tmp/unit_scaling
//   /tmp/unit_scaling fma [iterations]      /tmp/unit_scaling amx [iterations]
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

typedef struct {
  uint8_t palette, start;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} __attribute__((packed)) TileConfig;

static int use_amx;
static long iters = 20000000;
static double secs[2];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx512f"))) static float fma_loop(void) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps((float)i);
  const __m512 b = _mm512_set1_ps(1.0001f), c = _mm512_set1_ps(0.9999f);
  for (long k = 0; k < iters; ++k)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
  float s = 0;
  for (int i = 0; i < 12; ++i) s += _mm512_reduce_add_ps(a[i]);
  return s;
}

__attribute__((target("amx-tile,amx-int8"))) static int32_t amx_loop(void) {
  static __thread uint8_t a[16 * 64] __attribute__((aligned(64)));
  static __thread int32_t c[16 * 16] __attribute__((aligned(64)));
  TileConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int i = 0; i < 8; ++i) cfg.colsb[i] = 64, cfg.rows[i] = 16;
  _tile_loadconfig(&cfg);
  _tile_loadd(4, a, 64);
  _tile_loadd(5, a, 64);
  _tile_loadd(6, a, 64);
  _tile_loadd(7, a, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (long k = 0; k < iters / 4; ++k) {
    _tile_dpbusd(0, 4, 5);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 6, 5);
    _tile_dpbusd(3, 6, 7);
  }
  _tile_stored(0, c, 64);
  _tile_release();
  return c[0];
}

static void* work(void* arg) {
  const long id = (long)arg;
  volatile double sink;
  const double t0 = now();
  sink = use_amx ? (double)amx_loop() : (double)fma_loop();
  (void)sink;
  secs[id] = now() - t0;
  return NULL;
}

int main(int argc, char** argv) {
  use_amx = argc > 1 && strcmp(argv[1], "amx") == 0;
  if (argc > 2) iters = atol(argv[2]);
  __builtin_cpu_init();
  if (use_amx && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
    fprintf(stderr, "AMX tile data not permitted on this CPU or kernel\n");
    return 2;
  }
  if (!use_amx && !__builtin_cpu_supports("avx512f")) {
    fprintf(stderr, "no AVX-512F\n");
    return 2;
  }
  for (int rep = 0; rep < 3; ++rep) {
    work((void*)0);
    const double one = secs[0];
    pthread_t t[2];
    for (long i = 0; i < 2; ++i) pthread_create(&t[i], NULL, work, (void*)i);
    for (int i = 0; i < 2; ++i) pthread_join(t[i], NULL);
    const double slow = secs[0] > secs[1] ? secs[0] : secs[1];
    printf("%s: 1 thread %.6f s, 2 threads %.6f / %.6f s, scaling %.2f\n", use_amx ? "amx" : "fma", one, secs[0], secs[1],
           2 * one / slow);
  }
  return 0;
}
