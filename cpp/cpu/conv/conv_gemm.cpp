// Conv as GEMM (NCHW, float32), per image and group:
//   Y_g [M/g x OHW] = act( W_g [M/g x K] * col_g [K x OHW] + bias + Z ),  K = C/g * prod(kernel)
// The weights are packed once at prepare (per run into the workspace when not
// constant); col is never materialised: each task writes its slab of the
// im2col matrix straight into the packed-B layout (im2col_gemm), or packs the
// input rows as they are (gemm_1x1: 1x1 kernel, stride 1, no padding).
// 1-D, 2-D and 3-D; any group, stride, dilation, padding, auto_pad.
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/common.h"
#include "cpu/conv/conv_params.h"
#include "cpu/conv/im2col.h"
#include "cpu/conv/conv_routines.h"
#include "cpu/gemm/sgemm.h"
#include "cpu/register_isa.h"

namespace snep {
namespace {

using conv::ConvParams;
using gemm::FloatBuf;

// The im2col matrix slab written straight into the packed-B layout [q][kc][NR].
void im2col_slab(const ConvParams& p, const float* x, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst,
                 int NR) {
  struct Sink {
    float* dst;
    int64_t kc;
    int NR;
    float* row(int64_t q, int64_t kk) const { return dst + (q * kc + kk) * NR; }
    void done(int64_t, int64_t) const {}
  } sink{dst, kc, NR};
  conv::im2col_rows(p, x, k0, kc, n0, nc, NR, sink);
}

class ConvGemmKernel : public Kernel {
 public:
  ConvGemmKernel(const Layer& l, const ConvParams& p, bool one_by_one)
      : p_(p), one_(one_by_one) {
    Mg_ = p.M / p.group;
    uk_ = gemm::ukernel_for(Mg_);
    Cg_ = p.C / p.group;
    K_ = Cg_ * p.k_size();
    N_ = p.out_size();
    act_ = Activation::from_attrs(l.attrs);
    has_bias_ = l.has_input(2);
    has_z_ = l.has_input(3);
    asize_ = gemm::ws_round(gemm::packed_a_floats(Mg_, K_, uk_));
    if (l.in(1).const_data) {
      apack_.reset(asize_ * p.group);
      pack_weights(l.in(1).cdata<float>(), apack_.data(), 0, p.group * panels());
    }
  }

  size_t workspace_bytes() const override {
    int64_t f = gemm::scratch_slots() * gemm::slab_floats(K_, uk_);
    if (!apack_.data()) f += asize_ * p_.group;
    return (size_t)f * sizeof(float);
  }

  void run(const RunArgs& a) override {
    struct P : gemm::Problem {
      const ConvGemmKernel* k;
      const float *ap, *x, *bias, *z;
      float* y;
      const float* a_packed(int64_t bi) const override { return ap + (bi % k->p_.group) * k->asize_; }
      const float* xg(int64_t bi) const {
        int64_t img = bi / k->p_.group, g = bi % k->p_.group;
        return x + (img * k->p_.C + g * k->Cg_) * k->p_.in_size();
      }
      void pack_b(int64_t bi, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst, int nr) const override {
        if (k->one_) gemm::pack_b_slab(xg(bi), k->N_, 1, k0, kc, n0, nc, dst, nr);
        else im2col_slab(k->p_, xg(bi), k0, kc, n0, nc, dst, nr);
      }
      int64_t yoff(int64_t bi) const {
        int64_t img = bi / k->p_.group, g = bi % k->p_.group;
        return (img * k->p_.M + g * k->Mg_) * k->N_;
      }
      float* c(int64_t bi) const override { return y + yoff(bi); }
      void epilogue(int64_t bi, gemm::Epilogue* e) const override {
        e->act = k->act_;
        if (bias) e->add[0] = gemm::Addend{bias + (bi % k->p_.group) * k->Mg_, 1, 0, 1.f};
        if (z) e->add[1] = gemm::Addend{z + yoff(bi), k->N_, 1, 1.f};
      }
    } pr;
    pr.batch = p_.N * p_.group; pr.M = Mg_; pr.N = N_; pr.K = K_; pr.ldc = N_;
    pr.k = this;
    pr.x = static_cast<const float*>(a.in[0]);
    pr.bias = has_bias_ ? static_cast<const float*>(a.in[2]) : nullptr;
    pr.z = has_z_ ? static_cast<const float*>(a.in[3]) : nullptr;
    pr.y = static_cast<float*>(a.out[0]);
    float* ws = static_cast<float*>(a.workspace);
    if (apack_.data()) {
      pr.ap = apack_.data();
    } else {
      float* dst = ws;
      ws += asize_ * p_.group;
      const float* w = static_cast<const float*>(a.in[1]);
      const ConvGemmKernel* self = this;
      a.pool->parallel_for(p_.group * panels(), 1,
                           [self, w, dst](int64_t b, int64_t e) { self->pack_weights(w, dst, b, e); });
      pr.ap = dst;
    }
    gemm::run(pr, uk_, a.pool, ws);
  }

 private:
  int64_t panels() const { return (Mg_ + uk_.mr - 1) / uk_.mr; }
  // Packs (group, panel) items [b, e) of the weights.
  void pack_weights(const float* w, float* dst, int64_t b, int64_t e) const {
    const int64_t np = panels();
    for (int64_t t = b; t < e;) {
      int64_t g = t / np, p0 = t % np, p1 = std::min(np, p0 + (e - t));
      gemm::pack_a(w + g * Mg_ * K_, K_, 1, Mg_, K_, dst + g * asize_, uk_, 1.f, p0, p1);
      t += p1 - p0;
    }
  }

  gemm::Ukernel uk_;
  ConvParams p_;
  bool one_;
  int64_t Mg_ = 0, Cg_ = 0, K_ = 0, N_ = 0, asize_ = 0;
  bool has_bias_ = false, has_z_ = false;
  Activation act_;
  FloatBuf apack_;
};

bool im2col_supports(const Layer& l) { return conv::gemm_supports(l, false); }

bool gemm1x1_supports(const Layer& l) { return conv::gemm_supports(l, true); }

std::unique_ptr<Kernel> im2col_prepare(const Layer& l) {
  ConvParams p = conv::conv_params(l);
  return std::make_unique<ConvGemmKernel>(l, p, false);
}

std::unique_ptr<Kernel> gemm1x1_prepare(const Layer& l) {
  ConvParams p = conv::conv_params(l);
  return std::make_unique<ConvGemmKernel>(l, p, true);
}

// The specialised routines first: each is the default where it applies.
SNEP_REGISTER_LAMBDA("Conv", "cpu:float32:nchw/gemm_1x1", gemm1x1_supports, gemm1x1_prepare);
SNEP_REGISTER_LAMBDA("Conv", "cpu:float32:nchw/depthwise", conv::depthwise_supports, conv::depthwise_prepare);
SNEP_REGISTER_LAMBDA("Conv", "cpu:float32:nchw/im2col_gemm", im2col_supports, im2col_prepare);
SNEP_REGISTER_LAMBDA_ISA("Conv", "cpu:float32:nchw/direct_smallc", conv::smallc_supports_fn, conv::smallc_prepare,
                         "avx512f");
// Reduced precision (conv_gemm_bf16.cpp) after every float32 routine: never a default.
SNEP_REGISTER_LAMBDA_ISA("Conv", "cpu:bfloat16:nchw/gemm_1x1", conv::bf16_gemm1x1_supports,
                         conv::bf16_gemm1x1_prepare, "avx512_bf16");
SNEP_REGISTER_LAMBDA_ISA("Conv", "cpu:bfloat16:nchw/im2col_gemm", conv::bf16_im2col_supports,
                         conv::bf16_im2col_prepare, "avx512_bf16");

}  // namespace

namespace conv {

static bool conv_gemm_supports_common(const Layer& l, ConvParams* out) {
  if (l.op != "Conv" || l.inputs.size() < 2 || l.inputs.size() > 4 || !all_float32(l)) return false;
  ConvParams p = conv::conv_params(l);
  if (!p.ok) return false;
  if (l.has_input(2) && l.in(2).shape != std::vector<int64_t>{p.M}) return false;
  if (l.has_input(3) && l.in(3).shape != l.out(0).shape) return false;
  if (!gemm::activation_supported(l.attrs)) return false;
  *out = p;
  return true;
}

static bool is_1x1(const ConvParams& p) {
  for (int i = 0; i < 3; ++i)
    if (p.k[i] != 1 || p.s[i] != 1 || p.pb[i] != 0 || p.pe[i] != 0) return false;
  return true;
}

bool gemm_supports(const Layer& l, bool one_by_one) {
  ConvParams p;
  return conv_gemm_supports_common(l, &p) && (!one_by_one || is_1x1(p));
}

}  // namespace conv
}  // namespace snep
