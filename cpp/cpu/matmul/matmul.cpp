// ONNX MatMul (numpy semantics: N-D batched with broadcasting, 1-D operands
// promoted and their dimension removed) on the sgemm library, with the fused
// extensions: optional input 2, a bias of length N (or 1) added along the last
// dimension, then the activation attrs. A constant operand is pre-packed once
// per distinct batch; when B has no batch (a weight matrix) the batch of A is
// folded into M, so [B, S, K] x [K, N] runs as one GEMM.
#include "core/thread_pool.h"
#include "cpu/common.h"
#include "cpu/gemm/sgemm.h"
#include "cpu/matmul/linear_routines.h"
#include "cpu/register_isa.h"

namespace snep {
namespace {

using gemm::FloatBuf;

struct MatMulShape {
  int64_t M = 0, K = 0, N = 0;
  std::vector<int64_t> abatch, bbatch, obatch;  // batch dims broadcast to the output's rank
  bool ok = false;
};

MatMulShape matmul_shape(const Layer& l) {
  MatMulShape s;
  auto a = l.in(0).shape, b = l.in(1).shape;
  if (a.empty() || b.empty()) return s;
  bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  s.M = a[a.size() - 2];
  s.K = a.back();
  s.N = b.back();
  if (b[b.size() - 2] != s.K) return s;
  size_t rank = std::max(a.size(), b.size()) - 2;
  s.abatch.assign(rank, 1);
  s.bbatch.assign(rank, 1);
  s.obatch.assign(rank, 1);
  for (size_t i = 0; i < a.size() - 2; ++i) s.abatch[rank - (a.size() - 2) + i] = a[i];
  for (size_t i = 0; i < b.size() - 2; ++i) s.bbatch[rank - (b.size() - 2) + i] = b[i];
  for (size_t i = 0; i < rank; ++i) {
    if (s.abatch[i] != s.bbatch[i] && s.abatch[i] != 1 && s.bbatch[i] != 1) return s;
    s.obatch[i] = s.abatch[i] == 1 ? s.bbatch[i] : s.abatch[i];
  }
  std::vector<int64_t> out = s.obatch;
  if (!a1) out.push_back(s.M);
  if (!b1) out.push_back(s.N);
  if (l.out(0).shape != out) return s;
  s.ok = true;
  return s;
}

bool matmul_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 3 || l.outputs.size() != 1 || !all_float32(l)) return false;
  if (!l.has_input(0) || !l.has_input(1)) return false;
  MatMulShape s = matmul_shape(l);
  if (!s.ok) return false;
  if (l.has_input(2)) {
    const auto& bias = l.in(2).shape;
    if (bias.size() != 1 || !(bias[0] == s.N || bias[0] == 1)) return false;
  }
  return gemm::activation_supported(l.attrs, /*gelu_ok=*/true);  // epilogue through Activation::apply
}

class MatMulKernel : public Kernel {
 public:
  explicit MatMulKernel(const Layer& l)  {
    MatMulShape s = matmul_shape(l);
    M_ = s.M; K_ = s.K; N_ = s.N;
    act_ = Activation::from_attrs(l.attrs);
    has_bias_ = l.has_input(2);
    if (has_bias_) bias_sn_ = l.in(2).shape[0] == 1 ? 0 : 1;
    nA_ = prod(s.abatch);
    nB_ = prod(s.bbatch);
    batch_ = prod(s.obatch);
    if (nB_ == 1 && nA_ == batch_) {
      // Fold the batch of A into M: one GEMM of (batch*M) x K x N.
      M_ *= batch_;
      batch_ = 1;
      nA_ = 1;
    }
    // Batch index -> A / B batch index (broadcast).
    if (batch_ > 1) {
      auto sa = strides_for(s.abatch), sb = strides_for(s.bbatch);
      aidx_.resize(batch_);
      bidx_.resize(batch_);
      std::vector<int64_t> idx(s.obatch.size(), 0);
      for (int64_t bi = 0; bi < batch_; ++bi) {
        int64_t ia = 0, ib = 0;
        for (size_t d = 0; d < idx.size(); ++d) { ia += idx[d] * sa[d]; ib += idx[d] * sb[d]; }
        aidx_[bi] = ia;
        bidx_[bi] = ib;
        for (int d = (int)idx.size() - 1; d >= 0; --d) {
          if (++idx[d] < s.obatch[d]) break;
          idx[d] = 0;
        }
      }
    }
    uk_ = gemm::ukernel_for(M_);
    // A fed per run is read row-major by the direct micro-kernel where the ISA has one: no
    // packing pass (a scatter of M x K floats into panels) before the GEMM.
    direct_a_ = gemm::direct_a_enabled() && uk_.direct && !l.in(0).const_data;
    asize_ = gemm::ws_round(gemm::packed_a_floats(M_, K_, uk_));
    bsize_ = gemm::ws_round(gemm::packed_b_floats(K_, N_, uk_));
    if (l.in(0).const_data) {
      apack_.reset(asize_ * nA_);
      for (int64_t i = 0; i < nA_; ++i)
        gemm::pack_a(l.in(0).cdata<float>() + i * M_ * K_, K_, 1, M_, K_, apack_.data() + i * asize_, uk_);
    }
    if (l.in(1).const_data) {
      bpack_.reset(bsize_ * nB_);
      for (int64_t i = 0; i < nB_; ++i)
        gemm::pack_b(l.in(1).cdata<float>() + i * K_ * N_, N_, 1, K_, N_, bpack_.data() + i * bsize_, uk_);
    }
  }

  size_t workspace_bytes() const override {
    int64_t f = 0;
    if (!apack_.data() && !direct_a_) f += asize_ * nA_;
    if (!bpack_.data()) f += gemm::scratch_slots() * gemm::slab_floats(K_, uk_);
    return (size_t)f * sizeof(float);
  }

  void run(const RunArgs& a) override {
    struct P : gemm::Problem {
      const MatMulKernel* k;
      const float *ap, *bsrc, *bias;
      float* y;
      int64_t ai(int64_t bi) const { return k->batch_ > 1 ? k->aidx_[bi] : 0; }
      int64_t bj(int64_t bi) const { return k->batch_ > 1 ? k->bidx_[bi] : 0; }
      const float* arows = nullptr;  // A as fed, read unpacked by the direct micro-kernel
      const float* a_packed(int64_t bi) const override { return arows ? nullptr : ap + ai(bi) * k->asize_; }
      const float* a_rows(int64_t bi, int64_t* lda) const override {
        *lda = k->K_;
        return arows ? arows + ai(bi) * k->M_ * k->K_ : nullptr;
      }
      const float* b_packed(int64_t bi) const override {
        return k->bpack_.data() ? k->bpack_.data() + bj(bi) * k->bsize_ : nullptr;
      }
      void pack_b(int64_t bi, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst, int nr) const override {
        gemm::pack_b_slab(bsrc + bj(bi) * k->K_ * k->N_, k->N_, 1, k0, kc, n0, nc, dst, nr);
      }
      float* c(int64_t bi) const override { return y + bi * k->M_ * k->N_; }
      void epilogue(int64_t, gemm::Epilogue* e) const override {
        e->act = k->act_;
        if (bias) e->add[0] = gemm::Addend{bias, 0, k->bias_sn_, 1.f};
      }
    } p;
    p.batch = batch_; p.M = M_; p.N = N_; p.K = K_; p.ldc = N_;
    p.k = this;
    p.bsrc = static_cast<const float*>(a.in[1]);
    p.bias = has_bias_ ? static_cast<const float*>(a.in[2]) : nullptr;
    p.y = static_cast<float*>(a.out[0]);
    float* ws = static_cast<float*>(a.workspace);
    if (apack_.data()) {
      p.ap = apack_.data();
    } else if (direct_a_) {
      p.arows = static_cast<const float*>(a.in[0]);
    } else {
      p.ap = ws;
      ws += asize_ * nA_;
      struct Ctx { const MatMulKernel* k; const float* src; float* dst; int64_t panels; } cx{
          this, static_cast<const float*>(a.in[0]), const_cast<float*>(p.ap), (M_ + uk_.mr - 1) / uk_.mr};
      const Ctx* c = &cx;
      a.pool->parallel_for(nA_ * cx.panels, std::max<int64_t>(1, 16384 / std::max<int64_t>(K_ * uk_.mr, 1)),
                           [c](int64_t b, int64_t e) {
                             const MatMulKernel* k = c->k;
                             for (int64_t t = b; t < e;) {
                               int64_t i = t / c->panels, p0 = t % c->panels;
                               int64_t p1 = std::min(c->panels, p0 + (e - t));
                               gemm::pack_a(c->src + i * k->M_ * k->K_, k->K_, 1, k->M_, k->K_,
                                            c->dst + i * k->asize_, k->uk_, 1.f, p0, p1);
                               t += p1 - p0;
                             }
                           });
    }
    gemm::run(p, uk_, a.pool, ws);
  }

 private:
  static std::vector<int64_t> strides_for(const std::vector<int64_t>& dims) {
    std::vector<int64_t> st(dims.size(), 0);
    int64_t s = 1;
    for (int d = (int)dims.size() - 1; d >= 0; --d) {
      st[d] = dims[d] == 1 ? 0 : s;
      s *= dims[d];
    }
    return st;
  }

  gemm::Ukernel uk_;
  int64_t M_ = 0, K_ = 0, N_ = 0, batch_ = 1, nA_ = 1, nB_ = 1, asize_ = 0, bsize_ = 0, bias_sn_ = 1;
  bool has_bias_ = false, direct_a_ = false;
  Activation act_;
  std::vector<int64_t> aidx_, bidx_;
  FloatBuf apack_, bpack_;
};

SNEP_REGISTER_LAMBDA("MatMul", "cpu:float32/gemm", matmul_supports,
                     [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<MatMulKernel>(l); });
// Reduced precision after float32: never the default.
SNEP_REGISTER_LAMBDA_ISA("MatMul", "cpu:bfloat16/gemm", linear::bf16_supports, linear::bf16_prepare, "avx512_bf16");
SNEP_REGISTER_LAMBDA_ISA("MatMul", "cpu:float16/gemv", linear::f16_gemv_supports, linear::f16_gemv_prepare,
                         "avx512f");

}  // namespace
}  // namespace snep
