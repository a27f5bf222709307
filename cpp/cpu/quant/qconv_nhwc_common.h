// What the NHWC QLinearConv routines (cpu:qint8:nhwc/igemm, cpu:qint8:nhwc/depthwise)
// share: the layer's geometry, the checks they both make, and the table of where each
// output pixel's taps read the input.
#pragma once
#include <climits>
#include <cstdint>
#include <vector>

#include "core/routine.h"
#include "cpu/conv/conv_params.h"
#include "cpu/quant/qlinear_fused.h"

namespace snep {
namespace qnhwc {

using qfused::conv_params_of;

// A 2-D QLinearConv with inputs 0..7 (and an int32 bias): u8 activations and output u8/s8,
// both NHWC; constant s8 weights with zero points 0 (one or one per output channel);
// scalar x / y parameters, weight scales scalar or per channel. *p gets the geometry.
inline bool common_ok(const Layer& l, conv::ConvParams* p) {
  if (l.op != "QLinearConv" || l.outputs.size() != 1 || l.inputs.size() < 8) return false;
  for (int i = 0; i < 8; ++i)
    if (!l.has_input(i)) return false;
  const TensorInfo &x = l.in(0), &y = l.out(0), &w = l.in(3), &wz = l.in(5), &ws = l.in(4);
  if (x.dtype != DType::UInt8 || x.layout != Layout::NHWC || y.layout != Layout::NHWC || x.rank() != 4) return false;
  if (y.dtype != DType::UInt8 && y.dtype != DType::Int8) return false;
  if (w.dtype != DType::Int8 || !w.const_data || wz.dtype != DType::Int8 || !wz.const_data) return false;
  *p = conv_params_of(l);
  if (!p->ok || p->nsp != 2) return false;
  if (p->in_size() * p->C > INT32_MAX) return false;  // the tap offsets are int32
  if (wz.numel() != 1 && !(wz.rank() == 1 && wz.shape[0] == p->M)) return false;
  for (int64_t i = 0; i < wz.numel(); ++i)
    if (wz.cdata<int8_t>()[i] != 0) return false;
  if (ws.dtype != DType::Float32 || !(ws.numel() == 1 || (ws.rank() == 1 && ws.shape[0] == p->M))) return false;
  auto scalar = [&l](size_t i, DType t) { return l.in(i).dtype == t && l.in(i).numel() == 1; };
  if (!scalar(1, DType::Float32) || !scalar(2, DType::UInt8) || !scalar(6, DType::Float32) || !scalar(7, y.dtype))
    return false;
  return !(l.inputs.size() > 8 && l.has_input(8) &&
           (l.in(8).dtype != DType::Int32 || l.in(8).shape != std::vector<int64_t>{p->M}));
}

// What a run reads from the layer's quantization inputs: x's zero point and scale, y's scale,
// zero point and range (the activation's, minus yz, as the tile epilogues clamp), weight
// scales and bias.
struct RunQuant {
  int32_t xz = 0, yz = 0, qlo = 0, qhi = 0;  // qlo / qhi: the output range met with the activation's
  float xs = 0.f, ys = 0.f, flo = 0.f, fhi = 0.f;
  const float* wsc = nullptr;
  bool ws_vec = false;
  const int32_t* bias = nullptr;

  RunQuant(const RunArgs& a, bool has_bias, bool ws_vec_, bool y_signed, const Activation& act) : ws_vec(ws_vec_) {
    xz = static_cast<const uint8_t*>(a.in[2])[0];
    xs = static_cast<const float*>(a.in[1])[0];
    ys = static_cast<const float*>(a.in[6])[0];
    wsc = static_cast<const float*>(a.in[4]);
    bias = has_bias ? static_cast<const int32_t*>(a.in[8]) : nullptr;
    yz = y_signed ? (int32_t) static_cast<const int8_t*>(a.in[7])[0] : (int32_t) static_cast<const uint8_t*>(a.in[7])[0];
    qfused::out_range(act, y_signed, ys, yz, &qlo, &qhi);
    flo = (float)(qlo - yz);
    fhi = (float)(qhi - yz);
  }
  // Output channel m: the int32 constant bias - xz * sum(w) (weight zero points 0, wrapping as
  // the NCHW routines') and the float32 multiplier x_scale * w_scale / y_scale.
  int32_t c0(int64_t m, int32_t wsum) const {
    return (int32_t)((bias ? (uint32_t)bias[m] : 0u) - (uint32_t)xz * (uint32_t)wsum);
  }
  float mult(int64_t m) const { return xs * wsc[ws_vec ? m : 0] / ys; }
};

// [OH * OW][taps]: the element offset of the input pixel each tap of each output pixel reads,
// -1 where the tap falls in the padding.
inline std::vector<int32_t> tap_offsets(const conv::ConvParams& p) {
  const int64_t taps = p.k[1] * p.k[2], H = p.in[1], W = p.in[2], OW = p.out[2];
  std::vector<int32_t> off(p.out[1] * OW * taps);
  for (int64_t oh = 0; oh < p.out[1]; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow)
      for (int64_t kh = 0; kh < p.k[1]; ++kh)
        for (int64_t kw = 0; kw < p.k[2]; ++kw) {
          const int64_t ih = oh * p.s[1] - p.pb[1] + kh * p.d[1], iw = ow * p.s[2] - p.pb[2] + kw * p.d[2];
          const bool in = ih >= 0 && ih < H && iw >= 0 && iw < W;
          off[(oh * OW + ow) * taps + kh * p.k[2] + kw] = in ? (int32_t)((ih * W + iw) * p.C) : -1;
        }
  return off;
}

}  // namespace qnhwc
}  // namespace snep
