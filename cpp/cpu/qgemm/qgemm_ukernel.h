// qgemm micro-kernel interface: plain C types only (included by files built
// with AVX-512 VNNI / AVX2 flags).
//
//   C[mr x NR] (int32) = A_panel (s8 weights) * B_panel (u8 activations)
//
// K is padded to a multiple of 4 (kq = K/4 quads, pad bytes zero; AMX: of 64).
//   A panel: [kq][MR][4] weights, int8 (VNNI, plain) or int16 (AVX2, pre-widened);
//            AMX: [kq/16][MR][64] int8
//   B panel: [kq][NR][4] u8 activations (4 consecutive k of one column together)
// The kernel always writes full NR-wide rows into c (row stride ldc).
#pragma once
#include <cstdint>

namespace snep {
namespace qgemm {

using QUkernelFn = void (*)(int64_t kq, const void* a, const uint8_t* b, int32_t* c, int64_t ldc, int mr);

// Requantization of one output row of n columns:
//   t = acc[j] + c0 - wz * colsum[j]                 (int32, wrapping; colsum may be null)
//   int32 output (y32 != null): y32[j] = t
//   else  v = float(t) * mult                        (float32)
//         v = v + float(z[j] - zz) * zmult            (float32, only when z != null; no FMA)
//         y[j] = clamp(rint_half_even(v) + yz, qlo, qhi)
// qlo/qhi hold the output type's range intersected with the fused activation's.
// With rows > 1 the same is done for `rows` rows: row i reads acc + i*ld_acc,
// z / y / y32 + i*ld_out, and c0v[i], wzv[i], multv[i] instead of c0, wz, mult.
struct QRow {
  const int32_t* acc;
  int64_t n;
  int32_t c0, wz;
  const int32_t* colsum;
  float mult;
  const void* z;
  int z_signed;
  int32_t zz;
  float zmult;
  int32_t yz, qlo, qhi;
  void* y;
  int y_signed;
  int32_t* y32;
  int rows;
  int64_t ld_acc, ld_out;
  const int32_t* c0v;
  const int32_t* wzv;
  const float* multv;
};
using QRequantFn = void (*)(const QRow& r);

// A micro-kernel with the requantization fused (the int32 tile never leaves
// the registers): the rows of one full NR-wide tile, as QRow's per-row form
// with acc the kernel's sums, no colsum (weight zero points 0) and u8/s8 output.
// Row i: c0v[i], multv[i]; z (optional) and y at + i * ld.
struct QTileOut {
  const int32_t* c0v;
  const float* multv;
  int32_t yz, zz;
  float flo, fhi, zmult;  // flo/fhi: the output range minus yz
  const void* z;
  int z_signed;
  void* y;
  int64_t ld;
};
using QTileFn = void (*)(int64_t kq, const void* a, const uint8_t* b, int mr, const QTileOut& o);

// Writes quad qi (rows r[0..3], null rows read as 0) of an nc-column slab into
// B panels of nr (a power of two) columns: panel j/nr at dst + (j/nr)*kq*nr*4;
// the columns past nc up to the panel end get zeros.
using QPackFn = void (*)(const uint8_t* const r[4], int64_t nc, int nr, int64_t kq, int64_t qi, uint8_t* dst);
// The same from column j0 on (j0 a multiple of 4), plain C++ / SSE2.
void pack_b_quad_from(const uint8_t* const r[4], int64_t j0, int64_t nc, int nr, int64_t kq, int64_t qi, uint8_t* dst);
void pack_b_quad_avx512(const uint8_t* const r[4], int64_t nc, int nr, int64_t kq, int64_t qi, uint8_t* dst);

void qgemm_ukernel_12x32_avx512vnni(int64_t kq, const void* a, const uint8_t* b, int32_t* c, int64_t ldc, int mr);
void qgemm_ukernel_8x32_avx512vnni(int64_t kq, const void* a, const uint8_t* b, int32_t* c, int64_t ldc, int mr);
void qgemm_ukernel_32x32_amx(int64_t kq, const void* a, const uint8_t* b, int32_t* c, int64_t ldc, int mr);
void qrequant_avx512vnni(const QRow& r);
void qgemm_tile_12x32_avx512vnni(int64_t kq, const void* a, const uint8_t* b, int mr, const QTileOut& o);
void qgemm_tile_8x32_avx512vnni(int64_t kq, const void* a, const uint8_t* b, int mr, const QTileOut& o);
void qgemm_ukernel_6x16_avxvnni(int64_t kq, const void* a, const uint8_t* b, int32_t* c, int64_t ldc, int mr);
void qgemm_ukernel_4x8_avx2(int64_t kq, const void* a, const uint8_t* b, int32_t* c, int64_t ldc, int mr);
void qrequant_avx2(const QRow& r);

}  // namespace qgemm
}  // namespace snep
