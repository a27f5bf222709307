// Reorder of one-byte tensors (u8 / s8, the qint8 routines' activations)
// between Plain and NHWC, rank 3..5: per image a 2-D byte transpose
// [C][S] <-> [S][C] in 16x16 tiles (SSE2 unpack network), edges scalar;
// Plain -> Plain as a copy (any rank).
#include <emmintrin.h>

#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/common.h"

namespace snep {
namespace {

bool one_byte(DType t) { return t == DType::UInt8 || t == DType::Int8; }

bool supports(const Layer& l) {
  if (l.op != "Reorder" || l.inputs.size() != 1 || l.outputs.size() != 1 || !l.has_input(0)) return false;
  const TensorInfo &x = l.in(0), &y = l.out(0);
  if (!one_byte(x.dtype) || y.dtype != x.dtype || x.shape != y.shape) return false;
  if (x.layout == Layout::Plain && y.layout == Layout::Plain) return true;
  if (x.rank() < 3 || x.rank() > 5) return false;
  return (x.layout == Layout::Plain && y.layout == Layout::NHWC) ||
         (x.layout == Layout::NHWC && y.layout == Layout::Plain);
}

// dst[c][r] = src[r][c] for the 16x16 tile at src (row stride ss), dst (row stride ds).
inline void transpose16(const uint8_t* src, int64_t ss, uint8_t* dst, int64_t ds) {
  __m128i a[16], b[16];
  for (int i = 0; i < 16; ++i) a[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * ss));
  for (int i = 0; i < 8; ++i) {  // byte pairs of rows 2i, 2i+1: b[2i] columns 0-7, b[2i+1] columns 8-15
    b[2 * i] = _mm_unpacklo_epi8(a[2 * i], a[2 * i + 1]);
    b[2 * i + 1] = _mm_unpackhi_epi8(a[2 * i], a[2 * i + 1]);
  }
  for (int j = 0; j < 4; ++j) {  // rows 4j..4j+3: a[4j + k] holds columns 4k..4k+3
    a[4 * j + 0] = _mm_unpacklo_epi16(b[4 * j], b[4 * j + 2]);
    a[4 * j + 1] = _mm_unpackhi_epi16(b[4 * j], b[4 * j + 2]);
    a[4 * j + 2] = _mm_unpacklo_epi16(b[4 * j + 1], b[4 * j + 3]);
    a[4 * j + 3] = _mm_unpackhi_epi16(b[4 * j + 1], b[4 * j + 3]);
  }
  for (int h = 0; h < 2; ++h)    // rows 8h..8h+7: b[8h + 2k] columns 4k, 4k+1; b[8h + 2k + 1] columns 4k+2, 4k+3
    for (int k = 0; k < 4; ++k) {
      b[8 * h + 2 * k] = _mm_unpacklo_epi32(a[8 * h + k], a[8 * h + 4 + k]);
      b[8 * h + 2 * k + 1] = _mm_unpackhi_epi32(a[8 * h + k], a[8 * h + 4 + k]);
    }
  for (int k = 0; k < 8; ++k) {  // column pair (2k, 2k+1): rows 0-7 in b[k], rows 8-15 in b[8 + k]
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (2 * k) * ds), _mm_unpacklo_epi64(b[k], b[8 + k]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (2 * k + 1) * ds), _mm_unpackhi_epi64(b[k], b[8 + k]));
  }
}

// dst [Cc][R] = src [R][Cc], rows [r0, r1) of src.
void transpose_bytes(const uint8_t* src, uint8_t* dst, int64_t R, int64_t Cc, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r += 16) {
    const int64_t rn = std::min<int64_t>(16, r1 - r);
    int64_t c = 0;
    if (rn == 16)
      for (; c + 16 <= Cc; c += 16) transpose16(src + r * Cc + c, Cc, dst + c * R + r, R);
    for (; c < Cc; ++c)
      for (int64_t i = 0; i < rn; ++i) dst[c * R + r + i] = src[(r + i) * Cc + c];
  }
}

class ReorderBytesKernel : public Kernel {
 public:
  explicit ReorderBytesKernel(const Layer& l) {
    const auto& s = l.in(0).shape;
    copy_ = l.in(0).layout == l.out(0).layout;
    numel_ = prod(s);
    if (copy_) return;
    N_ = s[0];
    C_ = s[1];
    S_ = prod(s, 2);
    to_plain_ = l.out(0).layout == Layout::Plain;
  }
  void run(const RunArgs& a) override {
    const uint8_t* x = static_cast<const uint8_t*>(a.in[0]);
    uint8_t* y = static_cast<uint8_t*>(a.out[0]);
    if (copy_) {
      if (numel_) std::memcpy(y, x, (size_t)numel_);
      return;
    }
    const int64_t R = to_plain_ ? S_ : C_, Cc = to_plain_ ? C_ : S_;
    const int64_t rchunks = (R + 63) / 64, img = C_ * S_;
    auto body = [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / rchunks, r0 = (t % rchunks) * 64;
        transpose_bytes(x + n * img, y + n * img, R, Cc, r0, std::min(R, r0 + 64));
      }
    };
    if (a.pool && N_ * rchunks > 1) a.pool->parallel_for(N_ * rchunks, 1, body);
    else body(0, N_ * rchunks);
  }

 private:
  int64_t N_ = 0, C_ = 0, S_ = 0, numel_ = 0;
  bool to_plain_ = false, copy_ = false;
};

SNEP_REGISTER_LAMBDA("Reorder", "cpu:qint8/reorder", supports,
                     [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<ReorderBytesKernel>(l); });

}  // namespace
}  // namespace snep
