// Winograd convolution F(2x2,3x3) and F(4x4,3x3), NCHW float32: 2-D Conv with
// a 3x3 kernel, stride 1, dilation 1, group 1; any pads / auto_pad, any H, W
// (partial tiles at the borders read zeros and write only what is inside).
//
// With m the tile size and A = m + 2, for each image and chunk of tile rows:
//   V[xi][c][t]  = (B^T d_{c,t} B)[xi]          input transform   (A*A x C x T)
//   Mx[xi]       = U[xi] (M x C) * V[xi] (C x T) A*A independent GEMMs (gemm::run, batch A*A)
//   y tile       = act(A^T Mx_t A + bias + Z)   output transform, epilogue fused
// U = G w G^T is computed (in double) and packed once at prepare when the
// weights are constant, per run into the workspace otherwise.
//
// Not bit-exact: the transforms round differently from a direct sum, and
// F(4,3)'s larger coefficients (up to 8 in A^T, 5 in B^T, 1/24 in G) amplify
// the float32 rounding; see conformance/refs/linalg.py for the tolerance.
//
// SNEP_NO_WINOGRAD=1 in the environment makes both routines decline every
// layer (for A/B timing against the other Conv routines; use a separate
// profile cache, as the tuner caches "does not support").
#include <cstdlib>
#include <cstring>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/common.h"
#include "cpu/conv/conv_params.h"
#include "cpu/conv/winograd_tf.h"
#include "cpu/gemm/sgemm.h"

namespace snep {
namespace wino {
const Fns& fns_avx512();
}

namespace {

using conv::ConvParams;
using gemm::FloatBuf;

const wino::Fns& fns_generic() {
  static const wino::Fns f{wino_in<2>, wino_in<4>, wino_out<2>, wino_out<4>, nullptr, nullptr};
  return f;
}

// G (A x 3) for m = 2 and 4.
const double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
const double kG4[6][3] = {{1.0 / 4, 0, 0},
                          {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                          {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                          {1.0 / 24, 1.0 / 12, 1.0 / 6},
                          {1.0 / 24, -1.0 / 12, 1.0 / 6},
                          {0, 0, 1}};

bool winograd_disabled() {
  static const bool off = [] {
    const char* e = std::getenv("SNEP_NO_WINOGRAD");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return off;
}

bool winograd_supports(const Layer& l) {
  if (winograd_disabled()) return false;
  if (l.op != "Conv" || l.inputs.size() < 2 || l.inputs.size() > 4 || !all_float32(l)) return false;
  ConvParams p = conv::conv_params(l);
  if (!p.ok || p.nsp != 2 || p.group != 1) return false;
  if (p.k[1] != 3 || p.k[2] != 3 || p.s[1] != 1 || p.s[2] != 1 || p.d[1] != 1 || p.d[2] != 1) return false;
  if (l.has_input(2) && l.in(2).shape != std::vector<int64_t>{p.M}) return false;
  if (l.has_input(3) && l.in(3).shape != l.out(0).shape) return false;
  if (!gemm::activation_supported(l.attrs)) return false;
  return true;
}

class WinogradKernel : public Kernel {
 public:
  WinogradKernel(const Layer& l, int m, bool tr) : m_(m), A_(m + 2), tr_(tr) {
    p_ = conv::conv_params(l);
    IC_ = p_.C; OC_ = p_.M;
    H_ = p_.in[1]; W_ = p_.in[2]; OH_ = p_.out[1]; OW_ = p_.out[2];
    pt_ = p_.pb[1]; pl_ = p_.pb[2];
    TH_ = (OH_ + m - 1) / m; TW_ = (OW_ + m - 1) / m;
    nseg_ = (TW_ + wino::kWinoSeg - 1) / wino::kWinoSeg;
    const int64_t AA = A_ * A_;
    // Tile rows per chunk: V and Mx of a chunk near 8 MiB, at least ~96 tiles
    // (so the weights, re-read per chunk, are used enough times each).
    const int64_t row_bytes = AA * (IC_ + OC_) * TW_ * 4;
    int64_t R = std::max<int64_t>(1, (int64_t(8) << 20) / std::max<int64_t>(row_bytes, 1));
    R = std::max<int64_t>(R, (96 + TW_ - 1) / TW_);
    R_ = std::min(R, TH_);
    Tcp_ = gemm::round_up(R_ * TW_, 16);
    if (tr_) {
      uk_ = gemm::ukernel_for(R_ * TW_);
      asize_ = gemm::ws_round(gemm::packed_b_floats(IC_, OC_, uk_));    // weights: B
      apsize_ = gemm::ws_round(gemm::packed_a_floats(Tcp_, IC_, uk_));  // tiles: A, per run
    } else {
      uk_ = gemm::ukernel_for(OC_);
      asize_ = gemm::ws_round(gemm::packed_a_floats(OC_, IC_, uk_));
    }
    act_ = Activation::from_attrs(l.attrs);
    has_bias_ = l.has_input(2);
    has_z_ = l.has_input(3);
    f_ = cpu_has("avx512f") ? &wino::fns_avx512() : &fns_generic();
    if (l.in(1).const_data) {
      upack_.reset(asize_ * AA);
      // One row of the A x A transformed kernels at a time: a buffer of A, not A * A, planes
      // (F(4,3) 512x512: 6 MB of fresh pages to clear, not 38)
      FloatBuf plain(A_ * OC_ * IC_);
      const int64_t per_xi = tr_ ? 1 : panels();
      for (int i = 0; i < A_; ++i) {
        transform_weights(l.in(1).cdata<float>(), plain.data(), 0, OC_, i, i + 1);
        pack_weights(plain.data(), i * A_, upack_.data(), i * A_ * per_xi, (i + 1) * A_ * per_xi);
      }
    }
  }

  bool reads_input_at_run(int i) const override { return !(i == 1 && upack_.data()); }

  size_t workspace_bytes() const override {
    const int64_t AA = A_ * A_;
    int64_t f = gemm::ws_round(AA * IC_ * Tcp_) + gemm::ws_round(AA * OC_ * Tcp_) +
                (tr_ ? AA * apsize_ : gemm::scratch_slots() * gemm::slab_floats(IC_, uk_));
    if (!upack_.data()) f += asize_ * AA + gemm::ws_round(AA * OC_ * IC_);
    return (size_t)f * sizeof(float);
  }

  void run(const RunArgs& a) override {
    const int64_t AA = A_ * A_;
    float* ws = static_cast<float*>(a.workspace);
    float* V = ws; ws += gemm::ws_round(AA * IC_ * Tcp_);
    float* Mx = ws; ws += gemm::ws_round(AA * OC_ * Tcp_);
    float* scratch = ws; ws += tr_ ? AA * apsize_ : gemm::scratch_slots() * gemm::slab_floats(IC_, uk_);
    const float* U = upack_.data();
    if (!U) {
      float* up = ws; ws += asize_ * AA;
      float* plain = ws;
      const float* w = static_cast<const float*>(a.in[1]);
      const WinogradKernel* self = this;
      a.pool->parallel_for(OC_, 1, [self, w, plain](int64_t b, int64_t e) { self->transform_weights(w, plain, b, e, 0, self->A_); });
      a.pool->parallel_for(AA * panels(), 1, [self, plain, up](int64_t b, int64_t e) { self->pack_weights(plain, 0, up, b, e); });
      U = up;
    }
    if (tr_) return run_tr(a, U, V, Mx, scratch);
    const float* x = static_cast<const float*>(a.in[0]);
    const float* bias = has_bias_ ? static_cast<const float*>(a.in[2]) : nullptr;
    const float* z = has_z_ ? static_cast<const float*>(a.in[3]) : nullptr;
    float* y = static_cast<float*>(a.out[0]);
    const int m = m_;
    const wino::InFn fin = m == 2 ? f_->in2 : f_->in4;
    const wino::OutFn fout = m == 2 ? f_->out2 : f_->out4;
    const int64_t xs = IC_ * Tcp_, ms = OC_ * Tcp_;

    struct P : gemm::Problem {
      const float *u, *v;
      float* mx;
      int64_t asize, xs, ms, ldb;
      const float* a_packed(int64_t bi) const override { return u + bi * asize; }
      void pack_b(int64_t bi, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst, int nr) const override {
        gemm::pack_b_slab(v + bi * xs, ldb, 1, k0, kc, n0, nc, dst, nr);
      }
      float* c(int64_t bi) const override { return mx + bi * ms; }
      void epilogue(int64_t, gemm::Epilogue*) const override {}
    } pr;
    pr.u = U; pr.v = V; pr.mx = Mx; pr.asize = asize_; pr.xs = xs; pr.ms = ms; pr.ldb = Tcp_;
    pr.batch = AA; pr.M = OC_; pr.K = IC_; pr.ldc = Tcp_;

    for (int64_t img = 0; img < p_.N; ++img) {
      const float* xi = x + img * IC_ * H_ * W_;
      float* yi = y + img * OC_ * OH_ * OW_;
      const float* zi = z ? z + img * OC_ * OH_ * OW_ : nullptr;
      for (int64_t th0 = 0; th0 < TH_; th0 += R_) {
        const int64_t rows = std::min(R_, TH_ - th0);
        const int64_t per_c = rows * nseg_;
        a.pool->parallel_for(IC_ * per_c, 1, [&](int64_t b, int64_t e) {
          for (int64_t it = b; it < e; ++it) {
            const int64_t c = it / per_c, r = (it % per_c) / nseg_, sg = it % nseg_;
            const int64_t tw0 = sg * wino::kWinoSeg, n = std::min<int64_t>(wino::kWinoSeg, TW_ - tw0);
            fin(xi + c * H_ * W_, H_, W_, m * (th0 + r) - pt_, m * tw0 - pl_, n, V + c * Tcp_ + r * TW_ + tw0, xs);
          }
        });
        pr.N = rows * TW_;
        gemm::run(pr, uk_, a.pool, scratch);
        a.pool->parallel_for(OC_ * per_c, 1, [&](int64_t b, int64_t e) {
          for (int64_t it = b; it < e; ++it) {
            const int64_t oc = it / per_c, r = (it % per_c) / nseg_, sg = it % nseg_;
            const int64_t tw0 = sg * wino::kWinoSeg, n = std::min<int64_t>(wino::kWinoSeg, TW_ - tw0);
            const int64_t off = oc * OH_ * OW_;
            fout(Mx + oc * Tcp_ + r * TW_ + tw0, ms, n, yi + off, zi ? zi + off : nullptr, OH_, OW_,
                 m * (th0 + r), m * tw0, bias ? bias[oc] : 0.f, act_);
          }
        });
      }
    }
  }

  // Transposed GEMM (for few tiles): Mx[xi] (tiles x OC) = V[xi]^T (tiles x IC) * U[xi]^T (IC x OC),
  // the tiles packed as A per chunk, the weights as B at prepare; the output
  // transform runs over 16 output channels at a time.
  void run_tr(const RunArgs& a, const float* U, float* V, float* Mx, float* Ap) const {
    const int64_t AA = A_ * A_;
    const float* x = static_cast<const float*>(a.in[0]);
    const float* bias = has_bias_ ? static_cast<const float*>(a.in[2]) : nullptr;
    const float* z = has_z_ ? static_cast<const float*>(a.in[3]) : nullptr;
    float* y = static_cast<float*>(a.out[0]);
    const int m = m_;
    const wino::InFn fin = m == 2 ? f_->in2 : f_->in4;
    const wino::OutTrFn fout = m == 2 ? f_->out_tr2 : f_->out_tr4;
    const int64_t xs = IC_ * Tcp_, ms = OC_ * Tcp_, plane = OH_ * OW_;
    const int64_t ocb = (OC_ + 15) / 16;

    struct P : gemm::Problem {
      const float *ap, *u;
      float* mx;
      int64_t apsize, wsize, ms;
      const float* a_packed(int64_t bi) const override { return ap + bi * apsize; }
      const float* b_packed(int64_t bi) const override { return u + bi * wsize; }
      float* c(int64_t bi) const override { return mx + bi * ms; }
      void epilogue(int64_t, gemm::Epilogue*) const override {}
    } pr;
    pr.ap = Ap; pr.u = U; pr.mx = Mx; pr.apsize = apsize_; pr.wsize = asize_; pr.ms = ms;
    pr.batch = AA; pr.N = OC_; pr.K = IC_; pr.ldc = OC_;

    for (int64_t img = 0; img < p_.N; ++img) {
      const float* xi = x + img * IC_ * H_ * W_;
      float* yi = y + img * OC_ * plane;
      const float* zi = z ? z + img * OC_ * plane : nullptr;
      for (int64_t th0 = 0; th0 < TH_; th0 += R_) {
        const int64_t rows = std::min(R_, TH_ - th0);
        const int64_t per_c = rows * nseg_;
        const int64_t T = rows * TW_;
        a.pool->parallel_for(IC_ * per_c, 1, [&](int64_t b, int64_t e) {
          for (int64_t it = b; it < e; ++it) {
            const int64_t c = it / per_c, r = (it % per_c) / nseg_, sg = it % nseg_;
            const int64_t tw0 = sg * wino::kWinoSeg, n = std::min<int64_t>(wino::kWinoSeg, TW_ - tw0);
            fin(xi + c * H_ * W_, H_, W_, m * (th0 + r) - pt_, m * tw0 - pl_, n, V + c * Tcp_ + r * TW_ + tw0, xs);
          }
        });
        const int64_t np = (T + uk_.mr - 1) / uk_.mr;
        a.pool->parallel_for(AA * np, 1, [&](int64_t b, int64_t e) {
          for (int64_t t = b; t < e;) {
            const int64_t xq = t / np, p0 = t % np, p1 = std::min(np, p0 + (e - t));
            gemm::pack_a(V + xq * xs, 1, Tcp_, T, IC_, Ap + xq * apsize_, uk_, 1.f, p0, p1);
            t += p1 - p0;
          }
        });
        pr.M = T;
        gemm::run(pr, uk_, a.pool, nullptr);
        a.pool->parallel_for(T * ocb, 1, [&](int64_t b, int64_t e) {
          for (int64_t it = b; it < e; ++it) {
            const int64_t t = it / ocb, oc0 = (it % ocb) * 16;
            const int64_t th = th0 + t / TW_, tw = t % TW_;
            fout(Mx + t * OC_ + oc0, ms, std::min<int64_t>(16, OC_ - oc0), yi + oc0 * plane,
                 zi ? zi + oc0 * plane : nullptr, OH_, OW_, m * th, m * tw, bias ? bias + oc0 : nullptr, act_);
          }
        });
      }
    }
  }

 private:
  int64_t panels() const { return tr_ ? 1 : (OC_ + uk_.mr - 1) / uk_.mr; }

  // plain[xi - i0 A][oc][ic] = (G w[oc][ic] G^T)[xi] for oc in [o0, o1) and xi in rows
  // [i0, i1) of the A x A tile. In double, kL input
  // channels at a time with the lanes innermost (the compiler vectorises those loops; one
  // channel at a time, 162 dependent scalar products per 3x3 kernel for F(4,3), it took 30 ms
  // of the 68 ms a 512x512 layer spent in prepare).
  void transform_weights(const float* w, float* plain, int64_t o0, int64_t o1, int i0, int i1) const {
    const double* G = m_ == 2 ? &kG2[0][0] : &kG4[0][0];
    for (int64_t oc = o0; oc < o1; ++oc)
      for (int64_t ic0 = 0; ic0 < IC_; ic0 += kL) {
        const int64_t n = std::min<int64_t>(kL, IC_ - ic0);
        if (n == kL) transform_lanes<kL>(G, w, plain, oc, ic0, i0, i1);
        else
          for (int64_t ic = ic0; ic < ic0 + n; ++ic) transform_lanes<1>(G, w, plain, oc, ic, i0, i1);
      }
  }
  static constexpr int64_t kL = 8;
  template <int L>
  void transform_lanes(const double* G, const float* w, float* plain, int64_t oc, int64_t ic0, int i0, int i1) const {
    const int A = A_;
    double g[9][L], t[6][3][L];
    for (int l = 0; l < L; ++l)
      for (int q = 0; q < 9; ++q) g[q][l] = w[(oc * IC_ + ic0 + l) * 9 + q];
    for (int i = i0; i < i1; ++i)  // G g
      for (int s = 0; s < 3; ++s)
        for (int l = 0; l < L; ++l)
          t[i][s][l] = G[i * 3 + 0] * g[0 * 3 + s][l] + G[i * 3 + 1] * g[1 * 3 + s][l] + G[i * 3 + 2] * g[2 * 3 + s][l];
    for (int i = i0; i < i1; ++i)  // (G g) G^T
      for (int j = 0; j < A; ++j) {
        float* dst = plain + ((int64_t)((i - i0) * A + j) * OC_ + oc) * IC_ + ic0;
        for (int l = 0; l < L; ++l)
          dst[l] = (float)(t[i][0][l] * G[j * 3 + 0] + t[i][1][l] * G[j * 3 + 1] + t[i][2][l] * G[j * 3 + 2]);
      }
  }
  // Packs (xi, panel) items [b, e) (xi items [b, e) when transposed); plain holds the
  // transformed kernels from xi0 on.
  void pack_weights(const float* plain, int64_t xi0, float* dst, int64_t b, int64_t e) const {
    if (tr_) {
      for (int64_t xi = b; xi < e; ++xi)
        gemm::pack_b(plain + (xi - xi0) * OC_ * IC_, 1, IC_, IC_, OC_, dst + xi * asize_, uk_);
      return;
    }
    const int64_t np = panels();
    for (int64_t t = b; t < e;) {
      int64_t xi = t / np, p0 = t % np, p1 = std::min(np, p0 + (e - t));
      gemm::pack_a(plain + (xi - xi0) * OC_ * IC_, IC_, 1, OC_, IC_, dst + xi * asize_, uk_, 1.f, p0, p1);
      t += p1 - p0;
    }
  }

  int m_, A_;
  bool tr_;
  int64_t apsize_ = 0;
  ConvParams p_;
  int64_t IC_ = 0, OC_ = 0, H_ = 0, W_ = 0, OH_ = 0, OW_ = 0, pt_ = 0, pl_ = 0;
  int64_t TH_ = 0, TW_ = 0, nseg_ = 0, R_ = 1, Tcp_ = 16, asize_ = 0;
  gemm::Ukernel uk_;
  Activation act_;
  bool has_bias_ = false, has_z_ = false;
  const wino::Fns* f_ = nullptr;
  FloatBuf upack_;
};

class WinogradRoutine : public Routine {
 public:
  WinogradRoutine(int m, bool tr) : m_(m), tr_(tr) {}
  std::string op() const override { return "Conv"; }
  std::string descriptor() const override {
    return std::string("cpu:float32:nchw/winograd_") + (m_ == 2 ? "f23" : "f43") + (tr_ ? "_tr" : "");
  }
  // 2: AVX-512 transforms (1 was the plain-loop version).
  int version() const override { return 2; }
  // The transposed variant's output transform exists in AVX-512 only.
  std::string isa() const override { return tr_ ? "avx512f" : ""; }
  bool supports(const Layer& l) const override {
    if (!winograd_supports(l)) return false;
    // out_tr addresses 16 channel planes with int32 offsets
    return !tr_ || l.out(0).shape[2] * l.out(0).shape[3] < (int64_t(1) << 27);
  }
  std::unique_ptr<Kernel> prepare(const Layer& l) const override {
    return std::make_unique<WinogradKernel>(l, m_, tr_);
  }

 private:
  int m_;
  bool tr_;
};

struct WinogradF23 : WinogradRoutine { WinogradF23() : WinogradRoutine(2, false) {} };
struct WinogradF43 : WinogradRoutine { WinogradF43() : WinogradRoutine(4, false) {} };
struct WinogradF23Tr : WinogradRoutine { WinogradF23Tr() : WinogradRoutine(2, true) {} };
struct WinogradF43Tr : WinogradRoutine { WinogradF43Tr() : WinogradRoutine(4, true) {} };

// Registered after conv_gemm.cpp's routines (link order), so a Conv's default
// routine (the first that supports it, used when tuning is off) is unchanged;
// the tuner picks these by measured time.
SNEP_REGISTER_ROUTINE(WinogradF23);
SNEP_REGISTER_ROUTINE(WinogradF43);
SNEP_REGISTER_ROUTINE(WinogradF23Tr);
SNEP_REGISTER_ROUTINE(WinogradF43Tr);

}  // namespace
}  // namespace snep
