// Channel-blocked float32 routines, registered twice: NCHW16c (cpu:float32:nchw16c/...,
// AVX-512 kernels) and NCHW8c (cpu:float32:nchw8c/..., AVX2 kernels; ISA "avx2_only":
// usable where AVX-512 is absent, since there the 16c set is the wider one). Conv direct and
// depthwise, MaxPool / AveragePool / GlobalAveragePool, Add / Mul (same shape or a
// per-channel [N,C,1,1] operand), activations, Concat and Split on channels,
// nearest Resize, Softmax / LogSoftmax / Hardmax over channels.
// Every non-constant input and every output must be in the block layout (the tuner
// sets the layouts from the descriptor); pad lanes of the outputs are written zero.
// Layers are resolved and weights packed here; the arithmetic is in
// blocked_kernels_impl.h (built per width), so the routines need its ISA (except
// Concat, Split and Resize, copies, and Softmax, plain C++ along strided rows).
#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unistd.h>

#include "core/thread_pool.h"
#include "cpu/activation.h"
#include "cpu/common.h"
#include "cpu/pool/pool_geometry.h"
#include "cpu/conv/conv_params.h"
#include "cpu/gemm/sgemm.h"
#include "cpu/layout/layout_kernels.h"
#include "cpu/layout/pool_tabs.h"
#include "cpu/resize/resize_tables.h"

namespace snep {
namespace {

using conv::ConvParams;
using gemm::FloatBuf;
using layout::ActP;
using layout::BlockedKernels;

// One block width: its layout, kernels and the CPU feature they need.
struct Blocked {
  Layout layout;
  const BlockedKernels& k;
  const char* name;  // descriptor layout field
  const char* isa;
  int64_t B() const { return k.B; }
  bool is(const TensorInfo& t) const { return t.layout == layout; }
  int64_t blocks(int64_t c) const { return (c + k.B - 1) / k.B; }
  // Every present non-constant input and every output is in this layout.
  bool all(const Layer& l) const {
    for (auto& t : l.inputs)
      if (t.present && !t.const_data && !is(t)) return false;
    for (auto& t : l.outputs)
      if (!is(t)) return false;
    return true;
  }
};
const Blocked k16c{Layout::NCHW16c, layout::kBlocked16, "nchw16c", "avx512f"};
const Blocked k8c{Layout::NCHW8c, layout::kBlocked8, "nchw8c", "avx2_only"};

ActP act_params(const Activation& a) {
  ActP p;
  p.kind = (int)a.kind;
  p.a = a.a;
  p.b = a.b;
  return p;
}

// ---- Conv ------------------------------------------------------------------------------

// plain_in: input 0 is NCHW (the other rules as for all-16c layers; no residual input).
bool conv_blocked_common(const Blocked& bk, const Layer& l, ConvParams* out, bool plain_in = false) {
  if (l.op != "Conv" || l.inputs.size() < 2 || l.inputs.size() > 4 || !all_float32(l)) return false;
  if (plain_in ? (l.inputs.size() > 3 || l.in(0).layout != Layout::Plain || !bk.is(l.out(0))) : !bk.all(l))
    return false;
  ConvParams p = conv::conv_params(l);
  if (!p.ok || p.nsp != 2 || !l.in(1).const_data) return false;
  if (l.has_input(2) && (l.in(2).shape != std::vector<int64_t>{p.M} || !l.in(2).const_data)) return false;
  if (l.has_input(3) && (l.in(3).shape != l.out(0).shape || l.in(3).const_data)) return false;
  if (!gemm::activation_supported(l.attrs)) return false;
  *out = p;
  return true;
}

layout::ConvArgs conv_args(const Blocked& bk, const Layer& l, const ConvParams& p) {
  layout::ConvArgs g;
  g.ICB = bk.blocks(p.C);
  g.IH = p.in[1];
  g.IW = p.in[2];
  g.OCB = bk.blocks(p.M);
  g.OH = p.out[1];
  g.OW = p.out[2];
  g.M = p.M;
  g.KH = p.k[1];
  g.KW = p.k[2];
  g.SH = p.s[1];
  g.SW = p.s[2];
  g.DH = p.d[1];
  g.DW = p.d[2];
  g.PH = p.pb[1];
  g.PW = p.pb[2];
  g.ow_lo = (g.PW + g.SW - 1) / g.SW;
  const int64_t num = g.IW - 1 + g.PW - (g.KW - 1) * g.DW;
  g.ow_hi = num < 0 ? 0 : num / g.SW + 1;
  g.act = act_params(Activation::from_attrs(l.attrs));
  return g;
}

class ConvBlockedKernel : public Kernel {
 public:
  ConvBlockedKernel(const Blocked& bk, const Layer& l, const ConvParams& p, bool depthwise, bool plain_in = false)
      : k_(bk.k), dw_(depthwise) {
    const int64_t B = k_.B, BB = B * B;
    g_ = conv_args(bk, l, p);
    g_.plain_in = plain_in;
    g_.C = p.C;
    const int64_t KK = g_.KH * g_.KW;
    const float* w = l.in(1).cdata<float>();
    bias_.reset(g_.OCB * B);
    std::fill(bias_.data(), bias_.data() + g_.OCB * B, 0.f);
    if (l.has_input(2)) std::copy(l.in(2).cdata<float>(), l.in(2).cdata<float>() + p.M, bias_.data());
    if (dw_) {
      g_.ocg = 1;
      g_.ur = k_.max_ur[1];
      w_.reset(g_.OCB * KK * B);
      float* d = w_.data();
      std::fill(d, d + g_.OCB * KK * B, 0.f);
      for (int64_t c = 0; c < p.M; ++c)
        for (int64_t k = 0; k < KK; ++k) d[((c / B) * KK + k) * B + c % B] = w[c * KK + k];
      items_ = p.N * g_.OCB * g_.OH;
    } else {
      plan_direct(p);
      const int64_t G = (g_.OCB + g_.ocg - 1) / g_.ocg;
      const int64_t per_blk = g_.ICB * KK * BB;
      w_.reset(g_.OCB * per_blk);
      // Written in the packed order (zeros where the channel blocks pad M or C): the reads
      // then stride over the group's nb x B weight rows, which stay in L1 for the whole group,
      // where writing in the source's order scattered every store (ResNet50's 512x2048 1x1:
      // 16 ms a layer, the bulk of a settled session's creation).
      float* d = w_.data();
      const int64_t CKK = p.C * KK;
      for (int64_t grp = 0; grp < G; ++grp) {
        const int64_t ob0 = grp * g_.ocg, nb = std::min<int64_t>(g_.ocg, g_.OCB - ob0);
        float* dst = d + ob0 * per_blk;
        for (int64_t icb = 0; icb < g_.ICB; ++icb)
          for (int64_t k = 0; k < KK; ++k)
            for (int64_t ic = 0; ic < B; ++ic) {
              const int64_t c = icb * B + ic;
              for (int64_t j = 0; j < nb; ++j)
                for (int64_t ol = 0; ol < B; ++ol) {
                  const int64_t oc = (ob0 + j) * B + ol;
                  *dst++ = (oc < p.M && c < p.C) ? w[oc * CKK + c * KK + k] : 0.f;
                }
            }
      }
      n_ = p.N;
    }
    has_z_ = l.has_input(3);
  }

  // Register tile, L1 blocking and work split of the direct conv. Tiles of 4
  // output blocks x 6 columns need 10 loads per 24 FMAs (2 blocks x 12: 14);
  // with 8-lane blocks (16 registers) 2 blocks x 5 columns need 7 per 10.
  // a chunk of input blocks keeps its weights (<= weight_l1_bytes()) in L1 while
  // every tile of a piece of about kPiecePixels outputs uses them. A 1x1,
  // stride 1, unpadded conv is one row of H*W columns, so tiles cross rows.
  // SNEP_C16_{OCG,UR,WL1,PX,PF,ORDER,PW} override the choices (experiments, tests).
  static constexpr int64_t kPiecePixels = 96, kPieceOuterWeightBytes = 1 << 20;
  // Two thirds of the L1 data cache: 32 KB of a 48 KB L1 ran ResNet50's 1x1 layers 0-6%
  // faster than half of it (fewer passes over the partial sums), 40 KB 3-8% slower.
  static int64_t weight_l1_bytes() {
    static const int64_t bytes = [] {
      const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);  // 0 or -1 where unknown
      return (int64_t)(l1 > 0 ? l1 : 32 * 1024) * 2 / 3;
    }();
    return bytes;
  }
  void plan_direct(const ConvParams& p) {
    const int64_t KK = g_.KH * g_.KW;
    const int64_t B = k_.B, ocg = B == 16 ? 4 : 2;
    g_.ocg = std::min<int64_t>(g_.OCB, std::max<int64_t>(1, std::min<int64_t>(4, env_int("SNEP_C16_OCG", ocg))));
    g_.ur = std::max<int64_t>(1, std::min<int64_t>(env_int("SNEP_C16_UR", 16), k_.max_ur[g_.ocg]));
    const int64_t wbytes = KK * B * g_.ocg * B * 4;
    g_.icb_chunk = std::max<int64_t>(1, env_int("SNEP_C16_WL1", weight_l1_bytes()) / wbytes);
    const bool unpadded_1x1 = g_.KH == 1 && g_.KW == 1 && g_.PH == 0 && g_.PW == 0 && p.pe[1] == 0 && p.pe[2] == 0;
    const bool pointwise = unpadded_1x1 && g_.SH == 1 && g_.SW == 1;
    // Every output pixel of an unpadded 1x1 reads an input pixel: the tap-free tile (NCHW16c input).
    g_.pw = unpadded_1x1 && !g_.plain_in && env_int("SNEP_C16_PW", 1) != 0;
    const bool strided_1x1 = g_.pw && !pointwise;
    if (pointwise) {
      g_.IW = g_.OW = g_.IW * g_.IH;
      g_.IH = g_.OH = 1;
      g_.ow_lo = 0;
      g_.ow_hi = g_.OW;
    } else if (strided_1x1) {  // tiles across the output rows (the kernel computes each pixel's input)
      g_.sub_ow = g_.OW;
      g_.OW *= g_.OH;
      g_.OH = 1;
      g_.ow_lo = 0;
      g_.ow_hi = g_.OW;
    }
    g_.prefetch = (int)env_int("SNEP_C16_PF", 2);
    const int64_t px = std::max<int64_t>(1, env_int("SNEP_C16_PX", kPiecePixels));
    if (g_.OH == 1) {
      g_.col_pieces = std::max<int64_t>(1, g_.OW / std::max<int64_t>(g_.ur, px / g_.ur * g_.ur));
    } else {
      g_.row_pieces = std::max<int64_t>(1, g_.OH / std::max<int64_t>(1, px / g_.OW));
    }
    // Walking the groups inside a piece reads the input once and the weights once per
    // piece (from L2 when they fit); groups outside read the weights once and the input
    // once per group. ResNet50's 64->256 1x1 on 56x56: 64 KB of weights, a 0.8 MB input
    // read 4 times, 3.2 MB of output through L2.
    const int64_t groups = (g_.OCB + g_.ocg - 1) / g_.ocg, pieces = g_.row_pieces * g_.col_pieces;
    const int64_t wall = g_.OCB * g_.ICB * KK * B * B * 4, xall = g_.ICB * B * g_.IH * g_.IW * 4;
    const bool weights_in_l2 = wall <= kPieceOuterWeightBytes;
    g_.piece_outer = env_int("SNEP_C16_ORDER", weights_in_l2 || (pieces - 1) * wall < (groups - 1) * xall ? 1 : 0) != 0;
  }

  // The tiling with its pieces made a multiple of the thread count where work items are
  // few: the pool splits items statically, so 3 items on 2 threads idle one for a third.
  layout::ConvArgs balanced(int64_t threads) const {
    layout::ConvArgs g = g_;
    const int64_t groups = n_ * ((g.OCB + g.ocg - 1) / g.ocg);
    int64_t& pieces = g.OH == 1 ? g.col_pieces : g.row_pieces;
    const int64_t len = g.OH == 1 ? g.OW : g.OH;
    if (threads > 1 && groups * pieces < 16 * threads)
      for (int64_t p = pieces; p <= std::min<int64_t>(len, pieces + threads); ++p)
        if (groups * p % threads == 0) {
          pieces = p;
          break;
        }
    return g;
  }
  static int64_t env_int(const char* name, int64_t dflt) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoll(v) : dflt;
  }

  bool reads_input_at_run(int i) const override { return i == 0 || i == 3; }

  void run(const RunArgs& a) override {
    const float* x = static_cast<const float*>(a.in[0]);
    const float* z = has_z_ ? static_cast<const float*>(a.in[3]) : nullptr;
    float* y = static_cast<float*>(a.out[0]);
    const float *w = w_.data(), *bias = bias_.data();
    if (dw_) {
      const layout::ConvArgs& g = g_;
      a.pool->parallel_for(items_, 1, [&](int64_t b, int64_t e) { k_.dw(g, x, w, bias, z, y, b, e); });
      return;
    }
    const layout::ConvArgs g = balanced(a.pool->num_threads());
    const int64_t items = n_ * ((g.OCB + g.ocg - 1) / g.ocg) * g.row_pieces * g.col_pieces;
    a.pool->parallel_for(items, 1, [&](int64_t b, int64_t e) { k_.conv(g, x, w, bias, z, y, b, e); });
  }

 private:
  const BlockedKernels& k_;
  bool dw_;
  layout::ConvArgs g_;
  FloatBuf w_, bias_;
  int64_t items_ = 0;  // depthwise
  int64_t n_ = 1;      // batch (direct)
  bool has_z_ = false;
};

bool conv_direct_supports(const Blocked& bk, const Layer& l) {
  ConvParams p;
  return conv_blocked_common(bk, l, &p) && p.group == 1;
}

// NCHW in, NCHW16c out: the first conv of a network (3 or so input channels), which
// would otherwise run in NCHW and pay a Reorder of its large output.
constexpr int64_t kPlainInMaxC = 8;
bool conv_plain_in_supports(const Blocked& bk, const Layer& l) {
  ConvParams p;
  return conv_blocked_common(bk, l, &p, true) && p.group == 1 && p.C <= kPlainInMaxC;
}

// group == C == M (a 1-channel conv is depthwise in form too).
bool conv_dw_supports_any(const Blocked& bk, const Layer& l) {
  ConvParams p;
  return conv_blocked_common(bk, l, &p) && p.group == p.C && p.M == p.C;
}

// ---- Pooling ----------------------------------------------------------------------------
// Geometry from cpu/layout/pool_tabs.h.

using layout::DimTab;
using layout::pool_dims;

template <bool Max>
bool pool_blocked_supports(const Blocked& bk, const Layer& l) {
  if (!l.has_input(0) || l.inputs.size() != 1 || l.outputs.size() != 1 || !all_float32(l) || !bk.all(l)) return false;
  return pool_dims(l, Max, nullptr);
}

template <bool Max>
std::unique_ptr<Kernel> pool_blocked_prepare(const Blocked& bk, const Layer& l) {
  auto tabs = std::make_shared<std::array<DimTab, 2>>();
  pool_dims(l, Max, tabs->data());
  const auto& x = l.in(0).shape;
  const auto& y = l.out(0).shape;
  layout::PoolArgs g;
  g.CB = bk.blocks(x[1]);
  g.IH = x[2];
  g.IW = x[3];
  g.OH = y[2];
  g.OW = y[3];
  g.dh = (*tabs)[0].dil;
  g.dw = (*tabs)[1].dil;
  g.hf = (*tabs)[0].first.data();
  g.hc = (*tabs)[0].count.data();
  g.hp = (*tabs)[0].padded.data();
  g.wf = (*tabs)[1].first.data();
  g.wc = (*tabs)[1].count.data();
  g.wp = (*tabs)[1].padded.data();
  g.max = Max ? 1 : 0;
  g.include_pad = l.attrs.get_int("count_include_pad", 0) != 0;
  g.last_lanes = (int)(x[1] - (g.CB - 1) * bk.B());
  const int64_t items = x[0] * g.CB * g.OH;
  return std::make_unique<FnKernel>([tabs, g, items, fn = bk.k.pool](const RunArgs& a) {
    const float* xp = static_cast<const float*>(a.in[0]);
    float* yp = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(items, 1, [&](int64_t b, int64_t e) { fn(g, xp, yp, b, e); });
  });
}

bool gap_blocked_supports(const Blocked& bk, const Layer& l) {
  if (l.op != "GlobalAveragePool" || !l.has_input(0) || l.inputs.size() != 1 || l.outputs.size() != 1) return false;
  if (!all_float32(l) || !bk.all(l)) return false;
  const auto& x = l.in(0).shape;
  const auto& y = l.out(0).shape;
  if (x.size() < 3 || y.size() != x.size() || y[0] != x[0] || y[1] != x[1]) return false;
  for (size_t i = 2; i < y.size(); ++i) if (y[i] != 1) return false;
  return prod(x, 2) > 0;
}

std::unique_ptr<Kernel> gap_blocked_prepare(const Blocked& bk, const Layer& l) {
  const auto& x = l.in(0).shape;
  const int64_t planes = x[0] * bk.blocks(x[1]), S = prod(x, 2);
  return std::make_unique<FnKernel>([planes, S, fn = bk.k.gap](const RunArgs& a) {
    const float* xp = static_cast<const float*>(a.in[0]);
    float* yp = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(planes, std::max<int64_t>(1, 4096 / S),
                         [&](int64_t b, int64_t e) { fn(xp, yp, S, b, e); });
  });
}

// ---- Add / Mul --------------------------------------------------------------------------

// [N, C, 1, ...] against [N, C, spatial...]
bool per_channel_of(const std::vector<int64_t>& s, const std::vector<int64_t>& full) {
  if (s.size() != full.size() || s.size() < 3 || s[0] != full[0] || s[1] != full[1]) return false;
  for (size_t i = 2; i < s.size(); ++i) if (s[i] != 1) return false;
  return true;
}

bool binary_blocked_supports(const Blocked& bk, const Layer& l) {
  if ((l.op != "Add" && l.op != "Mul") || l.inputs.size() != 2 || l.outputs.size() != 1) return false;
  if (!l.has_input(0) || !l.has_input(1) || !all_float32(l)) return false;
  for (auto& t : l.inputs) if (t.const_data || !bk.is(t)) return false;
  if (!bk.is(l.out(0))) return false;
  const auto& y = l.out(0).shape;
  if (y.size() < 2) return false;
  const auto &a = l.in(0).shape, &b = l.in(1).shape;
  if (a == y && b == y) return true;
  return (a == y && per_channel_of(b, y)) || (b == y && per_channel_of(a, y));
}

std::unique_ptr<Kernel> binary_blocked_prepare(const Blocked& bk, const Layer& l) {
  const auto& y = l.out(0).shape;
  const int op = l.op == "Add" ? 0 : 1;
  const bool same = l.in(0).shape == y && l.in(1).shape == y;
  const int big = l.in(0).shape == y ? 0 : 1;  // operand with the full shape
  const int64_t S = prod(y, 2), vecs = y[0] * bk.blocks(y[1]) * S;
  return std::make_unique<FnKernel>([op, same, big, S, vecs, fn = bk.k.binary](const RunArgs& a) {
    const float* x = static_cast<const float*>(a.in[big]);
    const float* s = static_cast<const float*>(a.in[1 - big]);
    float* yp = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(vecs, 1024,
                         [&](int64_t b, int64_t e) { fn(op, x, s, yp, S, same ? 0 : 1, b, e); });
  });
}

// ---- Activations ------------------------------------------------------------------------

bool act_blocked_supports(const Blocked& bk, const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1 || !all_float32(l)) return false;
  if (!bk.is(l.in(0)) || !bk.is(l.out(0)) || l.in(0).shape != l.out(0).shape || l.in(0).rank() < 2) return false;
  if (l.op == "Clip") {
    if (l.attrs.get_int("_opset", 13) < 11) return l.inputs.size() == 1;
    if (l.inputs.size() > 3) return false;
    for (size_t k = 1; k < l.inputs.size(); ++k)
      if (l.in(k).present && l.in(k).numel() != 1) return false;
    return true;
  }
  return l.inputs.size() == 1;
}

std::unique_ptr<Kernel> act_blocked_prepare(const Blocked& bk, const Layer& l) {
  ActP act;
  const std::string& op = l.op;
  bool clip_inputs = false, has_min = false, has_max = false;
  if (op == "Relu") act.kind = (int)Act::Relu;
  else if (op == "Sigmoid") act.kind = (int)Act::Sigmoid;
  else if (op == "Tanh") act.kind = (int)Act::Tanh;
  else if (op == "HardSwish") act.kind = (int)Act::HardSwish;
  else if (op == "HardSigmoid") {
    act.kind = (int)Act::HardSigmoid;
    act.a = (float)l.attrs.get_float("alpha", 0.2);
    act.b = (float)l.attrs.get_float("beta", 0.5);
  } else if (op == "LeakyRelu") {
    act.kind = (int)Act::LeakyRelu;
    act.a = (float)l.attrs.get_float("alpha", 0.01);
  } else if (op == "Clip") {
    act.kind = (int)Act::Clip;
    act.a = -INFINITY;
    act.b = INFINITY;
    if (l.attrs.get_int("_opset", 13) < 11) {
      act.a = (float)l.attrs.get_float("min", -INFINITY);
      act.b = (float)l.attrs.get_float("max", INFINITY);
    } else {
      clip_inputs = true;
      has_min = l.has_input(1);
      has_max = l.has_input(2);
    }
  }
  const auto& s = l.in(0).shape;
  const int64_t CB = bk.blocks(s[1]), planes = s[0] * CB, S = prod(s, 2);
  const int last = (int)(s[1] - (CB - 1) * bk.B());
  return std::make_unique<FnKernel>([=, fn = bk.k.act](const RunArgs& a) {
    ActP ap = act;
    if (clip_inputs) {
      if (has_min) ap.a = *static_cast<const float*>(a.in[1]);
      if (has_max) ap.b = *static_cast<const float*>(a.in[2]);
    }
    const float* x = static_cast<const float*>(a.in[0]);
    float* y = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(planes, std::max<int64_t>(1, 2048 / std::max<int64_t>(S, 1)),
                         [&](int64_t b, int64_t e) { fn(ap, x, y, CB, S, last, b, e); });
  });
}

// ---- Concat -----------------------------------------------------------------------------

bool concat_blocked_supports(const Blocked& bk, const Layer& l) {
  if (l.op != "Concat" || l.inputs.empty() || l.outputs.size() != 1 || !all_float32(l)) return false;
  const auto& y = l.out(0).shape;
  const int64_t r = (int64_t)y.size();
  if (r < 2) return false;
  int64_t axis = l.attrs.get_int("axis", 1);
  if (axis < 0) axis += r;
  if (axis != 1) return false;
  if (!bk.is(l.out(0))) return false;
  int64_t c = 0;
  for (size_t i = 0; i < l.inputs.size(); ++i) {
    const auto& t = l.inputs[i];
    if (!t.present || t.const_data || !bk.is(t) || t.rank() != r) return false;
    for (int64_t d = 0; d < r; ++d) if (d != 1 && t.shape[d] != y[d]) return false;
    if (i + 1 < l.inputs.size() && t.shape[1] % bk.B() != 0) return false;  // only the last may end in pad lanes
    c += t.shape[1];
  }
  return c == y[1];
}

// The channel parts of a Concat / Split, each a whole number of blocks (the last may end in
// pad lanes): per part, floats per image and offset in the whole tensor's image.
void channel_runs(const Blocked& bk, const std::vector<TensorInfo>& parts, int64_t S, std::vector<int64_t>* sizes,
                  std::vector<int64_t>* offs) {
  int64_t off = 0;
  for (auto& t : parts) {
    sizes->push_back(bk.blocks(t.shape[1]) * bk.B() * S);
    offs->push_back(off);
    off += sizes->back();
  }
}

std::unique_ptr<Kernel> concat_blocked_prepare(const Blocked& bk, const Layer& l) {
  const auto& y = l.out(0).shape;
  const int64_t N = y[0], S = prod(y, 2), yimg = bk.blocks(y[1]) * bk.B() * S;
  std::vector<int64_t> sizes, offs;
  channel_runs(bk, l.inputs, S, &sizes, &offs);
  const int64_t k = (int64_t)sizes.size();
  constexpr int64_t kPiece = 1 << 14;  // floats per work item
  std::vector<int64_t> pieces(k);
  int64_t total = 0;
  for (int64_t i = 0; i < k; ++i) total += (pieces[i] = (sizes[i] + kPiece - 1) / kPiece);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    float* yp = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(N * total, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / total;
        int64_t r = t % total, i = 0;
        while (r >= pieces[i]) r -= pieces[i++];
        const int64_t f0 = r * kPiece, f1 = std::min(sizes[i], f0 + kPiece);
        const float* x = static_cast<const float*>(a.in[i]) + n * sizes[i];
        std::memcpy(yp + n * yimg + offs[i] + f0, x + f0, (size_t)(f1 - f0) * sizeof(float));
      }
    });
  });
}

// ---- Split -------------------------------------------------------------------------------

// Split on channels: x float32 and blocked, outputs blocked, every output but the last a whole
// number of blocks (the last takes the input's tail, pad lanes included). The sizes are the
// outputs' shapes (input 1, when given, is the constant they were inferred from).
bool split_blocked_supports(const Blocked& bk, const Layer& l) {
  if (l.op != "Split" || !l.has_input(0) || l.inputs.size() > 2 || l.outputs.empty()) return false;
  const auto& x = l.in(0);
  if (x.dtype != DType::Float32 || x.const_data || !bk.is(x) || x.rank() < 3) return false;
  if (l.has_input(1) && !l.in(1).const_data) return false;
  int64_t axis = l.attrs.get_int("axis", 0);
  if (axis < 0) axis += x.rank();
  if (axis != 1) return false;
  int64_t c = 0;
  for (size_t i = 0; i < l.outputs.size(); ++i) {
    const auto& y = l.out(i);
    if (y.dtype != DType::Float32 || !bk.is(y) || y.rank() != x.rank()) return false;
    for (int d = 0; d < x.rank(); ++d) if (d != 1 && y.shape[d] != x.shape[d]) return false;
    if (i + 1 < l.outputs.size() && y.shape[1] % bk.B() != 0) return false;
    c += y.shape[1];
  }
  return c == x.shape[1];
}

// Per image, output i is one contiguous run of the input's blocks.
std::unique_ptr<Kernel> split_blocked_prepare(const Blocked& bk, const Layer& l) {
  const auto& x = l.in(0).shape;
  const int64_t N = x[0], S = prod(x, 2), ximg = bk.blocks(x[1]) * bk.B() * S;
  std::vector<int64_t> sizes, offs;
  channel_runs(bk, l.outputs, S, &sizes, &offs);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const float* xp = static_cast<const float*>(a.in[0]);
    a.pool->parallel_for(N * (int64_t)sizes.size(), 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / (int64_t)sizes.size(), i = t % (int64_t)sizes.size();
        std::memcpy(static_cast<float*>(a.out[i]) + n * sizes[i], xp + n * ximg + offs[i],
                    (size_t)sizes[i] * sizeof(float));
      }
    });
  });
}

// ---- Resize (nearest) --------------------------------------------------------------------

bool resize_blocked_supports(const Blocked& bk, const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1 || l.in(0).const_data || !bk.is(l.in(0)) || !bk.is(l.out(0)))
    return false;
  return resize::nearest_2d_tables(l, nullptr, nullptr);
}

// Per output pixel, the block lanes of its source pixel (pad lanes come zero from the input).
std::unique_ptr<Kernel> resize_blocked_prepare(const Blocked& bk, const Layer& l) {
  return resize::nearest_2d_kernel(l, l.in(0).shape[0] * bk.blocks(l.in(0).shape[1]), bk.B());
}

// ---- Softmax / LogSoftmax / Hardmax over channels ----------------------------------------
// axis 1 of a blocked [N, C, H, W] tensor (opset 13 and later: along C alone): per pixel,
// a row of C values spread over the CB blocks, pad lanes skipped and written zero.

bool softmax_blocked_supports(const Blocked& bk, const Layer& l) {
  if (l.inputs.size() != 1 || l.outputs.size() != 1 || !all_float32(l) || !bk.all(l) || l.in(0).const_data)
    return false;
  const auto& x = l.in(0);
  if (x.rank() < 3 || l.out(0).shape != x.shape || l.attrs.get_int("_opset", 13) < 13) return false;
  int64_t axis = l.attrs.get_int("axis", -1);
  if (axis < 0) axis += x.rank();
  return axis == 1 && x.shape[1] > 0;
}

std::unique_ptr<Kernel> softmax_blocked_prepare(const Blocked& bk, const Layer& l) {
  const auto& s = l.in(0).shape;
  const int64_t B = bk.B(), C = s[1], CB = bk.blocks(C), S = prod(s, 2), N = s[0];
  const int mode = l.op == "Softmax" ? 0 : (l.op == "LogSoftmax" ? 1 : 2);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const float* x = static_cast<const float*>(a.in[0]);
    float* y = static_cast<float*>(a.out[0]);
    // work items: pixels of every image; element (n, c, p) at ((n*CB + c/B)*S + p)*B + c%B
    a.pool->parallel_for(N * S, 64, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / S, px = t % S;
        auto at = [&](int64_t c) { return ((n * CB + c / B) * S + px) * B + c % B; };
        float m = x[at(0)];
        int64_t arg = 0;
        for (int64_t c = 1; c < C; ++c) {
          const float v = x[at(c)];
          if (v > m) m = v, arg = c;
        }
        if (mode == 2) {  // Hardmax: one at the first maximum
          for (int64_t c = 0; c < C; ++c) y[at(c)] = c == arg ? 1.f : 0.f;
        } else {
          float sum = 0.f;
          if (mode == 1) {
            for (int64_t c = 0; c < C; ++c) sum += std::exp(x[at(c)] - m);
            const float ls = std::log(sum);
            for (int64_t c = 0; c < C; ++c) y[at(c)] = x[at(c)] - m - ls;
          } else {  // the exponentials kept in y, then scaled (y may be x: each read before its write)
            for (int64_t c = 0; c < C; ++c) sum += (y[at(c)] = std::exp(x[at(c)] - m));
            const float inv = 1.f / sum;
            for (int64_t c = 0; c < C; ++c) y[at(c)] *= inv;
          }
        }
        for (int64_t c = C; c < CB * B; ++c) y[at(c)] = 0.f;  // pad lanes
      }
    });
  });
}

// ---- registration -----------------------------------------------------------------------

void reg(const char* op, const char* desc, LambdaRoutine::Supports s, LambdaRoutine::Prepare p, const char* isa) {
  Registry::get().add(std::make_unique<LambdaRoutine>(op, desc, std::move(s), std::move(p), isa));
}

// Registers one block width's routines (descriptors cpu:float32:<bk.name>/...).
void register_blocked(const Blocked& bk) {
  const std::string lay = bk.name, f32 = "cpu:float32:" + lay;
  auto on = [&bk](auto fn) { return [&bk, fn](const Layer& l) { return fn(bk, l); }; };
  auto conv = [&bk](bool dw, bool plain_in) {
    return [&bk, dw, plain_in](const Layer& l) -> std::unique_ptr<Kernel> {
      return std::make_unique<ConvBlockedKernel>(bk, l, conv::conv_params(l), dw, plain_in);
    };
  };
  reg("Conv", (f32 + "/direct").c_str(), on(conv_direct_supports), conv(false, false), bk.isa);
  reg("Conv", ("cpu:float32:nchw>" + lay + "/direct").c_str(), on(conv_plain_in_supports), conv(false, true), bk.isa);
  reg("Conv", (f32 + "/depthwise").c_str(), on(conv_dw_supports_any), conv(true, false), bk.isa);
  reg("MaxPool", (f32 + "/direct").c_str(), on(pool_blocked_supports<true>), on(pool_blocked_prepare<true>), bk.isa);
  reg("AveragePool", (f32 + "/direct").c_str(), on(pool_blocked_supports<false>), on(pool_blocked_prepare<false>),
      bk.isa);
  reg("GlobalAveragePool", (f32 + "/direct").c_str(), on(gap_blocked_supports), on(gap_blocked_prepare), bk.isa);
  for (const char* op : {"Add", "Mul"})
    reg(op, (f32 + "/direct").c_str(), on(binary_blocked_supports), on(binary_blocked_prepare), bk.isa);
  for (const char* op : {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh"})
    reg(op, (f32 + "/direct").c_str(),
        [&bk, op](const Layer& l) { return l.op == op && act_blocked_supports(bk, l); },
        on(act_blocked_prepare), bk.isa);
  // Softmax (plain C++) and the copies need no ISA of their own; NCHW8c's stay off where the 16c set runs
  const char* copy_isa = bk.B() == 16 ? "" : bk.isa;
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"})
    reg(op, (f32 + "/direct").c_str(), on(softmax_blocked_supports), on(softmax_blocked_prepare), copy_isa);
  reg("Concat", (f32 + "/direct").c_str(), on(concat_blocked_supports), on(concat_blocked_prepare), copy_isa);
  reg("Split", (f32 + "/direct").c_str(), on(split_blocked_supports), on(split_blocked_prepare), copy_isa);
  for (const char* op : {"Resize", "Upsample"})
    reg(op, (f32 + "/nearest").c_str(), on(resize_blocked_supports), on(resize_blocked_prepare), copy_isa);
}

const bool registered = [] {
  register_blocked(k16c);
  register_blocked(k8c);
  return true;
}();

}  // namespace
}  // namespace snep
