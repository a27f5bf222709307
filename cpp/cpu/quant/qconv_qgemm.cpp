// QLinearConv / ConvInteger on qgemm (NCHW, u8 activations, u8 or s8 weights):
// per image and group, Y_g [M/g x OHW] = W_g [M/g x K] * col_g [K x OHW].
// Weights are packed at prepare when constant (else per run into the
// workspace). Each task packs its slab of col (rows found as Mode below says)
// into B panels, then runs every weight panel over it and requantizes tile by
// tile (with the fused activation and residual of qlinear_fused.h).
#include <emmintrin.h>

#include <algorithm>
#include <atomic>
#include <vector>
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/conv/conv_params.h"
#include "cpu/qelementwise/qlinear_add_kernel.h"
#include "cpu/qgemm/qgemm.h"
#include "cpu/quant/qlinear_fused.h"

namespace snep {
namespace {

using conv::ConvParams;
using namespace qgemm;

bool is_q8(DType t) { return t == DType::Int8 || t == DType::UInt8; }
bool scalar_of(const Layer& l, size_t i, DType t) { return l.has_input(i) && l.in(i).dtype == t && l.in(i).numel() == 1; }
// absent, scalar, or a vector of length n
bool vec_ok(const Layer& l, size_t i, int64_t n) {
  if (!l.has_input(i)) return true;
  const auto& t = l.in(i);
  return (t.numel() == 1 && t.rank() <= 1) || (t.rank() == 1 && t.shape[0] == n);
}

bool is_1x1(const ConvParams& p) {
  for (int i = 0; i < 3; ++i)
    if (p.k[i] != 1 || p.s[i] != 1 || p.pb[i] != 0 || p.pe[i] != 0) return false;
  return true;
}

ConvParams params_of(const Layer& l, size_t wi) {
  Layer t;
  t.op = "Conv";
  t.attrs = l.attrs;
  t.inputs = {l.in(0), l.in(wi)};
  t.outputs = l.outputs;
  return conv::conv_params(t);
}

struct Spec {
  bool qlinear = false;  // QLinearConv (else ConvInteger: int32 output)
  size_t wi = 1, xzi = 2, wzi = 3;
};

Spec spec_of(const Layer& l) {
  Spec s;
  s.qlinear = l.op == "QLinearConv";
  if (s.qlinear) { s.wi = 3; s.xzi = 2; s.wzi = 5; }
  return s;
}

bool supports_common(const Layer& l, ConvParams* out) {
  Spec s = spec_of(l);
  if (l.outputs.size() != 1 || !l.has_input(0) || l.in(0).dtype != DType::UInt8 || l.in(0).layout != Layout::Plain)
    return false;
  if (s.qlinear) {
    if (l.inputs.size() < 8 || l.inputs.size() > 14) return false;
    for (int i = 0; i < 8; ++i) if (!l.has_input(i)) return false;
    if (!is_q8(l.out(0).dtype) || !is_q8(l.in(3).dtype) || l.in(5).dtype != l.in(3).dtype) return false;
    if (!scalar_of(l, 1, DType::Float32) || !scalar_of(l, 2, DType::UInt8) || !scalar_of(l, 6, DType::Float32) ||
        !scalar_of(l, 7, l.out(0).dtype) || l.in(4).dtype != DType::Float32)
      return false;
    if (!qfused::activation_ok(l.attrs) || !(qfused::residual_ok(l) || qfused::rounded_residual_ok(l))) return false;
  } else {
    if (l.op != "ConvInteger" || l.inputs.size() < 2 || l.inputs.size() > 4) return false;
    if (!l.has_input(1) || !is_q8(l.in(1).dtype) || l.out(0).dtype != DType::Int32) return false;
    if (l.has_input(2) && !scalar_of(l, 2, DType::UInt8)) return false;
    if (l.has_input(3) && l.in(3).dtype != l.in(1).dtype) return false;
    if (!l.attrs.get_string("activation", "").empty()) return false;
  }
  ConvParams p = params_of(l, s.wi);
  if (!p.ok) return false;
  if (!vec_ok(l, s.wzi, p.M) || (s.qlinear && !vec_ok(l, 4, p.M))) return false;
  if (s.qlinear && l.has_input(8) && (l.in(8).dtype != DType::Int32 || l.in(8).shape != std::vector<int64_t>{p.M}))
    return false;
  *out = p;
  return true;
}

// Row k of image/group x's im2col matrix, columns [n0, n0+nc), pads read as padv.
void im2col_row(const ConvParams& p, const uint8_t* x, int64_t k, int64_t n0, int64_t nc, uint8_t padv, uint8_t* dst) {
  const int64_t KK = p.k_size(), K1 = p.k[1], K2 = p.k[2];
  const int64_t c = k / KK, r = k % KK;
  const int64_t kd = r / (K1 * K2), kh = (r / K2) % K1, kw = r % K2;
  const int64_t O1 = p.out[1], O2 = p.out[2], I0 = p.in[0], I1 = p.in[1], I2 = p.in[2], s2 = p.s[2];
  const uint8_t* xc = x + c * p.in_size();
  for (int64_t j = 0; j < nc;) {
    const int64_t n = n0 + j;
    const int64_t od = n / (O1 * O2), oh = (n / O2) % O1, ow = n % O2;
    const int64_t len = std::min(O2 - ow, nc - j);
    uint8_t* d = dst + j;
    j += len;
    const int64_t id = od * p.s[0] - p.pb[0] + kd * p.d[0], ih = oh * p.s[1] - p.pb[1] + kh * p.d[1];
    if (id < 0 || id >= I0 || ih < 0 || ih >= I1) { std::memset(d, padv, len); continue; }
    const int64_t iw0 = ow * s2 - p.pb[2] + kw * p.d[2];
    int64_t lo = iw0 >= 0 ? 0 : (-iw0 + s2 - 1) / s2;
    int64_t hi = iw0 > I2 - 1 ? 0 : (I2 - 1 - iw0) / s2 + 1;
    lo = std::min(lo, len);
    hi = std::min(std::max(hi, lo), len);
    const uint8_t* row = xc + (id * I1 + ih) * I2 + iw0;
    if (lo) std::memset(d, padv, lo);
    if (s2 == 1) std::memcpy(d + lo, row + lo, hi - lo);
    else for (int64_t t = lo; t < hi; ++t) d[t] = row[t * s2];
    if (len > hi) std::memset(d + hi, padv, len - hi);
  }
}

// How a task finds the rows of its im2col slab:
//   One    1x1, stride 1, no padding: the input rows themselves.
//   Phase  2-D: the input, padded with x_zp, split once per run into
//          stride_h x stride_w phase planes of Wq columns; the GEMM then runs
//          over "wide" columns n' = oh * Wq + ow' (ow' < Wq, the ones with
//          ow' >= OW are computed and dropped), and every im2col row is one
//          contiguous run of a phase plane: no copy at all.
//   Rows   3-D: each row built by im2col_row.
enum class Mode { One, Phase, Rows };

class QConvKernel : public Kernel {
 public:
  QConvKernel(const Layer& l, const ConvParams& p, bool one) : p_(p), s_(spec_of(l)) {
    mode_ = one ? Mode::One : (p.nsp <= 2 ? Mode::Phase : Mode::Rows);
    Mg_ = p.M / p.group; Cg_ = p.C / p.group;
    K_ = Cg_ * p.k_size(); N_ = p.out_size();
    uk_ = ukernel_for(Mg_, K_);
    kq_ = kq_for(K_, uk_);
    NW_ = N_;
    if (mode_ == Mode::Phase) {
      const int64_t Hp = p.in[1] + p.pb[1] + p.pe[1], Wp = p.in[2] + p.pb[2] + p.pe[2];
      Wq_ = (Wp + p.s[2] - 1) / p.s[2];
      Hq_ = std::max((Hp + p.s[1] - 1) / p.s[1], p.out[1] + (p.k[1] - 1) * p.d[1] / p.s[1] + 1);
      NW_ = p.out[1] * Wq_;
      plane_ = Hq_ * Wq_;
      // where im2col row k starts, from its group's first phase plane
      const int64_t KK = p.k_size();
      for (int64_t k = 0; k < Cg_ * KK; ++k) {
        const int64_t c = k / KK, eh = (k % KK) / p.k[2] * p.d[1], ew = k % p.k[2] * p.d[2];
        const int64_t ph = c * p.s[1] * p.s[2] + (eh % p.s[1]) * p.s[2] + ew % p.s[2];
        koff_.push_back(ph * plane_ + (eh / p.s[1]) * Wq_ + ew / p.s[2]);
        const int64_t bit = (eh % p.s[1]) * p.s[2] + ew % p.s[2];
        used_ |= bit < 64 ? uint64_t(1) << bit : 0;
      }
    }
    w_u8_ = l.in(s_.wi).dtype == DType::UInt8;
    wz_vec_ = l.has_input(s_.wzi) && l.in(s_.wzi).numel() > 1;
    has_xz_ = l.has_input(s_.xzi);
    has_wz_ = l.has_input(s_.wzi);
    if (s_.qlinear) {
      ws_vec_ = l.in(4).numel() > 1;
      has_bias_ = l.has_input(8);
      has_z_ = qfused::has_residual(l);
      if (has_z_) z_signed_ = l.in(9).dtype == DType::Int8;
      y_signed_ = l.out(0).dtype == DType::Int8;
      rounded_ = qfused::has_rounded_residual(l);
      act_ = rounded_ ? Activation{} : Activation::from_attrs(l.attrs);  // rounded: Relu acts on the sum
      sum_relu_ = rounded_ && l.attrs.get_string("activation", "") == "Relu";
      if (rounded_) add_fn_ = qadd::best_add_u8();
    }
    asize_ = align64(packed_a_bytes(Mg_, K_, uk_));
    // B slab: nc columns (a multiple of NR) sized to stay in L2
    int64_t npan = (NW_ + uk_.nr - 1) / uk_.nr;
    nc_pan_ = std::max<int64_t>(1, std::min<int64_t>(npan, (192 << 10) / std::max<int64_t>(1, b_panel_bytes(K_, uk_))));
    if (l.in(s_.wi).const_data) {
      apack_.reset(asize_ * p.group);
      wsum_.resize(p.M);
      pack_weights(l.in(s_.wi).const_data, apack_.data(), wsum_.data());
    }
  }

  int64_t slot_bytes(int64_t ncp) const {
    const int64_t nc = ncp * uk_.nr;
    return align64(kq_ * 4 * nc) + align64(nc * 4) + align64(uk_.mr * uk_.nr * 4) +
           (mode_ == Mode::Rows ? 4 * align64(nc) : 0);
  }
  int64_t planes_bytes() const {
    return mode_ == Mode::Phase ? align64(p_.N * p_.C * p_.s[1] * p_.s[2] * plane_) : 0;
  }
  size_t workspace_bytes() const override {
    int64_t b = 4 * align64(p_.M * 4) + planes_bytes() + scratch_slots() * slot_bytes(nc_pan_);
    if (!apack_.data()) b += asize_ * p_.group + align64(p_.M * 4);
    return (size_t)b;
  }
  bool reads_input_at_run(int i) const override { return !(i == (int)s_.wi && apack_.data()); }

  void run(const RunArgs& a) override {
    uint8_t* ws = static_cast<uint8_t*>(a.workspace);
    const uint8_t* ap = apack_.data();
    const int32_t* wsum = wsum_.data();
    if (!ap) {
      uint8_t* dst = ws;
      ws += asize_ * p_.group;
      int32_t* s = reinterpret_cast<int32_t*>(ws);
      ws += align64(p_.M * 4);
      pack_weights(a.in[s_.wi], dst, s);
      ap = dst;
      wsum = s;
    }
    int32_t* c0 = reinterpret_cast<int32_t*>(ws); ws += align64(p_.M * 4);
    int32_t* wzv = reinterpret_cast<int32_t*>(ws); ws += align64(p_.M * 4);
    float* mult = reinterpret_cast<float*>(ws); ws += align64(p_.M * 4);
    ws += align64(p_.M * 4);
    uint8_t* planes = ws;
    ws += planes_bytes();
    uint8_t* scratch = ws;

    const int32_t xz = has_xz_ ? static_cast<const uint8_t*>(a.in[s_.xzi])[0] : 0;
    bool any_wz = false;
    for (int64_t m = 0; m < p_.M; ++m) {
      int32_t wz = 0;
      if (has_wz_) {
        int64_t i = wz_vec_ ? m : 0;
        wz = w_u8_ ? (int32_t) static_cast<const uint8_t*>(a.in[s_.wzi])[i] : (int32_t) static_cast<const int8_t*>(a.in[s_.wzi])[i];
      }
      if (w_u8_) wz -= 128;
      wzv[m] = wz;
      any_wz |= wz != 0;
      uint32_t b = (s_.qlinear && has_bias_) ? (uint32_t) static_cast<const int32_t*>(a.in[8])[m] : 0u;
      c0[m] = (int32_t)(b - (uint32_t)xz * (uint32_t)wsum[m] + (uint32_t)K_ * (uint32_t)xz * (uint32_t)wz);
      mult[m] = 0.f;
    }
    QRow base{};
    if (s_.qlinear) {
      const float xs = static_cast<const float*>(a.in[1])[0], ys = static_cast<const float*>(a.in[6])[0];
      const float* wsc = static_cast<const float*>(a.in[4]);
      for (int64_t m = 0; m < p_.M; ++m) mult[m] = xs * wsc[ws_vec_ ? m : 0] / ys;
      base.yz = y_signed_ ? (int32_t) static_cast<const int8_t*>(a.in[7])[0] : (int32_t) static_cast<const uint8_t*>(a.in[7])[0];
      qfused::out_range(act_, y_signed_, ys, base.yz, &base.qlo, &base.qhi);
      base.y_signed = y_signed_;
      if (has_z_) {
        base.z_signed = z_signed_;
        base.zz = z_signed_ ? (int32_t) static_cast<const int8_t*>(a.in[11])[0] : (int32_t) static_cast<const uint8_t*>(a.in[11])[0];
        base.zmult = static_cast<const float*>(a.in[10])[0] / ys;
      }
    }

    const uint8_t* x = static_cast<const uint8_t*>(a.in[0]);
    if (mode_ == Mode::Phase) {
      const int64_t nplanes = p_.N * p_.C;
      const ConvParams& p = p_;
      const int64_t Hq = Hq_, Wq = Wq_, pl = plane_;
      const uint64_t used = used_;
      auto fill = [&p, x, planes, xz, Hq, Wq, pl, used](int64_t b, int64_t e) {
        std::vector<uint8_t> tmp(2 * Wq + 32);
        for (int64_t t = b; t < e; ++t)
          fill_phases(p, x + t * p.in_size(), (uint8_t)xz, Hq, Wq, planes + t * p.s[1] * p.s[2] * pl, used, tmp.data());
      };
      if (a.pool && a.pool->num_threads() > 1 && nplanes > 1) a.pool->parallel_for(nplanes, 1, fill);
      else fill(0, nplanes);
    }

    const int64_t npan = (NW_ + uk_.nr - 1) / uk_.nr;
    const int nth = a.pool ? a.pool->num_threads() : 1;
    const int64_t bg = p_.N * p_.group;
    const int64_t mpan = (Mg_ + uk_.mr - 1) / uk_.mr;
    const TaskSplit split = task_split(nth, npan, mpan, bg);
    const int64_t ncp = split.ncp, mb_pan = split.mb_pan;
    const int64_t nch = (npan + ncp - 1) / ncp, mblocks = (mpan + mb_pan - 1) / mb_pan;
    const int64_t slot = slot_bytes(ncp);

    const uint8_t* z = has_z_ ? static_cast<const uint8_t*>(a.in[9]) : nullptr;
    // a rounded residual: each task adds z to the outputs it wrote while they are in cache
    const qfused::RoundedAdd radd = rounded_ ? qfused::RoundedAdd::of(a, sum_relu_) : qfused::RoundedAdd{};
    const uint8_t* rz = rounded_ ? static_cast<const uint8_t*>(a.in[9]) : nullptr;
    void* y = a.out[0];
    const int64_t ntasks = bg * nch * mblocks;
    run_tasks(a.pool, ntasks, scratch_slots(), [&](int64_t t, int w) {
      const int64_t mbi = t % mblocks, ci = (t / mblocks) % nch, b = t / (mblocks * nch);
      const int64_t img = b / p_.group, g = b % p_.group;
      const int64_t n0 = ci * ncp * uk_.nr, nc = std::min(NW_ - n0, ncp * uk_.nr);
      uint8_t* sl = scratch + w * slot;
      uint8_t* bpack = sl;
      const int64_t ncap = ncp * uk_.nr;
      int32_t* colsum = reinterpret_cast<int32_t*>(sl + align64(kq_ * 4 * ncap));
      int32_t* tile = reinterpret_cast<int32_t*>(reinterpret_cast<uint8_t*>(colsum) + align64(ncap * 4));
      uint8_t* rows = reinterpret_cast<uint8_t*>(tile) + align64(uk_.mr * uk_.nr * 4);
      const int64_t c_first = img * p_.C + g * Cg_;
      const uint8_t* xg = x + c_first * p_.in_size();
      if (any_wz) std::memset(colsum, 0, nc * 4);
      const uint8_t* pbase = planes + c_first * p_.s[1] * p_.s[2] * plane_ + n0;
      for (int64_t qi = 0; qi < kq_; ++qi) {
        const uint8_t* r[4];
        for (int t2 = 0; t2 < 4; ++t2) {
          const int64_t k = qi * 4 + t2;
          if (k >= K_) { r[t2] = nullptr; continue; }
          if (mode_ == Mode::One) { r[t2] = xg + k * N_ + n0; continue; }
          if (mode_ == Mode::Phase) { r[t2] = pbase + koff_[k]; continue; }
          uint8_t* row = rows + t2 * align64(ncap);
          im2col_row(p_, xg, k, n0, nc, (uint8_t)xz, row);
          r[t2] = row;
        }
        uk_.pack(r, nc, uk_.nr, kq_, qi, bpack);
        if (any_wz) add_colsum(r, nc, colsum);
      }
      const int64_t p0 = mbi * mb_pan, p1 = std::min(mpan, p0 + mb_pan);
      const int64_t npq = (nc + uk_.nr - 1) / uk_.nr;
      for (int64_t q = 0; q < npq; ++q) {
        // the tile's columns as runs of output positions: (tile column, output index, length)
        const int64_t j0 = q * uk_.nr, cols = std::min<int64_t>(uk_.nr, nc - j0);
        int64_t seg[64][3];
        int nseg = 0;
        for_outputs(n0 + j0, cols, [&](int64_t nw, int64_t o, int64_t len) {
          seg[nseg][0] = nw - (n0 + j0); seg[nseg][1] = o; seg[nseg][2] = len; ++nseg;
        });
        // a full tile of consecutive outputs: requantized in registers (the one run must cover all NR
        // columns: a run cut short by dropped wide columns would have the tile write past it, into
        // the next output row, which another task may own)
        const bool fused = uk_.tile && s_.qlinear && !any_wz && nseg == 1 && seg[0][0] == 0 && cols == uk_.nr &&
                           seg[0][2] == uk_.nr;
        for (int64_t pi = p0; pi < p1; ++pi) {
          const int mr = (int)std::min<int64_t>(uk_.mr, Mg_ - pi * uk_.mr);
          const uint8_t* apan = ap + g * asize_ + pi * a_panel_bytes(K_, uk_);
          const int64_t m = g * Mg_ + pi * uk_.mr;
          const int64_t yrow = (img * p_.M + m) * N_;
          if (fused) {
            const int64_t yo = yrow + seg[0][1];
            QTileOut o{c0 + m, mult + m, base.yz, base.zz, (float)(base.qlo - base.yz), (float)(base.qhi - base.yz),
                       base.zmult, z ? z + yo : nullptr, base.z_signed, static_cast<uint8_t*>(y) + yo, N_};
            uk_.tile(kq_, apan, bpack + q * b_panel_bytes(K_, uk_), mr, o);
            continue;
          }
          uk_.fn(kq_, apan, bpack + q * b_panel_bytes(K_, uk_), tile, uk_.nr, mr);
          QRow r = base;
          r.rows = mr;
          r.ld_acc = uk_.nr;
          r.ld_out = N_;
          r.c0v = c0 + m;
          r.wzv = wzv + m;
          r.multv = mult + m;
          for (int sgi = 0; sgi < nseg; ++sgi) {
            const int64_t tj = seg[sgi][0], yo = yrow + seg[sgi][1];
            r.acc = tile + tj;
            r.n = seg[sgi][2];
            r.colsum = any_wz ? colsum + j0 + tj : nullptr;
            r.z = z ? z + yo : nullptr;
            if (s_.qlinear) r.y = static_cast<uint8_t*>(y) + yo;
            else r.y32 = static_cast<int32_t*>(y) + yo;
            uk_.requant(r);
          }
        }
      }
      if (rz) {
        uint8_t* yb = static_cast<uint8_t*>(y);
        const int64_t m1 = std::min(Mg_, p1 * uk_.mr);
        for (int64_t mi = p0 * uk_.mr; mi < m1; ++mi) {
          const int64_t yrow = (img * p_.M + g * Mg_ + mi) * N_;
          for_outputs(n0, nc, [&](int64_t, int64_t o, int64_t len) {
            add_fn_(yb + yrow + o, rz + yrow + o, 1, yb + yrow + o, len, radd.ra, radd.rb, radd.ya, radd.zz, radd.yz,
                    radd.lo);
          });
        }
      }
    });
  }

 private:
  struct TaskSplit { int64_t ncp = 1, mb_pan = 1; };

  // fn(wide column, output index, length) over the runs of real outputs among wide
  // columns [n0, n0 + nc) (phase planes wider than the output add columns to drop)
  template <class F>
  void for_outputs(int64_t n0, int64_t nc, const F& fn) const {
    if (mode_ != Mode::Phase || Wq_ == p_.out[2]) {  // wide columns are the output positions
      fn(n0, n0, nc);
      return;
    }
    const int64_t OW = p_.out[2];
    for (int64_t nw = n0; nw < n0 + nc;) {
      const int64_t oh = nw / Wq_, ow = nw % Wq_, len = std::min(Wq_ - ow, n0 + nc - nw);
      if (ow < OW) fn(nw, oh * OW + ow, std::min(len, OW - ow));
      nw += len;
    }
  }

  // Tasks are (image/group, chunk of ncp column panels, block of mb_pan
  // weight panels); each packs its columns, then runs its tiles. Picks the
  // split with the shortest simulated schedule on nth threads taking tasks in
  // order (a column panel's packing costs about one tile), so both threads
  // finish together: e.g. a 14x14 ResNet layer's 7 column panels run as 7 x
  // half the weights each rather than 4 + 3 whole columns. Cached per nth.
  TaskSplit task_split(int nth, int64_t npan, int64_t mpan, int64_t bg) {
    if (nth <= 1) return TaskSplit{nc_pan_, mpan};
    const int64_t key = nth;
    if (split_nth_.load(std::memory_order_acquire) == key) return TaskSplit{split_ncp_, split_mb_};
    std::vector<int64_t> ncps, mbs;
    for (int64_t c = nc_pan_; c >= 1; c = c == 1 ? 0 : (c + 1) / 2) ncps.push_back(c);
    for (int64_t k = 1; k <= 4; ++k) ncps.push_back(std::min(nc_pan_, (npan + k * nth - 1) / (k * nth)));
    for (int64_t b = 1; b <= std::min<int64_t>(mpan, 8); ++b) mbs.push_back((mpan + b - 1) / b);
    TaskSplit best{nc_pan_, mpan};
    double best_t = 1e300;
    std::vector<double> fin(nth);
    for (int64_t ncp : ncps) {
      const int64_t nch = (npan + ncp - 1) / ncp;
      for (int64_t mb : mbs) {
        const int64_t nmb = (mpan + mb - 1) / mb, ntasks = bg * nch * nmb;
        if (ntasks > 4096) continue;
        std::fill(fin.begin(), fin.end(), 0.0);
        for (int64_t t = 0; t < ntasks; ++t) {
          const int64_t mbi = t % nmb, ci = (t / nmb) % nch;
          const double cols = (double)std::min(ncp, npan - ci * ncp), rows = (double)std::min(mb, mpan - mbi * mb);
          auto it = std::min_element(fin.begin(), fin.end());
          *it += cols * (rows + 1.0) + 0.25;  // + fixed cost of a task
        }
        const double mk = *std::max_element(fin.begin(), fin.end());
        if (mk < best_t * 0.999) { best_t = mk; best = TaskSplit{ncp, mb}; }
      }
    }
    split_ncp_ = best.ncp;
    split_mb_ = best.mb_pan;
    split_nth_.store(key, std::memory_order_release);
    return best;
  }

  // The s1 x s2 phase planes of one input channel x padded with xz:
  // dst[(ph_h * s2 + ph_w) * Hq * Wq + i * Wq + j] = padded[i * s1 + ph_h][j * s2 + ph_w].
  // Only the phases in `used` (bit a*s2 + b) are written. Stride-2 rows are
  // split into both column phases at once (even/odd bytes, SSE2).
  static void fill_phases(const ConvParams& p, const uint8_t* x, uint8_t xz, int64_t Hq, int64_t Wq, uint8_t* dst,
                          uint64_t used, uint8_t* tmp) {
    const int64_t s1 = p.s[1], s2 = p.s[2], H = p.in[1], W = p.in[2], pt = p.pb[1], pl = p.pb[2];
    if (s2 == 2) {
      for (int64_t a = 0; a < s1; ++a) {
        if (a < 32 && !(used >> (a * 2) & 3)) continue;
        uint8_t* d0 = dst + (a * 2) * Hq * Wq;
        uint8_t* d1 = d0 + Hq * Wq;
        for (int64_t i = 0; i < Hq; ++i, d0 += Wq, d1 += Wq) {
          const int64_t h = i * s1 + a - pt;
          if (h < 0 || h >= H) { std::memset(d0, xz, Wq); std::memset(d1, xz, Wq); continue; }
          split_row2(x + h * W, W, pl, xz, Wq, d0, d1, tmp);
        }
      }
      return;
    }
    for (int64_t a = 0; a < s1; ++a)
      for (int64_t b = 0; b < s2; ++b) {
        if (a * s2 + b < 64 && !(used >> (a * s2 + b) & 1)) continue;
        uint8_t* d = dst + (a * s2 + b) * Hq * Wq;
        // columns j with 0 <= j*s2 + b - pl < W
        const int64_t jlo = std::min(Wq, std::max<int64_t>(0, (pl - b + s2 - 1) / s2));
        const int64_t jhi = std::max(jlo, std::min(Wq, (W + pl - b + s2 - 1) / s2));
        for (int64_t i = 0; i < Hq; ++i, d += Wq) {
          const int64_t h = i * s1 + a - pt;
          if (h < 0 || h >= H) { std::memset(d, xz, Wq); continue; }
          const uint8_t* xr = x + h * W + (jlo * s2 + b - pl);
          std::memset(d, xz, jlo);
          if (s2 == 1) std::memcpy(d + jlo, xr, jhi - jlo);
          else for (int64_t j = jlo; j < jhi; ++j) d[j] = xr[(j - jlo) * s2];
          std::memset(d + jhi, xz, Wq - jhi);
        }
      }
  }

  // Padded row (pl columns of xz, the W bytes of xr, then xz) split into its
  // even (d0) and odd (d1) columns, Wq of each; tmp holds 2*Wq + 32 bytes.
  static void split_row2(const uint8_t* xr, int64_t W, int64_t pl, uint8_t xz, int64_t Wq, uint8_t* d0, uint8_t* d1,
                         uint8_t* tmp) {
    const int64_t cend = 2 * Wq, n = std::max<int64_t>(0, std::min(W, cend - pl));
    std::memset(tmp, xz, std::min(pl, cend));
    if (n > 0) std::memcpy(tmp + pl, xr, n);
    if (pl + n < cend + 32) std::memset(tmp + pl + n, xz, cend + 32 - pl - n);
    const __m128i lo = _mm_set1_epi16(0x00FF);
    auto chunk32 = [&](int64_t c) {
      const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp + c));
      const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp + c + 16));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d0 + (c >> 1)),
                       _mm_packus_epi16(_mm_and_si128(v0, lo), _mm_and_si128(v1, lo)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d1 + (c >> 1)),
                       _mm_packus_epi16(_mm_srli_epi16(v0, 8), _mm_srli_epi16(v1, 8)));
    };
    auto chunk16 = [&](int64_t c) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp + c));
      const __m128i z = _mm_setzero_si128();
      _mm_storel_epi64(reinterpret_cast<__m128i*>(d0 + (c >> 1)), _mm_packus_epi16(_mm_and_si128(v, lo), z));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(d1 + (c >> 1)), _mm_packus_epi16(_mm_srli_epi16(v, 8), z));
    };
    // the last chunk overlaps the one before rather than running past the row
    if (cend >= 32) {
      for (int64_t c = 0; c < cend; c += 32) chunk32(std::min(c, cend - 32));
      return;
    }
    if (cend >= 16) {
      for (int64_t c = 0; c < cend; c += 16) chunk16(std::min(c, cend - 16));
      return;
    }
    for (int64_t c = 0; c < cend; c += 2) { d0[c >> 1] = tmp[c]; d1[c >> 1] = tmp[c + 1]; }
  }

  void pack_weights(const void* w, uint8_t* dst, int32_t* wsum) const {
    for (int64_t g = 0; g < p_.group; ++g)
      pack_a(static_cast<const uint8_t*>(w) + g * Mg_ * K_, w_u8_, K_, 1, Mg_, K_, uk_, dst + g * asize_,
             wsum + g * Mg_);
  }

  ConvParams p_;
  Mode mode_ = Mode::Rows;
  Spec s_;
  QUkernel uk_;
  int64_t Mg_ = 0, Cg_ = 0, K_ = 0, N_ = 0, NW_ = 0, kq_ = 0, asize_ = 0, nc_pan_ = 1;
  int64_t Hq_ = 0, Wq_ = 0, plane_ = 0;
  bool w_u8_ = false, wz_vec_ = false, ws_vec_ = false, has_xz_ = false, has_wz_ = false;
  bool has_bias_ = false, has_z_ = false, z_signed_ = false, y_signed_ = false, rounded_ = false, sum_relu_ = false;
  Activation act_;
  qadd::AddU8Fn add_fn_ = nullptr;  // the rounded residual's add
  ByteBuf apack_;
  std::vector<int32_t> wsum_;
  std::vector<int64_t> koff_;
  uint64_t used_ = 0;  // phase planes some im2col row reads (bit ph_h * s2 + ph_w)
  // task_split's last answer; concurrent runs may both compute it (same result)
  std::atomic<int64_t> split_nth_{0};
  int64_t split_ncp_ = 1, split_mb_ = 1;
};

bool im2col_supports(const Layer& l) {
  ConvParams p;
  return supports_common(l, &p);
}
bool one_supports(const Layer& l) {
  ConvParams p;
  return supports_common(l, &p) && is_1x1(p);
}
std::unique_ptr<Kernel> im2col_prepare(const Layer& l) {
  return std::make_unique<QConvKernel>(l, params_of(l, spec_of(l).wi), false);
}
std::unique_ptr<Kernel> one_prepare(const Layer& l) {
  return std::make_unique<QConvKernel>(l, params_of(l, spec_of(l).wi), true);
}

SNEP_REGISTER_LAMBDA("QLinearConv", "cpu:qint8:nchw/qgemm_1x1", one_supports, one_prepare);
SNEP_REGISTER_LAMBDA("QLinearConv", "cpu:qint8:nchw/im2col_qgemm", im2col_supports, im2col_prepare);
SNEP_REGISTER_LAMBDA("ConvInteger", "cpu:qint8:nchw/qgemm_1x1", one_supports, one_prepare);
SNEP_REGISTER_LAMBDA("ConvInteger", "cpu:qint8:nchw/im2col_qgemm", im2col_supports, im2col_prepare);

}  // namespace
}  // namespace snep
