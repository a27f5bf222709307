// What both depthwise QLinearConv routines accept (group == C == M, 2-D 3x3
// or 5x5, any stride and padding, no dilation; u8 activations, u8/s8
// weights, per-tensor or per-channel weight parameters, the fused activation
// and residual of qlinear_fused.h), and the layer's convolution geometry.
#pragma once
#include <vector>

#include "core/routine.h"
#include "cpu/conv/conv_params.h"
#include "cpu/quant/qlinear_fused.h"

namespace snep {
namespace qdw {

using conv::ConvParams;

using qfused::conv_params_of;
inline ConvParams params_of(const Layer& l) { return conv_params_of(l); }

inline bool q8(DType t) { return t == DType::Int8 || t == DType::UInt8; }
inline bool scalar_of(const Layer& l, size_t i, DType t) { return l.has_input(i) && l.in(i).dtype == t && l.in(i).numel() == 1; }

inline bool dw_supports(const Layer& l) {
  if (l.op != "QLinearConv" || l.inputs.size() < 8 || l.inputs.size() > 12 || l.outputs.size() != 1) return false;
  for (int i = 0; i < 8; ++i) if (!l.has_input(i)) return false;
  if (l.in(0).dtype != DType::UInt8 || l.in(0).layout != Layout::Plain || !q8(l.in(3).dtype) || !q8(l.out(0).dtype))
    return false;
  if (!scalar_of(l, 1, DType::Float32) || !scalar_of(l, 2, DType::UInt8) || !scalar_of(l, 6, DType::Float32) ||
      !scalar_of(l, 7, l.out(0).dtype) || l.in(4).dtype != DType::Float32 || l.in(5).dtype != l.in(3).dtype)
    return false;
  if (!qfused::activation_ok(l.attrs) || !qfused::residual_ok(l)) return false;
  ConvParams p = params_of(l);
  if (!p.ok || p.nsp != 2 || p.group != p.C || p.M != p.C) return false;
  if (p.k[1] != p.k[2] || (p.k[1] != 3 && p.k[1] != 5) || p.d[1] != 1 || p.d[2] != 1) return false;
  for (size_t i : {4, 5}) {
    const auto& t = l.in(i);
    if (!(t.numel() == 1 && t.rank() <= 1) && !(t.rank() == 1 && t.shape[0] == p.M)) return false;
  }
  if (l.has_input(8) && (l.in(8).dtype != DType::Int32 || l.in(8).shape != std::vector<int64_t>{p.M})) return false;
  return true;
}

// The input and output types and options a depthwise kernel reads at run time.
struct LayerKinds {
  bool w_u8, ws_vec, wz_vec, has_bias, has_z, z_signed, y_signed;
  Activation act;
  explicit LayerKinds(const Layer& l)
      : w_u8(l.in(3).dtype == DType::UInt8), ws_vec(l.in(4).numel() > 1), wz_vec(l.in(5).numel() > 1),
        has_bias(l.has_input(8)), has_z(qfused::has_residual(l)), z_signed(has_z && l.in(9).dtype == DType::Int8),
        y_signed(l.out(0).dtype == DType::Int8), act(Activation::from_attrs(l.attrs)) {}
};

}  // namespace qdw
}  // namespace snep
