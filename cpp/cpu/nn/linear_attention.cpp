// LinearAttention (opset 27), the token-by-token recurrence onnx's reference runs:
//   Q (B, T, Hq*dk), K (B, T, Hkv*dk), V (B, T, Hkv*dv), state (B, Hkv, dk, dv);
//   gated:  S = exp(g_t) * S           (g per head (B,T,Hkv) or per key dim (B,T,Hkv*dk))
//   delta:  v_t = beta_t * (v_t - S^T k_t)   (beta (B,T,Hkv) or (B,T,1))
//   S += k_t (x) v_t;  o_t = scale * q_t^T S   (GQA: q head h reads kv head h / (Hq/Hkv))
// Computed in float32 whatever the storage type (float32 / float16), as the
// reference does; present_state has past_state's dtype (query's when absent).
#include <cmath>
#include <cstring>
#include <memory>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

struct LAP {
  int64_t B, T, Hq, Hkv, dk, dv;
  bool gated, delta, decay_per_dim, beta_per_head;
  float scale;
};

bool la_type_ok(DType t) { return t == DType::Float32 || t == DType::Float16; }

bool la_parse(const Layer& l, LAP& p) {
  if (l.inputs.size() < 3 || l.inputs.size() > 6 || l.outputs.empty() || l.outputs.size() > 2) return false;
  const DType t = l.in(0).dtype;
  if (!la_type_ok(t) || l.in(1).dtype != t || l.in(2).dtype != t || l.out(0).dtype != t) return false;
  for (int k : {4, 5}) if (l.has_input(k) && l.in(k).dtype != t) return false;
  const std::string rule = l.attrs.get_string("update_rule", "gated_delta");
  if (rule != "linear" && rule != "gated" && rule != "delta" && rule != "gated_delta")
    throw InvalidArgumentError(l.where() + ": unknown update_rule '" + rule + "'");
  p.gated = rule == "gated" || rule == "gated_delta";
  p.delta = rule == "delta" || rule == "gated_delta";
  if (p.gated != l.has_input(4))
    throw InvalidArgumentError(l.where() + ": update_rule '" + rule + (p.gated ? "' requires" : "' forbids") + " decay");
  if (p.delta != l.has_input(5))
    throw InvalidArgumentError(l.where() + ": update_rule '" + rule + (p.delta ? "' requires" : "' forbids") + " beta");
  p.Hq = l.attrs.get_int("q_num_heads", 0);
  p.Hkv = l.attrs.get_int("kv_num_heads", 0);
  if (p.Hq <= 0 || p.Hkv <= 0 || p.Hq % p.Hkv)
    throw InvalidArgumentError(l.where() + ": q_num_heads must be a positive multiple of kv_num_heads");
  const auto &qs = l.in(0).shape, &ks = l.in(1).shape, &vs = l.in(2).shape;
  if (qs.size() != 3 || ks.size() != 3 || vs.size() != 3) return false;
  p.B = qs[0];
  p.T = qs[1];
  if (ks[0] != p.B || vs[0] != p.B || ks[1] != p.T || vs[1] != p.T) return false;
  if (qs[2] % p.Hq || vs[2] % p.Hkv) return false;
  p.dk = qs[2] / p.Hq;
  p.dv = vs[2] / p.Hkv;
  if (ks[2] != p.Hkv * p.dk) return false;
  const std::vector<int64_t> sshape{p.B, p.Hkv, p.dk, p.dv};
  DType st = t;
  if (l.has_input(3)) {
    st = l.in(3).dtype;
    if (!la_type_ok(st) || l.in(3).shape != sshape) return false;
  }
  if (l.has_input(4)) {
    const auto& d = l.in(4).shape;
    if (d.size() != 3 || d[0] != p.B || d[1] != p.T) return false;
    if (d[2] == p.Hkv * p.dk) p.decay_per_dim = true;
    else if (d[2] == p.Hkv) p.decay_per_dim = false;
    else return false;
    if (p.dk == 1) p.decay_per_dim = false;  // same layout either way
  } else {
    p.decay_per_dim = false;
  }
  if (l.has_input(5)) {
    const auto& b = l.in(5).shape;
    if (b.size() != 3 || b[0] != p.B || b[1] != p.T || (b[2] != p.Hkv && b[2] != 1)) return false;
    p.beta_per_head = b[2] == p.Hkv && p.Hkv != 1;
  } else {
    p.beta_per_head = false;
  }
  if (l.out(0).shape != std::vector<int64_t>{p.B, p.T, p.Hq * p.dv}) return false;
  if (l.outputs.size() > 1 && (l.out(1).dtype != st || l.out(1).shape != sshape)) return false;
  const double sc = l.attrs.get_float("scale", 0.0);
  p.scale = sc == 0.0 ? (float)(1.0 / std::sqrt((double)p.dk)) : (float)sc;
  return true;
}

template <class T, class S>
void linear_attention(const LAP& p, const RunArgs& a, bool has_past, bool out_state) {
  const T* q = static_cast<const T*>(a.in[0]);
  const T* k = static_cast<const T*>(a.in[1]);
  const T* v = static_cast<const T*>(a.in[2]);
  const S* past = has_past ? static_cast<const S*>(a.in[3]) : nullptr;
  const T* g = p.gated ? static_cast<const T*>(a.in[4]) : nullptr;
  const T* be = p.delta ? static_cast<const T*>(a.in[5]) : nullptr;
  T* y = static_cast<T*>(a.out[0]);
  S* ps = out_state ? static_cast<S*>(a.out[1]) : nullptr;
  const int64_t dk = p.dk, dv = p.dv, Hkv = p.Hkv, Hq = p.Hq, T_ = p.T, grp = Hq / Hkv;
  const int64_t SS = dk * dv;
  float* ws = static_cast<float*>(a.workspace);
  par_for(a.pool, p.B * Hkv, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bh = b0; bh < b1; ++bh) {
      const int64_t b = bh / Hkv, h = bh % Hkv;
      float* st = ws + bh * (SS + dv + dk);
      float* vt = st + SS;
      float* kt = vt + dv;
      if (past) for (int64_t e = 0; e < SS; ++e) st[e] = Num<S>::ld(past[bh * SS + e]);
      else std::fill(st, st + SS, 0.f);
      for (int64_t t = 0; t < T_; ++t) {
        const int64_t row = b * T_ + t;
        const T* kr = k + (row * Hkv + h) * dk;
        const T* vr = v + (row * Hkv + h) * dv;
        for (int64_t d = 0; d < dk; ++d) kt[d] = Num<T>::ld(kr[d]);
        for (int64_t m = 0; m < dv; ++m) vt[m] = Num<T>::ld(vr[m]);
        if (p.gated) {
          if (p.decay_per_dim) {
            const T* gr = g + (row * Hkv + h) * dk;
            for (int64_t d = 0; d < dk; ++d) {
              const float f = std::exp(Num<T>::ld(gr[d]));
              for (int64_t m = 0; m < dv; ++m) st[d * dv + m] *= f;
            }
          } else {
            const float f = std::exp(Num<T>::ld(g[row * Hkv + h]));
            for (int64_t e = 0; e < SS; ++e) st[e] *= f;
          }
        }
        if (p.delta) {
          const float bt = Num<T>::ld(be[p.beta_per_head ? row * Hkv + h : row]);
          for (int64_t m = 0; m < dv; ++m) {
            float r = 0.f;
            for (int64_t d = 0; d < dk; ++d) r += st[d * dv + m] * kt[d];
            vt[m] = bt * (vt[m] - r);
          }
        }
        for (int64_t d = 0; d < dk; ++d) {
          const float kd = kt[d];
          float* sr = st + d * dv;
          for (int64_t m = 0; m < dv; ++m) sr[m] += kd * vt[m];
        }
        for (int64_t j = 0; j < grp; ++j) {
          const int64_t hq = h * grp + j;
          const T* qr = q + (row * Hq + hq) * dk;
          T* yr = y + (row * Hq + hq) * dv;
          for (int64_t m = 0; m < dv; ++m) vt[m] = 0.f;
          for (int64_t d = 0; d < dk; ++d) {
            const float qd = Num<T>::ld(qr[d]);
            const float* sr = st + d * dv;
            for (int64_t m = 0; m < dv; ++m) vt[m] += qd * sr[m];
          }
          for (int64_t m = 0; m < dv; ++m) yr[m] = Num<T>::st(p.scale * vt[m]);
        }
      }
      if (ps) for (int64_t e = 0; e < SS; ++e) ps[bh * SS + e] = Num<S>::st(st[e]);
    }
  });
}

std::unique_ptr<Kernel> make_linear_attention(const Layer& l) {
  LAP p;
  la_parse(l, p);
  const bool has_past = l.has_input(3), out_state = l.outputs.size() > 1;
  const bool t16 = l.in(0).dtype == DType::Float16;
  const bool s16 = (has_past ? l.in(3).dtype : l.in(0).dtype) == DType::Float16;
  const size_t ws = sizeof(float) * (size_t)(p.B * p.Hkv) * (size_t)(p.dk * p.dv + p.dv + p.dk) + 64;
  return std::make_unique<FnKernel>([p, has_past, out_state, t16, s16](const RunArgs& a) {
    if (t16 && s16) linear_attention<f16, f16>(p, a, has_past, out_state);
    else if (t16) linear_attention<f16, float>(p, a, has_past, out_state);
    else if (s16) linear_attention<float, f16>(p, a, has_past, out_state);
    else linear_attention<float, float>(p, a, has_past, out_state);
  }, ws);
}

const bool reg_linear_attention = (reg("LinearAttention", "cpu/direct",
    [](const Layer& l) { LAP p; return la_parse(l, p); }, make_linear_attention), true);

}  // namespace
}  // namespace snep
