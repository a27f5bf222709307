// Conv over float16 (1-3 spatial dims, groups, strides, dilations, pads,
// auto_pad), accumulated in float: direct loops, one (image, output channel)
// plane per task. Optional bias (input 2) and the fused residual Z (input 3,
// same shape as the output, graph_passes/fuse.py) are added before rounding.
#include <memory>

#include "cpu/conv/conv_params.h"
#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;
using conv::ConvParams;

bool conv16_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 4) return false;
  for (auto& t : l.inputs) if (t.present && t.dtype != DType::Float16) return false;
  if (l.out(0).dtype != DType::Float16 || l.attrs.has("activation")) return false;
  ConvParams p = conv::conv_params(l);
  if (!p.ok) return false;
  if (l.has_input(2) && l.in(2).shape != std::vector<int64_t>{p.M}) return false;
  if (l.has_input(3) && l.in(3).shape != l.out(0).shape) return false;
  return true;
}

std::unique_ptr<Kernel> conv16_prepare(const Layer& l) {
  const ConvParams p = conv::conv_params(l);
  const bool has_b = l.has_input(2), has_z = l.has_input(3);
  const int64_t wn = l.in(1).numel();
  return std::make_unique<FnKernel>([p, has_b, has_z, wn](const RunArgs& a) {
    const uint16_t* x = static_cast<const uint16_t*>(a.in[0]);
    const uint16_t* w16 = static_cast<const uint16_t*>(a.in[1]);
    const uint16_t* bias = has_b ? static_cast<const uint16_t*>(a.in[2]) : nullptr;
    const uint16_t* z = has_z ? static_cast<const uint16_t*>(a.in[3]) : nullptr;
    uint16_t* y = static_cast<uint16_t*>(a.out[0]);
    float* w = static_cast<float*>(a.workspace);
    for (int64_t i = 0; i < wn; ++i) w[i] = h2f(w16[i]);
    const int64_t cg = p.C / p.group, mg = p.M / p.group, insz = p.in_size(), osz = p.out_size(), ksz = p.k_size();
    par_for(a.pool, p.N * p.M, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / p.M, m = t % p.M, g = m / mg;
        const float b0 = bias ? h2f(bias[m]) : 0.f;
        for (int64_t o0 = 0; o0 < p.out[0]; ++o0)
          for (int64_t o1 = 0; o1 < p.out[1]; ++o1)
            for (int64_t o2 = 0; o2 < p.out[2]; ++o2) {
              float s = b0;
              for (int64_t c = 0; c < cg; ++c) {
                const uint16_t* xc = x + (n * p.C + g * cg + c) * insz;
                const float* wc = w + (m * cg + c) * ksz;
                for (int64_t k0 = 0; k0 < p.k[0]; ++k0) {
                  const int64_t i0 = o0 * p.s[0] - p.pb[0] + k0 * p.d[0];
                  if (i0 < 0 || i0 >= p.in[0]) continue;
                  for (int64_t k1 = 0; k1 < p.k[1]; ++k1) {
                    const int64_t i1 = o1 * p.s[1] - p.pb[1] + k1 * p.d[1];
                    if (i1 < 0 || i1 >= p.in[1]) continue;
                    for (int64_t k2 = 0; k2 < p.k[2]; ++k2) {
                      const int64_t i2 = o2 * p.s[2] - p.pb[2] + k2 * p.d[2];
                      if (i2 < 0 || i2 >= p.in[2]) continue;
                      s += h2f(xc[(i0 * p.in[1] + i1) * p.in[2] + i2]) * wc[(k0 * p.k[1] + k1) * p.k[2] + k2];
                    }
                  }
                }
              }
              const int64_t oi = t * osz + (o0 * p.out[1] + o1) * p.out[2] + o2;
              if (z) s += h2f(z[oi]);
              y[oi] = f2h(s);
            }
      }
    });
  }, sizeof(float) * (size_t)wn + 64);
}

const bool reg_conv16 = (reg("Conv", "cpu:float16:nchw/direct", conv16_supports, conv16_prepare), true);

}  // namespace
}  // namespace snep
