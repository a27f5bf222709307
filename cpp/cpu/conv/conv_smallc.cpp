// Kernel and registration of the small-input-channel direct Conv
// (conv_smallc.h): weights regrouped at prepare, the phase planes filled per
// run, then (8-channel block, output-row range) tasks over the pool; the
// fused activation is applied to each task's rows while they are hot.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/activation.h"
#include "cpu/common.h"
#include "cpu/conv/conv_params.h"
#include "cpu/conv/conv_routines.h"
#include "cpu/conv/conv_smallc.h"
#include "cpu/gemm/sgemm.h"

namespace snep {
namespace conv {
namespace {

constexpr int64_t kMaxC = 4;  // past a few input channels im2col + GEMM has a long enough K

bool smallc_supports(const Layer& l) {
  if (l.op != "Conv" || l.inputs.size() < 2 || l.inputs.size() > 4 || !all_float32(l)) return false;
  if (!cpu_has("avx512f")) return false;
  ConvParams p = conv_params(l);
  if (!p.ok || p.nsp != 2 || p.group != 1 || p.C > kMaxC) return false;
  if (p.k[1] > kSmallcMaxK || p.k[2] > kSmallcMaxK || p.d[1] != 1 || p.d[2] != 1) return false;
  if (p.s[1] != p.s[2] || (p.s[1] != 1 && p.s[1] != 2)) return false;
  if (l.has_input(2) && l.in(2).shape != std::vector<int64_t>{p.M}) return false;
  if (l.has_input(3) && l.in(3).shape != l.out(0).shape) return false;
  return gemm::activation_supported(l.attrs);
}

class SmallcKernel : public Kernel {
 public:
  explicit SmallcKernel(const Layer& l) : p_(conv_params(l)) {
    const int64_t s = p_.s[1];
    g_.C = p_.C; g_.M = p_.M; g_.OH = p_.out[1]; g_.OW = p_.out[2];
    g_.kh = p_.k[1]; g_.kw = p_.k[2]; g_.s = s;
    g_.Hq = g_.OH + (g_.kh - 1) / s;
    g_.Wq = (g_.OW + 31) / 32 * 32 + (g_.kw - 1) / s;  // whole vectors of the last block stay inside a row
    nob_ = (p_.M + kSmallcOCB - 1) / kSmallcOCB;
    if (l.in(1).const_data) {  // else regrouped per run into the workspace
      w_.resize(weight_floats());
      pack_weights(static_cast<const float*>(l.in(1).const_data), w_.data());
    }
    has_bias_ = l.has_input(2);
    has_z_ = l.has_input(3);
    act_ = Activation::from_attrs(l.attrs);
    fused_ = act_.kind == Act::None || act_.kind == Act::Relu || act_.kind == Act::Clip;
    if (act_.kind == Act::Relu) { mode_ = 1; lo_ = 0.f; }
    if (act_.kind == Act::Clip) { mode_ = 2; lo_ = act_.a; hi_ = act_.b; }
  }

  int64_t plane_floats() const { return g_.Hq * g_.Wq; }
  int64_t weight_floats() const { return nob_ * p_.C * g_.kh * g_.kw * kSmallcOCB; }
  size_t workspace_bytes() const override {
    return (size_t)(p_.C * g_.s * g_.s * plane_floats() + nob_ * kSmallcOCB + (w_.empty() ? weight_floats() : 0)) *
           sizeof(float) + 64;
  }
  bool reads_input_at_run(int i) const override { return i != 1 || w_.empty(); }

  // [M/8 blocks][C*kh*kw taps][8], channels past M zero
  void pack_weights(const float* w, float* dst) const {
    const int64_t taps = p_.C * g_.kh * g_.kw;
    std::fill(dst, dst + weight_floats(), 0.f);
    for (int64_t m = 0; m < p_.M; ++m)
      for (int64_t t = 0; t < taps; ++t) dst[((m / kSmallcOCB) * taps + t) * kSmallcOCB + m % kSmallcOCB] = w[m * taps + t];
  }

  void run(const RunArgs& a) override {
    const float* x = static_cast<const float*>(a.in[0]);
    const float* z = has_z_ ? static_cast<const float*>(a.in[3]) : nullptr;
    float* y = static_cast<float*>(a.out[0]);
    float* planes = static_cast<float*>(a.workspace);
    float* bias = planes + p_.C * g_.s * g_.s * plane_floats();
    const float* wp = w_.data();
    if (w_.empty()) {
      float* dst = bias + nob_ * kSmallcOCB;
      pack_weights(static_cast<const float*>(a.in[1]), dst);
      wp = dst;
    }
    for (int64_t m = 0; m < nob_ * kSmallcOCB; ++m)
      bias[m] = has_bias_ && m < p_.M ? static_cast<const float*>(a.in[2])[m] : 0.f;
    const int64_t s = g_.s, H = p_.in[1], W = p_.in[2], pt = p_.pb[1], pl = p_.pb[2];
    const int64_t nplanes = p_.C * s * s, osz = g_.OH * g_.OW;
    // rows of the rows-per-task grain: enough work per task to hide the pool's overhead
    const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(g_.OH, 8192 / std::max<int64_t>(1, g_.OW)));
    const int64_t nrow_tasks = (g_.OH + rows - 1) / rows;
    for (int64_t img = 0; img < p_.N; ++img) {  // (wp, bias: captured by the tasks below)
      const float* xi = x + img * p_.C * H * W;
      a.pool->parallel_for(nplanes * g_.Hq, 8, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t pln = t / g_.Hq, i = t % g_.Hq;
          const int64_t c = pln / (s * s), ph_a = (pln / s) % s, ph_b = pln % s;
          float* d = planes + pln * plane_floats() + i * g_.Wq;
          const int64_t h = i * s + ph_a - pt;
          if (h < 0 || h >= H) { std::memset(d, 0, sizeof(float) * g_.Wq); continue; }
          smallc_fill_row_avx512(xi + (c * H + h) * W, W, s, ph_b - pl, d, g_.Wq);
        }
      });
      float* yi = y + img * p_.M * osz;
      const float* zi = z ? z + img * p_.M * osz : nullptr;
      a.pool->parallel_for(nob_ * nrow_tasks, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t ob = t / nrow_tasks, r0 = (t % nrow_tasks) * rows, r1 = std::min(g_.OH, r0 + rows);
          smallc_rows_avx512(g_, planes, wp, bias, zi, yi, ob, r0, r1, mode_, lo_, hi_);
          if (!fused_)
            for (int64_t m = ob * kSmallcOCB; m < std::min(p_.M, (ob + 1) * kSmallcOCB); ++m)
              act_.apply(yi + m * osz + r0 * g_.OW, (r1 - r0) * g_.OW);
        }
      });
    }
  }

 private:
  ConvParams p_;
  SmallcGeom g_{};
  int64_t nob_ = 0;
  std::vector<float> w_;
  bool has_bias_ = false, has_z_ = false;
  Activation act_;
  bool fused_ = true;  // None, Relu, Clip: a clamp in the kernel; others a pass over the rows
  int mode_ = 0;
  float lo_ = -INFINITY, hi_ = INFINITY;
};

}  // namespace

bool smallc_supports_fn(const Layer& l) { return smallc_supports(l); }
std::unique_ptr<Kernel> smallc_prepare(const Layer& l) { return std::make_unique<SmallcKernel>(l); }

}  // namespace conv
}  // namespace snep
