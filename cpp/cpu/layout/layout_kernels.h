// Kernels over channel-blocked float32 tensors (NCHW16c: [N, ceil(C/16), H, W, 16],
// NCHW8c alike with 8; pad lanes zero). One body (blocked_kernels_impl.h) is built
// per block width: 16 with AVX-512 (*16c_avx512), 8 with AVX2 (*8c_avx2). The
// ISA code lives in nchw16c_avx512.cpp / nchw8c_avx2.cpp and sees only these
// plain structs and pointers (no library templates, so nothing compiled with
// AVX-512 flags can be merged into code that runs elsewhere); the routines in
// blocked_routines.cpp / reorder.cpp resolve the layers, pack weights and split the work
// over threads, calling a kernel per range of work items.
#pragma once
#include <cstdint>

namespace snep {
namespace layout {

// Activation epilogue (same kinds and parameters as cpu/activation.h's Act).
struct ActP {
  int kind = 0;  // Act enum value
  float a = 0, b = 0;
};

// ---- Reorder (reorder_avx512.cpp) -------------------------------------------
// One image: Plain [C, S] -> 16c [CB, S, 16] (pad lanes zeroed), channel
// block cb, spatial positions [s0, s1).
void plain_to_16c_avx512(const float* x, float* y, int64_t C, int64_t S, int64_t cb, int64_t s0, int64_t s1);
// One image: 16c [CB, S, 16] -> Plain [C, S], channel block cb, positions [s0, s1).
void b16c_to_plain_avx512(const float* x, float* y, int64_t C, int64_t S, int64_t cb, int64_t s0, int64_t s1);

// ---- Conv direct ------------------------------------------------------------------
// Widest register tile (output columns) for 1..4 blocks of output channels:
// accumulators, one weight vector per block and a broadcast fit the 32 zmm
// registers (16-lane blocks) or the 16 ymm registers (8-lane blocks). With ymm,
// tiles that fill all 16 (2 blocks x 6, 3 x 4) spilled: 2 x 5 ran ResNet50's 1x1
// layers at 82-90 GFLOP/s on one core against 60-64 for 3 x 4 (AVX2 peak about 95).
constexpr int64_t kConvMaxUr[5] = {0, 16, 12, 8, 6};
constexpr int64_t kConvMaxUr8[5] = {0, 12, 5, 3, 2};
struct ConvArgs {
  int64_t ICB, IH, IW;          // input blocks and spatial
  int64_t OCB, OH, OW, M;       // output blocks, spatial, real channel count
  int64_t KH, KW, SH, SW, DH, DW, PH, PW;
  int64_t ow_lo, ow_hi;         // output columns whose whole kernel row lies inside the input
  int64_t ocg;                  // oc blocks per weight group (1..4); groups = ceil(OCB/ocg)
  int64_t ur;                   // output columns per register tile (at most kConvMaxUr[blocks])
  int64_t icb_chunk = 1 << 30;  // input blocks per pass over a piece (direct conv)
  int64_t row_pieces = 1, col_pieces = 1;  // direct conv: the output plane is cut into near-equal pieces
  // software prefetch of the next chunk's weights into L2 (direct conv): 0 none, 1 a burst at
  // the start of each tile, 2 (default) a few lines before each kernel tap of the tile
  int prefetch = 2;
  int piece_outer = 0;          // direct conv: items walk every group of a piece before the next piece
  // direct conv, a 1x1 without padding (NCHW16c input): tiles take the tap-free path. Its output
  // is one row: stride 1, the input too (IH = OH = 1); strided, sub_ow > 0 and column q is pixel
  // (q / sub_ow, q % sub_ow) of the real output (IH, IW, SH, SW stay real)
  int pw = 0;
  int64_t sub_ow = 0;
  int plain_in = 0;             // direct conv: x is NCHW (C channels), y still NCHW16c
  int64_t C = 0;                // input channels (read when plain_in)
  ActP act;
};
// x is NCHW16c (or NCHW with plain_in: [N, C, IH, IW]; ICB = ceil(C/16)).
// Work items [b, e) of N * groups * pieces, pieces = row_pieces * col_pieces
// (piece (r, c) holds rows [r*OH/row_pieces, (r+1)*OH/row_pieces) and the
// columns alike): item = (n * groups + g) * pieces + piece, or with
// piece_outer (n * pieces + piece) * groups + g. Each item
// walks the input blocks in chunks of icb_chunk, accumulating into y.
// w: packed [G][ICB][KH][KW][Bic][ocg*Boc] (B the block; the last group may hold fewer
// blocks, packed with that count); bias: padded to OCB*B (zeros when absent).
void conv16c_avx512(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                    int64_t b, int64_t e);

// ---- Depthwise (nchw16c_avx512.cpp) -------------------------------------------
// Work items of N * CB * OH. w packed [CB][KH][KW][16]; bias padded to CB*16.
void dw16c_avx512(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                  int64_t b, int64_t e);

// ---- Pooling (nchw16c_avx512.cpp) ---------------------------------------------
struct PoolArgs {
  int64_t CB, IH, IW, OH, OW;
  int64_t dh, dw;  // dilations
  // per output row / column: first valid input index, valid taps, taps inside the padded input
  const int64_t *hf, *hc, *hp, *wf, *wc, *wp;
  int max = 1;     // 1: MaxPool, 0: AveragePool
  int include_pad = 0;
  int last_lanes = 16;  // real lanes of block CB-1
};
// Work items of N * CB * OH.
void pool16c_avx512(const PoolArgs& g, const float* x, float* y, int64_t b, int64_t e);
// Planes [b, e) of N * CB, each S vectors -> one vector (mean).
void gap16c_avx512(const float* x, float* y, int64_t S, int64_t b, int64_t e);

// ---- Elementwise (nchw16c_avx512.cpp) ---------------------------------------------
// Vectors [b, e) of planes of S vectors: y = x op s, with s the same shape
// (s_per_plane = 0) or one vector per plane (s_per_plane = 1). op: 0 add, 1 mul.
void binary16c_avx512(int op, const float* x, const float* s, float* y, int64_t S, int s_per_plane, int64_t b,
                      int64_t e);
// Planes [b, e) of N * CB, each S vectors: y = act(x); pad lanes of block CB-1
// (lanes >= last_lanes) are written zero.
void act16c_avx512(const ActP& act, const float* x, float* y, int64_t CB, int64_t S, int last_lanes, int64_t b,
                   int64_t e);


// The same kernels over NCHW8c (nchw8c_avx2.cpp); every "16" above reads 8.
void conv8c_avx2(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                 int64_t b, int64_t e);
void dw8c_avx2(const ConvArgs& g, const float* x, const float* w, const float* bias, const float* z, float* y,
               int64_t b, int64_t e);
void pool8c_avx2(const PoolArgs& g, const float* x, float* y, int64_t b, int64_t e);
void gap8c_avx2(const float* x, float* y, int64_t S, int64_t b, int64_t e);
void binary8c_avx2(int op, const float* x, const float* s, float* y, int64_t S, int s_per_plane, int64_t b,
                   int64_t e);
void act8c_avx2(const ActP& act, const float* x, float* y, int64_t CB, int64_t S, int last_lanes, int64_t b,
                int64_t e);

// One block width's kernel set, as the routines in blocked_routines.cpp pick it.
struct BlockedKernels {
  int64_t B;                 // lanes per block
  const int64_t* max_ur;     // kConvMaxUr / kConvMaxUr8
  decltype(&conv16c_avx512) conv, dw;
  decltype(&pool16c_avx512) pool;
  decltype(&gap16c_avx512) gap;
  decltype(&binary16c_avx512) binary;
  decltype(&act16c_avx512) act;
};
constexpr BlockedKernels kBlocked16 = {16, kConvMaxUr, conv16c_avx512, dw16c_avx512, pool16c_avx512,
                                       gap16c_avx512, binary16c_avx512, act16c_avx512};
constexpr BlockedKernels kBlocked8 = {8, kConvMaxUr8, conv8c_avx2, dw8c_avx2, pool8c_avx2,
                                      gap8c_avx2, binary8c_avx2, act8c_avx2};

}  // namespace layout
}  // namespace snep
