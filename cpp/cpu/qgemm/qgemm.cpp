// qgemm: micro-kernel choice, packing, the plain C++ kernels and task runner.
#include "cpu/qgemm/qgemm.h"

#include <emmintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace snep {
namespace qgemm {
namespace {

constexpr int kPlainMR = 4, kPlainNR = 16;

void ukernel_plain(int64_t kq, const void* av, const uint8_t* b, int32_t* c, int64_t ldc, int mr) {
  const int8_t* a = static_cast<const int8_t*>(av);
  int32_t acc[kPlainMR][kPlainNR] = {};
  for (int64_t q = 0; q < kq; ++q) {
    for (int i = 0; i < mr; ++i) {
      const int8_t* w = a + 4 * i;
      for (int j = 0; j < kPlainNR; ++j) {
        const uint8_t* x = b + 4 * j;
        acc[i][j] += (int32_t)x[0] * w[0] + (int32_t)x[1] * w[1] + (int32_t)x[2] * w[2] + (int32_t)x[3] * w[3];
      }
    }
    a += 4 * kPlainMR;
    b += 4 * kPlainNR;
  }
  for (int i = 0; i < mr; ++i) std::memcpy(c + i * ldc, acc[i], sizeof(acc[i]));
}

}  // namespace

static void qrequant_plain_row(const QRow& r) {
  const float flo = (float)(r.qlo - r.yz), fhi = (float)(r.qhi - r.yz);
  for (int64_t j = 0; j < r.n; ++j) {
    int32_t t = (int32_t)((uint32_t)r.acc[j] + (uint32_t)r.c0 -
                          (r.colsum ? (uint32_t)r.wz * (uint32_t)r.colsum[j] : 0u));
    if (r.y32) { r.y32[j] = t; continue; }
    float v = (float)t * r.mult;
    if (r.z) {
      int32_t zv = r.z_signed ? (int32_t) static_cast<const int8_t*>(r.z)[j] : (int32_t) static_cast<const uint8_t*>(r.z)[j];
      v = v + (float)(zv - r.zz) * r.zmult;
    }
    v = std::min(std::max(v, flo), fhi);
    static_cast<uint8_t*>(r.y)[j] = (uint8_t)((int32_t)std::nearbyint(v) + r.yz);
  }
}

void qrequant_plain(const QRow& r) {
  if (r.rows <= 1 && !r.c0v) return qrequant_plain_row(r);
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
    qrequant_plain_row(s);
  }
}

// AMX tiles do ~2x the work of VNNI per cycle on these shapes (measured on
// MobileNetV2/ResNet50 1x1 and 3x3 layers), but pad M to 32 and K to 64: with
// small K (expansion 1x1 layers, K = 16..32) or M = 24 the padding eats the gain.
static bool amx_pays(int64_t M, int64_t K, int vnni_mr) {
  const double amx = (double)round_up(M, 32) * round_up(K, 64);
  const double vnni = (double)round_up(M, vnni_mr) * round_up(K, 4);
  return amx < 1.5 * vnni;
}

const QUkernel& best_ukernel() {
  static const QUkernel uk = [] {
    if (cpu_has("avx512_vnni"))
      return QUkernel{12, 32, 1, 1, qgemm_ukernel_12x32_avx512vnni, qrequant_avx512vnni, pack_b_quad_avx512,
                      "12x32_avx512vnni", qgemm_tile_12x32_avx512vnni};
    if (cpu_has("avx_vnni"))
      return QUkernel{6, 16, 1, 1, qgemm_ukernel_6x16_avxvnni, qrequant_avx2, pack_b_quad, "6x16_avxvnni"};
    if (cpu_has("avx2")) return QUkernel{4, 8, 2, 1, qgemm_ukernel_4x8_avx2, qrequant_avx2, pack_b_quad, "4x8_avx2"};
    return QUkernel{kPlainMR, kPlainNR, 1, 1, ukernel_plain, qrequant_plain, pack_b_quad, "4x16_plain"};
  }();
  return uk;
}

const QUkernel& ukernel_for(int64_t M, int64_t K) {
  static const QUkernel k8 = [] {
    QUkernel k = best_ukernel();
    k.mr = 8;
    k.fn = qgemm_ukernel_8x32_avx512vnni;
    k.tile = qgemm_tile_8x32_avx512vnni;
    k.name = "8x32_avx512vnni";
    return k;
  }();
  static const QUkernel amx = [] {
    QUkernel k = best_ukernel();
    k.mr = 32;
    k.kq_align = 16;
    k.fn = qgemm_ukernel_32x32_amx;
    k.tile = nullptr;
    k.name = "32x32_amx";
    return k;
  }();
  static const int force = [] { const char* e = std::getenv("SNEP_QGEMM_MR"); return e ? std::atoi(e) : 0; }();
  const QUkernel& best = best_ukernel();
  if (best.fn != qgemm_ukernel_12x32_avx512vnni || force == 12) return best;
  const QUkernel& vnni = (force == 8 || round_up(M, 8) < round_up(M, 12)) ? k8 : best;
  if (cpu_has("amx_int8") && (force == 32 || (force == 0 && amx_pays(M, K, vnni.mr)))) return amx;
  return vnni;
}

void pack_a(const void* w, bool w_u8, int64_t rs, int64_t cs, int64_t M, int64_t K, const QUkernel& uk, void* dst,
            int32_t* wsum) {
  const int64_t kq = kq_for(K, uk), MR = uk.mr;
  const int64_t np = (M + MR - 1) / MR;
  for (int64_t p = 0; p < np; ++p) {
    for (int64_t i = 0; i < MR; ++i) {
      const int64_t m = p * MR + i;
      int32_t s = 0;
      for (int64_t k = 0; k < kq * 4; ++k) {
        int32_t v = 0;
        if (m < M && k < K) {
          v = w_u8 ? (int32_t) static_cast<const uint8_t*>(w)[m * rs + k * cs] - 128
                   : (int32_t) static_cast<const int8_t*>(w)[m * rs + k * cs];
        }
        s += v;
        const int64_t off = uk.kq_align == 16 ? ((p * kq / 16 + k / 64) * MR + i) * 64 + k % 64
                                              : ((p * kq + k / 4) * MR + i) * 4 + k % 4;
        if (uk.a_bytes == 2) static_cast<int16_t*>(dst)[off] = (int16_t)v;
        else static_cast<int8_t*>(dst)[off] = (int8_t)v;
      }
      if (m < M && wsum) wsum[m] = s;
    }
  }
}

void pack_b_quad(const uint8_t* const r[4], int64_t nc, int nr, int64_t kq, int64_t qi, uint8_t* dst) {
  pack_b_quad_from(r, 0, nc, nr, kq, qi, dst);
}

void pack_b_quad_from(const uint8_t* const r[4], int64_t j0, int64_t nc, int nr, int64_t kq, int64_t qi, uint8_t* dst) {
  static const uint8_t zeros[64] = {};
  const int64_t pstride = kq * nr * 4;
  const int sh = __builtin_ctz((unsigned)nr);  // nr is a power of two
  uint8_t* const d0 = dst + qi * nr * 4;
  auto out = [&](int64_t j) { return d0 + (j >> sh) * pstride + (j & (nr - 1)) * 4; };
  int64_t j = j0;
  // 16 columns at a time: interleave bytes of the 4 rows into [col][4]
  for (; j + 16 <= nc; j += 16) {
    __m128i v[4];
    for (int t = 0; t < 4; ++t)
      v[t] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r[t] ? r[t] + j : zeros));
    const __m128i a0 = _mm_unpacklo_epi8(v[0], v[1]), a1 = _mm_unpackhi_epi8(v[0], v[1]);
    const __m128i b0 = _mm_unpacklo_epi8(v[2], v[3]), b1 = _mm_unpackhi_epi8(v[2], v[3]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out(j)), _mm_unpacklo_epi16(a0, b0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out(j + 4)), _mm_unpackhi_epi16(a0, b0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out(j + 8)), _mm_unpacklo_epi16(a1, b1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out(j + 12)), _mm_unpackhi_epi16(a1, b1));
  }
  const int64_t end = round_up(nc, nr);
  for (; j < end; ++j) {
    uint8_t* d = out(j);
    for (int t = 0; t < 4; ++t) d[t] = (j < nc && r[t]) ? r[t][j] : 0;
  }
}

void add_colsum(const uint8_t* const r[4], int64_t nc, int32_t* colsum) {
  for (int t = 0; t < 4; ++t) {
    if (!r[t]) continue;
    const uint8_t* x = r[t];
    for (int64_t j = 0; j < nc; ++j) colsum[j] += x[j];
  }
}

int scratch_slots() {
  static const int n = [] {
    unsigned h = std::thread::hardware_concurrency();
    return (int)std::min<unsigned>(64, std::max<unsigned>(1, h));
  }();
  return n;
}

void run_tasks(ThreadPool* pool, int64_t ntasks, int nslots, const std::function<void(int64_t, int)>& fn) {
  if (ntasks <= 0) return;
  int64_t nw = pool ? std::min<int64_t>({(int64_t)pool->num_threads(), ntasks, (int64_t)nslots}) : 1;
  if (nw <= 1) {
    for (int64_t t = 0; t < ntasks; ++t) fn(t, 0);
    return;
  }
  // Worker w owns tasks [w * ntasks / nw, (w + 1) * ntasks / nw) and runs them front to back,
  // then takes tasks from the back of the others' shares (a core slowed by its host catches
  // up). Contiguous runs, not a shared counter: routines order their tasks so that a run
  // shares data (a pixel range, a group of weight panels); a counter dealt neighbouring tasks
  // to different threads. ResNet50 QDQ at 2 threads, in-process A/B: 0.97-0.98 of the time.
  pool->run_owned(ntasks, (int)nw, fn);
}

}  // namespace qgemm
}  // namespace snep
