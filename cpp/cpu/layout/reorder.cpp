// Reorder: the engine-internal adapt op that moves a float32 tensor between
// layouts (same logical shape). Plain <-> NCHW16c / NCHW8c / NHWC and NHWC <->
// NCHW16c / NCHW8c for rank 3..5 (N, C, spatial...), and Plain -> Plain as a copy
// (any rank). Work splits over
// (image, channel block, spatial chunk); the 16c conversions use AVX-512
// 16x16 transposes where the CPU has them, the others cache-sized tiles.
#include <algorithm>
#include <cstring>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/common.h"
#include "cpu/layout/layout_kernels.h"
#include "cpu/layout/reorder.h"

namespace snep {
namespace {

constexpr int64_t kChunk = 512;  // spatial positions per work item (multiple of 16)

bool reorder_supports(const Layer& l) {
  if (l.op != "Reorder" || l.inputs.size() != 1 || l.outputs.size() != 1 || !l.has_input(0)) return false;
  const TensorInfo& x = l.in(0);
  const TensorInfo& y = l.out(0);
  if (x.dtype != DType::Float32 || y.dtype != DType::Float32 || x.shape != y.shape) return false;
  if (x.layout == Layout::Plain && y.layout == Layout::Plain) return true;
  if (x.rank() < 3 || x.rank() > 5) return false;
  if ((x.layout == Layout::Plain) != (y.layout == Layout::Plain)) return true;
  return (x.layout == Layout::NHWC && layout_block(y.layout) > 1) ||
         (layout_block(x.layout) > 1 && y.layout == Layout::NHWC);
}

// NHWC [S, C] <-> blocked [CB, S, B] for one image, block cb, positions [s0, s1): per
// position one run of the block's channels (pad lanes written zero).
void nhwc_to_blocked(const float* x, float* y, int64_t C, int64_t S, int B, int64_t cb, int64_t s0, int64_t s1) {
  const int64_t cv = std::min<int64_t>(B, C - cb * B);
  for (int64_t s = s0; s < s1; ++s) {
    float* d = y + (cb * S + s) * B;
    std::memcpy(d, x + s * C + cb * B, (size_t)cv * sizeof(float));
    for (int64_t j = cv; j < B; ++j) d[j] = 0.f;
  }
}

void blocked_to_nhwc(const float* x, float* y, int64_t C, int64_t S, int B, int64_t cb, int64_t s0, int64_t s1) {
  const int64_t cv = std::min<int64_t>(B, C - cb * B);
  for (int64_t s = s0; s < s1; ++s) std::memcpy(y + s * C + cb * B, x + (cb * S + s) * B, (size_t)cv * sizeof(float));
}

// Plain [C, S] -> blocked [CB, S, B] for one image, block cb, positions [s0, s1).
void plain_to_blocked(const float* x, float* y, int64_t C, int64_t S, int B, int64_t cb, int64_t s0, int64_t s1) {
  const int64_t cv = std::min<int64_t>(B, C - cb * B);
  const float* xb = x + cb * B * S;
  float* yb = y + cb * S * B;
  for (int64_t s = s0; s < s1; s += 16) {
    const int64_t n = std::min<int64_t>(16, s1 - s);
    for (int64_t i = 0; i < n; ++i) {
      float* d = yb + (s + i) * B;
      for (int64_t j = 0; j < cv; ++j) d[j] = xb[j * S + s + i];
      for (int64_t j = cv; j < B; ++j) d[j] = 0.f;
    }
  }
}

void blocked_to_plain(const float* x, float* y, int64_t C, int64_t S, int B, int64_t cb, int64_t s0, int64_t s1) {
  const int64_t cv = std::min<int64_t>(B, C - cb * B);
  const float* xb = x + cb * S * B;
  float* yb = y + cb * B * S;
  for (int64_t s = s0; s < s1; s += 16) {
    const int64_t n = std::min<int64_t>(16, s1 - s);
    for (int64_t j = 0; j < cv; ++j) {
      float* d = yb + j * S + s;
      const float* src = xb + s * B + j;
      for (int64_t i = 0; i < n; ++i) d[i] = src[i * B];
    }
  }
}

// [R, Ccols] row-major -> [Ccols, R] for rows [r0, r1) (all columns), 16x16 tiles.
void transpose_rows(const float* x, float* y, int64_t R, int64_t Cc, int64_t r0, int64_t r1) {
  for (int64_t c0 = 0; c0 < Cc; c0 += 16) {
    const int64_t cn = std::min<int64_t>(16, Cc - c0);
    for (int64_t rr = r0; rr < r1; rr += 16) {
      const int64_t rn = std::min<int64_t>(16, r1 - rr);
      for (int64_t j = 0; j < cn; ++j) {
        float* d = y + (c0 + j) * R + rr;
        const float* s = x + rr * Cc + c0 + j;
        for (int64_t i = 0; i < rn; ++i) d[i] = s[i * Cc];
      }
    }
  }
}

class ReorderKernel : public Kernel {
 public:
  explicit ReorderKernel(const Layer& l) : from_(l.in(0).layout), to_(l.out(0).layout), shape_(l.in(0).shape) {
    numel_ = l.in(0).numel();
    if (shape_.size() >= 3) {
      N_ = shape_[0];
      C_ = shape_[1];
      S_ = prod(shape_, 2);
    }
    avx512_ = cpu_has("avx512f");
  }

  void run(const RunArgs& a) override {
    const float* x = static_cast<const float*>(a.in[0]);
    float* y = static_cast<float*>(a.out[0]);
    if (from_ == Layout::Plain && to_ == Layout::Plain) {
      a.pool->parallel_for(numel_, 1 << 16, [&](int64_t b, int64_t e) {
        std::memcpy(y + b, x + b, (size_t)(e - b) * sizeof(float));
      });
      return;
    }
    if (from_ != Layout::Plain && to_ != Layout::Plain) {  // NHWC <-> blocked
      const bool to_blocked = from_ == Layout::NHWC;
      const int B = layout_block(to_blocked ? to_ : from_);
      const int64_t CB = (C_ + B - 1) / B, sch = (S_ + kChunk - 1) / kChunk;
      const int64_t nhwc_img = C_ * S_, blk_img = CB * B * S_;
      a.pool->parallel_for(N_ * CB * sch, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t n = t / (CB * sch), cb = (t / sch) % CB, s0 = (t % sch) * kChunk;
          const int64_t s1 = std::min<int64_t>(S_, s0 + kChunk);
          if (to_blocked) nhwc_to_blocked(x + n * nhwc_img, y + n * blk_img, C_, S_, B, cb, s0, s1);
          else blocked_to_nhwc(x + n * blk_img, y + n * nhwc_img, C_, S_, B, cb, s0, s1);
        }
      });
      return;
    }
    const Layout other = from_ == Layout::Plain ? to_ : from_;
    const bool to_plain = to_ == Layout::Plain;
    if (other == Layout::NHWC) {
      // Plain [n][C][S] <-> NHWC [n][S][C]: per image a 2-D transpose, split along
      // the rows of the source.
      const int64_t R = to_plain ? S_ : C_, Cc = to_plain ? C_ : S_;
      const int64_t rchunks = (R + 63) / 64;
      a.pool->parallel_for(N_ * rchunks, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t n = t / rchunks, r0 = (t % rchunks) * 64, r1 = std::min<int64_t>(R, r0 + 64);
          transpose_rows(x + n * C_ * S_, y + n * C_ * S_, R, Cc, r0, r1);
        }
      });
      return;
    }
    const int B = layout_block(other);
    const int64_t CB = (C_ + B - 1) / B;
    const int64_t sch = (S_ + kChunk - 1) / kChunk;
    const int64_t plain_img = C_ * S_, blk_img = CB * B * S_;
    const bool fast = B == 16 && avx512_;
    a.pool->parallel_for(N_ * CB * sch, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / (CB * sch), cb = (t / sch) % CB, s0 = (t % sch) * kChunk;
        const int64_t s1 = std::min<int64_t>(S_, s0 + kChunk);
        if (!to_plain) {
          if (fast) layout::plain_to_16c_avx512(x + n * plain_img, y + n * blk_img, C_, S_, cb, s0, s1);
          else plain_to_blocked(x + n * plain_img, y + n * blk_img, C_, S_, B, cb, s0, s1);
        } else {
          if (fast) layout::b16c_to_plain_avx512(x + n * blk_img, y + n * plain_img, C_, S_, cb, s0, s1);
          else blocked_to_plain(x + n * blk_img, y + n * plain_img, C_, S_, B, cb, s0, s1);
        }
      }
    });
  }

 private:
  Layout from_, to_;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0, N_ = 0, C_ = 0, S_ = 0;
  bool avx512_ = false;
};

SNEP_REGISTER_LAMBDA("Reorder", "cpu:float32/reorder", reorder_supports,
                     [](const Layer& l) -> std::unique_ptr<Kernel> { return std::make_unique<ReorderKernel>(l); });

}  // namespace

std::unique_ptr<Kernel> make_reorder_kernel(const std::vector<int64_t>& shape, Layout from, Layout to) {
  Layer l;
  l.op = "Reorder";
  TensorInfo x, y;
  x.shape = y.shape = shape;
  x.layout = from;
  y.layout = to;
  l.inputs = {x};
  l.outputs = {y};
  SNEP_CHECK(reorder_supports(l), FailError, "no Reorder between these layouts");
  return std::make_unique<ReorderKernel>(l);
}

}  // namespace snep
