// Depthwise QLinearConv (group == C == M) on NHWC u8 activations: the routine around
// qdw::nhwc_row_avx512 (cpu/quant/qdepthwise_nhwc_kernel.h). 2-D, s8 weights with zero
// points 0 (packed to int16 at prepare), bias and activation fused, no residual. Work
// splits over output rows; each pixel's taps are found through an offsets table built
// at prepare, padding taps reading a row of x_zp.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/conv/conv_params.h"
#include "cpu/qgemm/qgemm.h"
#include "cpu/quant/qconv_nhwc_common.h"
#include "cpu/quant/qdepthwise_nhwc_kernel.h"
#include "cpu/quant/qlinear_fused.h"
#include "cpu/register_isa.h"

namespace snep {
namespace {

using conv::ConvParams;
using qdw::kMaxTaps;

bool supports(const Layer& l) {
  ConvParams p;
  if (l.inputs.size() > 9 || !qnhwc::common_ok(l, &p)) return false;  // no residual
  if (p.group != p.C || p.M != p.C || p.k_size() > kMaxTaps) return false;
  return qfused::activation_ok(l.attrs);
}

class QDwNhwcKernel : public Kernel {
 public:
  explicit QDwNhwcKernel(const Layer& l) : p_(qnhwc::conv_params_of(l)) {
    taps_ = p_.k[1] * p_.k[2];
    C_ = p_.C;
    y_signed_ = l.out(0).dtype == DType::Int8;
    ws_vec_ = l.in(4).numel() > 1;
    has_bias_ = l.inputs.size() > 8 && l.has_input(8);
    act_ = Activation::from_attrs(l.attrs);
    const int8_t* w = l.in(3).cdata<int8_t>();
    wpack_.assign(qdw::groups(C_) * qdw::pairs(taps_) * 64, 0);
    wsum_.assign(C_, 0);
    for (int64_t c = 0; c < C_; ++c)
      for (int64_t t = 0; t < taps_; ++t) {
        wpack_[qdw::packed_w_index(c, t, taps_)] = w[c * taps_ + t];
        wsum_[c] += w[c * taps_ + t];
      }
    off_ = qnhwc::tap_offsets(p_);
  }

  size_t workspace_bytes() const override { return (size_t)(2 * qgemm::align64(cslots() * 4) + qgemm::align64(C_ + 32)); }
  bool reads_input_at_run(int i) const override { return i != 3; }

  void run(const RunArgs& a) override {
    uint8_t* ws = static_cast<uint8_t*>(a.workspace);
    int32_t* c0 = reinterpret_cast<int32_t*>(ws);
    float* mult = reinterpret_cast<float*>(ws + qgemm::align64(cslots() * 4));
    uint8_t* pad = ws + 2 * qgemm::align64(cslots() * 4);
    const qnhwc::RunQuant q(a, has_bias_, ws_vec_, y_signed_, act_);
    std::fill(c0, c0 + cslots(), 0);
    std::fill(mult, mult + cslots(), 0.f);
    for (int64_t c = 0; c < C_; ++c) {
      c0[qdw::packed_c_index(c)] = q.c0(c, wsum_[c]);
      mult[qdw::packed_c_index(c)] = q.mult(c);
    }
    std::memset(pad, q.xz, C_ + 32);
    qdw::NhwcRow base{};
    base.ow = p_.out[2];
    base.taps = taps_;
    base.C = C_;
    base.pad = pad;
    base.w = wpack_.data();
    base.c0 = c0;
    base.mult = mult;
    base.yz = q.yz;
    base.flo = q.flo;
    base.fhi = q.fhi;
    const uint8_t* x = static_cast<const uint8_t*>(a.in[0]);
    uint8_t* y = static_cast<uint8_t*>(a.out[0]);
    const int64_t OH = p_.out[1], OW = p_.out[2], in_img = p_.in_size() * C_, out_img = OH * OW * C_;
    auto rows = [&](int64_t b, int64_t e) {
      qdw::NhwcRow r = base;
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / OH, oh = t % OH;
        r.off = off_.data() + oh * OW * taps_;
        r.x = x + n * in_img;
        r.y = y + n * out_img + oh * OW * C_;
        qdw::nhwc_row_avx512(r);
      }
    };
    if (a.pool && a.pool->num_threads() > 1 && p_.N * OH > 1) a.pool->parallel_for(p_.N * OH, 1, rows);
    else rows(0, p_.N * OH);
  }

 private:
  int64_t cslots() const { return qdw::groups(C_) * 32; }

  ConvParams p_;
  int64_t taps_ = 1, C_ = 0;
  bool y_signed_ = false, ws_vec_ = false, has_bias_ = false;
  Activation act_;
  std::vector<int16_t> wpack_;
  std::vector<int32_t> wsum_;
  std::vector<int32_t> off_;
};

SNEP_REGISTER_LAMBDA_ISA("QLinearConv", "cpu:qint8:nhwc/depthwise", supports,
                         [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<QDwNhwcKernel>(l); },
                         "avx512f");

}  // namespace
}  // namespace snep
