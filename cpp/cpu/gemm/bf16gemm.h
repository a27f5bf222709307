// bf16gemm: the sgemm's blocked, threaded GEMM with bfloat16 operands and fp32
// accumulation (vdpbf16ps, AVX512-BF16) and the same fp32 epilogue:
//
//   C[M x N] = act( alpha * bf16(A) * bf16(B) + s0*add0 + s1*add1 )
//
// fp32 operands are rounded to bf16 (nearest even; fp32 denormals flush to 0,
// as vcvtne2ps2bf16 does) while they are packed: the constant one once at
// prepare, the other per run (A whole, B slab by slab inside each task).
// Packed layouts (bf16gemm_ukernel.h): K split into blocks of bf16_kc_for(K, uk)
// (a multiple of the kernel's kstep: 2 for vdpbf16ps, 32 for AMX), block
// (k0, kcb) zero-padded to kcp = round_up(kcb, kstep):
//   A: panel p at  A + k0*Mpad + p*MR*kcp,   [kcp/2][MR][2], or [kcp/32][MR][32] (AMX, tile_a)
//   B: panel q at  B + k0*Npad + q*NR*kcp,   [kcp/2][NR][2]
// Only usable where cpu_has("avx512_bf16"); the AMX kernel is taken when the
// CPU and the OS allow it (SNEP_BF16_AMX=0 turns it off).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "core/big_alloc.h"
#include "cpu/gemm/bf16gemm_ukernel.h"
#include "cpu/gemm/sgemm.h"

namespace snep {
class ThreadPool;
namespace gemm {

struct Bf16Ukernel {
  int mr = 0, nr = 0;
  int kstep = 2;        // K padding granule of a block
  bool tile_a = false;  // A packed [kcp/32][MR][32] (AMX) instead of [kcp/2][MR][2]
  Bf16UkernelFn fn = nullptr;
  const char* name = "";
};

// AMX 32x32 for M >= 16 where available, else 12x32 or 8x32, whichever pads M least.
const Bf16Ukernel& bf16_ukernel_for(int64_t M);

// K block: K split into equal blocks of at most 512, rounded up to kstep (a
// 32-column B panel of 512 bf16 rows is 32 KiB, like the sgemm's 256 fp32 rows).
int64_t bf16_kc_for(int64_t K, const Bf16Ukernel& uk);

inline int64_t bf16_packed_a_elems(int64_t M, int64_t K, const Bf16Ukernel& uk) {
  return round_up(M, uk.mr) * round_up(K, uk.kstep);
}
inline int64_t bf16_packed_b_elems(int64_t K, int64_t N, const Bf16Ukernel& uk) {
  return round_up(N, uk.nr) * round_up(K, uk.kstep);
}

// fp32 -> bf16, round to nearest even, NaN kept quiet, denormals to signed zero.
inline uint16_t bf16_round(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Packs A (element (i,k) at src[i*rs + k*cs]) scaled by `scale`; panels [p0, p1) when given.
void bf16_pack_a(const float* src, int64_t rs, int64_t cs, int64_t M, int64_t K, uint16_t* dst,
                 const Bf16Ukernel& uk, float scale = 1.f, int64_t p0 = 0, int64_t p1 = -1);
// Packs B (element (k,j) at src[k*rs + j*cs]) over the whole N.
void bf16_pack_b(const float* src, int64_t rs, int64_t cs, int64_t K, int64_t N, uint16_t* dst,
                 const Bf16Ukernel& uk);
// One slab of B: rows [k0, k0+kc) (k0 a block start), columns [n0, n0+nc), as panels
// [q][kcp/2][NR][2] with kcp = round_up(kc, kstep) (rows past kc zero).
void bf16_pack_b_slab(const float* src, int64_t rs, int64_t cs, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                      uint16_t* dst, int nr, int kstep);

// As gemm::Problem, with bf16 packed operands.
class Bf16Problem {
 public:
  int64_t batch = 1, M = 0, N = 0, K = 0;
  int64_t ldc = 0;
  virtual ~Bf16Problem() = default;
  virtual const uint16_t* a_packed(int64_t bi) const = 0;
  virtual const uint16_t* b_packed(int64_t bi) const { (void)bi; return nullptr; }
  // Rows [k0, k0+kc) padded with zero rows to a multiple of kstep.
  virtual void pack_b(int64_t bi, int64_t k0, int64_t kc, int64_t n0, int64_t nc, uint16_t* dst, int nr,
                      int kstep) const {
    (void)bi; (void)k0; (void)kc; (void)n0; (void)nc; (void)dst; (void)nr; (void)kstep;
  }
  virtual float* c(int64_t bi) const = 0;
  virtual void epilogue(int64_t bi, Epilogue* e) const = 0;
};

// Scratch elements per slot when B is packed slab by slab (scratch_slots() slots).
int64_t bf16_slab_elems(int64_t K, const Bf16Ukernel& uk);

void bf16_run(const Bf16Problem& p, const Bf16Ukernel& uk, ThreadPool* pool, uint16_t* scratch);

// 64-byte aligned bf16 storage for pre-packed weights.
class Bf16Buf {
 public:
  void reset(int64_t n) {
    size_t bytes = ((size_t)std::max<int64_t>(n, 1) * 2 + 63) / 64 * 64;
    p_.reset(static_cast<uint16_t*>(big_alloc(bytes)));
    if (!p_) throw std::bad_alloc();
  }
  uint16_t* data() const { return p_.get(); }
 private:
  struct Free { void operator()(uint16_t* p) const { big_free(p); } };
  std::unique_ptr<uint16_t, Free> p_;
};

// Elements rounded up to a 64-byte multiple (for carving a workspace).
inline int64_t bf16_ws_round(int64_t elems) { return (elems + 31) / 32 * 32; }

}  // namespace gemm
}  // namespace snep
