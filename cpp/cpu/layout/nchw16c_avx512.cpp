// AVX-512 kernels over NCHW16c float32 tensors: direct and depthwise Conv
// (bias, residual and activation fused), pooling, elementwise ops. One zmm
// holds the 16 channels of one pixel. See layout_kernels.h for the contracts.
// GCC 12 flags its own maskz/undefined intrinsics as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <type_traits>

#include "cpu/layout/layout_kernels.h"

namespace snep {
namespace layout {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline __mmask16 lanes(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n < 0 ? 0 : n)) - 1u); }

// ---- activations (same kinds and constants as cpu/activation.h) -----------------
enum { kNone = 0, kRelu, kClip, kSigmoid, kHardSigmoid, kHardSwish, kLeakyRelu, kTanh };

inline __m512 vexp(__m512 x) {
  const __m512 hi = _mm512_set1_ps(88.72283f), lo = _mm512_set1_ps(-86.5f);
  __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 z = _mm512_mul_ps(r, r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  __m512 res = _mm512_scalef_ps(p, n);
  res = _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), _mm512_setzero_ps());
  res = _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), _mm512_set1_ps(__builtin_inff()));
  return _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

inline __m512 vtanh(__m512 x) {
  __m512 t = _mm512_abs_ps(x);
  __m512 s = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(0.0014558344f);
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-0.0035921280f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(0.0088632355f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-0.0218694885f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(0.0539682540f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-0.1333333333f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(0.3333333333f));
  __m512 small = _mm512_fnmadd_ps(_mm512_mul_ps(x, s), p, x);
  __m512 tc = _mm512_min_ps(t, _mm512_set1_ps(20.f));
  __m512 e = vexp(_mm512_add_ps(tc, tc));
  __m512 big = _mm512_sub_ps(_mm512_set1_ps(1.f), _mm512_div_ps(_mm512_set1_ps(2.f), _mm512_add_ps(e, _mm512_set1_ps(1.f))));
  big = _mm512_mask_sub_ps(big, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps(), big);
  return _mm512_mask_mov_ps(big, _mm512_cmp_ps_mask(t, _mm512_set1_ps(0.55f), _CMP_LT_OQ), small);
}

inline __m512 act_vec(const ActP& a, __m512 v);

// One activation kind fixed at compile time (ACT < 0: the kind in a, chosen at run time).
template <int ACT>
__attribute__((always_inline)) inline __m512 act_fixed(const ActP& a, __m512 v) {
  if constexpr (ACT < 0) {
    return act_vec(a, v);
  } else if constexpr (ACT == kRelu) {
    return _mm512_max_ps(v, _mm512_setzero_ps());
  } else if constexpr (ACT == kClip) {
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(a.a)), _mm512_set1_ps(a.b));
  } else if constexpr (ACT == kSigmoid) {
    __m512 e = vexp(_mm512_sub_ps(_mm512_setzero_ps(), v));
    return _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_add_ps(_mm512_set1_ps(1.f), e));
  } else if constexpr (ACT == kHardSigmoid) {
    return _mm512_max_ps(_mm512_setzero_ps(),
                         _mm512_min_ps(_mm512_set1_ps(1.f), _mm512_fmadd_ps(_mm512_set1_ps(a.a), v, _mm512_set1_ps(a.b))));
  } else if constexpr (ACT == kHardSwish) {
    __m512 h = _mm512_fmadd_ps(v, _mm512_set1_ps(1.f / 6.f), _mm512_set1_ps(0.5f));
    h = _mm512_max_ps(_mm512_setzero_ps(), _mm512_min_ps(_mm512_set1_ps(1.f), h));
    return _mm512_mul_ps(v, h);
  } else if constexpr (ACT == kLeakyRelu) {
    __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(a.a));
  } else if constexpr (ACT == kTanh) {
    return vtanh(v);
  } else {
    return v;  // kNone
  }
}

inline __m512 act_vec(const ActP& a, __m512 v) {
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
__attribute__((always_inline)) inline void finish_tile(const ConvArgs& g, __m512 (&acc)[NOC][UR], const float* zn,
                                                       float* yn, int64_t ocb0, int64_t oh, int64_t ow0) {
#pragma GCC unroll 4
  for (int j = 0; j < NOC; ++j) {
    const int64_t ocb = ocb0 + j;
    const int64_t off = ((ocb * g.OH + oh) * g.OW + ow0) * 16;
    float* yb = yn + off;
    const __mmask16 m = lanes(g.M - ocb * 16);
    const float* zb = zn ? zn + off : nullptr;
#pragma GCC unroll 16
    for (int p = 0; p < UR; ++p) {
      __m512 v = acc[j][p];
      if (zb) v = _mm512_add_ps(v, _mm512_loadu_ps(zb + p * 16));
      _mm512_storeu_ps(yb + p * 16, _mm512_maskz_mov_ps(m, act_fixed<ACT>(g.act, v)));
    }
  }
}

enum { kFirst = 1, kLast = 2, kZInY = 4 };  // pass flags of a tile (see one_tile)

// A later pass over a tile starts from the partial sums the earlier ones stored in y.
template <int UR, int NOC>
__attribute__((always_inline)) inline void load_partial_sums(const ConvArgs& g, __m512 (&acc)[NOC][UR],
                                                             const float* yn, int64_t ocb0, int64_t oh, int64_t ow0) {
  for (int j = 0; j < NOC; ++j) {
    const float* yb = yn + (((ocb0 + j) * g.OH + oh) * g.OW + ow0) * 16;
    for (int p = 0; p < UR; ++p) acc[j][p] = _mm512_loadu_ps(yb + p * 16);
  }
}

// The end of a pass over a tile. A residual that lies where y is written (kZInY) is added
// at the end of the first pass: before the partial sums overwrite it, and late in the tile,
// so its loads (often from L3) overlap the FMAs instead of holding up the first ones. Then
// the partial sums are stored, or (kLast) the epilogue runs. The activation is chosen once
// per tile, not per vector: a switch inside the store loop kept that loop rolled, which
// put the accumulators on the stack.
template <int UR, int NOC>
__attribute__((always_inline)) inline void end_pass(const ConvArgs& g, __m512 (&acc)[NOC][UR], const float* zn,
                                                    float* yn, int64_t ocb0, int64_t oh, int64_t ow0, int flags) {
  if ((flags & kZInY) && (flags & kFirst)) {
#pragma GCC unroll 4
    for (int j = 0; j < NOC; ++j) {
      const float* zb = zn + (((ocb0 + j) * g.OH + oh) * g.OW + ow0) * 16;
#pragma GCC unroll 16
      for (int p = 0; p < UR; ++p) acc[j][p] = _mm512_add_ps(acc[j][p], _mm512_loadu_ps(zb + p * 16));
    }
  }
  if (!(flags & kLast)) {  // partial sums
#pragma GCC unroll 4
    for (int j = 0; j < NOC; ++j) {
      float* yb = yn + (((ocb0 + j) * g.OH + oh) * g.OW + ow0) * 16;
#pragma GCC unroll 16
      for (int p = 0; p < UR; ++p) _mm512_storeu_ps(yb + p * 16, acc[j][p]);
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
  __m512 acc[NOC][UR];
  if (flags & kFirst)
    for (int j = 0; j < NOC; ++j) {
      __m512 b = _mm512_loadu_ps(bias + (ocb0 + j) * 16);
      for (int p = 0; p < UR; ++p) acc[j][p] = b;
    }
  else
    load_partial_sums<UR, NOC>(g, acc, yn, ocb0, oh, ow0);
  const int64_t xs_c = g.IH * g.IW * 16;  // one block of 16 input channels, in either layout
  const int64_t ps = PLAIN ? 1 : 16, cs = PLAIN ? g.IH * g.IW : 1;  // pixel and channel strides
  const int64_t wstep = NOC * 256;
  const int64_t sw16 = g.SW * ps;
  const int64_t KH = g.KH, KW = g.KW;
  for (int64_t icb = icb0; icb < icb1; ++icb) {
    const int icn = PLAIN ? (int)imin(16, g.C - icb * 16) : 16;
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
            __m512 w[NOC];
            for (int j = 0; j < NOC; ++j) w[j] = _mm512_load_ps(wp + ic * NOC * 16 + j * 16);
            for (int p = 0; p < UR; ++p) {
              __m512 b = _mm512_set1_ps(xp[p * sw16 + ic * cs]);
              for (int j = 0; j < NOC; ++j) acc[j][p] = _mm512_fmadd_ps(b, w[j], acc[j][p]);
            }
          }
        } else if (!PLAIN) {
          // columns in the padding read a zero pixel: the same loop as inside, no branch per column
          const float* xq[UR];
          for (int p = 0; p < UR; ++p) xq[p] = p >= plo && p < phi ? xp + p * sw16 : kZeroPixel;
#pragma GCC unroll 4
          for (int ic = 0; ic < 16; ++ic) {
            __m512 w[NOC];
            for (int j = 0; j < NOC; ++j) w[j] = _mm512_load_ps(wp + ic * NOC * 16 + j * 16);
            for (int p = 0; p < UR; ++p) {
              __m512 b = _mm512_set1_ps(xq[p][ic]);
              for (int j = 0; j < NOC; ++j) acc[j][p] = _mm512_fmadd_ps(b, w[j], acc[j][p]);
            }
          }
        } else {
          for (int ic = 0; ic < icn; ++ic) {
            __m512 w[NOC];
            for (int j = 0; j < NOC; ++j) w[j] = _mm512_load_ps(wp + ic * NOC * 16 + j * 16);
            for (int p = 0; p < UR; ++p) {
              if (p < plo || p >= phi) continue;
              __m512 b = _mm512_set1_ps(xp[p * sw16 + ic * cs]);
              for (int j = 0; j < NOC; ++j) acc[j][p] = _mm512_fmadd_ps(b, w[j], acc[j][p]);
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
  __m512 acc[NOC][UR];
  const int64_t xs_c = g.IH * g.IW * 16;
  int64_t xo[UR];  // input offset (floats) of each column's pixel
  if (XO == 0) {
    int64_t r = ow0 / g.sub_ow, c = ow0 - r * g.sub_ow;
    for (int p = 0; p < UR; ++p) {
      xo[p] = (r * g.SH * g.IW + c * g.SW) * 16;
      if (++c == g.sub_ow) c = 0, ++r;
    }
  } else {
    for (int p = 0; p < UR; ++p) xo[p] = p * 16;
  }
  const float* xp = xn + icb0 * xs_c + (XO == 0 ? 0 : ow0 * 16);
  const float* wp = wg + icb0 * NOC * 256;
  int ic0 = 0;
  if (flags & kFirst) {  // the first product onto the bias
    __m512 w[NOC];
    for (int j = 0; j < NOC; ++j) w[j] = _mm512_load_ps(wp + j * 16);
    for (int p = 0; p < UR; ++p) {
      __m512 b = _mm512_set1_ps(xp[xo[p]]);
      for (int j = 0; j < NOC; ++j) acc[j][p] = _mm512_fmadd_ps(b, w[j], _mm512_loadu_ps(bias + (ocb0 + j) * 16));
    }
    ic0 = 1;
  } else {
    load_partial_sums<UR, NOC>(g, acc, yn, ocb0, oh, ow0);
  }
  for (int64_t icb = icb0; icb < icb1; ++icb, xp += xs_c, wp += NOC * 256, ic0 = 0) {
    pf->issue(pf->per_tap);
    if (icb + 1 < icb1)  // the same pixels of the next input block: from L2 while this one computes
      for (int p = 0; p < UR; ++p) _mm_prefetch((const char*)(xp + xs_c + xo[p]), _MM_HINT_T0);
    for (int ic = ic0; ic < 16; ++ic) {
      __m512 w[NOC];
      for (int j = 0; j < NOC; ++j) w[j] = _mm512_load_ps(wp + ic * NOC * 16 + j * 16);
      for (int p = 0; p < UR; ++p) {
        __m512 b = _mm512_set1_ps(xp[xo[p] + ic]);
        for (int j = 0; j < NOC; ++j) acc[j][p] = _mm512_fmadd_ps(b, w[j], acc[j][p]);
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

#define SNEP_T(U, N, C) &conv_tile<U, N, C, PLAIN_IN>
#define SNEP_ROW16(N, C)                                                                                       \
  {nullptr,          SNEP_T(1, N, C),  SNEP_T(2, N, C),  SNEP_T(3, N, C),  SNEP_T(4, N, C),  SNEP_T(5, N, C),  \
   SNEP_T(6, N, C),  SNEP_T(7, N, C),  SNEP_T(8, N, C),  SNEP_T(9, N, C),  SNEP_T(10, N, C), SNEP_T(11, N, C), \
   SNEP_T(12, N, C), SNEP_T(13, N, C), SNEP_T(14, N, C), SNEP_T(15, N, C), SNEP_T(16, N, C)}
#define SNEP_ROW12(N, C)                                                                                      \
  {nullptr,         SNEP_T(1, N, C), SNEP_T(2, N, C), SNEP_T(3, N, C),  SNEP_T(4, N, C),  SNEP_T(5, N, C), \
   SNEP_T(6, N, C), SNEP_T(7, N, C), SNEP_T(8, N, C), SNEP_T(9, N, C), SNEP_T(10, N, C), SNEP_T(11, N, C), \
   SNEP_T(12, N, C), nullptr, nullptr, nullptr, nullptr}
#define SNEP_ROW8(N, C)                                                                                        \
  {nullptr, SNEP_T(1, N, C), SNEP_T(2, N, C), SNEP_T(3, N, C), SNEP_T(4, N, C), SNEP_T(5, N, C), SNEP_T(6, N, C), \
   SNEP_T(7, N, C), SNEP_T(8, N, C), nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr}
#define SNEP_ROW6(N, C)                                                                                        \
  {nullptr, SNEP_T(1, N, C), SNEP_T(2, N, C), SNEP_T(3, N, C), SNEP_T(4, N, C), SNEP_T(5, N, C), SNEP_T(6, N, C), \
   nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr}
// [plain input][noc - 1][check][ur]; the widest tile of each noc keeps acc + weights within the 32 zmm registers
#define SNEP_TABLE                                                                                           \
  {{SNEP_ROW16(1, false), SNEP_ROW16(1, true)}, {SNEP_ROW12(2, false), SNEP_ROW12(2, true)}, \
   {SNEP_ROW8(3, false), SNEP_ROW8(3, true)}, {SNEP_ROW6(4, false), SNEP_ROW6(4, true)}}
#define PLAIN_IN false
const ConvTileFn kTiles16c[4][2][17] = SNEP_TABLE;
#undef PLAIN_IN
#define PLAIN_IN true
const ConvTileFn kTilesPlain[4][2][17] = SNEP_TABLE;
#undef PLAIN_IN
#undef SNEP_TABLE
#undef SNEP_T
#undef SNEP_ROW16
#undef SNEP_ROW12
#undef SNEP_ROW8
#undef SNEP_ROW6

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

}  // namespace

void conv16c_avx512(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                    int64_t b, int64_t e) {
  const int64_t G = (g.OCB + g.ocg - 1) / g.ocg;
  const int64_t ximg = (g.plain_in ? g.C : g.ICB * 16) * g.IH * g.IW, yimg = g.OCB * g.OH * g.OW * 16;
  const int64_t wgrp = g.ocg * g.ICB * g.KH * g.KW * 256;
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
    const int64_t ur = imin(g.ur, kConvMaxUr[noc]);
    const float* xn = x + n * ximg;
    const float* wg = w + grp * wgrp;
    const float* zn = z ? z + n * yimg : nullptr;
    const bool z_in_y = z && z == y;  // the plan wrote the output over the residual (lower.py)
    float* yn = y + n * yimg;
    const int64_t tiles = (oh1 - oh0) * ((ow1 - ow0 + ur - 1) / ur);
    const int64_t wicb = g.KH * g.KW * noc * 256;  // weight floats per input block of this group
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
      const ConvTileFn(*table)[2][17] = g.plain_in ? kTilesPlain : kTiles16c;
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
namespace {

template <int UR>
void dw_tile(const ConvArgs& g, const float* xc, const float* wc, __m512 bias, const float* zc, float* yc, __mmask16 m,
             int64_t oh, int64_t ow0, int64_t kw_lo, int64_t kw_hi) {
  __m512 acc[UR];
  for (int p = 0; p < UR; ++p) acc[p] = bias;
  const int64_t sw16 = g.SW * 16;
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
    if (ih < 0 || ih >= g.IH) continue;
    const float* xr = xc + (ih * g.IW + ow0 * g.SW - g.PW) * 16;
    for (int64_t kw = kw_lo; kw < kw_hi; ++kw) {
      const __m512 wv = _mm512_loadu_ps(wc + (kh * g.KW + kw) * 16);
      const float* xp = xr + kw * g.DW * 16;
      for (int p = 0; p < UR; ++p) acc[p] = _mm512_fmadd_ps(_mm512_loadu_ps(xp + p * sw16), wv, acc[p]);
    }
  }
  const int64_t off = (oh * g.OW + ow0) * 16;
  // one activation kind per tile, the stores unrolled (as the direct conv's finish_tile)
  with_act(g.act.kind, [&](auto act) {
#pragma GCC unroll 16
    for (int p = 0; p < UR; ++p) {
      __m512 v = acc[p];
      if (zc) v = _mm512_add_ps(v, _mm512_loadu_ps(zc + off + p * 16));
      _mm512_storeu_ps(yc + off + p * 16, _mm512_maskz_mov_ps(m, act_fixed<decltype(act)::value>(g.act, v)));
    }
  });
}

using DwTileFn = void (*)(const ConvArgs&, const float*, const float*, __m512, const float*, float*, __mmask16, int64_t,
                          int64_t, int64_t, int64_t);
const DwTileFn kDw[17] = {nullptr,      &dw_tile<1>,  &dw_tile<2>,  &dw_tile<3>,  &dw_tile<4>,  &dw_tile<5>,
                          &dw_tile<6>,  &dw_tile<7>,  &dw_tile<8>,  &dw_tile<9>,  &dw_tile<10>, &dw_tile<11>,
                          &dw_tile<12>, &dw_tile<13>, &dw_tile<14>, &dw_tile<15>, &dw_tile<16>};

}  // namespace

void dw16c_avx512(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                  int64_t b, int64_t e) {
  const int64_t iplane = g.IH * g.IW * 16, oplane = g.OH * g.OW * 16;
  const int64_t CB = g.OCB;
  const int64_t mid_lo = imin(g.ow_lo, g.OW), mid_hi = imax(mid_lo, imin(g.ow_hi, g.OW));
  for (int64_t t = b; t < e; ++t) {
    const int64_t oh = t % g.OH, pl = t / g.OH, cb = pl % CB;
    const float* xc = x + pl * iplane;
    const float* wc = w + cb * g.KH * g.KW * 16;
    const float* zc = z ? z + pl * oplane : nullptr;
    float* yc = y + pl * oplane;
    const __m512 bv = _mm512_loadu_ps(bias + cb * 16);
    const __mmask16 m = lanes(g.M - cb * 16);
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
void pool16c_avx512(const PoolArgs& g, const float* x, float* y, int64_t b, int64_t e) {
  const int64_t iplane = g.IH * g.IW * 16, oplane = g.OH * g.OW * 16;
  for (int64_t t = b; t < e; ++t) {
    const int64_t oh = t % g.OH, pl = t / g.OH;
    const bool last = pl % g.CB == g.CB - 1;
    const __mmask16 m = last ? lanes(g.last_lanes) : (__mmask16)0xFFFF;
    const float* xp = x + pl * iplane;
    float* yr = y + pl * oplane + oh * g.OW * 16;
    const int64_t h0 = g.hf[oh], hc = g.hc[oh];
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t w0 = g.wf[ow], wc = g.wc[ow];
      __m512 v;
      if (g.max) {
        v = _mm512_set1_ps(-3.402823466e+38f);
        for (int64_t a = 0; a < hc; ++a) {
          const float* xr = xp + ((h0 + a * g.dh) * g.IW + w0) * 16;
          for (int64_t c = 0; c < wc; ++c) v = _mm512_max_ps(v, _mm512_loadu_ps(xr + c * g.dw * 16));
        }
      } else {
        v = _mm512_setzero_ps();
        for (int64_t a = 0; a < hc; ++a) {
          const float* xr = xp + ((h0 + a * g.dh) * g.IW + w0) * 16;
          for (int64_t c = 0; c < wc; ++c) v = _mm512_add_ps(v, _mm512_loadu_ps(xr + c * g.dw * 16));
        }
        const int64_t cnt = g.include_pad ? g.hp[oh] * g.wp[ow] : hc * wc;
        v = cnt ? _mm512_div_ps(v, _mm512_set1_ps((float)cnt)) : _mm512_setzero_ps();
      }
      if (m != 0xFFFF) v = _mm512_maskz_mov_ps(m, v);
      _mm512_storeu_ps(yr + ow * 16, v);
    }
  }
}

void gap16c_avx512(const float* x, float* y, int64_t S, int64_t b, int64_t e) {
  const __m512 inv = _mm512_set1_ps(1.f / (float)S);
  for (int64_t pl = b; pl < e; ++pl) {
    const float* xp = x + pl * S * 16;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t s = 0;
    for (; s + 4 <= S; s += 4) {
      a0 = _mm512_add_ps(a0, _mm512_loadu_ps(xp + s * 16));
      a1 = _mm512_add_ps(a1, _mm512_loadu_ps(xp + s * 16 + 16));
      a2 = _mm512_add_ps(a2, _mm512_loadu_ps(xp + s * 16 + 32));
      a3 = _mm512_add_ps(a3, _mm512_loadu_ps(xp + s * 16 + 48));
    }
    for (; s < S; ++s) a0 = _mm512_add_ps(a0, _mm512_loadu_ps(xp + s * 16));
    __m512 sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    _mm512_storeu_ps(y + pl * 16, _mm512_mul_ps(sum, inv));
  }
}

// ---- Elementwise ------------------------------------------------------------------------
void binary16c_avx512(int op, const float* x, const float* s, float* y, int64_t S, int s_per_plane, int64_t b,
                      int64_t e) {
  if (!s_per_plane) {
    if (op == 0) {
      for (int64_t v = b; v < e; ++v)
        _mm512_storeu_ps(y + v * 16, _mm512_add_ps(_mm512_loadu_ps(x + v * 16), _mm512_loadu_ps(s + v * 16)));
    } else {
      for (int64_t v = b; v < e; ++v)
        _mm512_storeu_ps(y + v * 16, _mm512_mul_ps(_mm512_loadu_ps(x + v * 16), _mm512_loadu_ps(s + v * 16)));
    }
    return;
  }
  for (int64_t v = b; v < e;) {
    const int64_t pl = v / S, end = imin(e, (pl + 1) * S);
    const __m512 sv = _mm512_loadu_ps(s + pl * 16);
    if (op == 0) {
      for (; v < end; ++v) _mm512_storeu_ps(y + v * 16, _mm512_add_ps(_mm512_loadu_ps(x + v * 16), sv));
    } else {
      for (; v < end; ++v) _mm512_storeu_ps(y + v * 16, _mm512_mul_ps(_mm512_loadu_ps(x + v * 16), sv));
    }
  }
}

void act16c_avx512(const ActP& act, const float* x, float* y, int64_t CB, int64_t S, int last_lanes, int64_t b,
                   int64_t e) {
  for (int64_t pl = b; pl < e; ++pl) {
    const __mmask16 m = pl % CB == CB - 1 ? lanes(last_lanes) : (__mmask16)0xFFFF;
    const float* xp = x + pl * S * 16;
    float* yp = y + pl * S * 16;
    switch (act.kind) {
      case kRelu:
        for (int64_t s = 0; s < S; ++s)
          _mm512_storeu_ps(yp + s * 16, _mm512_max_ps(_mm512_loadu_ps(xp + s * 16), _mm512_setzero_ps()));
        break;
      default:
        for (int64_t s = 0; s < S; ++s) {
          __m512 v = act_vec(act, _mm512_loadu_ps(xp + s * 16));
          if (m != 0xFFFF) v = _mm512_maskz_mov_ps(m, v);
          _mm512_storeu_ps(yp + s * 16, v);
        }
    }
  }
}

}  // namespace layout
}  // namespace snep
