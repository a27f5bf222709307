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
#include "cpu/conv/conv_routines.h"
#include "cpu/gemm/sgemm.h"

namespace snep {
namespace {

using conv::ConvParams;
using gemm::FloatBuf;

bool conv_gemm_supports_common(const Layer& l, ConvParams* out) {
  if (l.op != "Conv" || l.inputs.size() < 2 || l.inputs.size() > 4 || !all_float32(l)) return false;
  ConvParams p = conv::conv_params(l);
  if (!p.ok) return false;
  if (l.has_input(2) && l.in(2).shape != std::vector<int64_t>{p.M}) return false;
  if (l.has_input(3) && l.in(3).shape != l.out(0).shape) return false;
  if (!gemm::activation_supported(l.attrs)) return false;
  *out = p;
  return true;
}

bool is_1x1(const ConvParams& p) {
  for (int i = 0; i < 3; ++i)
    if (p.k[i] != 1 || p.s[i] != 1 || p.pb[i] != 0 || p.pe[i] != 0) return false;
  return true;
}

// Writes rows [k0, k0+kc) x columns [n0, n0+nc) of the im2col matrix of one
// image/group (x at its first channel) as packed-B panels [q][kc][NR]. Panel by
// panel: the panel's columns split into runs along output rows (computed once
// per panel), then each row k of the panel is NR contiguous floats.
void im2col_slab(const ConvParams& p, const float* x, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst,
                 int NR) {
  const int64_t insz = p.in_size();
  const int64_t O1 = p.out[1], O2 = p.out[2], I0 = p.in[0], I1 = p.in[1], I2 = p.in[2];
  const int64_t K1 = p.k[1], K2 = p.k[2], KK = p.k_size();
  const int64_t s2 = p.s[2], d2 = p.d[2], pb2 = p.pb[2];
  struct Run { int64_t j0, len, id0, ih0, iw0; };
  Run runs[64];
  const int64_t npan = (nc + NR - 1) / NR;
  for (int64_t q = 0; q < npan; ++q) {
    float* dq = dst + q * NR * kc;
    const int64_t c0 = n0 + q * NR, cn = std::min<int64_t>(NR, nc - q * NR);
    int nr = 0;
    for (int64_t j = 0; j < cn;) {
      const int64_t n = c0 + j;
      const int64_t od = n / (O1 * O2), oh = (n / O2) % O1, ow = n % O2;
      const int64_t len = std::min(O2 - ow, cn - j);
      runs[nr++] = Run{j, len, od * p.s[0] - p.pb[0], oh * p.s[1] - p.pb[1], ow * s2 - pb2};
      j += len;
    }
    int64_t c = k0 / KK, r = k0 % KK;
    int64_t kd = r / (K1 * K2), kh = (r / K2) % K1, kw = r % K2;
    for (int64_t kk = 0; kk < kc; ++kk) {
      float* d = dq + kk * NR;
      const float* xc = x + c * insz;
      for (int ri = 0; ri < nr; ++ri) {
        const Run& ru = runs[ri];
        float* dr = d + ru.j0;
        const int64_t id = ru.id0 + kd * p.d[0], ih = ru.ih0 + kh * p.d[1];
        int64_t lo = 0, hi = 0;
        const float* row = nullptr;
        if (id >= 0 && id < I0 && ih >= 0 && ih < I1) {
          const int64_t iw0 = ru.iw0 + kw * d2;
          lo = iw0 >= 0 ? 0 : (-iw0 + s2 - 1) / s2;
          hi = iw0 > I2 - 1 ? 0 : (I2 - 1 - iw0) / s2 + 1;
          lo = std::min(lo, ru.len);
          hi = std::min(std::max(hi, lo), ru.len);
          row = xc + (id * I1 + ih) * I2 + iw0;
        }
        for (int64_t t = 0; t < lo; ++t) dr[t] = 0.f;
        if (s2 == 1) {
          for (int64_t t = lo; t < hi; ++t) dr[t] = row[t];
        } else {
          for (int64_t t = lo; t < hi; ++t) dr[t] = row[t * s2];
        }
        for (int64_t t = hi; t < ru.len; ++t) dr[t] = 0.f;
      }
      for (int64_t t = cn; t < NR; ++t) d[t] = 0.f;
      if (++kw == K2) {
        kw = 0;
        if (++kh == K1) {
          kh = 0;
          if (++kd == p.k[0]) { kd = 0; ++c; }
        }
      }
    }
  }
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

bool im2col_supports(const Layer& l) {
  ConvParams p;
  return conv_gemm_supports_common(l, &p);
}

bool gemm1x1_supports(const Layer& l) {
  ConvParams p;
  return conv_gemm_supports_common(l, &p) && is_1x1(p);
}

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

}  // namespace
}  // namespace snep
