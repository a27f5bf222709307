// The engine-internal extensions of QLinearConv (set by the graph passes),
// shared by the reference routine (quant.cpp) and the qint8 routines.
//
// attrs:  activation = "" | "Relu" | "Clip",  activation_params = [min, max] (Clip)
// inputs: 0..8 as ONNX (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?),
//         9 z (u8/s8, the output's shape), 10 z_scale (float32 scalar),
//         11 z_zero_point (scalar, z's dtype): an optional residual.
//
// In float32, with acc the int32 sum (x - x_zp)(w - w_zp) + B:
//   v = float(acc) * mult,  mult = float(float(x_scale * w_scale[m]) / y_scale)
//   v = v + float(z - z_zp) * zmult,  zmult = float(z_scale / y_scale)   (residual; no FMA)
//   q = saturate(round_half_even(v) + y_zp)
// i.e. y = quantize(conv_real + bias_real + z_real) in units of y_scale.
// The activation acts on that real value; since quantization is monotone it is
// applied as a clamp of q: Relu = Clip(0, +inf), and Clip(a, b) clamps q to
// [Q(a), Q(b)] with Q(t) = saturate(round_half_even(float(t / y_scale)) + y_zp)
// (QuantizeLinear of the bound).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/routine.h"
#include "cpu/activation.h"
#include "cpu/conv/conv_params.h"

namespace snep {
namespace qfused {

// A QLinearConv's convolution geometry (x is input 0, w input 3).
inline conv::ConvParams conv_params_of(const Layer& l) {
  Layer t;
  t.op = "Conv";
  t.attrs = l.attrs;
  t.inputs = {l.in(0), l.in(3)};
  t.outputs = l.outputs;
  return conv::conv_params(t);
}

inline bool activation_ok(const Attrs& a) {
  std::string k = a.get_string("activation", "");
  if (k.empty() || k == "Relu") return true;
  if (k != "Clip") return false;
  return a.get_floats("activation_params").size() <= 2;
}

// Inputs 9..11 absent, or a valid residual for output `y` (z held in layout `zl`).
inline bool residual_ok(const Layer& l, Layout zl = Layout::Plain) {
  if (l.inputs.size() <= 9) return true;
  if (l.inputs.size() != 12) return false;
  if (!l.has_input(9)) return !l.has_input(10) && !l.has_input(11);
  const auto &z = l.in(9), &zs = l.in(10), &zz = l.in(11);
  if (!l.has_input(10) || !l.has_input(11)) return false;
  if (z.dtype != DType::UInt8 && z.dtype != DType::Int8) return false;
  if (z.shape != l.out(0).shape || z.layout != zl) return false;
  return zs.dtype == DType::Float32 && zs.numel() == 1 && zz.dtype == z.dtype && zz.numel() == 1;
}

inline bool has_residual(const Layer& l) { return l.inputs.size() == 12 && l.has_input(9); }

// The "rounded" residual, inputs 9..13 = z, z_scale, z_zp, sum_scale, sum_zp (all u8): a
// QLinearConv -> QLinearAdd(., z) pair in one layer, rounding as the pair does. The conv is
// requantized with its own y_scale / y_zero_point (inputs 6, 7: the add reads it with those)
// to the full u8 range, then y = QLinearAdd(that, z) in sum_scale / sum_zp units
// (cpu/qelementwise/qlinear_add_kernel.h), the activation (Relu only) acting on the sum.
// Only routines that say so support it (residual_ok rejects 14 inputs).
inline bool has_rounded_residual(const Layer& l) { return l.inputs.size() == 14; }
inline bool rounded_residual_ok(const Layer& l, Layout zl = Layout::Plain) {
  if (l.inputs.size() != 14) return false;
  for (int i = 9; i < 14; ++i)
    if (!l.has_input(i)) return false;
  std::string k = l.attrs.get_string("activation", "");
  if (!(k.empty() || k == "Relu")) return false;
  const auto& z = l.in(9);
  if (z.dtype != DType::UInt8 || z.shape != l.out(0).shape || z.layout != zl) return false;
  if (l.out(0).dtype != DType::UInt8 || l.in(7).dtype != DType::UInt8) return false;
  for (int i : {10, 12})
    if (l.in(i).dtype != DType::Float32 || l.in(i).numel() != 1) return false;
  for (int i : {11, 13})
    if (l.in(i).dtype != DType::UInt8 || l.in(i).numel() != 1) return false;
  return true;
}

// The add of a rounded residual over n outputs y (in place): y = QLinearAdd(y, z).
struct RoundedAdd {
  float ra = 0.f, rb = 0.f;
  int32_t ya = 0, zz = 0, yz = 0, lo = 0;
  static RoundedAdd of(const RunArgs& a, bool relu) {
    RoundedAdd r;
    const float ys = static_cast<const float*>(a.in[6])[0], zs = static_cast<const float*>(a.in[10])[0];
    const float ss = static_cast<const float*>(a.in[12])[0];
    r.ra = ys / ss;  // as QLinearAdd: a_scale / c_scale in float32
    r.rb = zs / ss;
    r.ya = static_cast<const uint8_t*>(a.in[7])[0];
    r.zz = static_cast<const uint8_t*>(a.in[11])[0];
    r.yz = static_cast<const uint8_t*>(a.in[13])[0];
    r.lo = relu ? r.yz : 0;
    return r;
  }
};

inline int32_t quantize_bound(float t, float ys, int32_t yz, int32_t lo, int32_t hi) {
  double r = std::nearbyint((double)(t / ys)) + (double)yz;
  return r < lo ? lo : r > hi ? hi : (int32_t)r;
}

// The output range [*qlo, *qhi]: the dtype's range met with the activation's.
inline void out_range(const Activation& act, bool y_signed, float ys, int32_t yz, int32_t* qlo, int32_t* qhi) {
  int32_t lo = y_signed ? -128 : 0, hi = y_signed ? 127 : 255;
  *qlo = lo; *qhi = hi;
  if (act.kind == Act::Relu) *qlo = std::max(lo, std::min(hi, yz));
  if (act.kind == Act::Clip) {
    *qlo = quantize_bound(act.a, ys, yz, lo, hi);
    *qhi = std::max(*qlo, quantize_bound(act.b, ys, yz, lo, hi));
  }
}

}  // namespace qfused
}  // namespace snep
