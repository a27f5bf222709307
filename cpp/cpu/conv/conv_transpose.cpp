// ConvTranspose (NCHW float32) as GEMM + col2im, per image and group:
//   col [M/g * prod(k) x HWin] = W_g^T [M/g*prod(k) x C/g] * X_g [C/g x HWin]
//   Y_g = act( col2im(col) + bias )
// W_g^T is packed once at prepare (per run when W is not constant). Any group,
// strides, dilations, pads, output_padding, output_shape, auto_pad; 1-3 D.
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/common.h"
#include "cpu/conv/conv_params.h"
#include "cpu/gemm/sgemm.h"

namespace snep {
namespace {

using conv::ConvParams;
using gemm::FloatBuf;

bool convt_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 3 || !all_float32(l)) return false;
  ConvParams p = conv::conv_transpose_params(l);
  if (!p.ok) return false;
  if (l.has_input(2) && l.in(2).shape != std::vector<int64_t>{p.M}) return false;
  return gemm::activation_supported(l.attrs);
}

class ConvTransposeKernel : public Kernel {
 public:
  explicit ConvTransposeKernel(const Layer& l)  {
    p_ = conv::conv_transpose_params(l);
    Mg_ = p_.M / p_.group;
    Cg_ = p_.C / p_.group;
    KK_ = p_.k_size();
    Mrows_ = Mg_ * KK_;
    uk_ = gemm::ukernel_for(Mrows_);
    HWin_ = p_.in_size();
    act_ = Activation::from_attrs(l.attrs);
    has_bias_ = l.has_input(2);
    asize_ = gemm::ws_round(gemm::packed_a_floats(Mrows_, Cg_, uk_));
    if (l.in(1).const_data) {
      apack_.reset(asize_ * p_.group);
      for (int64_t g = 0; g < p_.group; ++g) pack_w(l.in(1).cdata<float>(), g, apack_.data() + g * asize_);
    }
  }

  size_t workspace_bytes() const override {
    int64_t f = gemm::ws_round(Mrows_ * HWin_) + gemm::scratch_slots() * gemm::slab_floats(Cg_, uk_);
    if (!apack_.data()) f += asize_ * p_.group;
    return (size_t)f * sizeof(float);
  }

  void run(const RunArgs& a) override {
    const float* x = static_cast<const float*>(a.in[0]);
    const float* w = static_cast<const float*>(a.in[1]);
    const float* bias = has_bias_ ? static_cast<const float*>(a.in[2]) : nullptr;
    float* y = static_cast<float*>(a.out[0]);
    float* ws = static_cast<float*>(a.workspace);
    float* col = ws;
    ws += gemm::ws_round(Mrows_ * HWin_);
    const float* ap = apack_.data();
    if (!ap) {
      float* dst = ws;
      ws += asize_ * p_.group;
      for (int64_t g = 0; g < p_.group; ++g) pack_w(w, g, dst + g * asize_);
      ap = dst;
    }
    struct P : gemm::Problem {
      const float *a, *xg;
      float* col;
      const float* a_packed(int64_t) const override { return a; }
      void pack_b(int64_t, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst, int nr) const override {
        gemm::pack_b_slab(xg, N, 1, k0, kc, n0, nc, dst, nr);
      }
      float* c(int64_t) const override { return col; }
      void epilogue(int64_t, gemm::Epilogue*) const override {}
    };
    const int64_t outsz = p_.out_size();
    for (int64_t img = 0; img < p_.N; ++img) {
      for (int64_t g = 0; g < p_.group; ++g) {
        P pr;
        pr.batch = 1; pr.M = Mrows_; pr.N = HWin_; pr.K = Cg_; pr.ldc = HWin_;
        pr.a = ap + g * asize_;
        pr.xg = x + (img * p_.C + g * Cg_) * HWin_;
        pr.col = col;
        if (Cg_ > 0) gemm::run(pr, uk_, a.pool, ws);
        else std::memset(col, 0, sizeof(float) * Mrows_ * HWin_);
        float* yg = y + (img * p_.M + g * Mg_) * outsz;
        const float* bg = bias ? bias + g * Mg_ : nullptr;
        const ConvTransposeKernel* self = this;
        a.pool->parallel_for(Mg_, 1, [self, col, yg, bg, outsz](int64_t s, int64_t e) {
          for (int64_t m = s; m < e; ++m) self->col2im(col + m * self->KK_ * self->HWin_, bg ? bg[m] : 0.f,
                                                       yg + m * outsz);
        });
      }
    }
  }

 private:
  // A = W_g^T: element (i = m*KK + kk, c) at W[(g*Cg + c), m, kk].
  void pack_w(const float* w, int64_t g, float* dst) const {
    gemm::pack_a(w + g * Cg_ * Mrows_, 1, Mrows_, Mrows_, Cg_, dst, uk_);
  }

  // One output channel: y = bias + scatter-add of its KK rows of col; then the activation.
  void col2im(const float* colm, float bias, float* y) const {
    const ConvParams& p = p_;
    const int64_t outsz = p.out_size();
    for (int64_t i = 0; i < outsz; ++i) y[i] = bias;
    const int64_t I0 = p.in[0], I1 = p.in[1], I2 = p.in[2];
    const int64_t O0 = p.out[0], O1 = p.out[1], O2 = p.out[2];
    for (int64_t kk = 0; kk < KK_; ++kk) {
      const int64_t kd = kk / (p.k[1] * p.k[2]), kh = (kk / p.k[2]) % p.k[1], kw = kk % p.k[2];
      const float* cr = colm + kk * HWin_;
      // Valid iw: 0 <= iw*s2 - pb2 + kw*d2 < O2.
      const int64_t off = kw * p.d[2] - p.pb[2], s2 = p.s[2];
      int64_t lo = off >= 0 ? 0 : (-off + s2 - 1) / s2;
      int64_t hi = (O2 - 1 - off) < 0 ? 0 : (O2 - 1 - off) / s2 + 1;
      lo = std::min(lo, I2);
      hi = std::min(std::max(hi, lo), I2);
      for (int64_t id = 0; id < I0; ++id) {
        const int64_t od = id * p.s[0] - p.pb[0] + kd * p.d[0];
        if (od < 0 || od >= O0) continue;
        for (int64_t ih = 0; ih < I1; ++ih) {
          const int64_t oh = ih * p.s[1] - p.pb[1] + kh * p.d[1];
          if (oh < 0 || oh >= O1) continue;
          const float* src = cr + (id * I1 + ih) * I2;
          float* dst = y + (od * O1 + oh) * O2 + off;
          if (s2 == 1) {
            for (int64_t iw = lo; iw < hi; ++iw) dst[iw] += src[iw];
          } else {
            for (int64_t iw = lo; iw < hi; ++iw) dst[iw * s2] += src[iw];
          }
        }
      }
    }
    act_.apply(y, outsz);
  }

  gemm::Ukernel uk_;
  ConvParams p_;
  int64_t Mg_ = 0, Cg_ = 0, KK_ = 0, Mrows_ = 0, HWin_ = 0, asize_ = 0;
  bool has_bias_ = false;
  Activation act_;
  FloatBuf apack_;
};

SNEP_REGISTER_LAMBDA("ConvTranspose", "cpu:float32:nchw/gemm_col2im", convt_supports,
                     [](const Layer& l) -> std::unique_ptr<Kernel> {
                       return std::make_unique<ConvTransposeKernel>(l);
                     });

}  // namespace
}  // namespace snep
