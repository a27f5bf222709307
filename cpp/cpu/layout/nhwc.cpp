// NHWC float32 routines (descriptors cpu:float32:nhwc/...): Conv as GEMM (any
// kernel, group 1: pixels x taps*channels times packed weights, straight into
// the NHWC output) and depthwise, MaxPool / AveragePool / GlobalAveragePool,
// Add / Mul with a per-channel operand, Concat and Split on channels, nearest
// Resize, and the elementwise ops whose operands all have the output's shape (or
// one element), which do not see the layout at all and run the ONNX-layout routine.
// Every non-constant input and every output must be NHWC (the tuner sets the
// layouts from the descriptor). Nothing here needs more than x86-64: the
// kernels are built for AVX-512, AVX2 and the baseline and picked at prepare.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/activation.h"
#include "cpu/common.h"
#include "cpu/conv/conv_params.h"
#include "cpu/gemm/sgemm.h"
#include "cpu/layout/nhwc_kernels.h"
#include "cpu/layout/pool_tabs.h"
#include "cpu/resize/resize_tables.h"

namespace snep {
namespace {

using conv::ConvParams;
using gemm::FloatBuf;

bool is_nhwc(const TensorInfo& t) { return t.layout == Layout::NHWC; }

// Every present non-constant input and every output is NHWC.
bool all_nhwc(const Layer& l) {
  for (auto& t : l.inputs)
    if (t.present && !t.const_data && !is_nhwc(t)) return false;
  for (auto& t : l.outputs)
    if (!is_nhwc(t)) return false;
  return true;
}

layout::ActP act_params(const Activation& a) {
  layout::ActP p;
  p.kind = (int)a.kind;
  p.a = a.a;
  p.b = a.b;
  return p;
}

bool wide_avx2() { return cpu_has("avx2") && cpu_features().fma; }

layout::NhwcDwFn dw_kernel() {
  return cpu_has("avx512f") ? layout::dw_nhwc_avx512 : wide_avx2() ? layout::dw_nhwc_avx2 : layout::dw_nhwc_generic;
}

layout::NhwcPoolFn pool_kernel() {
  return cpu_has("avx512f") ? layout::pool_nhwc_avx512
                            : wide_avx2() ? layout::pool_nhwc_avx2 : layout::pool_nhwc_generic;
}

// ---- Conv ------------------------------------------------------------------------------

bool conv_common(const Layer& l, ConvParams* out) {
  if (l.op != "Conv" || l.inputs.size() < 2 || l.inputs.size() > 4 || !all_float32(l) || !all_nhwc(l)) return false;
  ConvParams p = conv::conv_params(l);
  if (!p.ok || p.nsp != 2 || !l.in(1).const_data || l.in(0).const_data) return false;
  if (l.has_input(2) && (l.in(2).shape != std::vector<int64_t>{p.M} || !l.in(2).const_data)) return false;
  if (l.has_input(3) && (l.in(3).shape != l.out(0).shape || l.in(3).const_data)) return false;
  if (!gemm::activation_supported(l.attrs)) return false;
  *out = p;
  return true;
}

// Y [OH*OW x M] = act( X_col [OH*OW x KH*KW*C] * W' [KH*KW*C x M] + bias + Z ) per image:
// the pixels are the GEMM's rows, so its output is the NHWC tensor. W' is packed
// once; X_col (the input itself for an unpadded stride-1 1x1) is packed per run.
class ConvGemmNhwcKernel : public Kernel {
 public:
  ConvGemmNhwcKernel(const Layer& l, const ConvParams& p) : p_(p) {
    rows_ = p.out[1] * p.out[2];
    K_ = p.C * p.k[1] * p.k[2];
    uk_ = gemm::ukernel_for(rows_);
    one_ = p.k[1] == 1 && p.k[2] == 1 && p.s[1] == 1 && p.s[2] == 1 && p.pb[1] == 0 && p.pb[2] == 0 &&
           p.pe[1] == 0 && p.pe[2] == 0;
    // An unpadded stride-1 1x1 reads the input itself as A (pixels x channels, row-major).
    direct_a_ = one_ && gemm::direct_a_enabled() && uk_.direct;
    act_ = Activation::from_attrs(l.attrs);
    has_z_ = l.has_input(3);
    // W [M][C][KH][KW] -> [(kh*KW + kw)*C + c][M], then packed.
    const float* w = l.in(1).cdata<float>();
    const int64_t KK = p.k[1] * p.k[2];
    // In blocks of 16 output channels: each store then fills a line and the 16 source rows
    // are read front to back (m outermost scattered every store: 13 ms for a 512x2048 1x1).
    std::vector<float> t((size_t)(K_ * p.M));
    constexpr int64_t kMB = 16;
    for (int64_t m0 = 0; m0 < p.M; m0 += kMB) {
      const int64_t m1 = std::min(p.M, m0 + kMB);
      for (int64_t c = 0; c < p.C; ++c)
        for (int64_t k = 0; k < KK; ++k) {
          float* dst = t.data() + (k * p.C + c) * p.M;
          for (int64_t m = m0; m < m1; ++m) dst[m] = w[(m * p.C + c) * KK + k];
        }
    }
    bpack_.reset(gemm::packed_b_floats(K_, p.M, uk_));
    gemm::pack_b(t.data(), p.M, 1, K_, p.M, bpack_.data(), uk_);
    bias_.reset(p.M);
    std::fill(bias_.data(), bias_.data() + p.M, 0.f);
    if (l.has_input(2)) std::copy(l.in(2).cdata<float>(), l.in(2).cdata<float>() + p.M, bias_.data());
    asize_ = gemm::ws_round(gemm::packed_a_floats(rows_, K_, uk_));
  }

  size_t workspace_bytes() const override { return direct_a_ ? 0 : (size_t)(asize_ * p_.N) * sizeof(float); }
  bool reads_input_at_run(int i) const override { return i == 0 || i == 3; }

  void run(const RunArgs& a) override {
    const float* x = static_cast<const float*>(a.in[0]);
    float* apack = static_cast<float*>(a.workspace);
    const int64_t panels = (rows_ + uk_.mr - 1) / uk_.mr, img = p_.in[1] * p_.in[2] * p_.C;
    const ConvGemmNhwcKernel* self = this;
    if (!direct_a_) a.pool->parallel_for(p_.N * panels, 4, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / panels, q = t % panels;
        if (self->one_)
          gemm::pack_a(x + n * img, self->p_.C, 1, self->rows_, self->K_, apack + n * self->asize_, self->uk_, 1.f, q,
                       q + 1);
        else
          self->pack_im2col_panel(x + n * img, apack + n * self->asize_, q);
      }
    });
    struct P : gemm::Problem {
      const ConvGemmNhwcKernel* k;
      const float *ap, *z;
      float* y;
      const float* x = nullptr;  // the input, read row-major by the direct micro-kernel
      const float* a_packed(int64_t bi) const override { return x ? nullptr : ap + bi * k->asize_; }
      const float* a_rows(int64_t bi, int64_t* lda) const override {
        *lda = k->p_.C;
        return x ? x + bi * k->rows_ * k->p_.C : nullptr;
      }
      const float* b_packed(int64_t) const override { return k->bpack_.data(); }
      float* c(int64_t bi) const override { return y + bi * k->rows_ * k->p_.M; }
      void epilogue(int64_t bi, gemm::Epilogue* e) const override {
        e->act = k->act_;
        e->add[0] = gemm::Addend{k->bias_.data(), 0, 1, 1.f};
        if (z) e->add[1] = gemm::Addend{z + bi * k->rows_ * k->p_.M, k->p_.M, 1, 1.f};
      }
    } pr;
    pr.batch = p_.N;
    pr.M = rows_;
    pr.N = p_.M;
    pr.K = K_;
    pr.ldc = p_.M;
    pr.k = this;
    pr.ap = apack;
    if (direct_a_) pr.x = x;
    pr.z = has_z_ ? static_cast<const float*>(a.in[3]) : nullptr;
    pr.y = static_cast<float*>(a.out[0]);
    gemm::run(pr, uk_, a.pool, nullptr);
  }

 private:
  // Panel q (uk_.mr output pixels) of one image's im2col matrix, written in the
  // packed-A layout: per K block (k0, kcb) at dst + k0*Mpad + q*mr*kcb, [k][mr].
  // Row k of the matrix is tap k / C (kh, kw), channel k % C; taps in the padding read 0.
  void pack_im2col_panel(const float* x, float* dst, int64_t q) const {
    const int mr = uk_.mr;
    const int64_t mpad = gemm::round_up(rows_, mr), kc = gemm::kc_for(K_), C = p_.C;
    const int64_t H = p_.in[1], W = p_.in[2], OW = p_.out[2];
    for (int64_t k0 = 0; k0 < K_; k0 += kc) {
      const int64_t kcb = std::min(kc, K_ - k0);
      float* base = dst + k0 * mpad + q * mr * kcb;
      for (int r = 0; r < mr; ++r) {
        const int64_t i = q * mr + r;
        if (i >= rows_) {
          for (int64_t kk = 0; kk < kcb; ++kk) base[kk * mr + r] = 0.f;
          continue;
        }
        const int64_t oh = i / OW, ow = i % OW;
        for (int64_t tap = k0 / C; tap * C < k0 + kcb; ++tap) {
          const int64_t kh = tap / p_.k[2], kw = tap % p_.k[2];
          const int64_t ih = oh * p_.s[1] - p_.pb[1] + kh * p_.d[1];
          const int64_t iw = ow * p_.s[2] - p_.pb[2] + kw * p_.d[2];
          const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
          const float* src = inside ? x + (ih * W + iw) * C : nullptr;
          const int64_t c0 = std::max<int64_t>(0, k0 - tap * C), c1 = std::min<int64_t>(C, k0 + kcb - tap * C);
          float* d = base + (tap * C - k0) * mr + r;
          if (src)
            for (int64_t c = c0; c < c1; ++c) d[c * mr] = src[c];
          else
            for (int64_t c = c0; c < c1; ++c) d[c * mr] = 0.f;
        }
      }
    }
  }

  ConvParams p_;
  gemm::Ukernel uk_;
  int64_t rows_ = 0, K_ = 0, asize_ = 0;
  bool one_ = false, has_z_ = false, direct_a_ = false;
  Activation act_;
  FloatBuf bpack_, bias_;
};

bool conv_gemm_supports(const Layer& l) {
  ConvParams p;
  return conv_common(l, &p) && p.group == 1;
}

// group == C == M (a 1-channel conv is depthwise in form too).
bool conv_dw_supports(const Layer& l) {
  ConvParams p;
  return conv_common(l, &p) && p.group == p.C && p.M == p.C;
}

class DwNhwcKernel : public Kernel {
 public:
  DwNhwcKernel(const Layer& l, const ConvParams& p) : fn_(dw_kernel()) {
    const int64_t KK = p.k[1] * p.k[2];
    const float* w = l.in(1).cdata<float>();
    w_.reset(KK * p.C);
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t k = 0; k < KK; ++k) w_.data()[k * p.C + c] = w[c * KK + k];
    bias_.reset(p.C);
    std::fill(bias_.data(), bias_.data() + p.C, 0.f);
    if (l.has_input(2)) std::copy(l.in(2).cdata<float>(), l.in(2).cdata<float>() + p.C, bias_.data());
    g_ = layout::NhwcDw{nullptr, w_.data(), bias_.data(), nullptr, nullptr, p.in[1], p.in[2], p.C, p.out[1],
                        p.out[2], p.k[1], p.k[2], p.s[1], p.s[2], p.d[1], p.d[2], p.pb[1], p.pb[2],
                        act_params(Activation::from_attrs(l.attrs))};
    items_ = p.N * p.out[1];
    has_z_ = l.has_input(3);
  }
  bool reads_input_at_run(int i) const override { return i == 0 || i == 3; }
  void run(const RunArgs& a) override {
    layout::NhwcDw g = g_;
    g.x = static_cast<const float*>(a.in[0]);
    g.z = has_z_ ? static_cast<const float*>(a.in[3]) : nullptr;
    g.y = static_cast<float*>(a.out[0]);
    const auto fn = fn_;
    a.pool->parallel_for(items_, 1, [&](int64_t b, int64_t e) { fn(g, b, e); });
  }

 private:
  layout::NhwcDwFn fn_;
  layout::NhwcDw g_;
  FloatBuf w_, bias_;
  int64_t items_ = 0;
  bool has_z_ = false;
};

// ---- Pooling ----------------------------------------------------------------------------

template <bool Max>
bool pool_supports(const Layer& l) {
  if (!l.has_input(0) || l.inputs.size() != 1 || l.outputs.size() != 1 || !all_float32(l) || !all_nhwc(l))
    return false;
  return layout::pool_dims(l, Max, nullptr);
}

template <bool Max>
std::unique_ptr<Kernel> pool_prepare(const Layer& l) {
  auto tabs = std::make_shared<std::array<layout::DimTab, 2>>();
  layout::pool_dims(l, Max, tabs->data());
  const auto& x = l.in(0).shape;
  const auto& y = l.out(0).shape;
  const auto &h = (*tabs)[0], &w = (*tabs)[1];
  layout::NhwcPool g{nullptr, nullptr, x[2], x[3], x[1], y[2], y[3], h.dil, w.dil,
                     h.first.data(), h.count.data(), h.padded.data(), w.first.data(), w.count.data(), w.padded.data(),
                     Max ? 1 : 0, l.attrs.get_int("count_include_pad", 0) != 0 ? 1 : 0};
  const int64_t items = x[0] * y[2];
  const auto fn = pool_kernel();
  return std::make_unique<FnKernel>([tabs, g, items, fn](const RunArgs& a) {
    layout::NhwcPool gg = g;
    gg.x = static_cast<const float*>(a.in[0]);
    gg.y = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(items, 1, [&](int64_t b, int64_t e) { fn(gg, b, e); });
  });
}

bool gap_supports(const Layer& l) {
  if (l.op != "GlobalAveragePool" || !l.has_input(0) || l.inputs.size() != 1 || l.outputs.size() != 1) return false;
  if (!all_float32(l) || !all_nhwc(l)) return false;
  const auto& x = l.in(0).shape;
  const auto& y = l.out(0).shape;
  if (x.size() != 4 || y.size() != 4 || y[0] != x[0] || y[1] != x[1] || y[2] != 1 || y[3] != 1) return false;
  return prod(x, 2) > 0;
}

// Items are (image, chunk of 256 channels); each sums its channels over every pixel.
std::unique_ptr<Kernel> gap_prepare(const Layer& l) {
  const auto& x = l.in(0).shape;
  const int64_t N = x[0], C = x[1], S = prod(x, 2);
  constexpr int64_t kCh = 256;
  const int64_t chunks = (C + kCh - 1) / kCh;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const float* xp = static_cast<const float*>(a.in[0]);
    float* yp = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(N * chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / chunks, c0 = (t % chunks) * kCh, cn = std::min(kCh, C - c0);
        float acc[kCh] = {};
        const float* xi = xp + n * S * C + c0;
        for (int64_t s = 0; s < S; ++s)
          for (int64_t c = 0; c < cn; ++c) acc[c] += xi[s * C + c];
        for (int64_t c = 0; c < cn; ++c) yp[n * C + c0 + c] = acc[c] / (float)S;
      }
    });
  });
}

// ---- Add / Mul with a per-channel operand ----------------------------------------------

// [N or 1, C, 1, 1]: the same bytes in NHWC and in ONNX's layout, so it may be a constant.
bool per_channel_of(const TensorInfo& s, const std::vector<int64_t>& full) {
  const auto& d = s.shape;
  return d.size() == 4 && (d[0] == full[0] || d[0] == 1) && d[1] == full[1] && d[2] == 1 && d[3] == 1;
}

bool chan_binary_supports(const Layer& l) {
  if (l.inputs.size() != 2 || l.outputs.size() != 1 || !l.has_input(0) || !l.has_input(1) || !all_float32(l))
    return false;
  if (!all_nhwc(l) || l.out(0).rank() != 4) return false;
  const auto& y = l.out(0).shape;
  for (int big = 0; big < 2; ++big) {
    const auto &x = l.in(big), &s = l.in(1 - big);
    if (x.shape == y && !x.const_data && per_channel_of(s, y) && !(s.shape == y)) return true;
  }
  return false;
}

std::unique_ptr<Kernel> chan_binary_prepare(const Layer& l) {
  const auto& y = l.out(0).shape;
  const int big = l.in(0).shape == y && !l.in(0).const_data && per_channel_of(l.in(1), y) ? 0 : 1;
  const bool mul = l.op == "Mul";
  const int64_t N = y[0], C = y[1], S = y[2] * y[3];
  const bool s_per_image = l.in(1 - big).shape[0] == N && N > 1;
  constexpr int64_t kPix = 64;  // pixels per item
  const int64_t pieces = (S + kPix - 1) / kPix;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const float* x = static_cast<const float*>(a.in[big]);
    const float* s = static_cast<const float*>(a.in[1 - big]);
    float* yp = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(N * pieces, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / pieces, p0 = (t % pieces) * kPix, p1 = std::min(S, p0 + kPix);
        const float* sv = s + (s_per_image ? n * C : 0);
        for (int64_t p = p0; p < p1; ++p) {
          const float* xr = x + (n * S + p) * C;
          float* yr = yp + (n * S + p) * C;
          if (mul)
            for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * sv[c];
          else
            for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] + sv[c];
        }
      }
    });
  });
}

// ---- Concat and Split on channels ------------------------------------------------------

// The parts (Concat's inputs, Split's outputs): rank 4, NHWC, float32, the whole's shape but
// for channels, which add up to the whole's.
bool channel_parts_ok(const std::vector<TensorInfo>& parts, const TensorInfo& whole) {
  if (parts.empty() || whole.dtype != DType::Float32 || !is_nhwc(whole) || whole.rank() != 4) return false;
  int64_t c = 0;
  for (auto& t : parts) {
    if (!t.present || t.const_data || t.dtype != DType::Float32 || !is_nhwc(t) || t.rank() != 4) return false;
    for (int d = 0; d < 4; ++d) if (d != 1 && t.shape[d] != whole.shape[d]) return false;
    c += t.shape[1];
  }
  return c == whole.shape[1];
}

bool channel_axis(const Layer& l, int64_t dflt) {
  int64_t axis = l.attrs.get_int("axis", dflt);
  return axis == 1 || axis == -3;
}

bool concat_supports(const Layer& l) {
  return l.op == "Concat" && l.outputs.size() == 1 && channel_axis(l, 1) && channel_parts_ok(l.inputs, l.out(0));
}

// Sizes from the outputs' shapes (input 1, when given, is the constant they were inferred from).
bool split_supports(const Layer& l) {
  if (l.op != "Split" || !l.has_input(0) || l.inputs.size() > 2 || l.in(0).const_data) return false;
  if (l.has_input(1) && !l.in(1).const_data) return false;
  return channel_axis(l, 0) && channel_parts_ok(l.outputs, l.in(0));
}

// Per pixel, each part's channels copied to (Concat) or from (Split) their offset in the whole's.
std::unique_ptr<Kernel> channel_parts_prepare(const std::vector<TensorInfo>& parts, const TensorInfo& whole,
                                              bool split) {
  const auto& w = whole.shape;
  const int64_t pixels = w[0] * w[2] * w[3], CW = w[1];
  std::vector<int64_t> cs, offs;
  int64_t off = 0;
  for (auto& t : parts) {
    cs.push_back(t.shape[1]);
    offs.push_back(off);
    off += t.shape[1];
  }
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    a.pool->parallel_for(pixels, std::max<int64_t>(1, 4096 / std::max<int64_t>(CW, 1)), [&](int64_t b, int64_t e) {
      for (size_t i = 0; i < cs.size(); ++i) {
        const size_t bytes = (size_t)cs[i] * sizeof(float);
        if (split) {
          const float* x = static_cast<const float*>(a.in[0]) + offs[i];
          float* y = static_cast<float*>(a.out[i]);
          for (int64_t p = b; p < e; ++p) std::memcpy(y + p * cs[i], x + p * CW, bytes);
        } else {
          const float* x = static_cast<const float*>(a.in[i]);
          float* y = static_cast<float*>(a.out[0]) + offs[i];
          for (int64_t p = b; p < e; ++p) std::memcpy(y + p * CW, x + p * cs[i], bytes);
        }
      }
    });
  });
}

// ---- Resize (nearest) --------------------------------------------------------------------

bool resize_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1 || l.in(0).const_data || !is_nhwc(l.in(0)) || !is_nhwc(l.out(0)))
    return false;
  return resize::nearest_2d_tables(l, nullptr, nullptr);
}

// Per output pixel, the channels of its source pixel.
std::unique_ptr<Kernel> resize_prepare(const Layer& l) {
  return resize::nearest_2d_kernel(l, l.in(0).shape[0], l.in(0).shape[1]);
}

// ---- layout-blind elementwise ops -------------------------------------------------------

// The first ONNX-layout routine of the op (multi-threaded, usable here) that takes the
// layer once its tensors are relabelled Plain; null when none does.
Routine* plain_routine_for(const Layer& plain) {
  for (Routine* r : Registry::get().for_op(plain.op)) {
    const std::string d = r->descriptor();
    const std::string head = d.substr(0, d.find('/'));
    const size_t c1 = head.find(':'), c2 = c1 == std::string::npos ? c1 : head.find(':', c1 + 1);
    const std::string lay = c2 == std::string::npos ? "" : head.substr(c2 + 1);
    if (!(lay.empty() || lay == "nchw") || (d.size() >= 3 && d.compare(d.size() - 3, 3, "/t1") == 0)) continue;
    if (r->usable() && r->supports(plain)) return r;
  }
  return nullptr;
}

Layer relabelled_plain(const Layer& l) {
  Layer p = l;
  for (auto& t : p.inputs) t.layout = Layout::Plain;
  for (auto& t : p.outputs) t.layout = Layout::Plain;
  return p;
}

// Every input has the output's shape (non-constant: a constant lies in ONNX's layout)
// or a single element; one output.
bool layout_blind_supports(const Layer& l) {
  if (l.outputs.size() != 1 || !all_float32(l) || !all_nhwc(l) || l.out(0).rank() < 3) return false;
  for (auto& t : l.inputs) {
    if (!t.present || t.numel() == 1) continue;
    if (t.shape != l.out(0).shape || t.const_data) return false;
  }
  return plain_routine_for(relabelled_plain(l)) != nullptr;
}

std::unique_ptr<Kernel> layout_blind_prepare(const Layer& l) {
  const Layer p = relabelled_plain(l);
  Routine* r = plain_routine_for(p);
  if (!r) throw InvalidArgumentError(l.where() + ": no routine for its ONNX-layout form");
  return r->prepare(p);
}

// ---- registration -----------------------------------------------------------------------

void reg(const char* op, const char* desc, LambdaRoutine::Supports s, LambdaRoutine::Prepare p) {
  Registry::get().add(std::make_unique<LambdaRoutine>(op, desc, std::move(s), std::move(p), ""));
}

const bool registered = [] {
  reg("Conv", "cpu:float32:nhwc/gemm", conv_gemm_supports, [](const Layer& l) -> std::unique_ptr<Kernel> {
    return std::make_unique<ConvGemmNhwcKernel>(l, conv::conv_params(l));
  });
  reg("Conv", "cpu:float32:nhwc/depthwise", conv_dw_supports, [](const Layer& l) -> std::unique_ptr<Kernel> {
    return std::make_unique<DwNhwcKernel>(l, conv::conv_params(l));
  });
  reg("MaxPool", "cpu:float32:nhwc/direct", pool_supports<true>, pool_prepare<true>);
  reg("AveragePool", "cpu:float32:nhwc/direct", pool_supports<false>, pool_prepare<false>);
  reg("GlobalAveragePool", "cpu:float32:nhwc/direct", gap_supports, gap_prepare);
  for (const char* op : {"Add", "Mul"}) reg(op, "cpu:float32:nhwc/per_channel", chan_binary_supports, chan_binary_prepare);
  reg("Concat", "cpu:float32:nhwc/direct", concat_supports,
      [](const Layer& l) { return channel_parts_prepare(l.inputs, l.out(0), false); });
  reg("Split", "cpu:float32:nhwc/direct", split_supports,
      [](const Layer& l) { return channel_parts_prepare(l.outputs, l.in(0), true); });
  for (const char* op : {"Resize", "Upsample"}) reg(op, "cpu:float32:nhwc/nearest", resize_supports, resize_prepare);
  for (const char* op : {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh", "Add", "Mul", "Sub",
                         "Div"})
    reg(op, "cpu:float32:nhwc/elementwise",
        [op](const Layer& l) { return l.op == op && layout_blind_supports(l); }, layout_blind_prepare);
  return true;
}();

}  // namespace
}  // namespace snep
