// qgemm: u8 (activations) x s8 (weights) -> int32 GEMM with pre-packed
// weights, per-ISA micro-kernels (qgemm_ukernel.h) and a requantizing epilogue.
//
//   C[M x N] = W[M x K] * X[K x N]      M: output channels, N: output positions
//
// Zero points are handled by compensation, so the kernels multiply raw bytes:
//   sum_k (x - xz)(w - wz) = sum_k x*w - xz*wsum[m] - wz[m]*colsum[n] + K*xz*wz[m]
// u8 weights are stored as s8 (w - 128) with wz - 128, which keeps the
// products exact. wsum is computed when the weights are packed; colsum (sum of
// a column of X) only when some wz != 0.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>

#include "core/big_alloc.h"
#include "cpu/qgemm/qgemm_ukernel.h"

namespace snep {
class ThreadPool;
namespace qgemm {

struct QUkernel {
  int mr = 0, nr = 0, a_bytes = 1;
  int kq_align = 1;  // quads per K step (AMX: 16)
  QUkernelFn fn = nullptr;
  QRequantFn requant = nullptr;
  QPackFn pack = nullptr;
  const char* name = "";
  QTileFn tile = nullptr;  // fn with the requantization fused (full tiles, no weight zero points), or null
};

// VNNI > AVX2 > plain, by run-time CPU check (SNEP_MAX_ISA caps it).
const QUkernel& best_ukernel();
// The micro-kernel for M weight rows of K: on VNNI 12x32, or 8x32 where it
// pads M less; AMX 32x32 where usable and M, K are large enough that its
// padding (M to 32, K to 64) costs less than its speed gains
// (SNEP_QGEMM_MR=8|12|32 forces one). Pack and run with the same.
const QUkernel& ukernel_for(int64_t M, int64_t K = int64_t(1) << 20);
void qrequant_plain(const QRow& r);

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t kquads(int64_t K) { return (K + 3) / 4; }
// Quads the micro-kernel runs over (K padded to its step).
inline int64_t kq_for(int64_t K, const QUkernel& uk) { return round_up(kquads(K), uk.kq_align); }
inline int64_t packed_a_bytes(int64_t M, int64_t K, const QUkernel& uk) {
  return round_up(M, uk.mr) * kq_for(K, uk) * 4 * uk.a_bytes;
}
inline int64_t a_panel_bytes(int64_t K, const QUkernel& uk) { return uk.mr * kq_for(K, uk) * 4 * uk.a_bytes; }
inline int64_t b_panel_bytes(int64_t K, const QUkernel& uk) { return uk.nr * kq_for(K, uk) * 4; }

// Packs weights (element (m, k) at w[m*rs + k*cs]; u8 when w_u8) into A
// panels; wsum[m] = sum_k of the stored s8 value.
void pack_a(const void* w, bool w_u8, int64_t rs, int64_t cs, int64_t M, int64_t K, const QUkernel& uk, void* dst,
            int32_t* wsum);

// pack_b_quad (QPackFn, qgemm_ukernel.h) with the best ISA for uk.
void pack_b_quad(const uint8_t* const r[4], int64_t nc, int nr, int64_t kq, int64_t qi, uint8_t* dst);
// colsum[j] += r[0][j] + ... + r[3][j] (null rows skipped).
void add_colsum(const uint8_t* const r[4], int64_t nc, int32_t* colsum);

// Runs fn(task, slot) for task in [0, ntasks) over the pool; slot < nslots
// identifies the worker's scratch. Each worker runs a contiguous share of the tasks
// in order (ThreadPool::run_owned): neighbouring tasks should share data.
void run_tasks(ThreadPool* pool, int64_t ntasks, int nslots, const std::function<void(int64_t, int)>& fn);
// Scratch slots sized at prepare time (threads that can run at once).
int scratch_slots();

// 64-byte aligned bytes.
class ByteBuf {
 public:
  ByteBuf() = default;
  explicit ByteBuf(int64_t n) { reset(n); }
  void reset(int64_t n) {
    size_t bytes = ((size_t)(n > 0 ? n : 1) + 63) / 64 * 64;
    p_.reset(static_cast<uint8_t*>(big_alloc(bytes)));
    if (!p_) throw std::bad_alloc();
  }
  uint8_t* data() const { return p_.get(); }
 private:
  struct Free { void operator()(uint8_t* p) const { big_free(p); } };
  std::unique_ptr<uint8_t, Free> p_;
};

inline int64_t align64(int64_t b) { return (b + 63) / 64 * 64; }

}  // namespace qgemm
}  // namespace snep
