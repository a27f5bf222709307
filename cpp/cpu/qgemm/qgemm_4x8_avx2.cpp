// AVX2 qgemm micro-kernel 4x8. vpmaddubsw would saturate int16 sums, so the
// u8 activations are widened to int16 and multiplied with the (pre-widened,
// int16) weights by vpmaddwd: every product and pair sum is exact in int32.
#include <immintrin.h>

#include "cpu/qgemm/qgemm_ukernel.h"

namespace snep {
namespace qgemm {
namespace {

constexpr int MR = 4;

template <int R>
void kern(int64_t kq, const int16_t* a, const uint8_t* b, int32_t* c, int64_t ldc) {
  __m256i lo[R], hi[R];
  for (int i = 0; i < R; ++i) lo[i] = hi[i] = _mm256_setzero_si256();
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t q = 0; q < kq; ++q) {
    // per 128-bit lane: columns {0,1} / {2,3} (resp. {4,5} / {6,7}), 4 k each
    const __m256i bv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i bl = _mm256_unpacklo_epi8(bv, zero), bh = _mm256_unpackhi_epi8(bv, zero);
    for (int i = 0; i < R; ++i) {
      const __m256i w = _mm256_set1_epi64x(*reinterpret_cast<const long long*>(a + 4 * i));
      lo[i] = _mm256_add_epi32(lo[i], _mm256_madd_epi16(bl, w));
      hi[i] = _mm256_add_epi32(hi[i], _mm256_madd_epi16(bh, w));
    }
    a += 4 * MR;
    b += 32;
  }
  for (int i = 0; i < R; ++i)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * ldc), _mm256_hadd_epi32(lo[i], hi[i]));
}

}  // namespace

void qgemm_ukernel_4x8_avx2(int64_t kq, const void* av, const uint8_t* b, int32_t* c, int64_t ldc, int mr) {
  const int16_t* a = static_cast<const int16_t*>(av);
  switch (mr) {
    case 1: return kern<1>(kq, a, b, c, ldc);
    case 2: return kern<2>(kq, a, b, c, ldc);
    case 3: return kern<3>(kq, a, b, c, ldc);
    default: return kern<4>(kq, a, b, c, ldc);
  }
}

static void qrequant_avx2_row(const QRow& r) {
  const __m256i vc0 = _mm256_set1_epi32(r.c0), vwz = _mm256_set1_epi32(r.wz);
  const __m256 vm = _mm256_set1_ps(r.mult), vzm = _mm256_set1_ps(r.zmult);
  const __m256i vzz = _mm256_set1_epi32(r.zz), vyz = _mm256_set1_epi32(r.yz);
  const __m256 flo = _mm256_set1_ps((float)(r.qlo - r.yz)), fhi = _mm256_set1_ps((float)(r.qhi - r.yz));
  int64_t j = 0;
  for (; j + 8 <= r.n; j += 8) {
    __m256i t = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r.acc + j)), vc0);
    if (r.colsum)
      t = _mm256_sub_epi32(t, _mm256_mullo_epi32(vwz, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r.colsum + j))));
    if (r.y32) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(r.y32 + j), t);
      continue;
    }
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(t), vm);
    if (r.z) {
      const __m128i zb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const uint8_t*>(r.z) + j));
      __m256i zi = r.z_signed ? _mm256_cvtepi8_epi32(zb) : _mm256_cvtepu8_epi32(zb);
      v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(zi, vzz)), vzm));
    }
    v = _mm256_min_ps(_mm256_max_ps(v, flo), fhi);
    __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)), vyz);
    // q lies in [qlo, qhi], inside the output type: the saturating packs keep it; per 128-bit lane
    // the low 4 bytes are then outputs 0-3 (lane 0) and 4-7 (lane 1)
    const __m256i w16 = _mm256_packs_epi32(q, q);
    const __m256i b8 = r.y_signed ? _mm256_packs_epi16(w16, w16) : _mm256_packus_epi16(w16, w16);
    const __m128i y8 = _mm_unpacklo_epi32(_mm256_castsi256_si128(b8), _mm256_extracti128_si256(b8, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(r.y) + j), y8);
  }
  if (j < r.n) {  // tail: same arithmetic on a padded copy
    int32_t acc[8] = {}, cs[8] = {};
    uint8_t zt[8] = {}, yt[8];
    int32_t y32t[8];
    for (int64_t t2 = j; t2 < r.n; ++t2) {
      acc[t2 - j] = r.acc[t2];
      if (r.colsum) cs[t2 - j] = r.colsum[t2];
      if (r.z) zt[t2 - j] = static_cast<const uint8_t*>(r.z)[t2];
    }
    QRow s = r;
    s.acc = acc; s.n = 8; s.colsum = r.colsum ? cs : nullptr; s.z = r.z ? zt : nullptr;
    s.y = yt; s.y32 = r.y32 ? y32t : nullptr;
    qrequant_avx2_row(s);
    for (int64_t t2 = j; t2 < r.n; ++t2) {
      if (r.y32) r.y32[t2] = y32t[t2 - j];
      else static_cast<uint8_t*>(r.y)[t2] = yt[t2 - j];
    }
  }
}

void qrequant_avx2(const QRow& r) {
  if (r.rows <= 1 && !r.c0v) return qrequant_avx2_row(r);
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
    qrequant_avx2_row(s);
  }
}

}  // namespace qgemm
}  // namespace snep
