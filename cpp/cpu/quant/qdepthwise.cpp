// Depthwise QLinearConv (group == C == M, 2-D 3x3 or 5x5, any stride and
// padding, no dilation), u8 activations, u8/s8 weights, per-tensor or
// per-channel weight scale / zero point, with the fused activation and
// residual of qlinear_fused.h. One task per (image, channel) plane.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/conv/conv_params.h"
#include "cpu/qgemm/qgemm.h"
#include "cpu/quant/qdepthwise.h"
#include "cpu/quant/qdepthwise_layer.h"
#include "cpu/quant/qdepthwise_plane.h"
#include "cpu/quant/qlinear_fused.h"

namespace snep {
namespace {

using conv::ConvParams;
using qdw::params_of;
using qdw::dw_supports;

class QDepthwiseKernel : public Kernel {
 public:
  explicit QDepthwiseKernel(const Layer& l) : p_(params_of(l)), k_(l) {
    g_.H = p_.in[1]; g_.W = p_.in[2]; g_.OH = p_.out[1]; g_.OW = p_.out[2];
    g_.kh = p_.k[1]; g_.kw = p_.k[2]; g_.sh = p_.s[1]; g_.sw = p_.s[2]; g_.pt = p_.pb[1]; g_.pl = p_.pb[2];
    const int64_t Hp = g_.H + p_.pb[1] + p_.pe[1], Wp = g_.W + p_.pb[2] + p_.pe[2];
    g_.Wq = (Wp + g_.sw - 1) / g_.sw;
    g_.Hq = std::max((Hp + g_.sh - 1) / g_.sh, g_.OH + (g_.kh - 1) / g_.sh + 1);
    // the last block reads up to kBlock wide outputs past OH*Wq
    g_.phase_elems = g_.sh * g_.sw * g_.Hq * g_.Wq + qdw::kBlock;
    for (int64_t a = 0; a < g_.kh; ++a)
      for (int64_t b = 0; b < g_.kw; ++b)
        toff_.push_back(((a % g_.sh) * g_.sw + b % g_.sw) * g_.Hq * g_.Wq + (a / g_.sh) * g_.Wq + b / g_.sw);
    pairs_ = qdw::pair_taps(toff_.data(), g_.kh * g_.kw);
    avx512_ = cpu_has("avx512f");
  }
  int64_t slot_bytes() const { return qgemm::align64(g_.phase_elems * 2) + qgemm::align64(g_.kh * g_.kw * 4); }
  size_t workspace_bytes() const override { return (size_t)(qgemm::scratch_slots() * slot_bytes()); }

  void run(const RunArgs& a) override {
    const uint8_t* x = static_cast<const uint8_t*>(a.in[0]);
    const int32_t xz = static_cast<const uint8_t*>(a.in[2])[0];
    const float xs = static_cast<const float*>(a.in[1])[0], ys = static_cast<const float*>(a.in[6])[0];
    const float* wsc = static_cast<const float*>(a.in[4]);
    qgemm::QRow base{};
    base.yz = k_.y_signed ? (int32_t) static_cast<const int8_t*>(a.in[7])[0] : (int32_t) static_cast<const uint8_t*>(a.in[7])[0];
    qfused::out_range(k_.act, k_.y_signed, ys, base.yz, &base.qlo, &base.qhi);
    base.y_signed = k_.y_signed;
    const uint8_t* z = k_.has_z ? static_cast<const uint8_t*>(a.in[9]) : nullptr;
    if (z) {
      base.z_signed = k_.z_signed;
      base.zz = k_.z_signed ? (int32_t) static_cast<const int8_t*>(a.in[11])[0] : (int32_t) static_cast<const uint8_t*>(a.in[11])[0];
      base.zmult = static_cast<const float*>(a.in[10])[0] / ys;
    }
    const qgemm::QRequantFn requant = qgemm::best_ukernel().requant;
    const int64_t KK = g_.kh * g_.kw, osz = g_.OH * g_.OW, slot = slot_bytes();
    uint8_t* scratch = static_cast<uint8_t*>(a.workspace);
    qgemm::run_tasks(a.pool, p_.N * p_.C, qgemm::scratch_slots(), [&](int64_t t, int wk) {
      const int64_t img = t / p_.C, c = t % p_.C;
      uint8_t* sl = scratch + wk * slot;
      int16_t* ph = reinterpret_cast<int16_t*>(sl);
      int32_t* w = reinterpret_cast<int32_t*>(sl + qgemm::align64(g_.phase_elems * 2));
      const int64_t wi = k_.wz_vec ? c : 0;
      const int32_t wz = k_.w_u8 ? static_cast<const uint8_t*>(a.in[5])[wi] : static_cast<const int8_t*>(a.in[5])[wi];
      for (int64_t k = 0; k < KK; ++k)
        w[k] = (k_.w_u8 ? (int32_t) static_cast<const uint8_t*>(a.in[3])[c * KK + k]
                      : (int32_t) static_cast<const int8_t*>(a.in[3])[c * KK + k]) - wz;
      struct Ctx {
        qgemm::QRow r;
        qgemm::QRequantFn rq;
        const uint8_t* z;
        uint8_t* y;
        int64_t ow, wq;
        bool avx512;
      } cx{base, requant, z ? z + (img * p_.C + c) * osz : nullptr, static_cast<uint8_t*>(a.out[0]) + (img * p_.C + c) * osz,
           g_.OW, g_.Wq, avx512_};
      cx.r.c0 = k_.has_bias ? static_cast<const int32_t*>(a.in[8])[c] : 0;
      cx.r.mult = xs * wsc[k_.ws_vec ? c : 0] / ys;
      // a block of wide outputs: its valid columns are consecutive outputs;
      // gather them and requantize once (one division per block)
      qdw::BlockSink sink{[](void* vp, int64_t n0, const int32_t* ac, int64_t n) {
                            Ctx& k = *static_cast<Ctx*>(vp);
                            alignas(64) int32_t dense[qdw::kBlock];
                            int64_t oh = n0 / k.wq, ow = n0 % k.wq, cnt = 0;
                            const int64_t o0 = oh * k.ow + std::min(ow, k.ow);
                            if (k.avx512) cnt = qdw::gather_valid_avx512(ac, n, ow, k.wq, k.ow, dense);
                            else for (int64_t j = 0; j < n;) {
                              const int64_t len = std::min(k.wq - ow, n - j);
                              const int64_t v = ow < k.ow ? std::min(len, k.ow - ow) : 0;
                              for (int64_t e = 0; e < v; ++e) dense[cnt + e] = ac[j + e];
                              cnt += v;
                              j += len;
                              ow = 0;
                            }
                            if (!cnt) return;
                            qgemm::QRow r = k.r;
                            r.acc = dense;
                            r.n = cnt;
                            r.z = k.z ? k.z + o0 : nullptr;
                            r.y = k.y + o0;
                            k.rq(r);
                          },
                          &cx};
      const uint8_t* xp = x + (img * p_.C + c) * g_.H * g_.W;
      if (avx512_) qdw::plane_avx512(g_, xp, xz, w, pairs_, ph, sink);
      else qdw::plane(g_, xp, xz, w, toff_.data(), ph, [&](int64_t n0, const int32_t* ac, int64_t n) { sink.fn(sink.ctx, n0, ac, n); });
    });
  }

 private:
  ConvParams p_;
  qdw::Plane g_{};
  qdw::LayerKinds k_;
  bool avx512_ = false;
  std::vector<int64_t> toff_;
  qdw::TapPairs pairs_;
};

SNEP_REGISTER_LAMBDA("QLinearConv", "cpu:qint8:nchw/depthwise", dw_supports,
                     [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<QDepthwiseKernel>(l); });

}  // namespace
}  // namespace snep
