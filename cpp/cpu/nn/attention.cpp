// Attention (opset 23/24/25), as onnx's reference computes it:
//   Q, K, V 3-D (B, S, H*D) with q_num_heads/kv_num_heads, or 4-D (B, H, S, D);
//   past_key/past_value (B, Hkv, P, D) concatenated before K/V (present_* outputs);
//   GQA (q head h reads kv head h / (Hq/Hkv)); attn_mask bool/float broadcast
//   right-aligned to (B, Hq, Sq, L<=T) and padded with -inf past L; is_causal
//   bottom-right aligned (offset P, or nonpad_kv_seqlen[b]-Sq); nonpad_kv_seqlen
//   padding; sliding window (opset 25); scale, softcap; qk_matmul_output_mode
//   0..3; a row whose additive bias is all -inf gives zero probabilities.
// float32; float16 converted to float in the workspace and back.
// One (b, h, i) query row at a time: scores, softmax, then P @ V (axpy).
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

constexpr int kChunks = 64;

struct AttnP {
  int64_t B, Hq, Hkv, Sq, Skv, P, T, D, Dv;
  bool three_d;
  float scale, softcap;
  bool causal;
  int64_t left = -1, right = -1;
  int mode;
  // mask
  int mask_kind = 0;  // 0 none, 1 bool, 2 float
  int64_t mL = 0, msb = 0, msh = 0, msq = 0;
  bool has_nonpad = false;
  bool out_pk = false, out_pv = false, out_qk = false;
};

struct AttnIO {
  const float *q, *k, *v, *pk, *pv;
  const void* mask;
  const int64_t* nonpad;
  float *y, *opk, *opv, *qk;
  float* scratch;
};

void attention_f32(const AttnP& p, const AttnIO& io, ThreadPool* pool) {
  const int64_t B = p.B, Hq = p.Hq, Hkv = p.Hkv, Sq = p.Sq, Skv = p.Skv, P = p.P, T = p.T, D = p.D, Dv = p.Dv;
  // element strides (b, h, s) of the inputs / output in their layouts
  const int64_t qsb = p.three_d ? Sq * Hq * D : Hq * Sq * D, qsh = p.three_d ? D : Sq * D, qss = p.three_d ? Hq * D : D;
  const int64_t ksb = p.three_d ? Skv * Hkv * D : Hkv * Skv * D, ksh = p.three_d ? D : Skv * D, kss = p.three_d ? Hkv * D : D;
  const int64_t vsb = p.three_d ? Skv * Hkv * Dv : Hkv * Skv * Dv, vsh = p.three_d ? Dv : Skv * Dv, vss = p.three_d ? Hkv * Dv : Dv;
  const int64_t ysb = p.three_d ? Sq * Hq * Dv : Hq * Sq * Dv, ysh = p.three_d ? Dv : Sq * Dv, yss = p.three_d ? Hq * Dv : Dv;
  // present outputs
  if (p.out_pk || p.out_pv) {
    par_for(pool, B * Hkv, 1, [&](int64_t b0, int64_t e0) {
      for (int64_t bh = b0; bh < e0; ++bh) {
        int64_t b = bh / Hkv, h = bh % Hkv;
        if (p.out_pk) {
          float* o = io.opk + bh * T * D;
          if (P) std::memcpy(o, io.pk + bh * P * D, sizeof(float) * P * D);
          for (int64_t s = 0; s < Skv; ++s) std::memcpy(o + (P + s) * D, io.k + b * ksb + h * ksh + s * kss, sizeof(float) * D);
        }
        if (p.out_pv) {
          float* o = io.opv + bh * T * Dv;
          if (P) std::memcpy(o, io.pv + bh * P * Dv, sizeof(float) * P * Dv);
          for (int64_t s = 0; s < Skv; ++s) std::memcpy(o + (P + s) * Dv, io.v + b * vsb + h * vsh + s * vss, sizeof(float) * Dv);
        }
      }
    });
  }
  const int64_t rows = B * Hq * Sq;
  const int64_t nch = std::min<int64_t>(rows, kChunks);
  const int64_t grp = Hq / Hkv;
  const float ninf = -std::numeric_limits<float>::infinity();
  par_for(pool, nch, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* sc = io.scratch + c * 2 * T;  // scores, then bias
      float* bias = sc + T;
      for (int64_t r = c * rows / nch; r < (c + 1) * rows / nch; ++r) {
        const int64_t i = r % Sq, h = (r / Sq) % Hq, b = r / (Sq * Hq);
        const int64_t kh = h / grp;
        const float* q = io.q + b * qsb + h * qsh + i * qss;
        // additive bias
        for (int64_t j = 0; j < T; ++j) bias[j] = 0.f;
        if (p.mask_kind) {
          const int64_t mo = b * p.msb + h * p.msh + i * p.msq;
          if (p.mask_kind == 1) {
            const uint8_t* m = static_cast<const uint8_t*>(io.mask) + mo;
            for (int64_t j = 0; j < p.mL; ++j) bias[j] = m[j] ? 0.f : ninf;
          } else {
            const float* m = static_cast<const float*>(io.mask) + mo;
            for (int64_t j = 0; j < p.mL; ++j) bias[j] = m[j];
          }
          for (int64_t j = p.mL; j < T; ++j) bias[j] = ninf;
        }
        int64_t off = p.has_nonpad ? io.nonpad[b] - Sq : P;
        if (p.causal)
          for (int64_t j = std::max<int64_t>(0, i + off + 1); j < T; ++j) bias[j] += ninf;
        if (p.left >= 0 || p.right >= 0)
          for (int64_t j = 0; j < T; ++j) {
            int64_t diff = i + off - j;
            bool ok = (p.left < 0 || diff <= p.left) && (p.right < 0 || -diff <= p.right);
            if (!ok) bias[j] += ninf;
          }
        if (p.has_nonpad)
          for (int64_t j = std::max<int64_t>(0, io.nonpad[b]); j < T; ++j) bias[j] += ninf;
        bool all_masked = true;
        for (int64_t j = 0; j < T; ++j) if (!(bias[j] == ninf)) { all_masked = false; break; }
        // scores
        for (int64_t j = 0; j < T; ++j) {
          const float* kr = j < P ? io.pk + ((b * Hkv + kh) * P + j) * D : io.k + b * ksb + kh * ksh + (j - P) * kss;
          float s = 0.f;
          for (int64_t d = 0; d < D; ++d) s += q[d] * kr[d];
          sc[j] = s * p.scale;
        }
        float* qk = p.out_qk ? io.qk + r * T : nullptr;
        if (p.softcap > 0.f)
          for (int64_t j = 0; j < T; ++j) sc[j] = p.softcap * std::tanh(sc[j] / p.softcap);
        if (qk && p.mode <= 1) std::memcpy(qk, sc, sizeof(float) * T);
        for (int64_t j = 0; j < T; ++j) sc[j] += bias[j];
        if (qk && p.mode == 2) std::memcpy(qk, sc, sizeof(float) * T);
        float* y = io.y + b * ysb + h * ysh + i * yss;
        for (int64_t d = 0; d < Dv; ++d) y[d] = 0.f;
        if (all_masked) {
          if (qk && p.mode == 3) for (int64_t j = 0; j < T; ++j) qk[j] = 0.f;
          continue;
        }
        float m = ninf;
        for (int64_t j = 0; j < T; ++j) m = std::max(m, sc[j]);
        if (std::isnan(m)) {  // numpy's max propagates NaN
          for (int64_t j = 0; j < T; ++j) sc[j] = std::numeric_limits<float>::quiet_NaN();
        } else {
          if (m == ninf) m = 0.f;
          float sum = 0.f;
          for (int64_t j = 0; j < T; ++j) { sc[j] = std::exp(sc[j] - m); sum += sc[j]; }
          if (sum == 0.f) sum = 1.f;
          float inv = 1.f / sum;
          for (int64_t j = 0; j < T; ++j) sc[j] *= inv;
        }
        if (qk && p.mode == 3) std::memcpy(qk, sc, sizeof(float) * T);
        for (int64_t j = 0; j < T; ++j) {
          const float w = sc[j];
          const float* vr = j < P ? io.pv + ((b * Hkv + kh) * P + j) * Dv : io.v + b * vsb + kh * vsh + (j - P) * vss;
          for (int64_t d = 0; d < Dv; ++d) y[d] += w * vr[d];
        }
      }
    }
  });
}

bool parse(const Layer& l, AttnP& p) {
  if (l.inputs.size() < 3 || l.inputs.size() > 7 || l.outputs.empty() || l.outputs.size() > 4) return false;
  int64_t opset = l.attrs.get_int("_opset", 23);
  DType t = l.in(0).dtype;
  if (t != DType::Float32 && t != DType::Float16) return false;
  for (int k : {0, 1, 2, 4, 5}) if (l.has_input(k) && l.in(k).dtype != t) return false;
  for (auto& o : l.outputs) if (o.dtype != t) return false;
  if (l.has_input(4) != l.has_input(5)) return false;
  const auto &qs = l.in(0).shape, &ks = l.in(1).shape, &vs = l.in(2).shape;
  int r = (int)qs.size();
  if ((r != 3 && r != 4) || (int)ks.size() != r || (int)vs.size() != r) return false;
  p.three_d = r == 3;
  p.B = qs[0];
  if (ks[0] != p.B || vs[0] != p.B) return false;
  if (p.three_d) {
    p.Hq = l.attrs.get_int("q_num_heads", 0);
    p.Hkv = l.attrs.get_int("kv_num_heads", 0);
    if (p.Hq <= 0 || p.Hkv <= 0) return false;
    if (qs[2] % p.Hq || ks[2] % p.Hkv || vs[2] % p.Hkv) return false;
    p.Sq = qs[1]; p.Skv = ks[1];
    if (vs[1] != p.Skv) return false;
    p.D = qs[2] / p.Hq;
    if (ks[2] / p.Hkv != p.D) return false;
    p.Dv = vs[2] / p.Hkv;
  } else {
    if (opset >= 25 && (l.attrs.has("q_num_heads") || l.attrs.has("kv_num_heads"))) return false;
    p.Hq = qs[1]; p.Hkv = ks[1]; p.Sq = qs[2]; p.Skv = ks[2]; p.D = qs[3]; p.Dv = vs[3];
    if (vs[1] != p.Hkv || vs[2] != p.Skv || ks[3] != p.D) return false;
  }
  if (p.Hkv <= 0 || p.Hq % p.Hkv) return false;
  p.P = 0;
  if (l.has_input(4)) {
    const auto &a = l.in(4).shape, &b = l.in(5).shape;
    if (a.size() != 4 || b.size() != 4 || a[0] != p.B || a[1] != p.Hkv || a[3] != p.D || b[0] != p.B ||
        b[1] != p.Hkv || b[3] != p.Dv || b[2] != a[2])
      return false;
    p.P = a[2];
  }
  p.T = p.P + p.Skv;
  p.has_nonpad = l.has_input(6);
  if (p.has_nonpad) {
    if (opset < 24 || l.has_input(4)) return false;
    const auto& n = l.in(6);
    if (n.dtype != DType::Int64 || n.rank() != 1 || n.shape[0] != p.B) return false;
  }
  if (l.has_input(3)) {
    const auto& m = l.in(3);
    if (m.dtype == DType::Bool) p.mask_kind = 1;
    else if (m.dtype == t) p.mask_kind = 2;
    else return false;
    int mr = m.rank();
    if (mr < 1 || mr > 4) return false;
    std::vector<int64_t> ms(4 - mr, 1);
    ms.insert(ms.end(), m.shape.begin(), m.shape.end());
    const int64_t full[3] = {p.B, p.Hq, p.Sq};
    for (int d = 0; d < 3; ++d) if (ms[d] != 1 && ms[d] != full[d]) return false;
    p.mL = ms[3];
    if (p.mL > p.T) return false;
    p.msq = ms[2] == 1 ? 0 : p.mL;
    p.msh = ms[1] == 1 ? 0 : ms[2] * p.mL;
    p.msb = ms[0] == 1 ? 0 : ms[1] * ms[2] * p.mL;
  }
  double sc = l.attrs.has("scale") ? l.attrs.get_float("scale", 0) : 1.0 / std::sqrt((double)p.D);
  // the reference scales Q and K by sqrt(scale) each
  float hs = (float)std::sqrt(sc);
  p.scale = hs * hs;
  p.softcap = (float)l.attrs.get_float("softcap", 0.0);
  p.causal = l.attrs.get_int("is_causal", 0) != 0;
  if (opset >= 25) {
    p.left = l.attrs.get_int("left_window_size", -1);
    p.right = l.attrs.get_int("right_window_size", -1);
    if (p.left < -1 || p.right < -1) return false;
  }
  p.mode = (int)l.attrs.get_int("qk_matmul_output_mode", 0);
  if (p.mode < 0 || p.mode > 3) return false;
  // outputs
  const std::vector<int64_t> yshape = p.three_d ? std::vector<int64_t>{p.B, p.Sq, p.Hq * p.Dv}
                                                : std::vector<int64_t>{p.B, p.Hq, p.Sq, p.Dv};
  if (l.out(0).shape != yshape) return false;
  size_t no = l.outputs.size();
  if (no > 1 && l.out(1).numel() > 0) {
    if (l.out(1).shape != std::vector<int64_t>{p.B, p.Hkv, p.T, p.D}) return false;
    p.out_pk = true;
  }
  if (no > 2 && l.out(2).numel() > 0) {
    if (l.out(2).shape != std::vector<int64_t>{p.B, p.Hkv, p.T, p.Dv}) return false;
    p.out_pv = true;
  }
  if (no > 3) {
    if (l.out(3).shape != std::vector<int64_t>{p.B, p.Hq, p.Sq, p.T}) return false;
    p.out_qk = true;
  }
  return true;
}

std::unique_ptr<Kernel> make_attention(const Layer& l) {
  AttnP p;
  parse(l, p);
  // pk/pv pointers are decided at run; flag past presence via P
  const bool f16 = l.in(0).dtype == DType::Float16;
  const size_t nin = l.inputs.size(), nout = l.outputs.size();
  std::vector<int64_t> in_n(nin, 0), out_n(nout, 0);
  for (size_t k = 0; k < nin && k < 6; ++k)
    if (l.has_input(k) && l.in(k).dtype == DType::Float16) in_n[k] = l.in(k).numel();
  for (size_t k = 0; k < nout; ++k) if (f16) out_n[k] = l.out(k).numel();
  const int64_t nch = std::min<int64_t>(std::max<int64_t>(1, p.B * p.Hq * p.Sq), kChunks);
  size_t ws = (size_t)nch * 2 * p.T;
  for (auto n : in_n) ws += (size_t)n;
  for (auto n : out_n) ws += (size_t)n;
  ws = ws * sizeof(float) + 64;
  return std::make_unique<FnKernel>([p, f16, in_n, out_n, nin, nout](const RunArgs& a) {
    float* w = static_cast<float*>(a.workspace);
    const void* in[7] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
    void* out[4] = {nullptr, nullptr, nullptr, nullptr};
    for (size_t k = 0; k < nin; ++k) {
      in[k] = a.in[k];
      if (in_n[k] && a.in[k]) {
        const uint16_t* s = static_cast<const uint16_t*>(a.in[k]);
        for (int64_t e = 0; e < in_n[k]; ++e) w[e] = h2f(s[e]);
        in[k] = w;
        w += in_n[k];
      }
    }
    for (size_t k = 0; k < nout; ++k) {
      out[k] = a.out[k];
      if (f16) { out[k] = w; w += out_n[k]; }
    }
    AttnIO io;
    io.q = static_cast<const float*>(in[0]);
    io.k = static_cast<const float*>(in[1]);
    io.v = static_cast<const float*>(in[2]);
    io.mask = in[3];
    io.pk = p.P ? static_cast<const float*>(in[4]) : nullptr;
    io.pv = p.P ? static_cast<const float*>(in[5]) : nullptr;
    io.nonpad = p.has_nonpad ? static_cast<const int64_t*>(in[6]) : nullptr;
    io.y = static_cast<float*>(out[0]);
    io.opk = p.out_pk ? static_cast<float*>(out[1]) : nullptr;
    io.opv = p.out_pv ? static_cast<float*>(out[2]) : nullptr;
    io.qk = p.out_qk ? static_cast<float*>(out[3]) : nullptr;
    io.scratch = w;
    attention_f32(p, io, a.pool);
    if (f16)
      for (size_t k = 0; k < nout; ++k) {
        const float* s = static_cast<const float*>(out[k]);
        uint16_t* d = static_cast<uint16_t*>(a.out[k]);
        for (int64_t e = 0; e < out_n[k]; ++e) d[e] = f2h(s[e]);
      }
  }, ws);
}

const bool reg_attention = (reg("Attention", "cpu/direct",
    [](const Layer& l) { AttnP p; return parse(l, p); }, make_attention), true);

}  // namespace
}  // namespace snep
