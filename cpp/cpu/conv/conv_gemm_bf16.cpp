// Conv as GEMM in bfloat16 compute, float32 tensors (conv_gemm.cpp's plan):
//   Y_g = act( bf16(W_g) * bf16(col_g) + bias + Z ),  fp32 sums, fp32 epilogue.
// The weights are rounded and packed once at prepare (per run when not
// constant); the activations are rounded while each task packs its B slab:
// rows of the input as they are (gemm_1x1) or im2col rows through a two-row
// fp32 staging buffer turned into bf16 k pairs (im2col_gemm).
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/conv/conv_params.h"
#include "cpu/conv/conv_routines.h"
#include "cpu/conv/im2col.h"
#include "cpu/gemm/bf16gemm.h"

namespace snep {
namespace conv {
namespace {

class ConvGemmBf16Kernel : public Kernel {
 public:
  ConvGemmBf16Kernel(const Layer& l, const ConvParams& p, bool one_by_one) : p_(p), one_(one_by_one) {
    Mg_ = p.M / p.group;
    uk_ = gemm::bf16_ukernel_for(Mg_);
    Cg_ = p.C / p.group;
    K_ = Cg_ * p.k_size();
    N_ = p.out_size();
    act_ = Activation::from_attrs(l.attrs);
    has_bias_ = l.has_input(2);
    has_z_ = l.has_input(3);
    asize_ = gemm::bf16_ws_round(gemm::bf16_packed_a_elems(Mg_, K_, uk_));
    if (l.in(1).const_data) {
      apack_.reset(asize_ * p.group);
      pack_weights(l.in(1).cdata<float>(), apack_.data(), 0, p.group * panels());
    }
  }

  bool reads_input_at_run(int i) const override { return i != 1 || !apack_.data(); }

  size_t workspace_bytes() const override {
    int64_t e = gemm::scratch_slots() * gemm::bf16_slab_elems(K_, uk_);
    if (!apack_.data()) e += asize_ * p_.group;
    return (size_t)e * sizeof(uint16_t);
  }

  void run(const RunArgs& a) override {
    struct P : gemm::Bf16Problem {
      const ConvGemmBf16Kernel* k;
      const uint16_t* ap;
      const float *x, *bias, *z;
      float* y;
      const uint16_t* a_packed(int64_t bi) const override { return ap + (bi % k->p_.group) * k->asize_; }
      const float* xg(int64_t bi) const {
        int64_t img = bi / k->p_.group, g = bi % k->p_.group;
        return x + (img * k->p_.C + g * k->Cg_) * k->p_.in_size();
      }
      void pack_b(int64_t bi, int64_t k0, int64_t kc, int64_t n0, int64_t nc, uint16_t* dst, int nr,
                  int kstep) const override {
        if (k->one_) gemm::bf16_pack_b_slab(xg(bi), k->N_, 1, k0, kc, n0, nc, dst, nr, kstep);
        else im2col_bf16(k->p_, xg(bi), k0, kc, n0, nc, dst, nr, kstep);
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
    uint16_t* ws = static_cast<uint16_t*>(a.workspace);
    if (apack_.data()) {
      pr.ap = apack_.data();
    } else {
      uint16_t* dst = ws;
      ws += asize_ * p_.group;
      const float* w = static_cast<const float*>(a.in[1]);
      const ConvGemmBf16Kernel* self = this;
      a.pool->parallel_for(p_.group * panels(), 1,
                           [self, w, dst](int64_t b, int64_t e) { self->pack_weights(w, dst, b, e); });
      pr.ap = dst;
    }
    gemm::bf16_run(pr, uk_, a.pool, ws);
  }

 private:
  // im2col rows staged two at a time in fp32, then stored as one bf16 k pair.
  static void im2col_bf16(const ConvParams& p, const float* x, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                          uint16_t* dst, int NR, int kstep) {
    struct Sink {
      uint16_t* dst;
      int64_t kc, kcp;
      int NR;
      float* tmp;
      float* row(int64_t, int64_t kk) const { return tmp + (kk & 1) * NR; }
      void done(int64_t q, int64_t kk) const {
        if ((kk & 1) || kk + 1 == kc)
          gemm::bf16_pack_row_pair_avx512bf16(tmp, (kk & 1) ? tmp + NR : nullptr, NR,
                                              dst + q * NR * kcp + (kk & ~int64_t(1)) * NR, NR);
      }
    };
    alignas(64) float tmp[2 * 32];
    const int64_t kcp = gemm::round_up(kc, kstep), kc2 = gemm::round_up(kc, 2);
    Sink sink{dst, kc, kcp, NR, tmp};
    im2col_rows(p, x, k0, kc, n0, nc, NR, sink);
    for (int64_t q = 0; q * NR < nc; ++q)
      std::memset(dst + q * NR * kcp + kc2 * NR, 0, (kcp - kc2) * NR * sizeof(uint16_t));
  }

  int64_t panels() const { return (Mg_ + uk_.mr - 1) / uk_.mr; }
  void pack_weights(const float* w, uint16_t* dst, int64_t b, int64_t e) const {
    const int64_t np = panels();
    for (int64_t t = b; t < e;) {
      int64_t g = t / np, p0 = t % np, p1 = std::min(np, p0 + (e - t));
      gemm::bf16_pack_a(w + g * Mg_ * K_, K_, 1, Mg_, K_, dst + g * asize_, uk_, 1.f, p0, p1);
      t += p1 - p0;
    }
  }

  gemm::Bf16Ukernel uk_;
  ConvParams p_;
  bool one_;
  int64_t Mg_ = 0, Cg_ = 0, K_ = 0, N_ = 0, asize_ = 0;
  bool has_bias_ = false, has_z_ = false;
  Activation act_;
  gemm::Bf16Buf apack_;
};

}  // namespace

bool bf16_im2col_supports(const Layer& l) { return gemm_supports(l, false); }
bool bf16_gemm1x1_supports(const Layer& l) { return gemm_supports(l, true); }

std::unique_ptr<Kernel> bf16_im2col_prepare(const Layer& l) {
  return std::make_unique<ConvGemmBf16Kernel>(l, conv_params(l), false);
}
std::unique_ptr<Kernel> bf16_gemm1x1_prepare(const Layer& l) {
  return std::make_unique<ConvGemmBf16Kernel>(l, conv_params(l), true);
}

}  // namespace conv
}  // namespace snep
