// Gemm and MatMul (B 2-D) in bfloat16 compute on float32 tensors:
//   Y = act( alpha * bf16(A) bf16(B) + beta * C ),  fp32 sums and epilogue.
// Constant B (the weights) is rounded and packed once at prepare; A is rounded
// while it is packed per run, a non-constant B slab by slab inside each task.
#include "core/thread_pool.h"
#include "cpu/common.h"
#include "cpu/gemm/bf16gemm.h"
#include "cpu/matmul/linear_routines.h"

namespace snep {
namespace linear {

Linear linear_of(const Layer& l) {
  Linear s;
  if (l.op == "Gemm") {
    if (!gemm_supports(l)) return s;
    const auto& A = l.in(0).shape;
    const auto& B = l.in(1).shape;
    const bool ta = l.attrs.get_int("transA", 0) != 0, tb = l.attrs.get_int("transB", 0) != 0;
    s.M = ta ? A[1] : A[0];
    s.K = ta ? A[0] : A[1];
    s.N = tb ? B[0] : B[1];
    s.ars = ta ? 1 : s.K; s.acs = ta ? s.M : 1;
    s.brs = tb ? 1 : s.N; s.bcs = tb ? s.K : 1;
    s.alpha = (float)l.attrs.get_float("alpha", 1.0);
    s.beta = (float)l.attrs.get_float("beta", 1.0);
    if (l.has_input(2)) {
      s.c_input = 2;
      const auto& C = l.in(2).shape;
      if (C.size() == 2) { s.c_sm = C[0] == 1 ? 0 : C[1]; s.c_sn = C[1] == 1 ? 0 : 1; }
      else if (C.size() == 1) { s.c_sm = 0; s.c_sn = C[0] == 1 ? 0 : 1; }
    }
    s.ok = true;
    return s;
  }
  if (l.op != "MatMul") return s;
  if (l.inputs.size() < 2 || l.inputs.size() > 3 || l.outputs.size() != 1 || !all_float32(l)) return s;
  if (!l.has_input(0) || !l.has_input(1)) return s;
  const auto& A = l.in(0).shape;
  const auto& B = l.in(1).shape;
  if (A.empty() || B.size() != 2 || B[0] != A.back()) return s;
  std::vector<int64_t> out(A.begin(), A.end() - 1);
  out.push_back(B[1]);
  if (l.out(0).shape != out) return s;
  s.K = A.back();
  s.N = B[1];
  s.M = prod(A, 0, A.size() - 1);
  s.ars = s.K; s.acs = 1; s.brs = s.N; s.bcs = 1;
  if (l.has_input(2)) {
    const auto& bias = l.in(2).shape;
    if (bias.size() != 1 || !(bias[0] == s.N || bias[0] == 1)) return s;
    s.c_input = 2;
    s.c_sn = bias[0] == 1 ? 0 : 1;
  }
  if (!gemm::activation_supported(l.attrs, /*gelu_ok=*/true)) return s;  // epilogues through Activation::apply
  s.ok = true;
  return s;
}

namespace {

class LinearBf16Kernel : public Kernel {
 public:
  explicit LinearBf16Kernel(const Layer& l) : s_(linear_of(l)) {
    uk_ = gemm::bf16_ukernel_for(s_.M);
    act_ = Activation::from_attrs(l.attrs);
    asize_ = gemm::bf16_ws_round(gemm::bf16_packed_a_elems(s_.M, s_.K, uk_));
    if (l.in(1).const_data) {
      bpack_.reset(gemm::bf16_packed_b_elems(s_.K, s_.N, uk_));
      gemm::bf16_pack_b(l.in(1).cdata<float>(), s_.brs, s_.bcs, s_.K, s_.N, bpack_.data(), uk_);
    }
  }

  bool reads_input_at_run(int i) const override { return i != 1 || !bpack_.data(); }

  size_t workspace_bytes() const override {
    int64_t e = asize_;
    if (!bpack_.data()) e += gemm::scratch_slots() * gemm::bf16_slab_elems(s_.K, uk_);
    return (size_t)e * sizeof(uint16_t);
  }

  void run(const RunArgs& a) override {
    struct P : gemm::Bf16Problem {
      const LinearBf16Kernel* k;
      const uint16_t* ap;
      const float *bsrc, *cin;
      float* y;
      const uint16_t* a_packed(int64_t) const override { return ap; }
      const uint16_t* b_packed(int64_t) const override { return k->bpack_.data(); }
      void pack_b(int64_t, int64_t k0, int64_t kc, int64_t n0, int64_t nc, uint16_t* dst, int nr,
                  int kstep) const override {
        gemm::bf16_pack_b_slab(bsrc, k->s_.brs, k->s_.bcs, k0, kc, n0, nc, dst, nr, kstep);
      }
      float* c(int64_t) const override { return y; }
      void epilogue(int64_t, gemm::Epilogue* e) const override {
        e->alpha = k->s_.alpha;
        e->act = k->act_;
        if (cin) e->add[0] = gemm::Addend{cin, k->s_.c_sm, k->s_.c_sn, k->s_.beta};
      }
    } p;
    p.batch = 1; p.M = s_.M; p.N = s_.N; p.K = s_.K; p.ldc = s_.N;
    p.k = this;
    p.bsrc = static_cast<const float*>(a.in[1]);
    p.cin = s_.c_input >= 0 ? static_cast<const float*>(a.in[s_.c_input]) : nullptr;
    p.y = static_cast<float*>(a.out[0]);
    uint16_t* ws = static_cast<uint16_t*>(a.workspace);
    uint16_t* apk = ws;
    ws += asize_;
    const float* src = static_cast<const float*>(a.in[0]);
    const int64_t panels = (s_.M + uk_.mr - 1) / uk_.mr;
    a.pool->parallel_for(panels, std::max<int64_t>(1, 16384 / std::max<int64_t>(s_.K * uk_.mr, 1)),
                         [this, src, apk](int64_t b, int64_t e) {
                           gemm::bf16_pack_a(src, s_.ars, s_.acs, s_.M, s_.K, apk, uk_, 1.f, b, e);
                         });
    p.ap = apk;
    gemm::bf16_run(p, uk_, a.pool, ws);
  }

 private:
  Linear s_;
  gemm::Bf16Ukernel uk_;
  Activation act_;
  int64_t asize_ = 0;
  gemm::Bf16Buf bpack_;
};

}  // namespace

bool bf16_supports(const Layer& l) { return linear_of(l).ok; }

std::unique_ptr<Kernel> bf16_prepare(const Layer& l) { return std::make_unique<LinearBf16Kernel>(l); }

}  // namespace linear
}  // namespace snep
