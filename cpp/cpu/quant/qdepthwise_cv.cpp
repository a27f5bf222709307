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
constexpr int64_t kBandBytes = 96 * 1024;         // a band's plane rows and accumulators: within L2, near L1
constexpr int64_t kMaxScratch = 8 * 1024 * 1024;  // one band of absurdly wide rows: left to the per-plane routine

qdwcv::Geom geom_of(const ConvParams& p) {
  qdwcv::Geom g{};
  g.H = p.in[1]; g.W = p.in[2]; g.OH = p.out[1]; g.OW = p.out[2];
  g.kh = p.k[1]; g.kw = p.k[2]; g.sh = p.s[1]; g.sw = p.s[2]; g.pt = p.pb[1]; g.pl = p.pb[2];
  g.Wp = std::max(g.W + p.pb[2] + p.pe[2], (g.OW - 1) * g.sw + g.kw);
  // the most output rows whose band fits kBandBytes (one at least)
  g.BH = 1;
  while (g.BH < g.OH) {
    qdwcv::Geom t = g;
    t.BH = g.BH + 1;
    if (qdwcv::scratch_bytes(t) > kBandBytes) break;
    g.BH = t.BH;
  }
  return g;
}

bool cv_supports(const Layer& l) {
  if (!qdw::dw_supports(l)) return false;
  const qdwcv::Geom g = geom_of(qdw::params_of(l));
  return qdwcv::scratch_bytes(g) <= kMaxScratch;
}

class QDepthwiseCvKernel : public Kernel {
 public:
  explicit QDepthwiseCvKernel(const Layer& l) : p_(qdw::params_of(l)), g_(geom_of(p_)), k_(l) {
    groups_ = (p_.C + kLanes - 1) / kLanes;
    // constant weights and parameters (the usual case): packed once here
    bool all_const = true;
    for (size_t i : {1, 3, 4, 5, 6}) all_const = all_const && l.in(i).const_data;
    if (k_.has_bias) all_const = all_const && l.in(8).const_data;
    if (all_const) {
      const void* in[9] = {};
      for (size_t i : {1, 3, 4, 5, 6}) in[i] = l.in(i).const_data;
      if (k_.has_bias) in[8] = l.in(8).const_data;
      packed_.resize(groups_ * group_words());
      for (int64_t g = 0; g < groups_; ++g) pack_group(in, g, packed_.data() + g * group_words());
    }
  }
  // per slot: the plane and accumulators, then (weights not packed at prepare) weight pairs, bias, mult
  int64_t slot_bytes() const { return qgemm::align64(qdwcv::scratch_bytes(g_)) + qgemm::align64(group_words() * 4); }
  size_t workspace_bytes() const override { return (size_t)(qgemm::scratch_slots() * slot_bytes()); }

  void run(const RunArgs& a) override {
    const int64_t C = p_.C, HW = g_.H * g_.W, OHW = g_.OH * g_.OW;
    const float ys = static_cast<const float*>(a.in[6])[0];
    qdwcv::Group base{};
    base.xz = static_cast<const uint8_t*>(a.in[2])[0];
    base.yz = k_.y_signed ? (int32_t) static_cast<const int8_t*>(a.in[7])[0] : (int32_t) static_cast<const uint8_t*>(a.in[7])[0];
    int32_t qlo, qhi;
    qfused::out_range(k_.act, k_.y_signed, ys, base.yz, &qlo, &qhi);
    base.flo = (float)(qlo - base.yz);
    base.fhi = (float)(qhi - base.yz);
    base.y_signed = k_.y_signed;
    if (k_.has_z) {
      base.z_signed = k_.z_signed;
      base.zz = k_.z_signed ? (int32_t) static_cast<const int8_t*>(a.in[11])[0] : (int32_t) static_cast<const uint8_t*>(a.in[11])[0];
      base.zmult = static_cast<const float*>(a.in[10])[0] / ys;
    }
    const int64_t slot = slot_bytes();
    uint8_t* scratch = static_cast<uint8_t*>(a.workspace);
    // tasks: (image, group, run of row bands); a few groups of a large plane (MobileNet's 112x112x32: two)
    // are split into runs of bands so that every thread gets work (bands are independent: same total work)
    const int nth = a.pool ? a.pool->num_threads() : 1;
    const int64_t nbands = (g_.OH + g_.BH - 1) / g_.BH, units = p_.N * groups_;
    const int64_t runs = std::min(nbands, std::max<int64_t>(1, (4 * nth + units - 1) / units));
    const int64_t per_run = (nbands + runs - 1) / runs;
    qgemm::run_tasks(a.pool, units * runs, qgemm::scratch_slots(), [&](int64_t t, int wk) {
      const int64_t u = t / runs, b0 = (t % runs) * per_run, b1 = std::min(nbands, b0 + per_run);
      if (b0 >= b1) return;
      const int64_t img = u / groups_, grp = u % groups_, c0 = grp * kLanes;
      uint8_t* sl = scratch + wk * slot;
      const int32_t* params;  // the group's weight pairs [KP][16], bias [16], mult [16]
      if (!packed_.empty()) {
        params = packed_.data() + grp * group_words();
      } else {
        int32_t* own = reinterpret_cast<int32_t*>(sl + qgemm::align64(qdwcv::scratch_bytes(g_)));
        pack_group(a.in, grp, own);
        params = own;
      }
      qdwcv::Group q = base;
      q.x = static_cast<const uint8_t*>(a.in[0]) + (img * C + c0) * HW;
      q.y = static_cast<uint8_t*>(a.out[0]) + (img * C + c0) * OHW;
      q.z = k_.has_z ? static_cast<const uint8_t*>(a.in[9]) + (img * C + c0) * OHW : nullptr;
      q.nc = (int)std::min<int64_t>(kLanes, C - c0);
      q.w = params;
      q.bias = params + kp() * kLanes;
      q.mult = reinterpret_cast<const float*>(params + (kp() + 1) * kLanes);
      q.scratch = sl;
      qdwcv::group_avx512(g_, q, b0, b1);
    });
  }

  bool reads_input_at_run(int i) const override { return packed_.empty() || (i != 3 && i != 4 && i != 5 && i != 8); }

 private:
  int64_t kp() const { return g_.kh * ((g_.kw + 1) / 2); }  // tap pairs
  int64_t group_words() const { return (kp() + 2) * kLanes; }

  // Group grp's weights minus their zero point in pairs of horizontal taps (qdepthwise_cv.h), bias and
  // requantisation multipliers, 16 lanes each; lanes past the last channel repeat it (their results are dropped).
  void pack_group(const void* const* in, int64_t grp, int32_t* out) const {
    const int64_t kh = g_.kh, kw = g_.kw, kwp = (kw + 1) / 2, c0 = grp * kLanes, nc = std::min<int64_t>(kLanes, p_.C - c0);
    const float xs = static_cast<const float*>(in[1])[0], ys = static_cast<const float*>(in[6])[0];
    const float* wsc = static_cast<const float*>(in[4]);
    int32_t* bias = out + kp() * kLanes;
    float* mult = reinterpret_cast<float*>(bias + kLanes);
    for (int l = 0; l < kLanes; ++l) {
      const int64_t c = c0 + std::min<int64_t>(l, nc - 1);
      const int64_t wi = k_.wz_vec ? c : 0;
      const int32_t wz = k_.w_u8 ? static_cast<const uint8_t*>(in[5])[wi] : static_cast<const int8_t*>(in[5])[wi];
      const auto tap = [&](int64_t i, int64_t j) -> uint32_t {  // w - wz as 16 bits, 0 past the row's end
        if (j >= kw) return 0;
        const int64_t k = c * kh * kw + i * kw + j;
        const int32_t wv = (k_.w_u8 ? (int32_t) static_cast<const uint8_t*>(in[3])[k]
                                  : (int32_t) static_cast<const int8_t*>(in[3])[k]) - wz;
        return (uint16_t)(int16_t)wv;
      };
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t jj = 0; jj < kwp; ++jj)
          out[(i * kwp + jj) * kLanes + l] = (int32_t)(tap(i, 2 * jj) | (tap(i, 2 * jj + 1) << 16));
      bias[l] = k_.has_bias ? static_cast<const int32_t*>(in[8])[c] : 0;
      mult[l] = xs * wsc[k_.ws_vec ? c : 0] / ys;
    }
  }

  ConvParams p_;
  qdwcv::Geom g_;
  int64_t groups_ = 0;
  qdw::LayerKinds k_;
  std::vector<int32_t> packed_;  // [groups][group_words()] when the weights and parameters are constant
};

SNEP_REGISTER_LAMBDA_ISA("QLinearConv", "cpu:qint8:nchw/depthwise_cv16", cv_supports,
                         [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<QDepthwiseCvKernel>(l); },
                         "avx512f");

}  // namespace
}  // namespace snep
