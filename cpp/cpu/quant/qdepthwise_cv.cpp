// cpu:qint8:nchw/depthwise_cv16: depthwise QLinearConv vectorised over 16
// channels at a time (qdepthwise_cv.h), for planes small enough that the
// padded plane of 16-channel pixels stays in L1/L2. One task per (image,
// group of 16 channels). Same layers and results as cpu:qint8:nchw/depthwise.
#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/qgemm/qgemm.h"
#include "cpu/quant/qdepthwise_cv.h"
#include "cpu/quant/qdepthwise_layer.h"
#include "cpu/register_isa.h"

namespace snep {
namespace {

using qdw::ConvParams;

constexpr int kLanes = 16;
constexpr int64_t kMaxScratch = 256 * 1024;  // bytes per group: larger planes take the per-plane routine

qdwcv::Geom geom_of(const ConvParams& p) {
  qdwcv::Geom g{};
  g.H = p.in[1]; g.W = p.in[2]; g.OH = p.out[1]; g.OW = p.out[2];
  g.kh = p.k[1]; g.kw = p.k[2]; g.sh = p.s[1]; g.sw = p.s[2]; g.pt = p.pb[1]; g.pl = p.pb[2];
  g.Hp = std::max(g.H + p.pb[1] + p.pe[1], (g.OH - 1) * g.sh + g.kh);
  g.Wp = std::max(g.W + p.pb[2] + p.pe[2], (g.OW - 1) * g.sw + g.kw);
  return g;
}

bool cv_supports(const Layer& l) {
  if (!qdw::dw_supports(l)) return false;
  const qdwcv::Geom g = geom_of(qdw::params_of(l));
  // 4-pixel gathers and scatters need planes of 4 pixels at least
  return g.H * g.W >= 4 && g.OH * g.OW >= 4 && qdwcv::scratch_bytes(g) <= kMaxScratch &&
         l.in(0).numel() <= INT32_MAX && l.out(0).numel() <= INT32_MAX;
}

class QDepthwiseCvKernel : public Kernel {
 public:
  explicit QDepthwiseCvKernel(const Layer& l) : p_(qdw::params_of(l)), g_(geom_of(p_)) {
    w_u8_ = l.in(3).dtype == DType::UInt8;
    ws_vec_ = l.in(4).numel() > 1;
    wz_vec_ = l.in(5).numel() > 1;
    has_bias_ = l.has_input(8);
    has_z_ = qfused::has_residual(l);
    z_signed_ = has_z_ && l.in(9).dtype == DType::Int8;
    y_signed_ = l.out(0).dtype == DType::Int8;
    act_ = Activation::from_attrs(l.attrs);
    groups_ = (p_.C + kLanes - 1) / kLanes;
  }
  // per slot: the plane and accumulators, then weights [KK][16], bias [16], mult [16]
  int64_t slot_bytes() const { return qgemm::align64(qdwcv::scratch_bytes(g_)) + qgemm::align64((kk() + 2) * 64); }
  size_t workspace_bytes() const override { return (size_t)(qgemm::scratch_slots() * slot_bytes()); }

  void run(const RunArgs& a) override {
    const int64_t KK = kk(), C = p_.C, HW = g_.H * g_.W, OHW = g_.OH * g_.OW;
    const float xs = static_cast<const float*>(a.in[1])[0], ys = static_cast<const float*>(a.in[6])[0];
    const float* wsc = static_cast<const float*>(a.in[4]);
    qdwcv::Group base{};
    base.xz = static_cast<const uint8_t*>(a.in[2])[0];
    base.yz = y_signed_ ? (int32_t) static_cast<const int8_t*>(a.in[7])[0] : (int32_t) static_cast<const uint8_t*>(a.in[7])[0];
    int32_t qlo, qhi;
    qfused::out_range(act_, y_signed_, ys, base.yz, &qlo, &qhi);
    base.flo = (float)(qlo - base.yz);
    base.fhi = (float)(qhi - base.yz);
    base.y_signed = y_signed_;
    if (has_z_) {
      base.z_signed = z_signed_;
      base.zz = z_signed_ ? (int32_t) static_cast<const int8_t*>(a.in[11])[0] : (int32_t) static_cast<const uint8_t*>(a.in[11])[0];
      base.zmult = static_cast<const float*>(a.in[10])[0] / ys;
    }
    const int64_t slot = slot_bytes();
    uint8_t* scratch = static_cast<uint8_t*>(a.workspace);
    qgemm::run_tasks(a.pool, p_.N * groups_, qgemm::scratch_slots(), [&](int64_t t, int wk) {
      const int64_t img = t / groups_, c0 = (t % groups_) * kLanes;
      const int nc = (int)std::min<int64_t>(kLanes, C - c0);
      uint8_t* sl = scratch + wk * slot;
      int32_t* w = reinterpret_cast<int32_t*>(sl + qgemm::align64(qdwcv::scratch_bytes(g_)));
      int32_t* bias = w + KK * kLanes;
      float* mult = reinterpret_cast<float*>(bias + kLanes);
      for (int l = 0; l < kLanes; ++l) {
        const int64_t c = c0 + std::min(l, nc - 1);  // lanes past the last channel repeat it (masked off)
        const int64_t wi = wz_vec_ ? c : 0;
        const int32_t wz = w_u8_ ? static_cast<const uint8_t*>(a.in[5])[wi] : static_cast<const int8_t*>(a.in[5])[wi];
        for (int64_t k = 0; k < KK; ++k) {
          const int32_t wv = (w_u8_ ? (int32_t) static_cast<const uint8_t*>(a.in[3])[c * KK + k]
                                    : (int32_t) static_cast<const int8_t*>(a.in[3])[c * KK + k]) - wz;
          w[k * kLanes + l] = (int32_t)(uint32_t)(uint16_t)(int16_t)wv;  // high half zero (see the kernel)
        }
        bias[l] = has_bias_ ? static_cast<const int32_t*>(a.in[8])[c] : 0;
        mult[l] = xs * wsc[ws_vec_ ? c : 0] / ys;
      }
      qdwcv::Group q = base;
      q.x = static_cast<const uint8_t*>(a.in[0]) + (img * C + c0) * HW;
      q.y = static_cast<uint8_t*>(a.out[0]) + (img * C + c0) * OHW;
      q.z = has_z_ ? static_cast<const uint8_t*>(a.in[9]) + (img * C + c0) * OHW : nullptr;
      q.nc = nc;
      q.w = w;
      q.bias = bias;
      q.mult = mult;
      q.scratch = sl;
      qdwcv::group_avx512(g_, q);
    });
  }

 private:
  int64_t kk() const { return g_.kh * g_.kw; }
  ConvParams p_;
  qdwcv::Geom g_;
  int64_t groups_ = 0;
  bool w_u8_ = false, ws_vec_ = false, wz_vec_ = false, has_bias_ = false, has_z_ = false, z_signed_ = false;
  bool y_signed_ = false;
  Activation act_;
};

SNEP_REGISTER_LAMBDA_ISA("QLinearConv", "cpu:qint8:nchw/depthwise_cv16", cv_supports,
                         [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<QDepthwiseCvKernel>(l); },
                         "avx512f");

}  // namespace
}  // namespace snep
