// sgemm driver: run-time micro-kernel choice, packing, cache blocking and
// threading over (batch, M block, N chunk) tasks. See sgemm.h.
#include "cpu/gemm/sgemm.h"
#include "cpu/gemm/task_grid.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace snep {
namespace detail {
void gelu_rows_f32_avx512(bool tanh_form, float* c, int64_t ldc, int mr, int nr);  // elementwise/unary_avx512.cpp
}
namespace gemm {
namespace {

// Plain C++ micro-kernel (any x86-64): up to 4 rows x 16 columns.
constexpr int kPlainMR = 4, kPlainNR = 16;

template <int M>
void plain_kern(int64_t kc, const float* a, int64_t as, const float* b, float* c, int64_t ldc, int nr,
                int accumulate, const UkEpilogue* ep) {
  float acc[M][kPlainNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < M; ++i) {
      const float av = a[i];
      for (int j = 0; j < kPlainNR; ++j) acc[i][j] += av * b[j];
    }
    a += as;
    b += kPlainNR;
  }
  for (int i = 0; i < M; ++i) {
    float* cr = c + i * ldc;
    for (int j = 0; j < nr; ++j) {
      float v = acc[i][j];
      if (accumulate) v += cr[j];
      if (ep) {
        v *= ep->alpha;
        for (int t = 0; t < 2; ++t)
          if (ep->add[t]) v += ep->add_scale[t] * ep->add[t][i * ep->add_sm[t] + j * ep->add_sn[t]];
        switch (ep->act) {
          case kActRelu: v = v < 0.f ? 0.f : v; break;  // NaN stays NaN, here and below
          case kActClip: v = std::min(std::max(v, ep->act_a), ep->act_b); break;
          case kActLeakyRelu: v = v >= 0.f ? v : ep->act_a * v; break;
          case kActHardSigmoid: v = std::max(std::min(ep->act_a * v + ep->act_b, 1.f), 0.f); break;
          case kActHardSwish: v = v * std::max(std::min(v * (1.f / 6.f) + 0.5f, 1.f), 0.f); break;
          default: break;
        }
      }
      cr[j] = v;
    }
  }
}

void sgemm_ukernel_plain(int64_t kc, const float* a, int64_t as, const float* b, float* c, int64_t ldc, int mr,
                         int nr, int accumulate, const UkEpilogue* ep) {
  switch (mr) {
    case 1: return plain_kern<1>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 2: return plain_kern<2>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    case 3: return plain_kern<3>(kc, a, as, b, c, ldc, nr, accumulate, ep);
    default: return plain_kern<4>(kc, a, as, b, c, ldc, nr, accumulate, ep);
  }
}

int uk_act_code(const Activation& act, bool gelu_in_kernel) {
  switch (act.kind) {
    case Act::Gelu: return gelu_in_kernel ? kActGelu : kActOther;
    case Act::GeluTanh: return gelu_in_kernel ? kActGeluTanh : kActOther;
    case Act::None: return kActNone;
    case Act::Relu: return kActRelu;
    case Act::Clip: return kActClip;
    case Act::LeakyRelu: return kActLeakyRelu;
    case Act::HardSigmoid: return kActHardSigmoid;
    case Act::HardSwish: return kActHardSwish;
    default: return kActOther;
  }
}

// Columns of one B slab packed per task (bounded scratch).
constexpr int64_t kSlabCols = 256;
// Rows of one A block kept in L2 (floats of A block <= kABlockFloats).
constexpr int64_t kABlockFloats = 1 << 18;

struct RunCtx {
  const Problem* p;
  const Ukernel* uk;
  Grid g;
  int64_t kc;
  float* scratch;
  int64_t slab;
  std::atomic<int64_t> next{0};
};

void do_task(const RunCtx& x, int64_t t, float* sc) {
  const Problem& p = *x.p;
  const Ukernel& uk = *x.uk;
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
  const float* A = p.a_packed(bi);
  int64_t lda = 0;
  const float* Ar = A ? nullptr : p.a_rows(bi, &lda);  // row-major A, read by the direct entry
  const UkernelFn fn = Ar ? uk.direct : uk.fn;
  const int64_t as = Ar ? lda : MR;
  const float* Bp = p.b_packed(bi);
  float* C = p.c(bi);
  Epilogue e;
  p.epilogue(bi, &e);
  const int act = uk_act_code(e.act, uk.gelu);
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
    const int64_t kcb = std::min(x.kc, K - k0);
    const bool last = k0 + kcb >= K;
    const float* bblk;
    if (Bp) {
      bblk = Bp + k0 * Npad + q0 * NR * kcb;
    } else {
      p.pack_b(bi, k0, kcb, n0, ncols, sc, NR);
      bblk = sc;
    }
    for (int64_t q = q0; q < q1; ++q) {
      const float* b = bblk + (q - q0) * NR * kcb;
      const int64_t j0 = q * NR;
      const int nr = (int)std::min<int64_t>(NR, N - j0);
      for (int64_t pp = p0; pp < p1; ++pp) {
        const int64_t i0 = pp * MR;
        const float* a = Ar ? Ar + i0 * lda + k0 : A + k0 * Mpad + pp * MR * kcb;
        const int mr = (int)std::min<int64_t>(MR, M - i0);
        float* c = C + i0 * ldc + j0;
        if (last) {
          for (int s = 0; s < 2; ++s)
            te.add[s] = e.add[s].p ? e.add[s].p + i0 * e.add[s].sm + j0 * e.add[s].sn : nullptr;
          fn(kcb, a, as, b, c, ldc, mr, nr, k0 > 0, &te);
          if (act == kActOther)
            activation_rows(e.act, c, ldc, mr, nr);
        } else {
          fn(kcb, a, as, b, c, ldc, mr, nr, k0 > 0, nullptr);
        }
      }
    }
    if (last) break;
    k0 += kcb;
  }
}

void task_entry(RunCtx* x, int64_t w) {
  float* sc = x->scratch ? x->scratch + w * x->slab : nullptr;
  for (;;) {
    int64_t t = x->next.fetch_add(1, std::memory_order_relaxed);
    if (t >= x->g.total) break;
    do_task(*x, t, sc);
  }
}

}  // namespace

void activation_rows(const Activation& act, float* c, int64_t ldc, int mr, int nr) {
  static const bool avx512 = cpu_has("avx512f");
  if ((act.kind == Act::Gelu || act.kind == Act::GeluTanh) && avx512)
    return detail::gelu_rows_f32_avx512(act.kind == Act::GeluTanh, c, ldc, mr, nr);
  for (int r = 0; r < mr; ++r) act.apply(c + r * ldc, nr);
}

bool direct_a_enabled() {
  static const bool on = [] { const char* e = std::getenv("SNEP_SGEMM_DIRECT_A"); return !e || e[0] != '0'; }();
  return on;
}

int64_t kc_max() {
  static const int64_t kc = [] {
    const char* e = std::getenv("SNEP_SGEMM_KC");
    int64_t v = e ? std::atoll(e) : 0;
    return v > 0 ? v : (int64_t)256;
  }();
  return kc;
}

const Ukernel& best_ukernel() {
  static const Ukernel uk = [] {
    Ukernel u;
    if (cpu_has("avx512f")) {
      u.mr = 12; u.nr = 32; u.fn = sgemm_ukernel_12x32_avx512; u.direct = sgemm_ukernel_direct_12x32_avx512;
      u.gelu = true;
      u.name = "12x32_avx512";
    }
    else if (cpu_has("avx2")) { u.mr = 6; u.nr = 16; u.fn = sgemm_ukernel_avx2; u.name = "6x16_avx2"; }
    else { u.mr = kPlainMR; u.nr = kPlainNR; u.fn = sgemm_ukernel_plain; u.name = "4x16_plain"; }
    return u;
  }();
  return uk;
}

const Ukernel& ukernel_for(int64_t M) {
  static const Ukernel k8 = [] {
    Ukernel u;
    u.mr = 8; u.nr = 32; u.fn = sgemm_ukernel_8x32_avx512; u.direct = sgemm_ukernel_direct_8x32_avx512;
    u.gelu = true;
    u.name = "8x32_avx512";
    return u;
  }();
  const Ukernel& best = best_ukernel();
  if (best.nr != 32) return best;
  static const int force = [] { const char* e = std::getenv("SNEP_SGEMM_MR"); return e ? std::atoi(e) : 0; }();
  if (force == 8) return k8;
  if (force == 12) return best;
  // Fewest padded rows; ties to the taller tile.
  return round_up(M, 8) < round_up(M, 12) ? k8 : best;
}

void pack_a(const float* src, int64_t rs, int64_t cs, int64_t M, int64_t K, float* dst, const Ukernel& uk,
            float scale, int64_t p0, int64_t p1) {
  const int MR = uk.mr;
  const int64_t mpanels = (M + MR - 1) / MR, Mpad = mpanels * MR;
  if (p1 < 0) p1 = mpanels;
  const int64_t kc = kc_for(K);
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kcb = std::min(kc, K - k0);
    for (int64_t p = p0; p < p1; ++p) {
      float* d = dst + k0 * Mpad + p * MR * kcb;
      const int64_t i0 = p * MR;
      const int mr = (int)std::min<int64_t>(MR, M - i0);
      for (int i = 0; i < MR; ++i) {
        if (i >= mr) {
          for (int64_t k = 0; k < kcb; ++k) d[k * MR + i] = 0.f;
          continue;
        }
        const float* s = src + (i0 + i) * rs + k0 * cs;
        for (int64_t k = 0; k < kcb; ++k) d[k * MR + i] = scale * s[k * cs];
      }
    }
  }
}

void pack_b_slab(const float* src, int64_t rs, int64_t cs, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                 float* dst, int NR) {
  const int64_t npan = (nc + NR - 1) / NR;
  for (int64_t j = 0; j < npan; ++j) {
    float* d = dst + j * NR * kc;
    const int64_t jn = std::min<int64_t>(NR, nc - j * NR);
    const float* s0 = src + k0 * rs + (n0 + j * NR) * cs;
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = s0 + k * rs;
      float* dk = d + k * NR;
      if (cs == 1) {
        std::memcpy(dk, s, jn * sizeof(float));
      } else {
        for (int64_t jj = 0; jj < jn; ++jj) dk[jj] = s[jj * cs];
      }
      for (int64_t jj = jn; jj < NR; ++jj) dk[jj] = 0.f;
    }
  }
}

void pack_b(const float* src, int64_t rs, int64_t cs, int64_t K, int64_t N, float* dst, const Ukernel& uk,
            int64_t q0, int64_t q1) {
  const int NR = uk.nr;
  const int64_t npanels = (N + NR - 1) / NR, Npad = npanels * NR;
  if (q1 < 0) q1 = npanels;
  if (q0 >= q1) return;
  const int64_t kc = kc_for(K);
  const int64_t n0 = q0 * NR, nc = std::min(N, q1 * NR) - n0;
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kcb = std::min(kc, K - k0);
    pack_b_slab(src, rs, cs, k0, kcb, n0, nc, dst + k0 * Npad + q0 * NR * kcb, NR);
  }
}

int64_t slab_floats(int64_t K, const Ukernel& uk) {
  return std::max<int64_t>(kc_for(K), 1) * round_up(kSlabCols, uk.nr);
}

int scratch_slots() {
  static const int n = [] {
    unsigned h = std::thread::hardware_concurrency();
    return (int)std::min<unsigned>(64, std::max<unsigned>(1, h));
  }();
  return n;
}

void run(const Problem& p, const Ukernel& uk, ThreadPool* pool, float* scratch) {
  if (p.batch <= 0 || p.M <= 0 || p.N <= 0) return;
  const int MR = uk.mr, NR = uk.nr;
  const bool slab = p.b_packed(0) == nullptr;
  const int64_t kc = kc_for(p.K);
  const int nth = pool ? pool->num_threads() : 1;
  const int64_t nc_max = slab ? kSlabCols / NR : std::max<int64_t>(1, 512 / NR);
  const Grid g = plan_grid(p.batch, p.M, p.N, MR, NR, kc, kABlockFloats, nc_max, nth);

  RunCtx x;
  x.p = &p;
  x.uk = &uk;
  x.g = g;
  x.kc = kc;
  x.scratch = slab ? scratch : nullptr;
  x.slab = slab_floats(p.K, uk);
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
