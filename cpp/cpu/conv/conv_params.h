// Convolution geometry shared by the Conv / ConvTranspose routines: ONNX
// attributes (kernel_shape, strides, dilations, pads, auto_pad, group,
// output_padding, output_shape) resolved against the layer's static shapes.
// 1-D and 2-D convolutions are held as 3-D with leading unit dimensions.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/routine.h"

namespace snep {
namespace conv {

struct ConvParams {
  bool ok = false;
  int nsp = 0;                     // spatial rank as given (1..3)
  int64_t N = 0, C = 0, M = 0, group = 1;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
};

// Conv: X [N, C, in...], W [M, C/group, k...], Y [N, M, out...].
inline ConvParams conv_params(const Layer& l) {
  ConvParams p;
  if (l.inputs.size() < 2 || !l.has_input(0) || !l.has_input(1) || l.outputs.size() != 1) return p;
  const auto& x = l.in(0).shape;
  const auto& w = l.in(1).shape;
  const auto& y = l.out(0).shape;
  int r = (int)x.size() - 2;
  if (r < 1 || r > 3 || (int)w.size() != r + 2 || (int)y.size() != r + 2) return p;
  p.nsp = r;
  p.N = x[0]; p.C = x[1]; p.M = w[0];
  p.group = l.attrs.get_int("group", 1);
  if (p.group < 1 || p.C % p.group != 0 || p.M % p.group != 0 || w[1] * p.group != p.C) return p;
  auto ks = l.attrs.get_ints("kernel_shape");
  auto st = l.attrs.get_ints("strides");
  auto dl = l.attrs.get_ints("dilations");
  auto pads = l.attrs.get_ints("pads");
  std::string ap = l.attrs.get_string("auto_pad", "NOTSET");
  if (!ks.empty() && (int)ks.size() != r) return p;
  if (!st.empty() && (int)st.size() != r) return p;
  if (!dl.empty() && (int)dl.size() != r) return p;
  if (!pads.empty() && (int)pads.size() != 2 * r) return p;
  if (ap != "NOTSET" && ap != "VALID" && ap != "SAME_UPPER" && ap != "SAME_LOWER") return p;
  int o = 3 - r;
  for (int i = 0; i < r; ++i) {
    p.in[o + i] = x[2 + i];
    p.k[o + i] = w[2 + i];
    if (!ks.empty() && ks[i] != w[2 + i]) return p;
    p.s[o + i] = st.empty() ? 1 : st[i];
    p.d[o + i] = dl.empty() ? 1 : dl[i];
    if (p.s[o + i] < 1 || p.d[o + i] < 1) return p;
    int64_t ext = (p.k[o + i] - 1) * p.d[o + i] + 1;
    if (ap == "NOTSET") {
      p.pb[o + i] = pads.empty() ? 0 : pads[i];
      p.pe[o + i] = pads.empty() ? 0 : pads[i + r];
    } else if (ap == "VALID") {
      p.pb[o + i] = p.pe[o + i] = 0;
    } else {
      int64_t outsz = (p.in[o + i] + p.s[o + i] - 1) / p.s[o + i];
      int64_t total = std::max<int64_t>(0, (outsz - 1) * p.s[o + i] + ext - p.in[o + i]);
      p.pb[o + i] = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      p.pe[o + i] = total - p.pb[o + i];
    }
    if (p.pb[o + i] < 0 || p.pe[o + i] < 0) return p;
    int64_t span = p.in[o + i] + p.pb[o + i] + p.pe[o + i] - ext;
    if (span < 0) return p;
    p.out[o + i] = span / p.s[o + i] + 1;
    if (y[2 + i] != p.out[o + i]) return p;
  }
  if (y[0] != p.N || y[1] != p.M) return p;
  p.ok = true;
  return p;
}

// ConvTranspose: X [N, C, in...], W [C, M/group, k...], Y [N, M, out...].
inline ConvParams conv_transpose_params(const Layer& l) {
  ConvParams p;
  if (l.inputs.size() < 2 || !l.has_input(0) || !l.has_input(1) || l.outputs.size() != 1) return p;
  const auto& x = l.in(0).shape;
  const auto& w = l.in(1).shape;
  const auto& y = l.out(0).shape;
  int r = (int)x.size() - 2;
  if (r < 1 || r > 3 || (int)w.size() != r + 2 || (int)y.size() != r + 2) return p;
  p.nsp = r;
  p.N = x[0]; p.C = x[1];
  p.group = l.attrs.get_int("group", 1);
  if (p.group < 1 || p.C % p.group != 0 || w[0] != p.C) return p;
  p.M = w[1] * p.group;
  auto ks = l.attrs.get_ints("kernel_shape");
  auto st = l.attrs.get_ints("strides");
  auto dl = l.attrs.get_ints("dilations");
  auto pads = l.attrs.get_ints("pads");
  auto opad = l.attrs.get_ints("output_padding");
  auto oshape = l.attrs.get_ints("output_shape");
  std::string ap = l.attrs.get_string("auto_pad", "NOTSET");
  if (!ks.empty() && (int)ks.size() != r) return p;
  if (!st.empty() && (int)st.size() != r) return p;
  if (!dl.empty() && (int)dl.size() != r) return p;
  if (!pads.empty() && (int)pads.size() != 2 * r) return p;
  if (!opad.empty() && (int)opad.size() != r) return p;
  if (!oshape.empty()) {
    if ((int)oshape.size() == r + 2) oshape.erase(oshape.begin(), oshape.begin() + 2);
    if ((int)oshape.size() != r) return p;
    // pads given together with output_shape: the spec and the onnx reference disagree.
    for (auto v : pads) if (v != 0) return p;
  }
  if (ap != "NOTSET" && ap != "VALID" && ap != "SAME_UPPER" && ap != "SAME_LOWER") return p;
  int o = 3 - r;
  for (int i = 0; i < r; ++i) {
    p.in[o + i] = x[2 + i];
    p.k[o + i] = w[2 + i];
    if (!ks.empty() && ks[i] != w[2 + i]) return p;
    p.s[o + i] = st.empty() ? 1 : st[i];
    p.d[o + i] = dl.empty() ? 1 : dl[i];
    if (p.s[o + i] < 1 || p.d[o + i] < 1) return p;
    int64_t op = opad.empty() ? 0 : opad[i];
    if (op < 0) return p;
    int64_t full = p.s[o + i] * (p.in[o + i] - 1) + op + (p.k[o + i] - 1) * p.d[o + i] + 1;
    int64_t outsz;
    if (!oshape.empty() || ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      outsz = !oshape.empty() ? oshape[i] : p.in[o + i] * p.s[o + i];
      // Total padding per the spec; when negative (an output larger than the
      // transposed convolution covers) nothing is cropped and the tail holds
      // only the bias, as onnxruntime and the onnx reference do.
      int64_t total = full - outsz;
      if (total < 0) { p.pb[o + i] = 0; p.pe[o + i] = total; }
      else if (ap == "SAME_UPPER") { p.pb[o + i] = total / 2; p.pe[o + i] = total - total / 2; }
      else { p.pb[o + i] = total - total / 2; p.pe[o + i] = total / 2; }
    } else {
      if (ap == "NOTSET" && !pads.empty()) { p.pb[o + i] = pads[i]; p.pe[o + i] = pads[i + r]; }
      if (p.pb[o + i] < 0 || p.pe[o + i] < 0) return p;
      outsz = full - p.pb[o + i] - p.pe[o + i];
    }
    if (outsz < 1) return p;
    p.out[o + i] = outsz;
    if (y[2 + i] != outsz) return p;
  }
  if (y[0] != p.N || y[1] != p.M) return p;
  p.ok = true;
  return p;
}

}  // namespace conv
}  // namespace snep
