// bf16gemm driver: packing with rounding to bf16, cache blocking and threading
// over (batch, M block, N chunk) tasks as in sgemm.cpp. See bf16gemm.h.
#include "cpu/gemm/bf16gemm.h"
#include "cpu/gemm/task_grid.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace snep {
namespace gemm {
namespace {

int act_code(const Activation& act) {
  switch (act.kind) {
    case Act::None: return kActNone;
    case Act::Relu: return kActRelu;
    case Act::Clip: return kActClip;
    case Act::LeakyRelu: return kActLeakyRelu;
    case Act::HardSigmoid: return kActHardSigmoid;
    case Act::HardSwish: return kActHardSwish;
    default: return kActOther;
  }
}

constexpr int64_t kSlabCols = 256;
constexpr int64_t kABlockElems = 1 << 19;  // bf16 elements of an A block kept in L2 (1 MiB)
constexpr int64_t kKcMax = 512;

struct RunCtx {
  const Bf16Problem* p;
  const Bf16Ukernel* uk;
  Grid g;
  int64_t kc;
  uint16_t* scratch;
  int64_t slab;
  std::atomic<int64_t> next{0};
};

void do_task(const RunCtx& x, int64_t t, uint16_t* sc) {
  const Bf16Problem& p = *x.p;
  const Bf16Ukernel& uk = *x.uk;
  const int MR = uk.mr, NR = uk.nr;
  const Grid& g = x.g;
  int64_t nci = t % g.nchunks;
  int64_t rest = t / g.nchunks;
  int64_t mbi = rest % g.mblocks;
  int64_t bi = rest / g.mblocks;
  int64_t q0 = nci * g.nc_panels, q1 = std::min(g.npanels, q0 + g.nc_panels);
  int64_t p0 = mbi * g.mb_panels, p1 = std::min(g.mpanels, p0 + g.mb_panels);
  if (q0 >= q1 || p0 >= p1) return;
  const int64_t M = p.M, N = p.N, K = p.K, ldc = p.ldc;
  const int64_t Mpad = g.mpanels * MR, Npad = g.npanels * NR;
  if (uk.tile_a) bf16_amx_configure();
  const uint16_t* A = p.a_packed(bi);
  const uint16_t* Bp = p.b_packed(bi);
  float* C = p.c(bi);
  Epilogue e;
  p.epilogue(bi, &e);
  const int act = act_code(e.act);
  const int64_t n0 = q0 * NR, ncols = std::min(N, q1 * NR) - n0;
  UkEpilogue te;
  te.alpha = e.alpha;
  te.act = act == kActOther ? kActNone : act;
  te.act_a = e.act.a;
  te.act_b = e.act.b;
  for (int s = 0; s < 2; ++s) {
    te.add_sm[s] = e.add[s].sm;
    te.add_sn[s] = e.add[s].sn;
    te.add_scale[s] = e.add[s].scale;
  }
  int64_t k0 = 0;
  for (;;) {
    const int64_t kcb = std::min(x.kc, K - k0), kcp = round_up(kcb, uk.kstep);
    const bool last = k0 + kcb >= K;
    const uint16_t* bblk;
    if (Bp) {
      bblk = Bp + k0 * Npad + q0 * NR * kcp;
    } else {
      p.pack_b(bi, k0, kcb, n0, ncols, sc, NR, uk.kstep);
      bblk = sc;
    }
    for (int64_t q = q0; q < q1; ++q) {
      const uint16_t* b = bblk + (q - q0) * NR * kcp;
      const int64_t j0 = q * NR;
      const int nr = (int)std::min<int64_t>(NR, N - j0);
      for (int64_t pp = p0; pp < p1; ++pp) {
        const uint16_t* a = A + k0 * Mpad + pp * MR * kcp;
        const int64_t i0 = pp * MR;
        const int mr = (int)std::min<int64_t>(MR, M - i0);
        float* c = C + i0 * ldc + j0;
        if (last) {
          for (int s = 0; s < 2; ++s)
            te.add[s] = e.add[s].p ? e.add[s].p + i0 * e.add[s].sm + j0 * e.add[s].sn : nullptr;
          uk.fn(kcp / 2, a, b, c, ldc, mr, nr, k0 > 0, &te);
          if (act == kActOther)
            activation_rows(e.act, c, ldc, mr, nr);
        } else {
          uk.fn(kcp / 2, a, b, c, ldc, mr, nr, k0 > 0, nullptr);
        }
      }
    }
    if (last) break;
    k0 += kcb;
  }
}

void task_entry(RunCtx* x, int64_t w) {
  uint16_t* sc = x->scratch ? x->scratch + w * x->slab : nullptr;
  for (;;) {
    int64_t t = x->next.fetch_add(1, std::memory_order_relaxed);
    if (t >= x->g.total) break;
    do_task(*x, t, sc);
  }
}

}  // namespace

int64_t bf16_kc_for(int64_t K, const Bf16Ukernel& uk) {
  if (K <= kKcMax) return round_up(std::max<int64_t>(K, 0), uk.kstep);
  int64_t nb = (K + kKcMax - 1) / kKcMax;
  return round_up((K + nb - 1) / nb, uk.kstep);
}

const Bf16Ukernel& bf16_ukernel_for(int64_t M) {
  static const Bf16Ukernel k12{12, 32, 2, false, bf16gemm_ukernel_12x32_avx512bf16, "bf16_12x32_avx512bf16"};
  static const Bf16Ukernel k8{8, 32, 2, false, bf16gemm_ukernel_8x32_avx512bf16, "bf16_8x32_avx512bf16"};
  static const Bf16Ukernel amx{32, 32, 32, true, bf16gemm_ukernel_32x32_amx, "bf16_32x32_amx"};
  static const bool use_amx = [] {
    const char* e = std::getenv("SNEP_BF16_AMX");
    return !(e && std::string(e) == "0") && amx_bf16_ready();
  }();
  if (use_amx && M >= 16) return amx;
  return round_up(M, 8) < round_up(M, 12) ? k8 : k12;
}

void bf16_pack_a(const float* src, int64_t rs, int64_t cs, int64_t M, int64_t K, uint16_t* dst,
                 const Bf16Ukernel& uk, float scale, int64_t p0, int64_t p1) {
  const int MR = uk.mr;
  const int64_t mpanels = (M + MR - 1) / MR, Mpad = mpanels * MR;
  if (p1 < 0) p1 = mpanels;
  const int64_t kc = bf16_kc_for(K, uk);
  const int g = uk.tile_a ? 32 : 2;  // k run of one row in the panel: [kcp/g][MR][g]
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kcb = std::min(kc, K - k0), kcp = round_up(kcb, uk.kstep);
    for (int64_t p = p0; p < p1; ++p) {
      uint16_t* d = dst + k0 * Mpad + p * MR * kcp;
      const int64_t i0 = p * MR;
      const int mr = (int)std::min<int64_t>(MR, M - i0);
      for (int i = 0; i < MR; ++i) {
        const float* s = src + (i0 + i) * rs + k0 * cs;
        if (g == 32 && cs == 1 && scale == 1.f) {  // contiguous runs of 32 k: vector conversion
          for (int64_t k = 0; k < kcp; k += 32)
            bf16_convert_row_avx512bf16(s + k, i < mr ? (int)std::min<int64_t>(32, kcb - k) : 0,
                                        d + k * MR + 32 * i, 32);
          continue;
        }
        const int64_t kn = i < mr ? kcb : 0;
        if (g == 2) {
          for (int64_t k = 0; k < kcp; ++k)
            d[(k >> 1) * 2 * MR + 2 * i + (k & 1)] = k < kn ? bf16_round(scale * s[k * cs]) : 0;
        } else {
          for (int64_t k = 0; k < kcp; ++k)
            d[(k >> 5) * 32 * MR + 32 * i + (k & 31)] = k < kn ? bf16_round(scale * s[k * cs]) : 0;
        }
      }
    }
  }
}

void bf16_pack_b_slab(const float* src, int64_t rs, int64_t cs, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                      uint16_t* dst, int NR, int kstep) {
  const int64_t npan = (nc + NR - 1) / NR, kcp = round_up(kc, kstep);
  for (int64_t j = 0; j < npan; ++j) {
    uint16_t* d = dst + j * NR * kcp;
    std::memset(d + round_up(kc, 2) * NR, 0, (kcp - round_up(kc, 2)) * NR * sizeof(uint16_t));
    const int jn = (int)std::min<int64_t>(NR, nc - j * NR);
    const float* s0 = src + k0 * rs + (n0 + j * NR) * cs;
    for (int64_t k = 0; k < kc; k += 2) {
      const float* r0 = s0 + k * rs;
      const float* r1 = k + 1 < kc ? r0 + rs : nullptr;
      uint16_t* dk = d + k * NR;
      if (cs == 1) {
        bf16_pack_row_pair_avx512bf16(r0, r1, jn, dk, NR);
      } else {
        for (int jj = 0; jj < jn; ++jj) {
          dk[2 * jj] = bf16_round(r0[jj * cs]);
          dk[2 * jj + 1] = r1 ? bf16_round(r1[jj * cs]) : 0;
        }
        for (int jj = jn; jj < NR; ++jj) dk[2 * jj] = dk[2 * jj + 1] = 0;
      }
    }
  }
}

void bf16_pack_b(const float* src, int64_t rs, int64_t cs, int64_t K, int64_t N, uint16_t* dst,
                 const Bf16Ukernel& uk) {
  const int NR = uk.nr;
  const int64_t Npad = round_up(N, NR);
  const int64_t kc = bf16_kc_for(K, uk);
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kcb = std::min(kc, K - k0);
    bf16_pack_b_slab(src, rs, cs, k0, kcb, 0, N, dst + k0 * Npad, NR, uk.kstep);
  }
}

int64_t bf16_slab_elems(int64_t K, const Bf16Ukernel& uk) {
  return std::max<int64_t>(bf16_kc_for(K, uk), uk.kstep) * round_up(kSlabCols, uk.nr);
}

void bf16_run(const Bf16Problem& p, const Bf16Ukernel& uk, ThreadPool* pool, uint16_t* scratch) {
  if (p.batch <= 0 || p.M <= 0 || p.N <= 0) return;
  const int MR = uk.mr, NR = uk.nr;
  const bool slab = p.b_packed(0) == nullptr;
  const int64_t kc = bf16_kc_for(p.K, uk);
  const int nth = pool ? pool->num_threads() : 1;
  const int64_t nc_max = slab ? kSlabCols / NR : std::max<int64_t>(1, 512 / NR);
  const Grid g = plan_grid(p.batch, p.M, p.N, MR, NR, std::max<int64_t>(kc, 2), kABlockElems, nc_max, nth);

  RunCtx x;
  x.p = &p;
  x.uk = &uk;
  x.g = g;
  x.kc = kc;
  x.scratch = slab ? scratch : nullptr;
  x.slab = bf16_slab_elems(p.K, uk);
  int64_t nw = std::min<int64_t>(nth, g.total);
  if (slab) nw = std::min<int64_t>(nw, scratch_slots());
  if (nw <= 1) {
    task_entry(&x, 0);
    return;
  }
  RunCtx* px = &x;
  pool->run_tasks(nw, [px](int64_t w) { task_entry(px, w); });
}

}  // namespace gemm
}  // namespace snep
