// QGemm (onnxruntime's com.microsoft contrib op, as QOperator-format models and
// graph_passes/quant_tune.py's qint8 variant of a float32 Gemm use it):
//
//   Y[M x N] = requant( C + sum_k (A'[m,k] - a_zp) * (B'[k,n] - b_zp[n]) )
//   A' = transA ? A^T : A,  B' = transB ? B^T : B
//   float32 output (no y_zero_point):  Y = float(acc) * mult[n]
//   u8/s8 output:                       Y = sat(rint(clamp(float(acc) * mult[n])) + y_zp)
//   mult[n] = float(float(alpha * a_scale) * b_scale[n]) [/ y_scale when given]
// in float32, in that order (onnxruntime's QGemm::ComputeOutputScale; MLAS's
// scale and requantize output processors); acc is int32 (wrapping).
//
// A: u8 or s8 (s8 rows are shifted by +128 into u8 along with its zero point),
// scalar scale / zero point; B: u8 or s8 (u8 stored as s8 = b - 128, zero
// point - 128), scalar or per-column (per output feature) scale and zero point;
// C: int32, unidirectionally broadcast to (M, N). Any M: rows run 4 at a time
// through the qgemv.h kernel (written for M = 1..few, where reading the weights
// is all the time), tasks over groups of 64 output features x 16-row chunks.
// Zero points by compensation: with a_sum[m] = sum_k A'[m,k] and the stored
// weights' column sums wsum[n],
//   sum_k (a - az)(w - wz) = sum_k a*w - az*wsum[n] - wz[n]*a_sum[m] + K*az*wz[n].
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/routine.h"
#include "core/thread_pool.h"
#include "cpu/qgemm/qgemm.h"
#include "cpu/quant/qgemv.h"

namespace snep {
namespace {

using qgemm::align64;
using qgemm::ByteBuf;
using qgemm::round_up;
using namespace qgemv;

constexpr int64_t kRowChunk = 16;  // rows of A per task

bool is_q8(DType t) { return t == DType::Int8 || t == DType::UInt8; }
bool scalar_f32(const Layer& l, size_t i) { return l.has_input(i) && l.in(i).dtype == DType::Float32 && l.in(i).numel() == 1; }
// scalar (numel 1, rank <= 1) or a vector of n
bool col_vec(const TensorInfo& t, int64_t n) { return (t.numel() == 1 && t.rank() <= 1) || (t.rank() == 1 && t.shape[0] == n); }

struct Dims {
  bool ok = false;
  bool ta = false, tb = false;
  int64_t M = 0, K = 0, N = 0;
  int64_t c_sm = 0, c_sn = 0;  // strides of C over (m, n), 0 on broadcast dims
};

Dims dims_of(const Layer& l) {
  Dims d;
  if (l.outputs.size() != 1 || l.inputs.size() < 5 || l.inputs.size() > 9) return d;
  if (!l.has_input(0) || !l.has_input(1) || !l.has_input(3) || !l.has_input(4)) return d;
  const auto &A = l.in(0), &B = l.in(3), &Y = l.out(0);
  if (!is_q8(A.dtype) || !is_q8(B.dtype) || A.rank() != 2 || B.rank() != 2) return d;
  if (A.layout != Layout::Plain || Y.layout != Layout::Plain) return d;
  const int64_t ta = l.attrs.get_int("transA", 0), tb = l.attrs.get_int("transB", 0);
  if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1)) return d;
  d.ta = ta; d.tb = tb;
  d.M = d.ta ? A.shape[1] : A.shape[0];
  d.K = d.ta ? A.shape[0] : A.shape[1];
  d.N = d.tb ? B.shape[0] : B.shape[1];
  if ((d.tb ? B.shape[1] : B.shape[0]) != d.K) return d;
  if (Y.shape != std::vector<int64_t>{d.M, d.N}) return d;
  if (!scalar_f32(l, 1)) return d;
  if (l.has_input(2) && (l.in(2).dtype != A.dtype || l.in(2).numel() != 1)) return d;
  if (l.in(4).dtype != DType::Float32 || !col_vec(l.in(4), d.N)) return d;
  if (l.has_input(5) && (l.in(5).dtype != B.dtype || !col_vec(l.in(5), d.N))) return d;
  if (l.has_input(6)) {
    const auto& C = l.in(6);
    if (C.dtype != DType::Int32 || C.rank() > 2) return d;
    const auto& cs = C.shape;
    if (C.rank() == 1) {
      if (cs[0] != d.N && cs[0] != 1) return d;
      d.c_sn = cs[0] == 1 ? 0 : 1;
    } else if (C.rank() == 2) {
      if ((cs[0] != d.M && cs[0] != 1) || (cs[1] != d.N && cs[1] != 1)) return d;
      d.c_sm = cs[0] == 1 ? 0 : cs[1];
      d.c_sn = cs[1] == 1 ? 0 : 1;
    }
  }
  if (l.has_input(7) && !scalar_f32(l, 7)) return d;
  if (Y.dtype == DType::Float32) {
    if (l.has_input(8)) return d;  // a y_zero_point makes the output quantized
  } else {
    if (!is_q8(Y.dtype) || !l.has_input(7) || !l.has_input(8)) return d;
    if (l.in(8).dtype != Y.dtype || l.in(8).numel() != 1) return d;
  }
  d.ok = true;
  return d;
}

bool qgemm_op_supports(const Layer& l) { return dims_of(l).ok; }

// Plain C++ kernel of qgemv.h (uint32 sums: wrapping like vpdpbusd).
void qgemv_group_plain(const uint8_t* a, int64_t lda, int m, int64_t kq, const int8_t* w, int P, int32_t* acc) {
  const int cols = 16 * P;
  for (int i = 0; i < m; ++i) {
    uint32_t s[kGroupCols] = {};
    const uint8_t* ar = a + i * lda;
    for (int64_t q = 0; q < kq; ++q) {
      const int8_t* wq = w + q * P * 64;
      const int32_t a0 = ar[4 * q], a1 = ar[4 * q + 1], a2 = ar[4 * q + 2], a3 = ar[4 * q + 3];
      for (int j = 0; j < cols; ++j)
        s[j] += (uint32_t)(a0 * wq[4 * j] + a1 * wq[4 * j + 1] + a2 * wq[4 * j + 2] + a3 * wq[4 * j + 3]);
    }
    std::memcpy(acc + i * kGroupCols, s, cols * sizeof(int32_t));
  }
}

void qgemv_epilogue_plain(const int32_t* acc, int64_t n, const int32_t* cb, const int32_t* wz, int32_t asum,
                          const float* mult, int out_kind, float flo, float fhi, int32_t yz, void* y) {
  for (int64_t j = 0; j < n; ++j) {
    uint32_t t = (uint32_t)acc[j] + (uint32_t)cb[j];
    if (wz) t -= (uint32_t)wz[j] * (uint32_t)asum;
    const float v = (float)(int32_t)t * mult[j];
    if (out_kind == kOutF32) {
      static_cast<float*>(y)[j] = v;
      continue;
    }
    const int32_t q = (int32_t)std::nearbyint(std::min(std::max(v, flo), fhi)) + yz;
    static_cast<uint8_t*>(y)[j] = (uint8_t)q;  // q lies in the output type's range: its low byte
  }
}

class QGemmKernel : public Kernel {
 public:
  explicit QGemmKernel(const Layer& l) : d_(dims_of(l)) {
    const auto &A = l.in(0), &B = l.in(3), &Y = l.out(0);
    kq_ = (d_.K + 3) / 4;
    lda_ = align64(kq_ * 4);
    npan_ = (d_.N + 15) / 16;
    ngroups_ = (npan_ + kGroupPanels - 1) / kGroupPanels;
    wbytes_ = align64(npan_ * 16 * kq_ * 4);
    a_signed_ = A.dtype == DType::Int8;
    b_u8_ = B.dtype == DType::UInt8;
    has_az_ = l.has_input(2);
    has_bz_ = l.has_input(5);
    bz_vec_ = has_bz_ && l.in(5).numel() > 1;
    bs_vec_ = l.in(4).numel() > 1;
    has_c_ = l.has_input(6);
    has_ys_ = l.has_input(7);
    out_kind_ = Y.dtype == DType::Float32 ? kOutF32 : Y.dtype == DType::UInt8 ? kOutU8 : kOutS8;
    alpha_ = (float)l.attrs.get_float("alpha", 1.0);
    const bool vnni = cpu_has("avx512_vnni");
    fn_ = vnni ? qgemv_group_avx512vnni : qgemv_group_plain;
    epi_ = vnni ? qgemv_epilogue_avx512 : qgemv_epilogue_plain;
    if (B.const_data) {
      wpack_.reset(wbytes_);
      wsum_.resize(d_.N);
      pack(B.const_data, reinterpret_cast<int8_t*>(wpack_.data()), wsum_.data());
      // the per-column terms too when everything they depend on is constant (as in every model seen)
      bool consts = true;
      std::vector<const void*> in(l.inputs.size(), nullptr);
      for (size_t i = 0; i < l.inputs.size(); ++i) {
        if (i == 0 || i == 3 || !l.has_input(i)) continue;
        in[i] = l.in(i).const_data;
        consts &= in[i] != nullptr;
      }
      if (consts) {
        cb_.resize(d_.N); wz_.resize(d_.N); mult_.resize(d_.N);
        any_wz_ = columns(in.data(), wsum_.data(), cb_.data(), wz_.data(), mult_.data());
      }
    }
  }

  size_t workspace_bytes() const override {
    int64_t b = d_.M * lda_ + align64(d_.M * 4);
    if (cb_.empty()) b += 3 * align64(d_.N * 4);
    if (!wpack_.data()) b += wbytes_ + align64(d_.N * 4);
    return (size_t)b;
  }
  bool reads_input_at_run(int i) const override { return !(i == 3 && wpack_.data()); }

  void run(const RunArgs& a) override {
    const int64_t M = d_.M, K = d_.K, N = d_.N;
    uint8_t* ws = static_cast<uint8_t*>(a.workspace);
    uint8_t* arows = ws; ws += M * lda_;
    int32_t* asum = reinterpret_cast<int32_t*>(ws); ws += align64(M * 4);
    const int8_t* wp = reinterpret_cast<const int8_t*>(wpack_.data());
    const int32_t* wsum = wsum_.data();
    const int32_t *cb = cb_.data(), *wzv = wz_.data();
    const float* mult = mult_.data();
    bool any_wz = any_wz_;
    int32_t *cbw = nullptr, *wzw = nullptr;
    float* mw = nullptr;
    if (cb_.empty()) {
      cbw = reinterpret_cast<int32_t*>(ws); ws += align64(N * 4);
      wzw = reinterpret_cast<int32_t*>(ws); ws += align64(N * 4);
      mw = reinterpret_cast<float*>(ws); ws += align64(N * 4);
    }
    if (!wp) {
      int8_t* dst = reinterpret_cast<int8_t*>(ws); ws += wbytes_;
      int32_t* s = reinterpret_cast<int32_t*>(ws); ws += align64(N * 4);
      pack(a.in[3], dst, s);
      wp = dst; wsum = s;
    }
    if (cbw) {
      any_wz = columns(a.in, wsum, cbw, wzw, mw);
      cb = cbw; wzv = wzw; mult = mw;
    }
    // A's rows as u8, zero-padded to lda_, and their sums
    const uint8_t* A = static_cast<const uint8_t*>(a.in[0]);
    const uint8_t flip = a_signed_ ? 0x80 : 0;
    for (int64_t i = 0; i < M; ++i) {
      uint8_t* row = arows + i * lda_;
      uint32_t s = 0;
      if (d_.ta) {
        for (int64_t k = 0; k < K; ++k) row[k] = A[k * M + i] ^ flip;
      } else {
        const uint8_t* src = A + i * K;
        for (int64_t k = 0; k < K; ++k) row[k] = src[k] ^ flip;
      }
      if (any_wz) for (int64_t k = 0; k < K; ++k) s += row[k];
      std::memset(row + K, 0, lda_ - K);
      asum[i] = (int32_t)s;
    }
    int32_t yz = 0, qlo = 0, qhi = 0;
    if (out_kind_ != kOutF32) {
      const bool sg = out_kind_ == kOutS8;
      yz = sg ? (int32_t) static_cast<const int8_t*>(a.in[8])[0] : (int32_t) static_cast<const uint8_t*>(a.in[8])[0];
      qlo = sg ? -128 : 0;
      qhi = sg ? 127 : 255;
    }
    const float flo = (float)(qlo - yz), fhi = (float)(qhi - yz);
    // C per row (not folded into cb, see columns())
    const int32_t* Crow = has_c_ && d_.c_sm != 0 ? static_cast<const int32_t*>(a.in[6]) : nullptr;
    uint8_t* y = static_cast<uint8_t*>(a.out[0]);
    const int64_t ysz = out_kind_ == kOutF32 ? 4 : 1;
    const int64_t nchunks = (M + kRowChunk - 1) / kRowChunk, ntasks = ngroups_ * nchunks;
    auto task = [&](int64_t t) {
      const int64_t g = t % ngroups_, r0 = (t / ngroups_) * kRowChunk, r1 = std::min(M, r0 + kRowChunk);
      const int P = (int)std::min<int64_t>(kGroupPanels, npan_ - g * kGroupPanels);
      const int8_t* wg = wp + g * kq_ * kGroupPanels * 64;
      const int64_t n0 = g * kGroupCols, nc = std::min<int64_t>(kGroupCols, N - n0);
      alignas(64) int32_t acc[kMaxRows * kGroupCols];
      alignas(64) int32_t cbuf[kGroupCols];
      for (int64_t i0 = r0; i0 < r1; i0 += kMaxRows) {
        const int m = (int)std::min<int64_t>(kMaxRows, r1 - i0);
        fn_(arows + i0 * lda_, lda_, m, kq_, wg, P, acc);
        for (int i = 0; i < m; ++i) {
          const int64_t row = i0 + i;
          const int32_t* cbr = cb + n0;
          if (Crow) {
            for (int64_t j = 0; j < nc; ++j)
              cbuf[j] = (int32_t)((uint32_t)cbr[j] + (uint32_t)Crow[row * d_.c_sm + (n0 + j) * d_.c_sn]);
            cbr = cbuf;
          }
          epi_(acc + i * kGroupCols, nc, cbr, any_wz ? wzv + n0 : nullptr, asum[row], mult + n0, out_kind_, flo,
               fhi, yz, y + (row * N + n0) * ysz);
        }
      }
    };
    if (a.pool && a.pool->num_threads() > 1 && ntasks > 1) {
      a.pool->parallel_for(ntasks, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) task(t);
      });
    } else {
      for (int64_t t = 0; t < ntasks; ++t) task(t);
    }
  }

 private:
  // The per-column terms from the inputs (in[i]: input i's data; 0 and 3 unused) and the weights' column sums:
  // wz[n] (stored weights' zero point), cb[n] = K*az*wz[n] - az*wsum[n] (+ C[n] when C varies by column only),
  // mult[n]. Returns whether some wz[n] != 0.
  bool columns(const void* const* in, const int32_t* wsum, int32_t* cb, int32_t* wz, float* mult) const {
    const int64_t K = d_.K, N = d_.N;
    int32_t az = 0;
    if (has_az_) az = a_signed_ ? (int32_t) static_cast<const int8_t*>(in[2])[0] : (int32_t) static_cast<const uint8_t*>(in[2])[0];
    if (a_signed_) az += 128;
    const float as = static_cast<const float*>(in[1])[0];
    const float* bs = static_cast<const float*>(in[4]);
    const float ys = has_ys_ ? static_cast<const float*>(in[7])[0] : 1.f;
    const int32_t* C = has_c_ && d_.c_sm == 0 ? static_cast<const int32_t*>(in[6]) : nullptr;
    bool any = false;
    for (int64_t n = 0; n < N; ++n) {
      int32_t z = 0;
      if (has_bz_) {
        const int64_t i = bz_vec_ ? n : 0;
        z = b_u8_ ? (int32_t) static_cast<const uint8_t*>(in[5])[i] : (int32_t) static_cast<const int8_t*>(in[5])[i];
      }
      if (b_u8_) z -= 128;
      wz[n] = z;
      any |= z != 0;
      uint32_t c = (uint32_t)K * (uint32_t)az * (uint32_t)z - (uint32_t)az * (uint32_t)wsum[n];
      if (C) c += (uint32_t)C[n * d_.c_sn];
      cb[n] = (int32_t)c;
      float m = alpha_ * as;
      m = m * bs[bs_vec_ ? n : 0];
      if (has_ys_) m = m / ys;
      mult[n] = m;
    }
    return any;
  }

  // B (element (k, n) at b[k*brs + n*bcs]) into qgemv.h's packed form; wsum[n] = sum_k of the stored s8.
  void pack(const void* b, int8_t* dst, int32_t* wsum) const {
    const int64_t K = d_.K, N = d_.N;
    const int64_t brs = d_.tb ? 1 : N, bcs = d_.tb ? K : 1;
    std::memset(dst, 0, wbytes_);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t pan = n / 16, f = n % 16, g = pan / kGroupPanels, p = pan % kGroupPanels;
      const int64_t P = std::min<int64_t>(kGroupPanels, npan_ - g * kGroupPanels);
      int8_t* base = dst + g * kq_ * kGroupPanels * 64 + p * 64 + f * 4;
      int32_t s = 0;
      for (int64_t k = 0; k < K; ++k) {
        const int64_t src = k * brs + n * bcs;
        const int32_t v = b_u8_ ? (int32_t) static_cast<const uint8_t*>(b)[src] - 128
                                : (int32_t) static_cast<const int8_t*>(b)[src];
        base[(k / 4) * P * 64 + k % 4] = (int8_t)v;
        s += v;
      }
      wsum[n] = s;
    }
  }

  Dims d_;
  int64_t kq_ = 0, lda_ = 0, npan_ = 0, ngroups_ = 0, wbytes_ = 0;
  bool a_signed_ = false, b_u8_ = false, has_az_ = false, has_bz_ = false, bz_vec_ = false, bs_vec_ = false;
  bool has_c_ = false, has_ys_ = false, any_wz_ = false;
  int out_kind_ = kOutF32;
  float alpha_ = 1.f;
  QGemvFn fn_ = nullptr;
  QGemvEpiFn epi_ = nullptr;
  ByteBuf wpack_;
  std::vector<int32_t> wsum_, cb_, wz_;  // cb_/wz_/mult_: precomputed at prepare when all are constant
  std::vector<float> mult_;
};

std::unique_ptr<Kernel> qgemm_op_prepare(const Layer& l) { return std::make_unique<QGemmKernel>(l); }

SNEP_REGISTER_LAMBDA("QGemm", "cpu:qint8/qgemv", qgemm_op_supports, qgemm_op_prepare);

}  // namespace
}  // namespace snep
