// QLinearConv on NHWC u8 activations by indirect GEMM (cpu/qigemm): each tile of
// 6 output pixels x 64 channels (12 x 32 where M % 64 <= 32: less padding) reads
// its input pixels in place through a pointer table (padding taps point at a row
// of x_zp), so nothing is copied or packed per run; the weights (s8, zero points
// 0) are packed at prepare.
// 2-D, group 1, C a multiple of 4; bias, activation and both residual forms of
// qlinear_fused.h fused (z in NHWC too).
//
// Work: blocks of pixel tiles of one image (x one group of channel panels where
// the image is small); a block runs panel by panel, each panel's weights reused
// over the block's tiles while they are in cache.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/conv/conv_params.h"
#include "cpu/qelementwise/qlinear_add_kernel.h"
#include "cpu/qgemm/qgemm.h"
#include "cpu/qigemm/qigemm_ukernel.h"
#include "cpu/quant/qconv_nhwc_common.h"
#include "cpu/quant/qlinear_fused.h"
#include "cpu/register_isa.h"

namespace snep {
namespace {

using conv::ConvParams;

constexpr int64_t kBlockBytes = 128 << 10;  // a block's input or output footprint
constexpr int64_t kMinBlockTiles = 4;
constexpr int64_t kMaxTaps = 121;  // the pointer scratch is sized by taps

bool supports(const Layer& l) {
  ConvParams p;
  if (l.inputs.size() > 14 || !qnhwc::common_ok(l, &p)) return false;
  if (p.group != 1 || p.C % 4 != 0 || p.k_size() > kMaxTaps) return false;
  if (!qfused::activation_ok(l.attrs)) return false;
  return qfused::residual_ok(l, Layout::NHWC) || qfused::rounded_residual_ok(l, Layout::NHWC);
}

class QConvNhwcKernel : public Kernel {
 public:
  explicit QConvNhwcKernel(const Layer& l) : p_(qnhwc::conv_params_of(l)), uk_(qigemm::kernel_for(p_.M)) {
    taps_ = p_.k[1] * p_.k[2];
    kq_ = p_.C / 4;
    npan_ = (p_.M + nr_ - 1) / nr_;
    ohw_ = p_.out[1] * p_.out[2];
    tiles_ = (ohw_ + mr_ - 1) / mr_;
    bt_ = block_tiles();
    y_signed_ = l.out(0).dtype == DType::Int8;
    ws_vec_ = l.in(4).numel() > 1;
    has_bias_ = l.inputs.size() > 8 && l.has_input(8);
    has_z_ = qfused::has_residual(l);
    if (has_z_) z_signed_ = l.in(9).dtype == DType::Int8;
    rounded_ = qfused::has_rounded_residual(l);
    act_ = rounded_ ? Activation{} : Activation::from_attrs(l.attrs);  // rounded: Relu acts on the sum
    sum_relu_ = rounded_ && l.attrs.get_string("activation", "") == "Relu";
    if (rounded_) add_fn_ = qadd::best_add_u8();
    pack_weights(l.in(3).cdata<int8_t>());
    dense_ = taps_ == 1 && p_.s[1] == 1 && p_.s[2] == 1 && p_.pb[1] == 0 && p_.pb[2] == 0 &&
             p_.out[1] == p_.in[1] && p_.out[2] == p_.in[2];
    // input offset of each output pixel's taps; -1 where the tap reads padding (dense: not needed)
    if (!dense_) off_ = qnhwc::tap_offsets(p_);
  }

  size_t workspace_bytes() const override {
    return (size_t)(2 * qgemm::align64(npan_ * nr_ * 4) + qgemm::align64(p_.C) + qgemm::scratch_slots() * slot_bytes());
  }
  bool reads_input_at_run(int i) const override { return i != 3; }

  void run(const RunArgs& a) override {
    uint8_t* ws = static_cast<uint8_t*>(a.workspace);
    int32_t* c0 = reinterpret_cast<int32_t*>(ws);
    ws += qgemm::align64(npan_ * nr_ * 4);
    float* mult = reinterpret_cast<float*>(ws);
    ws += qgemm::align64(npan_ * nr_ * 4);
    uint8_t* pad = ws;
    ws += qgemm::align64(p_.C);
    uint8_t* scratch = ws;

    const qnhwc::RunQuant q(a, has_bias_, ws_vec_, y_signed_, act_);
    for (int64_t m = 0; m < npan_ * nr_; ++m) {
      c0[m] = m < p_.M ? q.c0(m, wsum_[m]) : 0;
      mult[m] = m < p_.M ? q.mult(m) : 0.f;
    }
    std::memset(pad, q.xz, p_.C);
    qigemm::QITile base{};
    base.taps = taps_;
    base.kq = kq_;
    base.yz = q.yz;
    base.flo = q.flo;
    base.fhi = q.fhi;
    base.y_signed = y_signed_;
    base.ld = p_.M;
    base.qlo = q.qlo;
    base.qhi = q.qhi;
    {  // can (acc + c0) * mult (+ the residual's term) reach 2^30? |acc| <= taps * C * 255 * 128
      double cmax = 0, mmax = 0;
      for (int64_t m = 0; m < p_.M; ++m) {
        cmax = std::max(cmax, std::fabs((double)c0[m]));
        mmax = std::max(mmax, std::fabs((double)mult[m]));
      }
      double bound = ((double)taps_ * p_.C * 255 * 128 + cmax) * mmax;
      if (has_z_) bound += 256.0 * std::fabs((double)static_cast<const float*>(a.in[10])[0] / q.ys);
      base.fclamp = !(bound < 0x1p30);
    }
    if (has_z_) {
      base.z_signed = z_signed_;
      base.zz = z_signed_ ? (int32_t) static_cast<const int8_t*>(a.in[11])[0] : (int32_t) static_cast<const uint8_t*>(a.in[11])[0];
      base.zmult = static_cast<const float*>(a.in[10])[0] / q.ys;
    }
    const qfused::RoundedAdd radd = rounded_ ? qfused::RoundedAdd::of(a, sum_relu_) : qfused::RoundedAdd{};
    // the rounded residual's add fused into the tiles where its float32 error bound is small (as
    // qlinear_add_u8_avx512's), else run after each block by add_fn_ (huge ratios: in double)
    bool fuse_add = false;
    if (rounded_) {
      const float tol = qadd::add_u8_tol(radd.ya, radd.zz, radd.ra, radd.rb);
      fuse_add = tol < 1.f / 64;
      base.rounded = fuse_add;
      base.ra = radd.ra;
      base.rb = radd.rb;
      base.tol = tol;
      base.ya = radd.ya;
      base.zb = radd.zz;
      base.yc = radd.yz;
      base.lo = radd.lo;
    }
    const uint8_t* x = static_cast<const uint8_t*>(a.in[0]);
    const uint8_t* z = (has_z_ || rounded_) ? static_cast<const uint8_t*>(a.in[9]) : nullptr;
    uint8_t* y = static_cast<uint8_t*>(a.out[0]);

    // blocks of bt tiles x ncg groups of channel panels (see block_tiles); with several threads the
    // blocks are a multiple of the threads, or the channels split where an image has too few
    const int nth = a.pool ? a.pool->num_threads() : 1;
    int64_t bt = bt_;
    int64_t nblk = (tiles_ + bt - 1) / bt;
    int64_t ncg = 1;
    if (nth > 1) {
      if (p_.N * nblk >= 2 * nth) {
        nblk = std::min(tiles_, (nblk + nth - 1) / nth * nth);
      } else {
        ncg = std::min(npan_, (2 * nth + p_.N * nblk - 1) / (p_.N * nblk));
      }
      bt = (tiles_ + nblk - 1) / nblk;
      nblk = (tiles_ + bt - 1) / bt;
    }
    const int64_t pan_per = (npan_ + ncg - 1) / ncg;
    ncg = (npan_ + pan_per - 1) / pan_per;
    const int64_t in_img = p_.in_size() * p_.C, out_img = ohw_ * p_.M;

    qgemm::run_tasks(a.pool, p_.N * nblk * ncg, qgemm::scratch_slots(), [&](int64_t t, int slot) {
      // channel groups outermost: run_tasks gives each thread a contiguous run of tasks, so one
      // thread keeps one group's weights; within a group, images then pixel blocks in order
      const int64_t g = t / (p_.N * nblk), blk = t % nblk, n = (t / nblk) % p_.N;
      const int64_t t0 = blk * bt, t1 = std::min(tiles_, t0 + bt);
      const int64_t px0 = t0 * mr_, px1 = std::min(ohw_, t1 * mr_);
      const uint8_t* xn = x + n * in_img;
      const uint8_t** ptrs = reinterpret_cast<const uint8_t**>(scratch + slot * slot_bytes());
      if (dense_) {  // output pixel px reads input pixel px: no offset table
        const int64_t last = ohw_ - 1;
        for (int64_t px = t0 * mr_; px < t1 * mr_; ++px) ptrs[px - t0 * mr_] = xn + std::min(px, last) * p_.C;
      } else {
        for (int64_t tt = t0; tt < t1; ++tt)
          for (int64_t tap = 0; tap < taps_; ++tap)
            for (int i = 0; i < mr_; ++i) {
              const int64_t px = std::min(tt * mr_ + i, ohw_ - 1);
              const int32_t o = off_[px * taps_ + tap];
              ptrs[((tt - t0) * taps_ + tap) * mr_ + i] = o >= 0 ? xn + o : pad;
            }
      }
      const int64_t pn0 = g * pan_per, pn1 = std::min(npan_, pn0 + pan_per);
      for (int64_t pn = pn0; pn < pn1; ++pn) {
        qigemm::QITile tl = base;
        tl.w = reinterpret_cast<const int8_t*>(wpack_.data()) + pn * panel_bytes();
        tl.nc = (int)std::min<int64_t>(nr_, p_.M - pn * nr_);
        tl.c0 = c0 + pn * nr_;
        tl.mult = mult + pn * nr_;
        for (int64_t tt = t0; tt < t1; ++tt) {
          const int64_t px = tt * mr_;
          tl.ptrs = ptrs + (tt - t0) * taps_ * mr_;
          tl.mr = (int)std::min<int64_t>(mr_, ohw_ - px);
          tl.y = y + n * out_img + px * p_.M + pn * nr_;
          tl.z = (has_z_ || fuse_add) ? z + n * out_img + px * p_.M + pn * nr_ : nullptr;
          uk_.fn(tl);
        }
      }
      if (rounded_ && !fuse_add) {  // the add while the block's outputs are in cache
        const int64_t c_lo = pn0 * nr_, c_n = std::min(p_.M, pn1 * nr_) - c_lo;
        const int64_t o0 = n * out_img + px0 * p_.M + c_lo;
        if (c_n == p_.M) {
          add_fn_(y + o0, z + o0, 1, y + o0, (px1 - px0) * p_.M, radd.ra, radd.rb, radd.ya, radd.zz, radd.yz, radd.lo);
        } else {
          for (int64_t px = px0; px < px1; ++px) {
            const int64_t o = o0 + (px - px0) * p_.M;
            add_fn_(y + o, z + o, 1, y + o, c_n, radd.ra, radd.rb, radd.ya, radd.zz, radd.yz, radd.lo);
          }
        }
      }
    });
  }

 private:
  int64_t panel_bytes() const { return taps_ * kq_ * nr_ * 4; }
  int64_t slot_bytes() const { return qgemm::align64(bt_ * taps_ * mr_ * (int64_t)sizeof(void*)); }

  // Tiles per block: a block reads every weight panel once, so the fewer blocks the less
  // weight traffic (a 7x7 plane is one block: 3x3 512 -> 512 has 2.4 MB of weights, more than
  // L2, which three blocks streamed three times); bounded so that the input rows under the
  // block's outputs and the outputs themselves (which the rounded residual's add reads back)
  // stay in L2. Neighbouring taps read the same input pixels: the footprint is the rows, not
  // taps x C bytes per output pixel.
  int64_t block_input_bytes(int64_t bt) const {
    const int64_t OW = p_.out[2], H = p_.in[1], W = p_.in[2];
    const int64_t out_rows = (std::min(ohw_, bt * mr_) + OW - 1) / OW + 1;  // may straddle one more row
    const int64_t in_rows = std::min(H, (out_rows - 1) * p_.s[1] + (p_.k[1] - 1) * p_.d[1] + 1);
    return in_rows * W * p_.C;
  }
  int64_t block_tiles() const {
    int64_t bt = std::max<int64_t>(1, std::min(tiles_, kBlockBytes / (mr_ * p_.M)));
    while (bt > kMinBlockTiles && block_input_bytes(bt) > kBlockBytes) bt = bt * 3 / 4;
    return std::max<int64_t>(1, std::min(tiles_, std::max(kMinBlockTiles, bt)));
  }

  // w [M][C][kh][kw] -> per panel of nr_ channels [tap][C/4][nr_][4]; wsum[m] = sum of row m
  void pack_weights(const int8_t* w) {
    wpack_.reset(npan_ * panel_bytes());
    std::memset(wpack_.data(), 0, npan_ * panel_bytes());
    wsum_.assign(p_.M, 0);
    for (int64_t m = 0; m < p_.M; ++m) {
      int8_t* pan = reinterpret_cast<int8_t*>(wpack_.data()) + (m / nr_) * panel_bytes();
      for (int64_t c = 0; c < p_.C; ++c)
        for (int64_t tap = 0; tap < taps_; ++tap) {
          const int8_t v = w[(m * p_.C + c) * taps_ + tap];
          pan[((tap * kq_ + c / 4) * nr_ + m % nr_) * 4 + c % 4] = v;
          wsum_[m] += v;
        }
    }
  }

  ConvParams p_;
  qigemm::QIKernel uk_;
  const int64_t mr_ = uk_.mr, nr_ = uk_.nr;  // its tile
  int64_t taps_ = 1, kq_ = 0, npan_ = 0, ohw_ = 0, tiles_ = 0, bt_ = 1;
  bool y_signed_ = false, ws_vec_ = false, has_bias_ = false, has_z_ = false, z_signed_ = false;
  bool rounded_ = false, sum_relu_ = false;
  bool dense_ = false;  // 1x1, stride 1, no padding: output pixel px reads input pixel px
  Activation act_;
  qadd::AddU8Fn add_fn_ = nullptr;
  qgemm::ByteBuf wpack_;  // 64-byte aligned
  std::vector<int32_t> wsum_;
  std::vector<int32_t> off_;
};

SNEP_REGISTER_LAMBDA_ISA("QLinearConv", "cpu:qint8:nhwc/igemm", supports,
                         [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<QConvNhwcKernel>(l); },
                         "avx512_vnni");

}  // namespace
}  // namespace snep
