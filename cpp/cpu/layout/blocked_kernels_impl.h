// The bodies of the kernels over channel-blocked float32 tensors (layout_kernels.h):
// direct and depthwise Conv (bias, residual and activation fused), pooling,
// elementwise ops. One vector holds the kB channels of one pixel. Included by one
// .cpp per block width: nchw16c_avx512.cpp (kB = 16, zmm) and nchw8c_avx2.cpp
// (kB = 8, ymm); the code below is written once over the vector layer of cpu/simd/vec.h.
// Everything is in an anonymous namespace, so the two builds never mix at link time.
#pragma once
// GCC 12 flags its own maskz/undefined intrinsics as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <type_traits>
#include <utility>

#include "cpu/layout/layout_kernels.h"

#ifndef SNEP_BLOCK_LANES
#error "define SNEP_BLOCK_LANES (16 or 8) before including blocked_kernels_impl.h"
#endif
#define SNEP_VEC_LANES SNEP_BLOCK_LANES
#include "cpu/simd/vec.h"

namespace snep {
namespace layout {
namespace {
using namespace simd;

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// ---- the vector layer (cpu/simd/vec.h): one vector = the kB channels of a pixel --------
constexpr int64_t kB = SNEP_BLOCK_LANES, kBB = kB * kB;
#if SNEP_BLOCK_LANES == 16
const int64_t* const kMaxUr = kConvMaxUr;
#else
const int64_t* const kMaxUr = kConvMaxUr8;
#endif

// ---- activations (same kinds and constants as cpu/activation.h) -----------------
enum { kNone = 0, kRelu, kClip, kSigmoid, kHardSigmoid, kHardSwish, kLeakyRelu, kTanh };

inline V act_vec(const ActP& a, V v);

// One activation kind fixed at compile time (ACT < 0: the kind in a, chosen at run time).
template <int ACT>
__attribute__((always_inline)) inline V act_fixed(const ActP& a, V v) {
  if constexpr (ACT < 0) {
    return act_vec(a, v);
  } else if constexpr (ACT == kRelu) {
    return vmax(vzero(), v);  // max returns its second operand for NaN: NaN stays NaN, here and below
  } else if constexpr (ACT == kClip) {
    return vmin(vset1(a.b), vmax(vset1(a.a), v));
  } else if constexpr (ACT == kSigmoid) {
    V e = vexp(vsub(vzero(), v));
    return vdiv(vset1(1.f), vadd(vset1(1.f), e));
  } else if constexpr (ACT == kHardSigmoid) {
    return vmax(vzero(),
                         vmin(vset1(1.f), vfmadd(vset1(a.a), v, vset1(a.b))));
  } else if constexpr (ACT == kHardSwish) {
    V h = vfmadd(v, vset1(1.f / 6.f), vset1(0.5f));
    h = vmax(vzero(), vmin(vset1(1.f), h));
    return vmul(v, h);
  } else if constexpr (ACT == kLeakyRelu) {
    return vsel(vlt(v, vzero()), vmul(v, vset1(a.a)), v);
  } else if constexpr (ACT == kTanh) {
    return vtanh(v);
  } else {
    return v;  // kNone
  }
}

inline V act_vec(const ActP& a, V v) {
  switch (a.kind) {
    case kRelu: return act_fixed<kRelu>(a, v);
    case kClip: return act_fixed<kClip>(a, v);
    case kSigmoid: return act_fixed<kSigmoid>(a, v);
    case kHardSigmoid: return act_fixed<kHardSigmoid>(a, v);
    case kHardSwish: return act_fixed<kHardSwish>(a, v);
    case kLeakyRelu: return act_fixed<kLeakyRelu>(a, v);
    case kTanh: return act_fixed<kTanh>(a, v);
    default: return v;
  }
}

// Calls f(std::integral_constant<int, ACT>) with ACT the activation kind where it has a
// fixed-kind instantiation (the common ones), else -1.
template <class F>
__attribute__((always_inline)) inline void with_act(int kind, F&& f) {
  switch (kind) {
    case kNone: return f(std::integral_constant<int, kNone>{});
    case kRelu: return f(std::integral_constant<int, kRelu>{});
    case kClip: return f(std::integral_constant<int, kClip>{});
    case kHardSwish: return f(std::integral_constant<int, kHardSwish>{});
    default: return f(std::integral_constant<int, -1>{});
  }
}

// ---- Conv direct --------------------------------------------------------------------
// A software prefetch stream that tiles advance: `left` lines from `p`, `per_tile` at a time.
struct PrefetchCursor {
  const char* p;
  int64_t left, per_tile;
  int64_t per_tap = 0;  // > 0: issued a few per kernel tap inside the tile instead of at its start
  void step() {
    if (per_tap == 0) issue(per_tile);
  }
  void issue(int64_t n) {
    for (int64_t i = 0; i < n && left > 0; ++i, --left, p += 64) _mm_prefetch(p, _MM_HINT_T1);
  }
};

// The last pass over a tile: residual, activation ACT (-1: any, through act_vec), pad lanes of
// the last block zeroed, stores. Fully unrolled, so the accumulators stay in registers.
template <int UR, int NOC, int ACT>
__attribute__((always_inline)) inline void finish_tile(const ConvArgs& g, V (&acc)[NOC][UR], const float* zn,
                                                       float* yn, int64_t ocb0, int64_t oh, int64_t ow0) {
#pragma GCC unroll 4
  for (int j = 0; j < NOC; ++j) {
    const int64_t ocb = ocb0 + j;
    const int64_t off = ((ocb * g.OH + oh) * g.OW + ow0) * kB;
    float* yb = yn + off;
    const Mask m = lanes(g.M - ocb * kB);
    const float* zb = zn ? zn + off : nullptr;
#pragma GCC unroll 16
    for (int p = 0; p < UR; ++p) {
      V v = acc[j][p];
      if (zb) v = vadd(v, vloadu(zb + p * kB));
      vstoreu(yb + p * kB, vmaskz(m, act_fixed<ACT>(g.act, v)));
    }
  }
}

enum { kFirst = 1, kLast = 2, kZInY = 4 };  // pass flags of a tile (see one_tile)

// A later pass over a tile starts from the partial sums the earlier ones stored in y.
template <int UR, int NOC>
__attribute__((always_inline)) inline void load_partial_sums(const ConvArgs& g, V (&acc)[NOC][UR],
                                                             const float* yn, int64_t ocb0, int64_t oh, int64_t ow0) {
  for (int j = 0; j < NOC; ++j) {
    const float* yb = yn + (((ocb0 + j) * g.OH + oh) * g.OW + ow0) * kB;
    for (int p = 0; p < UR; ++p) acc[j][p] = vloadu(yb + p * kB);
  }
}

// The end of a pass over a tile. A residual that lies where y is written (kZInY) is added
// at the end of the first pass: before the partial sums overwrite it, and late in the tile,
// so its loads (often from L3) overlap the FMAs instead of holding up the first ones. Then
// the partial sums are stored, or (kLast) the epilogue runs. The activation is chosen once
// per tile, not per vector: a switch inside the store loop kept that loop rolled, which
// put the accumulators on the stack.
template <int UR, int NOC>
__attribute__((always_inline)) inline void end_pass(const ConvArgs& g, V (&acc)[NOC][UR], const float* zn,
                                                    float* yn, int64_t ocb0, int64_t oh, int64_t ow0, int flags) {
  if ((flags & kZInY) && (flags & kFirst)) {
#pragma GCC unroll 4
    for (int j = 0; j < NOC; ++j) {
      const float* zb = zn + (((ocb0 + j) * g.OH + oh) * g.OW + ow0) * kB;
#pragma GCC unroll 16
      for (int p = 0; p < UR; ++p) acc[j][p] = vadd(acc[j][p], vloadu(zb + p * kB));
    }
  }
  if (!(flags & kLast)) {  // partial sums
#pragma GCC unroll 4
    for (int j = 0; j < NOC; ++j) {
      float* yb = yn + (((ocb0 + j) * g.OH + oh) * g.OW + ow0) * kB;
#pragma GCC unroll 16
      for (int p = 0; p < UR; ++p) vstoreu(yb + p * kB, acc[j][p]);
    }
    return;
  }
  const float* zl = flags & kZInY ? nullptr : zn;
  // always_inline: the two tile kinds share this lambda, and GCC outlined it (accumulators
  // through the stack) once it had two callers
  with_act(g.act.kind, [&](auto act) __attribute__((always_inline)) {
    finish_tile<UR, NOC, decltype(act)::value>(g, acc, zl, yn, ocb0, oh, ow0);
  });
}

// One register tile: NOC blocks of 16 output channels x UR output columns of
// row oh, starting at ow0. Without CHECK every kernel column is inside the
// input for every column of the tile; with CHECK (tiles touching the left or
// right padding) each kernel column kw covers tile columns [plo, phi) only.
// Input blocks [icb0, icb1) only: kFirst starts from the bias (else from the
// partial sums already in y), kLast applies residual, activation and pad-lane
// zeroing (else stores the partial sums). kZInY: the residual lies where y is written
// (an in-place residual), so the first pass adds it at its end and kLast adds none.
// PLAIN: the input is NCHW (channel c of a pixel is a plane apart; only the real
// channels of the last block are read).
alignas(64) const float kZeroPixel[16] = {};
template <int UR, int NOC, bool CHECK, bool PLAIN>
__attribute__((always_inline)) inline void one_tile(const ConvArgs& g, const float* xn, const float* wg,
                                                    const float* bias, const float* zn, float* yn, int64_t ocb0,
                                                    int64_t oh, int64_t ow0, int64_t icb0, int64_t icb1, int flags,
                                                    PrefetchCursor* pf) {
  V acc[NOC][UR];
  if (flags & kFirst)
    for (int j = 0; j < NOC; ++j) {
      V b = vloadu(bias + (ocb0 + j) * kB);
      for (int p = 0; p < UR; ++p) acc[j][p] = b;
    }
  else
    load_partial_sums<UR, NOC>(g, acc, yn, ocb0, oh, ow0);
  const int64_t xs_c = g.IH * g.IW * kB;  // one block of 16 input channels, in either layout
  const int64_t ps = PLAIN ? 1 : kB, cs = PLAIN ? g.IH * g.IW : 1;  // pixel and channel strides
  const int64_t wstep = NOC * kBB;
  const int64_t sw16 = g.SW * ps;
  const int64_t KH = g.KH, KW = g.KW;
  for (int64_t icb = icb0; icb < icb1; ++icb) {
    const int icn = PLAIN ? (int)imin(kB, g.C - icb * kB) : kB;
    const float* xc = xn + icb * xs_c;
    const float* wc = wg + icb * KH * KW * wstep;
    for (int64_t kh = 0; kh < KH; ++kh) {
      const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
      if (ih < 0 || ih >= g.IH) continue;
      const float* xr = xc + (ih * g.IW + ow0 * g.SW - g.PW) * ps;
      for (int64_t kw = 0; kw < KW; ++kw) {
        pf->issue(pf->per_tap);
        const float* xp = xr + kw * g.DW * ps;
        const float* wp = wc + (kh * KW + kw) * wstep;
        int64_t plo = 0, phi = UR;
        if (CHECK) {
          // tile column p reads input column iw0 + p*SW, valid when 0 <= it < IW
          const int64_t iw0 = ow0 * g.SW - g.PW + kw * g.DW;
          plo = iw0 >= 0 ? 0 : (-iw0 + g.SW - 1) / g.SW;
          phi = iw0 > g.IW - 1 ? 0 : (g.IW - 1 - iw0) / g.SW + 1;
          if (phi > UR) phi = UR;
          if (plo >= phi) continue;
        }
        if (!CHECK || (plo == 0 && phi == UR)) {
          if (!PLAIN && icb + 1 < icb1)  // the same pixels of the next input block: from L2 while this one computes
            for (int p = 0; p < UR; ++p) _mm_prefetch((const char*)(xp + xs_c + p * sw16), _MM_HINT_T0);
#pragma GCC unroll 4
          for (int ic = 0; ic < icn; ++ic) {
            V w[NOC];
            for (int j = 0; j < NOC; ++j) w[j] = vload(wp + ic * NOC * kB + j * kB);
            for (int p = 0; p < UR; ++p) {
              V b = vset1(xp[p * sw16 + ic * cs]);
              for (int j = 0; j < NOC; ++j) acc[j][p] = vfmadd(b, w[j], acc[j][p]);
            }
          }
        } else if (!PLAIN) {
          // columns in the padding read a zero pixel: the same loop as inside, no branch per column
          const float* xq[UR];
          for (int p = 0; p < UR; ++p) xq[p] = p >= plo && p < phi ? xp + p * sw16 : kZeroPixel;
#pragma GCC unroll 4
          for (int ic = 0; ic < kB; ++ic) {
            V w[NOC];
            for (int j = 0; j < NOC; ++j) w[j] = vload(wp + ic * NOC * kB + j * kB);
            for (int p = 0; p < UR; ++p) {
              V b = vset1(xq[p][ic]);
              for (int j = 0; j < NOC; ++j) acc[j][p] = vfmadd(b, w[j], acc[j][p]);
            }
          }
        } else {
          for (int ic = 0; ic < icn; ++ic) {
            V w[NOC];
            for (int j = 0; j < NOC; ++j) w[j] = vload(wp + ic * NOC * kB + j * kB);
            for (int p = 0; p < UR; ++p) {
              if (p < plo || p >= phi) continue;
              V b = vset1(xp[p * sw16 + ic * cs]);
              for (int j = 0; j < NOC; ++j) acc[j][p] = vfmadd(b, w[j], acc[j][p]);
            }
          }
        }
      }
    }
  }
  end_pass<UR, NOC>(g, acc, zn, yn, ocb0, oh, ow0, flags);
}

// The tile of a 1x1 conv without padding (ConvArgs::pw): one_tile without the kernel-tap
// loops and with the bias folded into the first FMA (one_tile's acc = bias copies took a
// port-0/5 slot each: 3% of a 64-channel tile). The same sums in the same order as
// one_tile. XO = 1: stride 1, input and output flattened to one row of H*W pixels, column
// p reads pixel ow0 + p; XO = 0: strided, the output flattened (ConvArgs::sub_ow), column q
// reads the pixel of output (q / sub_ow, q % sub_ow), so tiles run across the rows (a
// 7-wide row took tiles of 4 + 3 columns).
template <int UR, int NOC, int XO>
__attribute__((always_inline)) inline void pw_tile(const ConvArgs& g, const float* xn, const float* wg,
                                                   const float* bias, const float* zn, float* yn, int64_t ocb0,
                                                   int64_t oh, int64_t ow0, int64_t icb0, int64_t icb1, int flags,
                                                   PrefetchCursor* pf) {
  V acc[NOC][UR];
  const int64_t xs_c = g.IH * g.IW * kB;
  int64_t xo[UR];  // input offset (floats) of each column's pixel
  if (XO == 0) {
    int64_t r = ow0 / g.sub_ow, c = ow0 - r * g.sub_ow;
    for (int p = 0; p < UR; ++p) {
      xo[p] = (r * g.SH * g.IW + c * g.SW) * kB;
      if (++c == g.sub_ow) c = 0, ++r;
    }
  } else {
    for (int p = 0; p < UR; ++p) xo[p] = p * kB;
  }
  const float* xp = xn + icb0 * xs_c + (XO == 0 ? 0 : ow0 * kB);
  const float* wp = wg + icb0 * NOC * kBB;
  int ic0 = 0;
  if (flags & kFirst) {  // the first product onto the bias
    V w[NOC];
    for (int j = 0; j < NOC; ++j) w[j] = vload(wp + j * kB);
    for (int p = 0; p < UR; ++p) {
      V b = vset1(xp[xo[p]]);
      for (int j = 0; j < NOC; ++j) acc[j][p] = vfmadd(b, w[j], vloadu(bias + (ocb0 + j) * kB));
    }
    ic0 = 1;
  } else {
    load_partial_sums<UR, NOC>(g, acc, yn, ocb0, oh, ow0);
  }
  for (int64_t icb = icb0; icb < icb1; ++icb, xp += xs_c, wp += NOC * kBB, ic0 = 0) {
    pf->issue(pf->per_tap);
    if (icb + 1 < icb1)  // the same pixels of the next input block: from L2 while this one computes
      for (int p = 0; p < UR; ++p) _mm_prefetch((const char*)(xp + xs_c + xo[p]), _MM_HINT_T0);
    for (int ic = ic0; ic < kB; ++ic) {
      V w[NOC];
      for (int j = 0; j < NOC; ++j) w[j] = vload(wp + ic * NOC * kB + j * kB);
      for (int p = 0; p < UR; ++p) {
        V b = vset1(xp[xo[p] + ic]);
        for (int j = 0; j < NOC; ++j) acc[j][p] = vfmadd(b, w[j], acc[j][p]);
      }
    }
  }
  end_pass<UR, NOC>(g, acc, zn, yn, ocb0, oh, ow0, flags);
}

// `count` tiles side by side (columns ow0, ow0 + UR, ...) in one call: with few
// input channels a tile is short, and a call and its setup per tile cost a third of it.
template <int UR, int NOC, bool CHECK, bool PLAIN>
void conv_tile(const ConvArgs& g, const float* xn, const float* wg, const float* bias, const float* zn, float* yn,
               int64_t ocb0, int64_t oh, int64_t ow0, int64_t icb0, int64_t icb1, int flags, int64_t count,
               PrefetchCursor* pf) {
  if constexpr (!CHECK && !PLAIN) {
    if (g.pw) {
      for (int64_t t = 0; t < count; ++t) {
        pf->step();
        if (g.sub_ow > 0)
          pw_tile<UR, NOC, 0>(g, xn, wg, bias, zn, yn, ocb0, oh, ow0 + t * UR, icb0, icb1, flags, pf);
        else
          pw_tile<UR, NOC, 1>(g, xn, wg, bias, zn, yn, ocb0, oh, ow0 + t * UR, icb0, icb1, flags, pf);
      }
      return;
    }
  }
  for (int64_t t = 0; t < count; ++t) {
    pf->step();
    one_tile<UR, NOC, CHECK, PLAIN>(g, xn, wg, bias, zn, yn, ocb0, oh, ow0 + t * UR, icb0, icb1, flags, pf);
  }
}

using ConvTileFn = void (*)(const ConvArgs&, const float*, const float*, const float*, const float*, float*, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int, int64_t, PrefetchCursor*);

// [noc - 1][check][ur] for one input kind; the widest tile of each noc (kMaxUr) keeps
// accumulators + weights + a broadcast within the register file (32 zmm / 16 ymm).
constexpr int kTileCols = 17;
using TileTable = ConvTileFn[4][2][kTileCols];
template <int U, int N, bool C, bool P>
constexpr ConvTileFn tile_fn() {
  if constexpr (U == 0 || U > (SNEP_BLOCK_LANES == 16 ? kConvMaxUr[N] : kConvMaxUr8[N])) return nullptr;
  else return &conv_tile<U, N, C, P>;
}
template <bool P, int... U>
struct TileRows {
  static constexpr TileTable table = {{{tile_fn<U, 1, false, P>()...}, {tile_fn<U, 1, true, P>()...}},
                                      {{tile_fn<U, 2, false, P>()...}, {tile_fn<U, 2, true, P>()...}},
                                      {{tile_fn<U, 3, false, P>()...}, {tile_fn<U, 3, true, P>()...}},
                                      {{tile_fn<U, 4, false, P>()...}, {tile_fn<U, 4, true, P>()...}}};
};
template <bool P, int... U>
constexpr auto& tiles_of(std::integer_sequence<int, U...>) { return TileRows<P, U...>::table; }
constexpr auto& kTilesBlocked = tiles_of<false>(std::make_integer_sequence<int, kTileCols>{});
constexpr auto& kTilesPlain = tiles_of<true>(std::make_integer_sequence<int, kTileCols>{});

// Valid kernel-column range for output column ow.
inline void kw_range(const ConvArgs& g, int64_t ow, int64_t* lo, int64_t* hi) {
  const int64_t iw0 = ow * g.SW - g.PW;
  int64_t l = iw0 >= 0 ? 0 : (-iw0 + g.DW - 1) / g.DW;
  int64_t h = iw0 > g.IW - 1 ? 0 : (g.IW - 1 - iw0) / g.DW + 1;
  l = imin(l, g.KW);
  h = imin(imax(h, l), g.KW);
  *lo = l;
  *hi = h;
}

// Splits [lo, hi) into near-equal tiles of at most ur columns and calls
// f(ow0, width, count) for each run of `count` tiles of one width from ow0.
template <class F>
inline void for_chunks(int64_t lo, int64_t hi, int64_t ur, F&& f) {
  const int64_t len = hi - lo;
  if (len <= 0) return;
  const int64_t nc = (len + ur - 1) / ur, base = len / nc, rem = len % nc;
  if (rem) f(lo, base + 1, rem);
  if (nc > rem) f(lo + rem * (base + 1), base, nc - rem);
}

void conv_blocked(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                    int64_t b, int64_t e) {
  const int64_t G = (g.OCB + g.ocg - 1) / g.ocg;
  const int64_t ximg = (g.plain_in ? g.C : g.ICB * kB) * g.IH * g.IW, yimg = g.OCB * g.OH * g.OW * kB;
  const int64_t wgrp = g.ocg * g.ICB * g.KH * g.KW * kBB;
  const int64_t RP = g.row_pieces, CP = g.col_pieces;
  for (int64_t t = b; t < e; ++t) {
    const int64_t piece = g.piece_outer ? (t / G) % (RP * CP) : t % (RP * CP);
    const int64_t grp = g.piece_outer ? t % G : (t / (RP * CP)) % G, n = t / (RP * CP * G);
    const int64_t pr = piece / CP, pc = piece % CP;
    const int64_t oh0 = pr * g.OH / RP, oh1 = (pr + 1) * g.OH / RP;
    const int64_t ow0 = pc * g.OW / CP, ow1 = (pc + 1) * g.OW / CP;
    if (oh0 >= oh1 || ow0 >= ow1) continue;
    const int64_t ocb0 = grp * g.ocg;
    const int noc = (int)imin(g.ocg, g.OCB - ocb0);
    const int64_t ur = imin(g.ur, kMaxUr[noc]);
    const float* xn = x + n * ximg;
    const float* wg = w + grp * wgrp;
    const float* zn = z ? z + n * yimg : nullptr;
    const bool z_in_y = z && z == y;  // the plan wrote the output over the residual (lower.py)
    float* yn = y + n * yimg;
    const int64_t tiles = (oh1 - oh0) * ((ow1 - ow0 + ur - 1) / ur);
    const int64_t wicb = g.KH * g.KW * noc * kBB;  // weight floats per input block of this group
    // input blocks in chunks whose weights stay in L1 while every tile of the piece uses them
    for (int64_t c0 = 0; c0 < g.ICB; c0 += g.icb_chunk) {
      const int64_t c1 = imin(g.ICB, c0 + g.icb_chunk);
      const int flags = (c0 == 0 ? kFirst : 0) | (c1 == g.ICB ? kLast : 0) | (z_in_y ? kZInY : 0);
      // The next chunk's weights (after the last chunk, the next group's first: packed
      // contiguously) stream into L2 a slice per tile; without it each chunk's first tile
      // waits on memory. The last group's last chunk has nothing after it.
      const bool more = c1 < g.ICB || grp + 1 < G;
      const int64_t pf_lines = g.prefetch && more ? imin(g.icb_chunk, c1 < g.ICB ? g.ICB - c1 : g.ICB) * wicb / 16 : 0;
      PrefetchCursor pf{(const char*)(wg + c1 * wicb), pf_lines, (pf_lines + tiles - 1) / tiles};
      // Spread over the tile's kernel taps (rows in the padding issue none): a burst of ~40
      // prefetches at the tile's start held the fill buffers its own loads need. ResNet50's
      // 7x7 layers (4-9 MB of weights each, from memory) ran 9-26% faster spread.
      if (g.prefetch == 2) {
        const int64_t taps = (c1 - c0) * g.KH * g.KW;
        pf.per_tap = (pf.per_tile + taps - 1) / taps;
      }
      const TileTable& table = g.plain_in ? kTilesPlain : kTilesBlocked;
      auto tiles_from = [&](int64_t oh, int64_t c, int64_t n_, int64_t k) {
        const bool inside = c >= g.ow_lo && c + n_ * k <= g.ow_hi;
        table[noc - 1][inside ? 0 : 1][n_](g, xn, wg, bias, zn, yn, ocb0, oh, c, c0, c1, flags, k, &pf);
      };
      for (int64_t oh = oh0; oh < oh1; ++oh)
        for_chunks(ow0, ow1, ur, [&](int64_t c, int64_t n_, int64_t count) {
          // the tiles inside the padding-free columns run as one call, the edge ones alone
          const int64_t c_end = c + n_ * count;
          const int64_t in_lo = imin(c_end, imax(c, c + (g.ow_lo - c + n_ - 1) / n_ * n_));
          const int64_t in_hi = imax(in_lo, imin(c_end, c + (g.ow_hi - c) / n_ * n_));
          for (int64_t e = c; e < in_lo; e += n_) tiles_from(oh, e, n_, 1);
          if (in_hi > in_lo) tiles_from(oh, in_lo, n_, (in_hi - in_lo) / n_);
          for (int64_t e = in_hi; e < c_end; e += n_) tiles_from(oh, e, n_, 1);
        });
    }
  }
}

// ---- Depthwise -----------------------------------------------------------------------

template <int UR>
void dw_tile(const ConvArgs& g, const float* xc, const float* wc, V bias, const float* zc, float* yc, Mask m,
             int64_t oh, int64_t ow0, int64_t kw_lo, int64_t kw_hi) {
  V acc[UR];
  for (int p = 0; p < UR; ++p) acc[p] = bias;
  const int64_t sw16 = g.SW * kB;
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
    if (ih < 0 || ih >= g.IH) continue;
    const float* xr = xc + (ih * g.IW + ow0 * g.SW - g.PW) * kB;
    for (int64_t kw = kw_lo; kw < kw_hi; ++kw) {
      const V wv = vloadu(wc + (kh * g.KW + kw) * kB);
      const float* xp = xr + kw * g.DW * kB;
      for (int p = 0; p < UR; ++p) acc[p] = vfmadd(vloadu(xp + p * sw16), wv, acc[p]);
    }
  }
  const int64_t off = (oh * g.OW + ow0) * kB;
  // one activation kind per tile, the stores unrolled (as the direct conv's finish_tile)
  with_act(g.act.kind, [&](auto act) {
#pragma GCC unroll 16
    for (int p = 0; p < UR; ++p) {
      V v = acc[p];
      if (zc) v = vadd(v, vloadu(zc + off + p * kB));
      vstoreu(yc + off + p * kB, vmaskz(m, act_fixed<decltype(act)::value>(g.act, v)));
    }
  });
}

using DwTileFn = void (*)(const ConvArgs&, const float*, const float*, V, const float*, float*, Mask, int64_t,
                          int64_t, int64_t, int64_t);
const DwTileFn kDw[17] = {nullptr,      &dw_tile<1>,  &dw_tile<2>,  &dw_tile<3>,  &dw_tile<4>,  &dw_tile<5>,
                          &dw_tile<6>,  &dw_tile<7>,  &dw_tile<8>,  &dw_tile<9>,  &dw_tile<10>, &dw_tile<11>,
                          &dw_tile<12>, &dw_tile<13>, &dw_tile<14>, &dw_tile<15>, &dw_tile<16>};

void dw_blocked(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                  int64_t b, int64_t e) {
  const int64_t iplane = g.IH * g.IW * kB, oplane = g.OH * g.OW * kB;
  const int64_t CB = g.OCB;
  const int64_t mid_lo = imin(g.ow_lo, g.OW), mid_hi = imax(mid_lo, imin(g.ow_hi, g.OW));
  for (int64_t t = b; t < e; ++t) {
    const int64_t oh = t % g.OH, pl = t / g.OH, cb = pl % CB;
    const float* xc = x + pl * iplane;
    const float* wc = w + cb * g.KH * g.KW * kB;
    const float* zc = z ? z + pl * oplane : nullptr;
    float* yc = y + pl * oplane;
    const V bv = vloadu(bias + cb * kB);
    const Mask m = lanes(g.M - cb * kB);
    for (int64_t ow = 0; ow < mid_lo; ++ow) {
      int64_t lo, hi;
      kw_range(g, ow, &lo, &hi);
      kDw[1](g, xc, wc, bv, zc, yc, m, oh, ow, lo, hi);
    }
    for_chunks(mid_lo, mid_hi, g.ur, [&](int64_t ow0, int64_t n_, int64_t count) {
      for (int64_t k = 0; k < count; ++k) kDw[n_](g, xc, wc, bv, zc, yc, m, oh, ow0 + k * n_, 0, g.KW);
    });
    for (int64_t ow = mid_hi; ow < g.OW; ++ow) {
      int64_t lo, hi;
      kw_range(g, ow, &lo, &hi);
      kDw[1](g, xc, wc, bv, zc, yc, m, oh, ow, lo, hi);
    }
  }
}

// ---- Pooling ----------------------------------------------------------------------------
void pool_blocked(const PoolArgs& g, const float* x, float* y, int64_t b, int64_t e) {
  const int64_t iplane = g.IH * g.IW * kB, oplane = g.OH * g.OW * kB;
  for (int64_t t = b; t < e; ++t) {
    const int64_t oh = t % g.OH, pl = t / g.OH;
    const bool last = pl % g.CB == g.CB - 1;
    const Mask m = last ? lanes(g.last_lanes) : kAll;
    const float* xp = x + pl * iplane;
    float* yr = y + pl * oplane + oh * g.OW * kB;
    const int64_t h0 = g.hf[oh], hc = g.hc[oh];
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t w0 = g.wf[ow], wc = g.wc[ow];
      V v;
      if (g.max) {
        v = vset1(-3.402823466e+38f);
        for (int64_t a = 0; a < hc; ++a) {
          const float* xr = xp + ((h0 + a * g.dh) * g.IW + w0) * kB;
          for (int64_t c = 0; c < wc; ++c) v = vmax(v, vloadu(xr + c * g.dw * kB));
        }
      } else {
        v = vzero();
        for (int64_t a = 0; a < hc; ++a) {
          const float* xr = xp + ((h0 + a * g.dh) * g.IW + w0) * kB;
          for (int64_t c = 0; c < wc; ++c) v = vadd(v, vloadu(xr + c * g.dw * kB));
        }
        const int64_t cnt = g.include_pad ? g.hp[oh] * g.wp[ow] : hc * wc;
        v = cnt ? vdiv(v, vset1((float)cnt)) : vzero();
      }
      if (!vall(m)) v = vmaskz(m, v);
      vstoreu(yr + ow * kB, v);
    }
  }
}

void gap_blocked(const float* x, float* y, int64_t S, int64_t b, int64_t e) {
  const V inv = vset1(1.f / (float)S);
  for (int64_t pl = b; pl < e; ++pl) {
    const float* xp = x + pl * S * kB;
    V a0 = vzero(), a1 = a0, a2 = a0, a3 = a0;
    int64_t s = 0;
    for (; s + 4 <= S; s += 4) {
      a0 = vadd(a0, vloadu(xp + s * kB));
      a1 = vadd(a1, vloadu(xp + s * kB + kB));
      a2 = vadd(a2, vloadu(xp + s * kB + 2 * kB));
      a3 = vadd(a3, vloadu(xp + s * kB + 3 * kB));
    }
    for (; s < S; ++s) a0 = vadd(a0, vloadu(xp + s * kB));
    V sum = vadd(vadd(a0, a1), vadd(a2, a3));
    vstoreu(y + pl * kB, vmul(sum, inv));
  }
}

// ---- Elementwise ------------------------------------------------------------------------
void binary_blocked(int op, const float* x, const float* s, float* y, int64_t S, int s_per_plane, int64_t b,
                      int64_t e) {
  if (!s_per_plane) {
    if (op == 0) {
      for (int64_t v = b; v < e; ++v)
        vstoreu(y + v * kB, vadd(vloadu(x + v * kB), vloadu(s + v * kB)));
    } else {
      for (int64_t v = b; v < e; ++v)
        vstoreu(y + v * kB, vmul(vloadu(x + v * kB), vloadu(s + v * kB)));
    }
    return;
  }
  for (int64_t v = b; v < e;) {
    const int64_t pl = v / S, end = imin(e, (pl + 1) * S);
    const V sv = vloadu(s + pl * kB);
    if (op == 0) {
      for (; v < end; ++v) vstoreu(y + v * kB, vadd(vloadu(x + v * kB), sv));
    } else {
      for (; v < end; ++v) vstoreu(y + v * kB, vmul(vloadu(x + v * kB), sv));
    }
  }
}

void act_blocked(const ActP& act, const float* x, float* y, int64_t CB, int64_t S, int last_lanes, int64_t b,
                   int64_t e) {
  for (int64_t pl = b; pl < e; ++pl) {
    const Mask m = pl % CB == CB - 1 ? lanes(last_lanes) : kAll;
    const float* xp = x + pl * S * kB;
    float* yp = y + pl * S * kB;
    switch (act.kind) {
      case kRelu:
        for (int64_t s = 0; s < S; ++s)
          vstoreu(yp + s * kB, vmax(vzero(), vloadu(xp + s * kB)));
        break;
      default:
        for (int64_t s = 0; s < S; ++s) {
          V v = act_vec(act, vloadu(xp + s * kB));
          if (!vall(m)) v = vmaskz(m, v);
          vstoreu(yp + s * kB, v);
        }
    }
  }
}

}  // namespace
}  // namespace layout
}  // namespace snep

// Defines the entry points of one build: SNEP_BLOCKED_ENTRY_POINTS(16c_avx512) -> conv16c_avx512, ...
#define SNEP_BLOCKED_ENTRY_POINTS(S)                                                                           \
  namespace snep {                                                                                             \
  namespace layout {                                                                                           \
  void conv##S(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y, \
               int64_t b, int64_t e) {                                                                         \
    conv_blocked(g, x, w, bias, z, y, b, e);                                                                   \
  }                                                                                                            \
  void dw##S(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y,   \
             int64_t b, int64_t e) {                                                                           \
    dw_blocked(g, x, w, bias, z, y, b, e);                                                                     \
  }                                                                                                            \
  void pool##S(const PoolArgs& g, const float* x, float* y, int64_t b, int64_t e) { pool_blocked(g, x, y, b, e); } \
  void gap##S(const float* x, float* y, int64_t S_, int64_t b, int64_t e) { gap_blocked(x, y, S_, b, e); }     \
  void binary##S(int op, const float* x, const float* s, float* y, int64_t S_, int s_per_plane, int64_t b,    \
                 int64_t e) {                                                                                  \
    binary_blocked(op, x, s, y, S_, s_per_plane, b, e);                                                        \
  }                                                                                                            \
  void act##S(const ActP& act, const float* x, float* y, int64_t CB, int64_t S_, int last_lanes, int64_t b,   \
              int64_t e) {                                                                                     \
    act_blocked(act, x, y, CB, S_, last_lanes, b, e);                                                          \
  }                                                                                                            \
  }                                                                                                            \
  }
