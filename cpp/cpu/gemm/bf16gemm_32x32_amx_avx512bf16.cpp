// AMX-BF16 bf16gemm micro-kernel 32x32: four 16x16 fp32 accumulator tiles fed
// by two A tiles (16 rows x 32 k) and two B tiles (16 k pairs x 16 columns)
// per 32 k; the tiles are then stored and the fp32 epilogue runs on AVX-512.
// A is packed tile-major for it ([kp/16][32 rows][32 k]); B is the usual
// [kp][32][2] panel, read as two tiles with a 128-byte row stride.
#pragma GCC target("amx-tile,amx-bf16")
#include <sys/syscall.h>
#include <unistd.h>

#include <cpuid.h>
#include <cstring>

#include "cpu/gemm/bf16gemm_avx512bf16_kernel.h"

namespace snep {
namespace gemm {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

}  // namespace

// tmm0..3: C (16 x 16 fp32), tmm4/5: A (16 x 32 bf16), tmm6/7: B (16 pairs x 16 x 2 bf16): all 16 rows x 64 bytes.
void bf16_amx_configure() {
  // Static: _tile_loadconfig's asm names only the first 8 bytes as read, so
  // stores into a local configuration could be dropped as dead.
  static const TileConfig cfg = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) { c.rows[t] = 16; c.colsb[t] = 64; }
    return c;
  }();
  _tile_loadconfig(&cfg);
}

bool amx_bf16_ready() {
  static const bool ok = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool tile = (d >> 24) & 1, bf16 = (d >> 22) & 1;
    if (!tile || !bf16) return false;
    // Linux hands out the tile data state only on request (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
    if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return false;
    return true;
  }();
  return ok;
}

void bf16gemm_ukernel_32x32_amx(int64_t kp, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc, int mr,
                                int nr, int accumulate, const UkEpilogue* ep) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t g = 0; g < kp / 16; ++g) {
    const uint16_t* ag = a + g * 32 * 32;
    const uint16_t* bg = b + g * 16 * 64;
    _tile_loadd(4, ag, 64);
    _tile_loadd(5, ag + 16 * 32, 64);
    _tile_loadd(6, bg, 128);
    _tile_loadd(7, bg + 32, 128);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float acc[32 * 32];
  _tile_stored(0, acc, 128);
  _tile_stored(1, acc + 16, 128);
  _tile_stored(2, acc + 16 * 32, 128);
  _tile_stored(3, acc + 16 * 32 + 16, 128);
  TileOut out(nr, accumulate, ep);
  for (int i = 0; i < mr; ++i)
    out.row(_mm512_load_ps(acc + i * 32), _mm512_load_ps(acc + i * 32 + 16), c + i * ldc, i);
}

}  // namespace gemm
}  // namespace snep
