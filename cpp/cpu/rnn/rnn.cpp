// RNN, GRU and LSTM (float32): forward / reverse / bidirectional, layout 0/1,
// sequence_lens, initial_h / initial_c, peepholes, input_forget, clip,
// linear_before_reset, the activations / activation_alpha / activation_beta
// attrs (alpha/beta consumed in order by the activations that take them, as
// onnxruntime does). Direct loops; X*W for all steps first, then the recurrence.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "cpu/common.h"

namespace snep {
namespace {

enum class Kind { RNN, GRU, LSTM };

struct Act {
  int f = 0;  // 0 sigmoid 1 tanh 2 relu 3 affine 4 leakyrelu 5 thresholdedrelu 6 scaledtanh 7 hardsigmoid 8 elu 9 softsign 10 softplus
  float a = 0, b = 0;
  float operator()(float x) const {
    switch (f) {
      case 0: return 1.f / (1.f + std::exp(-x));
      case 1: return std::tanh(x);
      case 2: return x > 0 ? x : 0.f;
      case 3: return a * x + b;
      case 4: return x >= 0 ? x : a * x;
      case 5: return x > a ? x : 0.f;
      case 6: return a * std::tanh(b * x);
      case 7: return std::min(1.f, std::max(0.f, a * x + b));
      case 8: return x >= 0 ? x : a * (std::exp(x) - 1.f);
      case 9: return x / (1.f + std::fabs(x));
      default: return std::log1p(std::exp(x));
    }
  }
};

bool parse_acts(const Layer& l, int per_dir, int dirs, std::vector<Act>* out) {
  auto it = l.attrs.values.find("activations");
  std::vector<std::string> names;
  if (it != l.attrs.values.end()) names = it->second.strings;
  if (names.empty()) {
    static const char* dflt[3][3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
    for (int d = 0; d < dirs; ++d)
      for (int j = 0; j < per_dir; ++j) names.push_back(dflt[per_dir - 1][j]);
  }
  if ((int)names.size() == per_dir && dirs == 2)
    for (int j = 0; j < per_dir; ++j) names.push_back(names[j]);
  if ((int)names.size() != per_dir * dirs) return false;
  auto al = l.attrs.get_floats("activation_alpha"), be = l.attrs.get_floats("activation_beta");
  size_t ai = 0, bi = 0;
  for (auto n : names) {
    std::string s;
    for (char c : n) s += (char)std::tolower((unsigned char)c);
    Act a;
    bool na = false, nb = false;
    float da = 0, db = 0;
    if (s == "sigmoid") a.f = 0;
    else if (s == "tanh") a.f = 1;
    else if (s == "relu") a.f = 2;
    else if (s == "affine") { a.f = 3; na = nb = true; da = 1; db = 0; }
    else if (s == "leakyrelu") { a.f = 4; na = true; da = 0.01f; }
    else if (s == "thresholdedrelu") { a.f = 5; na = true; da = 1; }
    else if (s == "scaledtanh") { a.f = 6; na = nb = true; da = 1; db = 1; }
    else if (s == "hardsigmoid") { a.f = 7; na = nb = true; da = 0.2f; db = 0.5f; }
    else if (s == "elu") { a.f = 8; na = true; da = 1; }
    else if (s == "softsign") a.f = 9;
    else if (s == "softplus") a.f = 10;
    else return false;
    if (na) a.a = ai < al.size() ? (float)al[ai++] : da;
    if (nb) a.b = bi < be.size() ? (float)be[bi++] : db;
    out->push_back(a);
  }
  return true;
}

struct RnnCfg {
  bool ok = false;
  Kind kind = Kind::RNN;
  int G = 1, D = 1, layout = 0;
  int64_t S = 0, B = 0, I = 0, H = 0;
  bool reverse_only = false, lbr = false, input_forget = false;
  float clip = 0;
  bool hasB = false, hasSL = false, hasH0 = false, hasC0 = false, hasP = false;
  bool outY = false, outYh = false, outYc = false;
  std::vector<Act> acts;
};

RnnCfg rnn_cfg(const Layer& l, Kind kind) {
  RnnCfg c;
  c.kind = kind;
  c.G = kind == Kind::RNN ? 1 : kind == Kind::GRU ? 3 : 4;
  int per = kind == Kind::RNN ? 1 : kind == Kind::GRU ? 2 : 3;
  size_t max_in = kind == Kind::LSTM ? 8 : 6, max_out = kind == Kind::LSTM ? 3 : 2;
  if (l.inputs.size() < 3 || l.inputs.size() > max_in || l.outputs.size() > max_out || l.outputs.empty()) return c;
  for (size_t i = 0; i < l.inputs.size(); ++i)
    if (l.has_input(i) && i != 4 && l.in(i).dtype != DType::Float32) return c;
  for (auto& o : l.outputs) if (o.present && o.dtype != DType::Float32) return c;
  if (!l.has_input(0) || !l.has_input(1) || !l.has_input(2)) return c;
  std::string dir = l.attrs.get_string("direction", "forward");
  if (dir == "forward") c.D = 1;
  else if (dir == "reverse") { c.D = 1; c.reverse_only = true; }
  else if (dir == "bidirectional") c.D = 2;
  else return c;
  c.layout = (int)l.attrs.get_int("layout", 0);
  if (c.layout != 0 && c.layout != 1) return c;
  c.lbr = l.attrs.get_int("linear_before_reset", 0) != 0;
  c.input_forget = l.attrs.get_int("input_forget", 0) != 0;
  c.clip = (float)l.attrs.get_float("clip", 0.0);
  if (l.attrs.has("clip") && c.clip <= 0) return c;
  const auto& x = l.in(0).shape;
  if (x.size() != 3) return c;
  c.S = c.layout ? x[1] : x[0];
  c.B = c.layout ? x[0] : x[1];
  c.I = x[2];
  const auto& w = l.in(1).shape;
  if (w.size() != 3 || w[0] != c.D || w[2] != c.I || w[1] % c.G) return c;
  c.H = w[1] / c.G;
  if (l.attrs.has("hidden_size") && l.attrs.get_int("hidden_size", 0) != c.H) return c;
  if (l.in(2).shape != std::vector<int64_t>{c.D, c.G * c.H, c.H}) return c;
  std::vector<int64_t> st = c.layout ? std::vector<int64_t>{c.B, c.D, c.H} : std::vector<int64_t>{c.D, c.B, c.H};
  c.hasB = l.has_input(3);
  if (c.hasB && l.in(3).shape != std::vector<int64_t>{c.D, 2 * c.G * c.H}) return c;
  c.hasSL = l.has_input(4);
  if (c.hasSL && (l.in(4).dtype != DType::Int32 || l.in(4).shape != std::vector<int64_t>{c.B})) return c;
  c.hasH0 = l.has_input(5);
  if (c.hasH0 && l.in(5).shape != st) return c;
  if (kind == Kind::LSTM) {
    c.hasC0 = l.has_input(6);
    if (c.hasC0 && l.in(6).shape != st) return c;
    c.hasP = l.has_input(7);
    if (c.hasP && l.in(7).shape != std::vector<int64_t>{c.D, 3 * c.H}) return c;
  }
  std::vector<int64_t> ys = c.layout ? std::vector<int64_t>{c.B, c.S, c.D, c.H} : std::vector<int64_t>{c.S, c.D, c.B, c.H};
  c.outY = l.outputs.size() > 0 && l.out(0).present;
  c.outYh = l.outputs.size() > 1 && l.out(1).present;
  c.outYc = l.outputs.size() > 2 && l.out(2).present;
  if (c.outY && l.out(0).shape != ys) return c;
  if (c.outYh && l.out(1).shape != st) return c;
  if (c.outYc && l.out(2).shape != st) return c;
  if (!parse_acts(l, per, c.D, &c.acts)) return c;
  c.ok = true;
  return c;
}

class RnnKernel : public Kernel {
 public:
  explicit RnnKernel(RnnCfg c) : c_(std::move(c)) {}
  size_t workspace_bytes() const override {
    int64_t GH = c_.G * c_.H;
    return (size_t)(c_.S * c_.B * GH + c_.B * GH + 4 * c_.B * c_.H + 16) * sizeof(float);
  }
  void run(const RunArgs& a) override {
    const RnnCfg& c = c_;
    const int64_t S = c.S, B = c.B, I = c.I, H = c.H, GH = c.G * c.H, D = c.D;
    const float* X = static_cast<const float*>(a.in[0]);
    const float* W = static_cast<const float*>(a.in[1]);
    const float* R = static_cast<const float*>(a.in[2]);
    const float* Bi = c.hasB ? static_cast<const float*>(a.in[3]) : nullptr;
    const int32_t* SL = c.hasSL ? static_cast<const int32_t*>(a.in[4]) : nullptr;
    const float* H0 = c.hasH0 ? static_cast<const float*>(a.in[5]) : nullptr;
    const float* C0 = c.hasC0 ? static_cast<const float*>(a.in[6]) : nullptr;
    const float* P = c.hasP ? static_cast<const float*>(a.in[7]) : nullptr;
    float* Y = c.outY ? static_cast<float*>(a.out[0]) : nullptr;
    float* Yh = c.outYh ? static_cast<float*>(a.out[1]) : nullptr;
    float* Yc = c.outYc ? static_cast<float*>(a.out[2]) : nullptr;
    float* xw = static_cast<float*>(a.workspace);
    float* gates = xw + S * B * GH;
    float* h = gates + B * GH;
    float* cc = h + B * H;
    float* hn = cc + B * H;
    float* tmp = hn + B * H;
    auto xi = [&](int64_t t, int64_t b) { return c.layout ? (b * S + t) * I : (t * B + b) * I; };
    auto yi = [&](int64_t t, int64_t d, int64_t b) { return c.layout ? ((b * S + t) * D + d) * H : ((t * D + d) * B + b) * H; };
    auto si = [&](int64_t d, int64_t b) { return c.layout ? (b * D + d) * H : (d * B + b) * H; };
    auto clip = [&](float v) { return c.clip > 0 ? std::min(c.clip, std::max(-c.clip, v)) : v; };
    const int per = c.kind == Kind::RNN ? 1 : c.kind == Kind::GRU ? 2 : 3;
    if (Y) std::memset(Y, 0, sizeof(float) * S * D * B * H);
    for (int64_t d = 0; d < D; ++d) {
      bool rev = c.reverse_only || d == 1;
      const float* Wd = W + d * GH * I;
      const float* Rd = R + d * GH * H;
      const float* Wb = Bi ? Bi + d * 2 * GH : nullptr;
      const float* Rb = Bi ? Wb + GH : nullptr;
      const float* Pd = P ? P + d * 3 * H : nullptr;
      const Act* act = &c.acts[d * per];
      // X * W^T + Wb (and + Rb except GRU's h gate under linear_before_reset, kept separate anyway)
      for (int64_t t = 0; t < S; ++t)
        for (int64_t b = 0; b < B; ++b) {
          const float* xr = X + xi(t, b);
          float* o = xw + (t * B + b) * GH;
          for (int64_t g = 0; g < GH; ++g) {
            const float* wr = Wd + g * I;
            float s = 0;
            for (int64_t k = 0; k < I; ++k) s += xr[k] * wr[k];
            o[g] = s + (Wb ? Wb[g] : 0.f);
          }
        }
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) {
          h[b * H + j] = H0 ? H0[si(d, b) + j] : 0.f;
          cc[b * H + j] = C0 ? C0[si(d, b) + j] : 0.f;
        }
      for (int64_t step = 0; step < S; ++step) {
        for (int64_t b = 0; b < B; ++b) {
          int64_t len = SL ? std::min<int64_t>(std::max<int32_t>(SL[b], 0), S) : S;
          if (step >= len) continue;
          int64_t t = rev ? len - 1 - step : step;
          const float* xg = xw + (t * B + b) * GH;
          float* hb = h + b * H;
          float* cb = cc + b * H;
          float* gb = gates + b * GH;
          float* hnb = hn + b * H;
          // recurrent part: gb = h * R^T + Rb  (for GRU h gate: computed per mode below)
          int64_t ng = c.kind == Kind::GRU ? 2 * H : GH;
          for (int64_t g = 0; g < ng; ++g) {
            const float* rr = Rd + g * H;
            float s = 0;
            for (int64_t k = 0; k < H; ++k) s += hb[k] * rr[k];
            gb[g] = xg[g] + s + (Rb ? Rb[g] : 0.f);
          }
          if (c.kind == Kind::RNN) {
            for (int64_t j = 0; j < H; ++j) hnb[j] = act[0](clip(gb[j]));
          } else if (c.kind == Kind::GRU) {
            float* z = gb;
            float* r = gb + H;
            for (int64_t j = 0; j < H; ++j) { z[j] = act[0](clip(z[j])); r[j] = act[0](clip(r[j])); }
            float* tb = tmp + b * H;
            for (int64_t j = 0; j < H; ++j) {
              const float* rr = Rd + (2 * H + j) * H;
              float s = 0;
              if (c.lbr) {
                for (int64_t k = 0; k < H; ++k) s += hb[k] * rr[k];
                s = r[j] * (s + (Rb ? Rb[2 * H + j] : 0.f));
              } else {
                for (int64_t k = 0; k < H; ++k) s += r[k] * hb[k] * rr[k];
                s += Rb ? Rb[2 * H + j] : 0.f;
              }
              tb[j] = act[1](clip(xg[2 * H + j] + s));
            }
            for (int64_t j = 0; j < H; ++j) hnb[j] = (1.f - z[j]) * tb[j] + z[j] * hb[j];
          } else {
            float *gi = gb, *go = gb + H, *gf = gb + 2 * H, *gc = gb + 3 * H;
            for (int64_t j = 0; j < H; ++j) {
              float iv = gi[j] + (Pd ? Pd[j] * cb[j] : 0.f);
              float fv = gf[j] + (Pd ? Pd[2 * H + j] * cb[j] : 0.f);
              float ig = act[0](clip(iv));
              float fg = c.input_forget ? 1.f - ig : act[0](clip(fv));
              float ct = act[1](clip(gc[j]));
              float cn = fg * cb[j] + ig * ct;
              float ov = go[j] + (Pd ? Pd[H + j] * cn : 0.f);
              float og = act[0](clip(ov));
              cb[j] = cn;
              hnb[j] = og * act[2](cn);
            }
          }
          std::memcpy(hb, hnb, sizeof(float) * H);
          if (Y) std::memcpy(Y + yi(t, d, b), hb, sizeof(float) * H);
        }
      }
      for (int64_t b = 0; b < B; ++b) {
        if (Yh) std::memcpy(Yh + si(d, b), h + b * H, sizeof(float) * H);
        if (Yc) std::memcpy(Yc + si(d, b), cc + b * H, sizeof(float) * H);
      }
    }
  }
 private:
  RnnCfg c_;
};

SNEP_REGISTER_LAMBDA("RNN", "cpu:float32/direct", [](const Layer& l) { return rnn_cfg(l, Kind::RNN).ok; },
                     [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<RnnKernel>(rnn_cfg(l, Kind::RNN)); });
SNEP_REGISTER_LAMBDA("GRU", "cpu:float32/direct", [](const Layer& l) { return rnn_cfg(l, Kind::GRU).ok; },
                     [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<RnnKernel>(rnn_cfg(l, Kind::GRU)); });
SNEP_REGISTER_LAMBDA("LSTM", "cpu:float32/direct", [](const Layer& l) { return rnn_cfg(l, Kind::LSTM).ok; },
                     [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<RnnKernel>(rnn_cfg(l, Kind::LSTM)); });

}  // namespace
}  // namespace snep
