// AVX-512 VNNI qgemm micro-kernels 12x32 / 8x32 (24 / 16 zmm accumulators, vpdpbusd: u8
// activations x s8 weights summed 4 at a time into int32, no saturation) and
// the AVX-512 requantization of one output row.
#include <immintrin.h>

#include "cpu/qgemm/qgemm_ukernel.h"

namespace snep {
namespace qgemm {

// All MR rows are computed (the packed A panel is zero-padded) and mr stored;
// named accumulators, so that GCC keeps every one in a register.
#define SNEP_Q_DECL(i) __m512i c##i##_0 = _mm512_setzero_si512(), c##i##_1 = _mm512_setzero_si512();
#define SNEP_Q_STEP(i)                                                                  \
  {                                                                                   \
    const __m512i w = _mm512_set1_epi32(*reinterpret_cast<const int32_t*>(a + 4 * i)); \
    c##i##_0 = _mm512_dpbusd_epi32(c##i##_0, b0, w);                                  \
    c##i##_1 = _mm512_dpbusd_epi32(c##i##_1, b1, w);                                  \
  }
#define SNEP_Q_STORE(i)                               \
  if (i < mr) {                                     \
    _mm512_storeu_si512(c + i * ldc, c##i##_0);      \
    _mm512_storeu_si512(c + i * ldc + 16, c##i##_1); \
  }
#define SNEP_Q_LOOP(ROWS, MR)                                                     \
  const int8_t* a = static_cast<const int8_t*>(av);                               \
  ROWS(SNEP_Q_DECL)                                                               \
  for (int64_t q = 0; q < kq; ++q) {                                              \
    const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);   \
    ROWS(SNEP_Q_STEP)                                                             \
    a += 4 * MR;                                                                  \
    b += 128;                                                                     \
  }
#define SNEP_Q_KERNEL(ROWS, MR) \
  SNEP_Q_LOOP(ROWS, MR)         \
  ROWS(SNEP_Q_STORE)
#define SNEP_Q_ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define SNEP_Q_ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

// The fused epilogue of row i: the arithmetic of qrequant_avx512vnni_row without colsum.
#define SNEP_Q_REQ(i)                                                                                  \
  if (i < mr) {                                                                                      \
    const __m512i vc0 = _mm512_set1_epi32(o.c0v[i]);                                                \
    const __m512 vm = _mm512_set1_ps(o.multv[i]);                                                   \
    __m512 v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(c##i##_0, vc0)), vm);              \
    __m512 v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(c##i##_1, vc0)), vm);              \
    if (o.z) {                                                                                       \
      const uint8_t* zr = static_cast<const uint8_t*>(o.z) + i * o.ld;                               \
      const __m128i z0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(zr));                      \
      const __m128i z1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(zr + 16));                 \
      const __m512i zi0 = o.z_signed ? _mm512_cvtepi8_epi32(z0) : _mm512_cvtepu8_epi32(z0);           \
      const __m512i zi1 = o.z_signed ? _mm512_cvtepi8_epi32(z1) : _mm512_cvtepu8_epi32(z1);           \
      v0 = _mm512_add_ps(v0, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(zi0, vzz)), vzm));      \
      v1 = _mm512_add_ps(v1, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(zi1, vzz)), vzm));      \
    }                                                                                                \
    v0 = _mm512_min_ps(_mm512_max_ps(v0, flo), fhi);                                                 \
    v1 = _mm512_min_ps(_mm512_max_ps(v1, flo), fhi);                                                 \
    const __m512i q0 = _mm512_add_epi32(_mm512_cvt_roundps_epi32(v0, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz); \
    const __m512i q1 = _mm512_add_epi32(_mm512_cvt_roundps_epi32(v1, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz); \
    uint8_t* yr = static_cast<uint8_t*>(o.y) + i * o.ld;                                              \
    _mm_storeu_si128(reinterpret_cast<__m128i*>(yr), _mm512_cvtepi32_epi8(q0));                       \
    _mm_storeu_si128(reinterpret_cast<__m128i*>(yr + 16), _mm512_cvtepi32_epi8(q1));                  \
  }
// q lies in the output type's range after the clamp: vpmovdb's truncation keeps it (u8 or s8)
#define SNEP_Q_TILE(ROWS, MR)                                                     \
  SNEP_Q_LOOP(ROWS, MR)                                                           \
  const __m512i vyz = _mm512_set1_epi32(o.yz), vzz = _mm512_set1_epi32(o.zz);    \
  const __m512 flo = _mm512_set1_ps(o.flo), fhi = _mm512_set1_ps(o.fhi), vzm = _mm512_set1_ps(o.zmult); \
  ROWS(SNEP_Q_REQ)

void qgemm_tile_12x32_avx512vnni(int64_t kq, const void* av, const uint8_t* b, int mr, const QTileOut& o) {
  SNEP_Q_TILE(SNEP_Q_ROWS12, 12)
}

void qgemm_tile_8x32_avx512vnni(int64_t kq, const void* av, const uint8_t* b, int mr, const QTileOut& o) {
  SNEP_Q_TILE(SNEP_Q_ROWS8, 8)
}

void qgemm_ukernel_12x32_avx512vnni(int64_t kq, const void* av, const uint8_t* b, int32_t* c, int64_t ldc, int mr) {
  SNEP_Q_KERNEL(SNEP_Q_ROWS12, 12)
}

void qgemm_ukernel_8x32_avx512vnni(int64_t kq, const void* av, const uint8_t* b, int32_t* c, int64_t ldc, int mr) {
  SNEP_Q_KERNEL(SNEP_Q_ROWS8, 8)
}

// 64 columns per step: bytes of the 4 rows interleaved into [col][4] (in-lane
// unpacks leave lane l of u_t holding columns 16l + 4t .. +3), then regrouped
// into two 32-column panel rows with 128-bit lane shuffles.
void pack_b_quad_avx512(const uint8_t* const r[4], int64_t nc, int nr, int64_t kq, int64_t qi, uint8_t* dst) {
  int64_t j = 0;
  if (nr == 32 && r[0] && r[1] && r[2] && r[3]) {
    const int64_t pstride = kq * 128;
    for (; j + 64 <= nc; j += 64) {
      const __m512i v0 = _mm512_loadu_si512(r[0] + j), v1 = _mm512_loadu_si512(r[1] + j);
      const __m512i v2 = _mm512_loadu_si512(r[2] + j), v3 = _mm512_loadu_si512(r[3] + j);
      const __m512i a0 = _mm512_unpacklo_epi8(v0, v1), a1 = _mm512_unpackhi_epi8(v0, v1);
      const __m512i b0 = _mm512_unpacklo_epi8(v2, v3), b1 = _mm512_unpackhi_epi8(v2, v3);
      const __m512i u0 = _mm512_unpacklo_epi16(a0, b0), u1 = _mm512_unpackhi_epi16(a0, b0);
      const __m512i u2 = _mm512_unpacklo_epi16(a1, b1), u3 = _mm512_unpackhi_epi16(a1, b1);
      const __m512i t0 = _mm512_shuffle_i32x4(u0, u1, 0x44), t1 = _mm512_shuffle_i32x4(u2, u3, 0x44);
      const __m512i t2 = _mm512_shuffle_i32x4(u0, u1, 0xEE), t3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);
      uint8_t* d = dst + (j >> 5) * pstride + qi * 128;
      _mm512_storeu_si512(d, _mm512_shuffle_i32x4(t0, t1, 0x88));
      _mm512_storeu_si512(d + 64, _mm512_shuffle_i32x4(t0, t1, 0xDD));
      _mm512_storeu_si512(d + pstride, _mm512_shuffle_i32x4(t2, t3, 0x88));
      _mm512_storeu_si512(d + pstride + 64, _mm512_shuffle_i32x4(t2, t3, 0xDD));
    }
  }
  pack_b_quad_from(r, j, nc, nr, kq, qi, dst);
}

inline __attribute__((always_inline)) static void qrequant_avx512vnni_row(const QRow& r) {
  const __m512i vc0 = _mm512_set1_epi32(r.c0), vwz = _mm512_set1_epi32(r.wz);
  const __m512 vm = _mm512_set1_ps(r.mult), vzm = _mm512_set1_ps(r.zmult);
  const __m512i vzz = _mm512_set1_epi32(r.zz), vyz = _mm512_set1_epi32(r.yz);
  const __m512 flo = _mm512_set1_ps((float)(r.qlo - r.yz)), fhi = _mm512_set1_ps((float)(r.qhi - r.yz));
  int64_t j = 0;
  if (!r.y32) {  // 64 (then 32) outputs a step, packed to bytes with one store (same arithmetic as below)
    // q lies in [qlo, qhi], inside the output type: the saturating packs keep it
    const auto q16 = [&](int64_t o) __attribute__((always_inline)) {
      __m512i t = _mm512_add_epi32(_mm512_loadu_si512(r.acc + o), vc0);
      if (r.colsum) t = _mm512_sub_epi32(t, _mm512_mullo_epi32(vwz, _mm512_loadu_si512(r.colsum + o)));
      __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(t), vm);
      if (r.z) {
        const __m128i zb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint8_t*>(r.z) + o));
        __m512i zi = r.z_signed ? _mm512_cvtepi8_epi32(zb) : _mm512_cvtepu8_epi32(zb);
        v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(zi, vzz)), vzm));
      }
      v = _mm512_min_ps(_mm512_max_ps(v, flo), fhi);
      return _mm512_add_epi32(_mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz);
    };
    // after the packs, dword 4k + s holds outputs 16s + 4k .. 16s + 4k + 3
    const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (; j + 64 <= r.n; j += 64) {
      const __m512i q0 = q16(j), q1 = q16(j + 16), q2 = q16(j + 32), q3 = q16(j + 48);
      const __m512i w01 = _mm512_packs_epi32(q0, q1), w23 = _mm512_packs_epi32(q2, q3);
      const __m512i b = r.y_signed ? _mm512_packs_epi16(w01, w23) : _mm512_packus_epi16(w01, w23);
      _mm512_storeu_si512(static_cast<uint8_t*>(r.y) + j, _mm512_permutexvar_epi32(perm, b));
    }
    if (j + 32 <= r.n) {
      const __m512i q0 = q16(j), q1 = q16(j + 16);
      const __m512i w01 = _mm512_packs_epi32(q0, q1);
      const __m512i b = r.y_signed ? _mm512_packs_epi16(w01, w01) : _mm512_packus_epi16(w01, w01);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint8_t*>(r.y) + j),
                          _mm512_castsi512_si256(_mm512_permutexvar_epi32(perm, b)));
      j += 32;
    }
  }
  for (; j < r.n; j += 16) {
    const int64_t left = r.n - j;
    const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    __m512i t = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, r.acc + j), vc0);
    if (r.colsum) t = _mm512_sub_epi32(t, _mm512_mullo_epi32(vwz, _mm512_maskz_loadu_epi32(m, r.colsum + j)));
    if (r.y32) {
      _mm512_mask_storeu_epi32(r.y32 + j, m, t);
      continue;
    }
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(t), vm);
    if (r.z) {
      const __m128i zb = _mm_maskz_loadu_epi8(m, static_cast<const uint8_t*>(r.z) + j);
      __m512i zi = r.z_signed ? _mm512_cvtepi8_epi32(zb) : _mm512_cvtepu8_epi32(zb);
      v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(zi, vzz)), vzm));
    }
    v = _mm512_min_ps(_mm512_max_ps(v, flo), fhi);
    __m512i q = _mm512_add_epi32(_mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vyz);
    _mm_mask_storeu_epi8(static_cast<uint8_t*>(r.y) + j, m, _mm512_cvtepi32_epi8(q));
  }
}

void qrequant_avx512vnni(const QRow& r) {
  if (r.rows <= 1 && !r.c0v) return qrequant_avx512vnni_row(r);
  QRow s = r;
  s.rows = 1;
  for (int i = 0; i < r.rows; ++i) {
    s.acc = r.acc + i * r.ld_acc;
    s.c0 = r.c0v[i];
    s.wz = r.wzv[i];
    s.mult = r.multv[i];
    if (r.z) s.z = static_cast<const uint8_t*>(r.z) + i * r.ld_out;
    if (r.y) s.y = static_cast<uint8_t*>(r.y) + i * r.ld_out;
    if (r.y32) s.y32 = r.y32 + i * r.ld_out;
    qrequant_avx512vnni_row(s);
  }
}

}  // namespace qgemm
}  // namespace snep
