// DeformConv (opset 19/22), 2-D, float32: each kernel tap (a, b) of output
// (i, j) reads X bilinearly at
//   (i*sh - pad_top + a*dh + off_h, j*sw - pad_left + b*dw + off_w)
// (zero outside the image, as GridSample with align_corners=1 and zero
// padding, which is how onnx's reference defines it), scaled by the optional
// mask; offsets/mask are per offset group of C/offset_group input channels.
// Per image: the deformed columns (C*kh*kw, oh*ow) go to the workspace, then
// every output channel is a dot product over its group's rows.
#include <cmath>
#include <memory>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

struct DCP {
  int64_t N, C, H, W, M, kh, kw, oh, ow, group, og;
  int64_t sh, sw, dh, dw, pt, pl;
  bool has_b, has_mask;
};

bool dc_parse(const Layer& l, DCP* p) {
  if (l.inputs.size() < 3 || l.inputs.size() > 5 || l.outputs.size() != 1) return false;
  for (auto& t : l.inputs) if (t.present && t.dtype != DType::Float32) return false;
  if (l.out(0).dtype != DType::Float32) return false;
  const auto &x = l.in(0).shape, &w = l.in(1).shape, &off = l.in(2).shape, &y = l.out(0).shape;
  if (x.size() != 4 || w.size() != 4 || off.size() != 4 || y.size() != 4) return false;
  DCP q;
  q.N = x[0]; q.C = x[1]; q.H = x[2]; q.W = x[3];
  q.M = w[0]; q.kh = w[2]; q.kw = w[3];
  q.group = l.attrs.get_int("group", 1);
  q.og = l.attrs.get_int("offset_group", 1);
  if (q.group < 1 || q.og < 1 || q.C % q.group || q.M % q.group || w[1] * q.group != q.C || q.C % q.og)
    throw InvalidArgumentError(l.where() + ": group / offset_group do not match the channel counts");
  const auto ks = l.attrs.get_ints("kernel_shape"), st = l.attrs.get_ints("strides"), dl = l.attrs.get_ints("dilations"),
             pads = l.attrs.get_ints("pads");
  if ((!ks.empty() && (ks.size() != 2 || ks[0] != q.kh || ks[1] != q.kw)) || (!st.empty() && st.size() != 2) ||
      (!dl.empty() && dl.size() != 2) || (!pads.empty() && pads.size() != 4))
    throw InvalidArgumentError(l.where() + ": bad kernel_shape / strides / dilations / pads");
  q.sh = st.empty() ? 1 : st[0]; q.sw = st.empty() ? 1 : st[1];
  q.dh = dl.empty() ? 1 : dl[0]; q.dw = dl.empty() ? 1 : dl[1];
  q.pt = pads.empty() ? 0 : pads[0]; q.pl = pads.empty() ? 0 : pads[1];
  const int64_t pb = pads.empty() ? 0 : pads[2], pr = pads.empty() ? 0 : pads[3];
  if (q.sh < 1 || q.sw < 1 || q.dh < 1 || q.dw < 1 || q.pt < 0 || q.pl < 0 || pb < 0 || pr < 0)
    throw InvalidArgumentError(l.where() + ": bad strides / dilations / pads");
  q.oh = (q.H + q.pt + pb - ((q.kh - 1) * q.dh + 1)) / q.sh + 1;
  q.ow = (q.W + q.pl + pr - ((q.kw - 1) * q.dw + 1)) / q.sw + 1;
  if (q.oh < 1 || q.ow < 1) return false;
  if (y != std::vector<int64_t>{q.N, q.M, q.oh, q.ow}) return false;
  if (off != std::vector<int64_t>{q.N, q.og * q.kh * q.kw * 2, q.oh, q.ow}) return false;
  q.has_b = l.has_input(3);
  if (q.has_b && l.in(3).shape != std::vector<int64_t>{q.M}) return false;
  q.has_mask = l.has_input(4);
  if (q.has_mask && l.in(4).shape != std::vector<int64_t>{q.N, q.og * q.kh * q.kw, q.oh, q.ow}) return false;
  if (p) *p = q;
  return true;
}

std::unique_ptr<Kernel> dc_prepare(const Layer& l) {
  DCP p;
  dc_parse(l, &p);
  const size_t ws = sizeof(float) * (size_t)(p.C * p.kh * p.kw) * (size_t)(p.oh * p.ow) + 64;
  return std::make_unique<FnKernel>([p](const RunArgs& a) {
    const float* x = static_cast<const float*>(a.in[0]);
    const float* w = static_cast<const float*>(a.in[1]);
    const float* off = static_cast<const float*>(a.in[2]);
    const float* bias = p.has_b ? static_cast<const float*>(a.in[3]) : nullptr;
    const float* mask = p.has_mask ? static_cast<const float*>(a.in[4]) : nullptr;
    float* y = static_cast<float*>(a.out[0]);
    float* col = static_cast<float*>(a.workspace);
    const int64_t K = p.kh * p.kw, O = p.oh * p.ow, cpo = p.C / p.og, cg = p.C / p.group, mg = p.M / p.group;
    for (int64_t n = 0; n < p.N; ++n) {
      par_for(a.pool, p.C, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t g = c / cpo;
          const float* xc = x + (n * p.C + c) * p.H * p.W;
          for (int64_t k = 0; k < K; ++k) {
            const int64_t ka = k / p.kw, kb = k % p.kw;
            const float* oy = off + ((n * p.og + g) * K * 2 + k * 2) * O;
            const float* ox = oy + O;
            const float* mk = mask ? mask + ((n * p.og + g) * K + k) * O : nullptr;
            float* dst = col + (c * K + k) * O;
            for (int64_t i = 0; i < p.oh; ++i)
              for (int64_t j = 0; j < p.ow; ++j) {
                const int64_t o = i * p.ow + j;
                const float hy = (float)(i * p.sh - p.pt + ka * p.dh) + oy[o];
                const float wx = (float)(j * p.sw - p.pl + kb * p.dw) + ox[o];
                const float fy = std::floor(hy), fx = std::floor(wx);
                const int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
                const float ly = hy - fy, lx = wx - fx;
                float v = 0.f;
                if (std::isfinite(hy) && std::isfinite(wx)) {
                  auto px = [&](int64_t yy, int64_t xx) {
                    return (yy >= 0 && yy < p.H && xx >= 0 && xx < p.W) ? xc[yy * p.W + xx] : 0.f;
                  };
                  v = (1 - ly) * ((1 - lx) * px(y0, x0) + lx * px(y0, x0 + 1)) +
                      ly * ((1 - lx) * px(y0 + 1, x0) + lx * px(y0 + 1, x0 + 1));
                }
                dst[o] = mk ? v * mk[o] : v;
              }
          }
        }
      });
      par_for(a.pool, p.M, 1, [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) {
          const int64_t g = m / mg;
          float* yo = y + (n * p.M + m) * O;
          const float b0 = bias ? bias[m] : 0.f;
          for (int64_t o = 0; o < O; ++o) yo[o] = b0;
          const float* wm = w + m * cg * K;
          const float* cb = col + g * cg * K * O;
          for (int64_t r = 0; r < cg * K; ++r) {
            const float wv = wm[r];
            const float* cr = cb + r * O;
            for (int64_t o = 0; o < O; ++o) yo[o] += wv * cr[o];
          }
        }
      });
    }
  }, ws);
}

const bool reg_deform = (reg("DeformConv", "cpu:float32:nchw/direct",
    [](const Layer& l) { return dc_parse(l, nullptr); }, dc_prepare), true);

}  // namespace
}  // namespace snep
