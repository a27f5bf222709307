// Depthwise Conv (group == C_in == C_out), NCHW float32, direct: each (image,
// channel) plane is computed row by row, vectorised along the output width;
// bias and Z are added and the activation applied while the plane is hot.
// Any kernel size, stride, dilation, padding; 1-D, 2-D, 3-D.
#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/activation.h"
#include "cpu/common.h"
#include "cpu/conv/conv_params.h"
#include "cpu/conv/conv_routines.h"
#include "cpu/conv/depthwise_kernel.h"
#include "cpu/gemm/sgemm.h"

namespace snep {
namespace conv {

void dw_plane_generic(const DwGeom& g, const float* x, const float* w, float bias, const float* z, float* y) {
  dw_plane_impl(g, x, w, bias, z, y);
}

bool depthwise_supports(const Layer& l) {
  if (l.op != "Conv" || l.inputs.size() < 2 || l.inputs.size() > 4 || !all_float32(l)) return false;
  ConvParams p = conv_params(l);
  if (!p.ok || p.group != p.C || p.M != p.C) return false;
  if (l.has_input(2) && l.in(2).shape != std::vector<int64_t>{p.M}) return false;
  if (l.has_input(3) && l.in(3).shape != l.out(0).shape) return false;
  return gemm::activation_supported(l.attrs);
}

namespace {

class DepthwiseKernel : public Kernel {
 public:
  explicit DepthwiseKernel(const Layer& l) {
    ConvParams p = conv_params(l);
    C_ = p.C;
    N_ = p.N;
    in_ = p.in_size();
    out_ = p.out_size();
    ksz_ = p.k_size();
    for (int i = 0; i < 3; ++i) {
      g_.in[i] = p.in[i]; g_.out[i] = p.out[i]; g_.k[i] = p.k[i];
      g_.s[i] = p.s[i]; g_.d[i] = p.d[i]; g_.pb[i] = p.pb[i];
    }
    for (int64_t kw = 0; kw < 8; ++kw) {
      const int64_t off = kw * p.d[2] - p.pb[2], s2 = p.s[2], O2 = p.out[2], I2 = p.in[2];
      int64_t lo = off >= 0 ? 0 : (-off + s2 - 1) / s2;
      int64_t hi = (I2 - 1 - off) < 0 ? 0 : (I2 - 1 - off) / s2 + 1;
      lo = std::min(lo, O2);
      hi = std::min(std::max(hi, lo), O2);
      g_.lo[kw] = lo;
      g_.hi[kw] = hi;
    }
    act_ = Activation::from_attrs(l.attrs);
    has_bias_ = l.has_input(2);
    has_z_ = l.has_input(3);
    fn_ = cpu_has("avx512f") ? dw_plane_avx512 : dw_plane_generic;
  }

  void run(const RunArgs& a) override {
    const float* x = static_cast<const float*>(a.in[0]);
    const float* w = static_cast<const float*>(a.in[1]);
    const float* b = has_bias_ ? static_cast<const float*>(a.in[2]) : nullptr;
    const float* z = has_z_ ? static_cast<const float*>(a.in[3]) : nullptr;
    float* y = static_cast<float*>(a.out[0]);
    const DepthwiseKernel* self = this;
    int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, out_ * ksz_));
    a.pool->parallel_for(N_ * C_, grain, [self, x, w, b, z, y](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; ++t) {
        const int64_t c = t % self->C_;
        float* yp = y + t * self->out_;
        self->fn_(self->g_, x + t * self->in_, w + c * self->ksz_, b ? b[c] : 0.f, z ? z + t * self->out_ : nullptr,
                  yp);
        self->act_.apply(yp, self->out_);
      }
    });
  }

 private:
  DwGeom g_;
  int64_t C_ = 0, N_ = 0, in_ = 0, out_ = 0, ksz_ = 0;
  bool has_bias_ = false, has_z_ = false;
  Activation act_;
  void (*fn_)(const DwGeom&, const float*, const float*, float, const float*, float*) = nullptr;
};

}  // namespace

std::unique_ptr<Kernel> depthwise_prepare(const Layer& l) { return std::make_unique<DepthwiseKernel>(l); }

}  // namespace conv
}  // namespace snep
