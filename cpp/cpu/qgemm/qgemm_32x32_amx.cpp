// AMX qgemm micro-kernel 32x32: 2x2 tiles of 16x16 int32, tdpbsud (s8 weights
// x u8 activations, 64 k per step, exact int32 sums).
//   A panel: [kq/16][32 rows][64 k] (two 16-row tiles, 64-byte rows)
//   B panel: [kq][32 cols][4 k] as for VNNI: a 16-quad block is two tiles of
//            16 rows x 64 bytes with a 128-byte stride.
// kq is a multiple of 16. The tile configuration is loaded once per thread.
#include <immintrin.h>

#include "cpu/qgemm/qgemm_ukernel.h"

namespace snep {
namespace qgemm {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

void configure() {
  static thread_local bool done = false;
  if (done) return;
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) { cfg.colsb[t] = 64; cfg.rows[t] = 16; }
  _tile_loadconfig(&cfg);
  done = true;
}

}  // namespace

void qgemm_ukernel_32x32_amx(int64_t kq, const void* av, const uint8_t* b, int32_t* c, int64_t ldc, int mr) {
  (void)mr;
  configure();
  const uint8_t* a = static_cast<const uint8_t*>(av);
  _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
  for (int64_t kb = 0; kb < kq / 16; ++kb) {
    _tile_loadd(4, a, 64);
    _tile_loadd(5, a + 16 * 64, 64);
    _tile_loadd(6, b, 128);
    _tile_loadd(7, b + 64, 128);
    _tile_dpbsud(0, 4, 6);
    _tile_dpbsud(1, 4, 7);
    _tile_dpbsud(2, 5, 6);
    _tile_dpbsud(3, 5, 7);
    a += 32 * 64;
    b += 16 * 128;
  }
  const int64_t st = ldc * 4;
  _tile_stored(0, c, st);
  _tile_stored(1, c + 16, st);
  _tile_stored(2, c + 16 * ldc, st);
  _tile_stored(3, c + 16 * ldc + 16, st);
}

}  // namespace qgemm
}  // namespace snep
