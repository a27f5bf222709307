// sgemm: packed, cache-blocked single-precision GEMM with per-ISA micro-kernels
// and a fused epilogue, used by Conv / ConvTranspose / Gemm / MatMul.
//
//   C[M x N] = act( alpha * A[M x K] * B[K x N] + s0*add0 + s1*add1 )
//
// Packed formats (both zero-padded, K split into blocks of kc_for(K)):
//   A: panels of MR rows;    block (k0, kcb), panel p at  A + k0*Mpad + p*MR*kcb,   [k][MR]
//   B: panels of NR columns; block (k0, kcb), panel q at  B + k0*Npad + q*NR*kcb,   [k][NR]
// The constant operand (weights) is packed once at prepare; the other is packed
// per run (whole, into the workspace) or slab by slab inside each task (B only,
// e.g. im2col written straight into the packed layout).
//
// The micro-kernels live in sgemm_<MR>x<NR>_<isa>.cpp files compiled with their
// ISA flags; they see only the POD types of sgemm_ukernel.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <memory>
#include <new>

#include "core/big_alloc.h"
#include "cpu/activation.h"
#include "cpu/gemm/sgemm_ukernel.h"

namespace snep {
class ThreadPool;
namespace gemm {

struct Ukernel {
  int mr = 0, nr = 0;
  UkernelFn fn = nullptr;
  UkernelFn direct = nullptr;  // the same tile reading A row-major (unpacked), where the ISA has one
  bool gelu = false;           // applies kActGelu / kActGeluTanh itself
  const char* name = "";
};

// The best micro-kernel on this CPU (AVX-512 > AVX2 > plain), chosen at run time.
const Ukernel& best_ukernel();
// The micro-kernel for a GEMM with M rows (on AVX-512: 8x32 or 12x32, the one
// padding M least). The packed A layout depends on it: pack and run with the same.
const Ukernel& ukernel_for(int64_t M);

// Whether routines may give A row-major to the micro-kernel's direct entry instead of packing
// it per run (SNEP_SGEMM_DIRECT_A=0: always pack, for A/B runs).
bool direct_a_enabled();

// Largest K block (SNEP_SGEMM_KC overrides it, for tuning experiments).
int64_t kc_max();
// K block size: K split into equal blocks of at most kc_max().
inline int64_t kc_for(int64_t K) {
  const int64_t kmax = kc_max();
  if (K <= kmax) return K;
  int64_t nb = (K + kmax - 1) / kmax;
  return (K + nb - 1) / nb;
}
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Floats of a packed A (M x K) / packed B (K x N).
inline int64_t packed_a_floats(int64_t M, int64_t K, const Ukernel& uk) { return round_up(M, uk.mr) * K; }
inline int64_t packed_b_floats(int64_t K, int64_t N, const Ukernel& uk) { return round_up(N, uk.nr) * K; }

// Packs A (element (i,k) at src[i*rs + k*cs]) scaled by `scale`. Panels [p0, p1) only
// when given (for splitting the work over threads).
void pack_a(const float* src, int64_t rs, int64_t cs, int64_t M, int64_t K, float* dst, const Ukernel& uk,
            float scale = 1.f, int64_t p0 = 0, int64_t p1 = -1);
// Packs B (element (k,j) at src[k*rs + j*cs]) over the whole N.
void pack_b(const float* src, int64_t rs, int64_t cs, int64_t K, int64_t N, float* dst, const Ukernel& uk,
            int64_t q0 = 0, int64_t q1 = -1);
// One slab of B: rows [k0, k0+kc), columns [n0, n0+nc) into dst as panels [q][kc][NR].
void pack_b_slab(const float* src, int64_t rs, int64_t cs, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                 float* dst, int nr);

// Addend: element (i,j) of the output gets scale * p[i*sm + j*sn], sn is 0 or 1.
struct Addend {
  const float* p = nullptr;
  int64_t sm = 0, sn = 0;
  float scale = 1.f;
};

struct Epilogue {
  float alpha = 1.f;
  Addend add[2];
  Activation act;
};

// One GEMM problem, possibly batched (groups, images, MatMul batch dims).
// Derived classes give the per-batch pointers; nothing here allocates.
class Problem {
 public:
  int64_t batch = 1, M = 0, N = 0, K = 0;
  int64_t ldc = 0;
  virtual ~Problem() = default;
  // Packed A for batch bi, or nullptr when the problem gives A row-major through a_rows().
  virtual const float* a_packed(int64_t bi) const = 0;
  // A row-major (element (i, k) at a[i * lda + k]) for the micro-kernel's direct entry
  // (Ukernel::direct, which must exist), or nullptr.
  virtual const float* a_rows(int64_t bi, int64_t* lda) const { (void)bi; (void)lda; return nullptr; }
  // Fully packed B for batch bi, or nullptr: then pack_b() is called per slab.
  virtual const float* b_packed(int64_t bi) const { (void)bi; return nullptr; }
  virtual void pack_b(int64_t bi, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst, int nr) const {
    (void)bi; (void)k0; (void)kc; (void)n0; (void)nc; (void)dst; (void)nr;
  }
  virtual float* c(int64_t bi) const = 0;
  // Epilogue of batch bi with addend pointers at element (0,0) of that batch.
  virtual void epilogue(int64_t bi, Epilogue* e) const = 0;
};

// Scratch floats per slot needed by run() when B is packed slab by slab.
int64_t slab_floats(int64_t K, const Ukernel& uk);
// Number of scratch slots sized at prepare time (threads that can pack at once).
int scratch_slots();

// Runs the problem over the pool. `scratch` holds scratch_slots() * slab_floats()
// floats when b_packed() returns nullptr (may be null otherwise).
void run(const Problem& p, const Ukernel& uk, ThreadPool* pool, float* scratch);

// 64-byte aligned float storage for pre-packed weights.
class FloatBuf {
 public:
  FloatBuf() = default;
  explicit FloatBuf(int64_t n) { reset(n); }
  void reset(int64_t n) {
    size_t bytes = ((size_t)std::max<int64_t>(n, 1) * sizeof(float) + 63) / 64 * 64;
    p_.reset(static_cast<float*>(big_alloc(bytes)));
    if (!p_) throw std::bad_alloc();
    n_ = n;
  }
  float* data() const { return p_.get(); }
  int64_t size() const { return n_; }
 private:
  struct Free { void operator()(float* p) const { big_free(p); } };
  std::unique_ptr<float, Free> p_;
  int64_t n_ = 0;
};

// Whether the fused-activation attributes name an activation the routine implements:
// every kind but Gelu / GeluTanh, which only routines whose epilogue runs through
// Activation::apply (the float32 and bfloat16 GEMM routines) accept (gelu_ok).
inline bool activation_supported(const Attrs& attrs, bool gelu_ok = false) {
  try {
    const Act k = Activation::from_attrs(attrs).kind;
    return gelu_ok || (k != Act::Gelu && k != Act::GeluTanh);
  } catch (...) {
    return false;
  }
}

// The activation over an mr x nr tile of C (rows ldc apart) for the kinds the
// micro-kernels leave to the caller (kActOther): Gelu / GeluTanh where the micro-kernel
// cannot apply them in registers (AVX2, plain; through the AVX-512 build of vmath.h where
// the CPU has it), the rest through Activation::apply.
void activation_rows(const Activation& act, float* c, int64_t ldc, int mr, int nr);

// Floats rounded up to a 64-byte multiple (for carving a workspace).
inline int64_t ws_round(int64_t floats) { return (floats + 15) / 16 * 16; }

}  // namespace gemm
}  // namespace snep
