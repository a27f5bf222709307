// QLinearMatMul / MatMulInteger on qgemm: Y [Mt x N] = A [Mt x K] * B [K x N]
// with u8 activations A (any leading batch dims, flattened into Mt rows) and
// u8/s8 weights B (2-D, shared). Computed as Y^T = B^T A^T so the weights are
// the broadcast operand as in the convolutions: B^T is packed at prepare
// (per run when not constant), each task packs a slab of A's rows as B
// panels, and the requantized tiles are stored transposed.
#include <algorithm>
#include <cstring>

#include "core/routine.h"
#include "core/thread_pool.h"
#include "cpu/qgemm/qgemm.h"

namespace snep {
namespace {

using namespace qgemm;

bool is_q8(DType t) { return t == DType::Int8 || t == DType::UInt8; }
bool scalar_of(const Layer& l, size_t i, DType t) { return l.has_input(i) && l.in(i).dtype == t && l.in(i).numel() == 1; }
bool vec_ok(const Layer& l, size_t i, int64_t n) {
  if (!l.has_input(i)) return true;
  const auto& t = l.in(i);
  return (t.numel() == 1 && t.rank() <= 1) || (t.rank() == 1 && t.shape[0] == n);
}

struct Spec {
  bool qlinear = false;
  size_t bi = 1, azi = 2, bzi = 3;
};
Spec spec_of(const Layer& l) {
  Spec s;
  s.qlinear = l.op == "QLinearMatMul";
  if (s.qlinear) { s.bi = 3; s.azi = 2; s.bzi = 5; }
  return s;
}

bool qmm_supports(const Layer& l) {
  Spec s = spec_of(l);
  if (l.outputs.size() != 1 || !l.has_input(0) || !l.has_input(s.bi)) return false;
  const auto &A = l.in(0), &B = l.in(s.bi), &Y = l.out(0);
  if (A.dtype != DType::UInt8 || !is_q8(B.dtype) || A.rank() < 2 || B.rank() != 2) return false;
  if (A.layout != Layout::Plain || A.shape.back() != B.shape[0]) return false;
  std::vector<int64_t> ys(A.shape.begin(), A.shape.end() - 1);
  ys.push_back(B.shape[1]);
  if (Y.shape != ys) return false;
  const int64_t N = B.shape[1];
  if (s.qlinear) {
    if (l.inputs.size() != 8) return false;
    for (int i = 0; i < 8; ++i) if (!l.has_input(i)) return false;
    if (!is_q8(Y.dtype) || !scalar_of(l, 1, DType::Float32) || !scalar_of(l, 2, DType::UInt8) ||
        !scalar_of(l, 6, DType::Float32) || !scalar_of(l, 7, Y.dtype))
      return false;
    if (l.in(4).dtype != DType::Float32 || !vec_ok(l, 4, N) || l.in(5).dtype != B.dtype || !vec_ok(l, 5, N)) return false;
  } else {
    if (l.op != "MatMulInteger" || l.inputs.size() > 4 || Y.dtype != DType::Int32) return false;
    if (l.has_input(2) && !scalar_of(l, 2, DType::UInt8)) return false;
    if (l.has_input(3) && (l.in(3).dtype != B.dtype || !vec_ok(l, 3, N))) return false;
  }
  return true;
}

class QMatMulKernel : public Kernel {
 public:
  explicit QMatMulKernel(const Layer& l) : s_(spec_of(l)), uk_(ukernel_for(l.in(spec_of(l).bi).shape[1])) {
    const auto& B = l.in(s_.bi);
    K_ = B.shape[0]; N_ = B.shape[1]; kq_ = kq_for(K_, uk_);
    Mt_ = l.in(0).numel() / std::max<int64_t>(K_, 1);
    if (K_ == 0) Mt_ = l.out(0).numel() / std::max<int64_t>(N_, 1);
    w_u8_ = B.dtype == DType::UInt8;
    has_az_ = l.has_input(s_.azi);
    has_bz_ = l.has_input(s_.bzi);
    bz_vec_ = has_bz_ && l.in(s_.bzi).numel() > 1;
    if (s_.qlinear) { bs_vec_ = l.in(4).numel() > 1; y_signed_ = l.out(0).dtype == DType::Int8; }
    asize_ = align64(packed_a_bytes(N_, K_, uk_));
    const int64_t npan = (Mt_ + uk_.nr - 1) / uk_.nr;
    nc_pan_ = std::max<int64_t>(1, std::min<int64_t>(npan, (192 << 10) / std::max<int64_t>(1, b_panel_bytes(K_, uk_))));
    if (B.const_data) {
      apack_.reset(asize_);
      wsum_.resize(N_);
      pack_a(B.const_data, w_u8_, 1, N_, N_, K_, uk_, apack_.data(), wsum_.data());
    }
  }
  int64_t slot_bytes(int64_t ncp) const {
    const int64_t nc = ncp * uk_.nr;
    return align64(kq_ * 4 * nc) + align64(nc * 4) + align64(uk_.mr * uk_.nr * 4) + align64(uk_.nr * 4);
  }
  size_t workspace_bytes() const override {
    int64_t b = 3 * align64(N_ * 4) + scratch_slots() * slot_bytes(nc_pan_);
    if (!apack_.data()) b += asize_ + align64(N_ * 4);
    return (size_t)b;
  }
  bool reads_input_at_run(int i) const override { return !(i == (int)s_.bi && apack_.data()); }

  void run(const RunArgs& a) override {
    uint8_t* ws = static_cast<uint8_t*>(a.workspace);
    const uint8_t* ap = apack_.data();
    const int32_t* wsum = wsum_.data();
    if (!ap) {
      uint8_t* dst = ws; ws += asize_;
      int32_t* s = reinterpret_cast<int32_t*>(ws); ws += align64(N_ * 4);
      pack_a(a.in[s_.bi], w_u8_, 1, N_, N_, K_, uk_, dst, s);
      ap = dst; wsum = s;
    }
    int32_t* c0 = reinterpret_cast<int32_t*>(ws); ws += align64(N_ * 4);
    int32_t* wzv = reinterpret_cast<int32_t*>(ws); ws += align64(N_ * 4);
    float* mult = reinterpret_cast<float*>(ws); ws += align64(N_ * 4);
    uint8_t* scratch = ws;
    const int32_t az = has_az_ ? static_cast<const uint8_t*>(a.in[s_.azi])[0] : 0;
    bool any_wz = false;
    for (int64_t n = 0; n < N_; ++n) {
      int32_t wz = 0;
      if (has_bz_) {
        int64_t i = bz_vec_ ? n : 0;
        wz = w_u8_ ? (int32_t) static_cast<const uint8_t*>(a.in[s_.bzi])[i] : (int32_t) static_cast<const int8_t*>(a.in[s_.bzi])[i];
      }
      if (w_u8_) wz -= 128;
      wzv[n] = wz;
      any_wz |= wz != 0;
      c0[n] = (int32_t)(0u - (uint32_t)az * (uint32_t)wsum[n] + (uint32_t)K_ * (uint32_t)az * (uint32_t)wz);
      mult[n] = 0.f;
    }
    QRow base{};
    if (s_.qlinear) {
      const float sa = static_cast<const float*>(a.in[1])[0], sy = static_cast<const float*>(a.in[6])[0];
      const float* sb = static_cast<const float*>(a.in[4]);
      for (int64_t n = 0; n < N_; ++n) mult[n] = sa * sb[bs_vec_ ? n : 0] / sy;
      base.yz = y_signed_ ? (int32_t) static_cast<const int8_t*>(a.in[7])[0] : (int32_t) static_cast<const uint8_t*>(a.in[7])[0];
      base.qlo = y_signed_ ? -128 : 0;
      base.qhi = y_signed_ ? 127 : 255;
      base.y_signed = y_signed_;
    }
    const int64_t npan = (Mt_ + uk_.nr - 1) / uk_.nr;
    int64_t ncp = nc_pan_;
    const int nth = a.pool ? a.pool->num_threads() : 1;
    auto nchunks = [&] { return (npan + ncp - 1) / ncp; };
    while (nth > 1 && ncp > 1 && nchunks() < 3 * nth) ncp = (ncp + 1) / 2;
    const int64_t nch = nchunks(), mpan = (N_ + uk_.mr - 1) / uk_.mr;
    int64_t mblocks = 1;
    while (nth > 1 && nch * mblocks < 2 * nth && mblocks < mpan) ++mblocks;
    const int64_t mb_pan = (mpan + mblocks - 1) / mblocks;
    mblocks = (mpan + mb_pan - 1) / mb_pan;
    const int64_t slot = slot_bytes(ncp), ncap = ncp * uk_.nr;
    const uint8_t* A = static_cast<const uint8_t*>(a.in[0]);
    void* y = a.out[0];
    run_tasks(a.pool, nch * mblocks, scratch_slots(), [&](int64_t t, int w) {
      const int64_t mbi = t % mblocks, ci = t / mblocks;
      const int64_t r0 = ci * ncap, nc = std::min(Mt_ - r0, ncap);
      uint8_t* bpack = scratch + w * slot;
      int32_t* colsum = reinterpret_cast<int32_t*>(bpack + align64(kq_ * 4 * ncap));
      int32_t* tile = reinterpret_cast<int32_t*>(reinterpret_cast<uint8_t*>(colsum) + align64(ncap * 4));
      uint8_t* tmp = reinterpret_cast<uint8_t*>(tile) + align64(uk_.mr * uk_.nr * 4);
      const int NR = uk_.nr;
      // A's rows as B panels: column j = row r0 + j, 4 consecutive k per quad
      for (int64_t j = 0; j < round_up(nc, NR); ++j) {
        uint8_t* pj = bpack + (j / NR) * b_panel_bytes(K_, uk_) + (j % NR) * 4;
        if (j >= nc) { for (int64_t qi = 0; qi < kq_; ++qi) std::memset(pj + qi * NR * 4, 0, 4); continue; }
        const uint8_t* row = A + (r0 + j) * K_;
        const int64_t full = K_ / 4;
        for (int64_t qi = 0; qi < full; ++qi) std::memcpy(pj + qi * NR * 4, row + qi * 4, 4);
        for (int64_t qi = full; qi < kq_; ++qi) {
          uint8_t last[4] = {0, 0, 0, 0};
          if (qi == full) std::memcpy(last, row + full * 4, K_ - full * 4);
          std::memcpy(pj + qi * NR * 4, last, 4);
        }
        if (any_wz) {
          int32_t s = 0;
          for (int64_t k = 0; k < K_; ++k) s += row[k];
          colsum[j] = s;
        }
      }
      const int64_t p0 = mbi * mb_pan, p1 = std::min(mpan, p0 + mb_pan), npq = (nc + NR - 1) / NR;
      for (int64_t pi = p0; pi < p1; ++pi) {
        const int mr = (int)std::min<int64_t>(uk_.mr, N_ - pi * uk_.mr);
        const uint8_t* apan = ap + pi * a_panel_bytes(K_, uk_);
        for (int64_t q = 0; q < npq; ++q) {
          uk_.fn(kq_, apan, bpack + q * b_panel_bytes(K_, uk_), tile, NR, mr);
          const int64_t j0 = q * NR, cols = std::min<int64_t>(NR, nc - j0);
          for (int i = 0; i < mr; ++i) {
            const int64_t n = pi * uk_.mr + i;
            QRow r = base;
            r.acc = tile + i * NR;
            r.n = cols;
            r.c0 = c0[n];
            r.wz = wzv[n];
            r.colsum = any_wz ? colsum + j0 : nullptr;
            r.mult = mult[n];
            if (s_.qlinear) {
              r.y = tmp;
              uk_.requant(r);
              uint8_t* yo = static_cast<uint8_t*>(y) + (r0 + j0) * N_ + n;
              for (int64_t j = 0; j < cols; ++j) yo[j * N_] = tmp[j];
            } else {
              int32_t* t32 = reinterpret_cast<int32_t*>(tmp);
              r.y32 = t32;
              uk_.requant(r);
              int32_t* yo = static_cast<int32_t*>(y) + (r0 + j0) * N_ + n;
              for (int64_t j = 0; j < cols; ++j) yo[j * N_] = t32[j];
            }
          }
        }
      }
    });
  }

 private:
  Spec s_;
  QUkernel uk_;
  int64_t K_ = 0, N_ = 0, Mt_ = 0, kq_ = 0, asize_ = 0, nc_pan_ = 1;
  bool w_u8_ = false, has_az_ = false, has_bz_ = false, bz_vec_ = false, bs_vec_ = false, y_signed_ = false;
  ByteBuf apack_;
  std::vector<int32_t> wsum_;
};

std::unique_ptr<Kernel> qmm_prepare(const Layer& l) { return std::make_unique<QMatMulKernel>(l); }

SNEP_REGISTER_LAMBDA("QLinearMatMul", "cpu:qint8/qgemm", qmm_supports, qmm_prepare);
SNEP_REGISTER_LAMBDA("MatMulInteger", "cpu:qint8/qgemm", qmm_supports, qmm_prepare);

}  // namespace
}  // namespace snep
