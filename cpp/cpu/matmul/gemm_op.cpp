// ONNX Gemm on the sgemm library: Y = act(alpha * A' * B' + beta * C), A' = transA ? A^T : A,
// B' likewise, C unidirectionally broadcast to (M, N). A constant A or B is
// packed once at prepare; a non-constant A is packed per run into the
// workspace, a non-constant B slab by slab inside each task.
#include "core/thread_pool.h"
#include "cpu/common.h"
#include "cpu/gemm/sgemm.h"
#include "cpu/matmul/linear_routines.h"
#include "cpu/register_isa.h"

namespace snep {
namespace {

using gemm::FloatBuf;

bool gemm_supports(const Layer& l) { return linear::gemm_supports(l); }

}  // namespace

bool linear::gemm_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 3 || l.outputs.size() != 1 || !all_float32(l)) return false;
  if (!l.has_input(0) || !l.has_input(1)) return false;
  const auto& A = l.in(0).shape;
  const auto& B = l.in(1).shape;
  if (A.size() != 2 || B.size() != 2) return false;
  const bool ta = l.attrs.get_int("transA", 0) != 0, tb = l.attrs.get_int("transB", 0) != 0;
  int64_t M = ta ? A[1] : A[0], K = ta ? A[0] : A[1];
  int64_t Kb = tb ? B[1] : B[0], N = tb ? B[0] : B[1];
  if (K != Kb) return false;
  if (l.out(0).shape != std::vector<int64_t>{M, N}) return false;
  if (l.has_input(2)) {
    const auto& C = l.in(2).shape;
    if (C.size() > 2) return false;
    if (C.size() == 2 && !((C[0] == M || C[0] == 1) && (C[1] == N || C[1] == 1))) return false;
    if (C.size() == 1 && !(C[0] == N || C[0] == 1)) return false;
  }
  return gemm::activation_supported(l.attrs, /*gelu_ok=*/true);  // epilogue through Activation::apply
}

namespace {

class GemmKernel : public Kernel {
 public:
  explicit GemmKernel(const Layer& l)  {
    const auto& A = l.in(0).shape;
    const auto& B = l.in(1).shape;
    ta_ = l.attrs.get_int("transA", 0) != 0;
    tb_ = l.attrs.get_int("transB", 0) != 0;
    M_ = ta_ ? A[1] : A[0];
    K_ = ta_ ? A[0] : A[1];
    N_ = tb_ ? B[0] : B[1];
    uk_ = gemm::ukernel_for(M_);
    alpha_ = (float)l.attrs.get_float("alpha", 1.0);
    beta_ = (float)l.attrs.get_float("beta", 1.0);
    act_ = Activation::from_attrs(l.attrs);
    has_c_ = l.has_input(2);
    if (has_c_) {
      const auto& C = l.in(2).shape;
      if (C.size() == 2) { c_sm_ = C[0] == 1 ? 0 : C[1]; c_sn_ = C[1] == 1 ? 0 : 1; }
      else if (C.size() == 1) { c_sm_ = 0; c_sn_ = C[0] == 1 ? 0 : 1; }
    }
    if (l.in(0).const_data) {
      apack_.reset(gemm::packed_a_floats(M_, K_, uk_));
      pack_a_from(l.in(0).cdata<float>(), apack_.data(), 0, -1);
    }
    if (l.in(1).const_data) {
      bpack_.reset(gemm::packed_b_floats(K_, N_, uk_));
      gemm::pack_b(l.in(1).cdata<float>(), brs(), bcs(), K_, N_, bpack_.data(), uk_);
    }
  }

  size_t workspace_bytes() const override {
    int64_t f = 0;
    if (!apack_.data()) f += gemm::ws_round(gemm::packed_a_floats(M_, K_, uk_));
    if (!bpack_.data()) f += gemm::scratch_slots() * gemm::slab_floats(K_, uk_);
    return (size_t)f * sizeof(float);
  }

  void run(const RunArgs& a) override {
    struct P : gemm::Problem {
      const GemmKernel* k;
      const float *ap, *bsrc, *cin;
      float* y;
      const float* a_packed(int64_t) const override { return ap; }
      const float* b_packed(int64_t) const override { return k->bpack_.data(); }
      void pack_b(int64_t, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst, int nr) const override {
        gemm::pack_b_slab(bsrc, k->brs(), k->bcs(), k0, kc, n0, nc, dst, nr);
      }
      float* c(int64_t) const override { return y; }
      void epilogue(int64_t, gemm::Epilogue* e) const override {
        e->alpha = k->alpha_;
        e->act = k->act_;
        if (cin) e->add[0] = gemm::Addend{cin, k->c_sm_, k->c_sn_, k->beta_};
      }
    } p;
    p.batch = 1; p.M = M_; p.N = N_; p.K = K_; p.ldc = N_;
    p.k = this;
    p.bsrc = static_cast<const float*>(a.in[1]);
    p.cin = has_c_ ? static_cast<const float*>(a.in[2]) : nullptr;
    p.y = static_cast<float*>(a.out[0]);
    float* ws = static_cast<float*>(a.workspace);
    if (apack_.data()) {
      p.ap = apack_.data();
    } else {
      float* dst = ws;
      ws += gemm::ws_round(gemm::packed_a_floats(M_, K_, uk_));
      const float* src = static_cast<const float*>(a.in[0]);
      int64_t panels = (M_ + uk_.mr - 1) / uk_.mr;
      a.pool->parallel_for(panels, std::max<int64_t>(1, 16384 / std::max<int64_t>(K_ * uk_.mr, 1)),
                           [this, src, dst](int64_t b, int64_t e) { pack_a_from(src, dst, b, e); });
      p.ap = dst;
    }
    gemm::run(p, uk_, a.pool, ws);
  }

 private:
  int64_t brs() const { return tb_ ? 1 : N_; }
  int64_t bcs() const { return tb_ ? K_ : 1; }
  void pack_a_from(const float* src, float* dst, int64_t p0, int64_t p1) const {
    gemm::pack_a(src, ta_ ? 1 : K_, ta_ ? M_ : 1, M_, K_, dst, uk_, 1.f, p0, p1);
  }

  gemm::Ukernel uk_;
  bool ta_ = false, tb_ = false, has_c_ = false;
  int64_t M_ = 0, N_ = 0, K_ = 0, c_sm_ = 0, c_sn_ = 0;
  float alpha_ = 1.f, beta_ = 1.f;
  Activation act_;
  FloatBuf apack_, bpack_;
};

SNEP_REGISTER_LAMBDA("Gemm", "cpu:float32/gemm", gemm_supports,
                     [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<GemmKernel>(l); });
// Reduced precision after float32: never the default.
SNEP_REGISTER_LAMBDA_ISA("Gemm", "cpu:bfloat16/gemm", linear::bf16_supports, linear::bf16_prepare, "avx512_bf16");
SNEP_REGISTER_LAMBDA_ISA("Gemm", "cpu:float16/gemv", linear::f16_gemv_supports, linear::f16_gemv_prepare, "avx512f");

}  // namespace
}  // namespace snep
