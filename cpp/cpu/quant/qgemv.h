// QGemm's few-row kernel (batch-1 fully-connected layers are GEMVs): u8
// activations x s8 weights -> int32, weights packed once so that a 64-byte
// load holds 16 output features x 4 consecutive k.
//
//   Packed weights: N padded to a multiple of 16 (pad features are zero) and
//   split into groups of up to kGroupPanels panels of 16 features; group g
//   starts at w + g * kq * kGroupPanels * 64 and holds, for each quad q (k =
//   4q..4q+3, K padded with zeros to kq quads), P panels of [16][4] bytes:
//   byte (q*P + p)*64 + f*4 + t is weight (k = 4q + t, n = 16*(kGroupPanels*g + p) + f).
//   Activations: rows of kq*4 bytes (zero-padded), u8.
// The AVX-512 VNNI kernel broadcasts 4 activation bytes of a row and
// vpdpbusd's them against each panel's 64 bytes. Plain C types only (included
// by the file built with AVX-512 VNNI flags).
#pragma once
#include <cstdint>

namespace snep {
namespace qgemv {

constexpr int kGroupPanels = 4;                  // panels (16 features each) a task's inner loop covers
constexpr int kGroupCols = 16 * kGroupPanels;    // 64
constexpr int kMaxRows = 4;                      // rows of A per kernel call

// acc[i * kGroupCols + 16p + f] = sum_k a[i * lda + k] * w(k, 16p + f) for i < m (1..4), p < P (1..4):
// the raw products of the stored bytes (zero points are compensated by the caller).
using QGemvFn = void (*)(const uint8_t* a, int64_t lda, int m, int64_t kq, const int8_t* w, int P, int32_t* acc);

void qgemv_group_avx512vnni(const uint8_t* a, int64_t lda, int m, int64_t kq, const int8_t* w, int P, int32_t* acc);

// One output row's epilogue over n columns (wz may be null: all zero):
//   t = int32(acc[j] + cb[j] - wz[j] * asum)                      (wrapping)
//   v = float(t) * mult[j]                                        (float32)
//   out_kind 0: float y[j] = v;  1 / 2: u8 / s8 y[j] = rint_half_even(clamp(v, flo, fhi)) + yz
enum QGemvOut : int { kOutF32 = 0, kOutU8 = 1, kOutS8 = 2 };
using QGemvEpiFn = void (*)(const int32_t* acc, int64_t n, const int32_t* cb, const int32_t* wz, int32_t asum,
                            const float* mult, int out_kind, float flo, float fhi, int32_t yz, void* y);
void qgemv_epilogue_avx512(const int32_t* acc, int64_t n, const int32_t* cb, const int32_t* wz, int32_t asum,
                           const float* mult, int out_kind, float flo, float fhi, int32_t yz, void* y);

}  // namespace qgemv
}  // namespace snep
