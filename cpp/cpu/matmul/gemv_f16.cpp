// Gemm / MatMul with float16 weights, fp32 compute, for M <= 16 rows (batch-1
// fully-connected layers): Y = act( alpha * A fp16(B) + beta * C ). The
// constant B is rounded to IEEE fp16 (nearest even) at prepare and kept only
// in that form (half the bytes); each task streams one 64-column panel of it
// for up to 4 rows of A at a time. Weights beyond fp16's range are refused.
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/gemm/gemv_f16w.h"
#include "cpu/gemm/sgemm.h"
#include "cpu/matmul/linear_routines.h"

namespace snep {
namespace linear {
namespace {

constexpr int64_t kMaxRows = 16;
constexpr int PC = gemm::kF16PanelCols;

class GemvF16Kernel : public Kernel {
 public:
  explicit GemvF16Kernel(const Layer& l) : s_(linear_of(l)) {
    act_ = Activation::from_attrs(l.attrs);
    const int64_t K = s_.K, N = s_.N;
    w_.assign((size_t)std::max<int64_t>(gemm::round_up(N, 16) * K, 1), 0);
    const float* b = l.in(1).cdata<float>();
    std::vector<float> row(PC);
    for (int64_t q = 0; q * PC < N; ++q) {
      const int64_t j0 = q * PC;
      const int wc = panel_cols(q);
      for (int64_t k = 0; k < K; ++k) {
        for (int j = 0; j < wc; ++j) row[j] = j0 + j < N ? b[k * s_.brs + (j0 + j) * s_.bcs] : 0.f;
        gemm::f32_to_f16_avx512(row.data(), wc, w_.data() + j0 * K + k * wc);
      }
    }
  }

  bool reads_input_at_run(int i) const override { return i != 1; }

  size_t workspace_bytes() const override {
    return contiguous_a() ? 0 : (size_t)(s_.M * s_.K) * sizeof(float);
  }

  void run(const RunArgs& a) override {
    const float* x = static_cast<const float*>(a.in[0]);
    if (!contiguous_a()) {
      float* xc = static_cast<float*>(a.workspace);
      for (int64_t i = 0; i < s_.M; ++i)
        for (int64_t k = 0; k < s_.K; ++k) xc[i * s_.K + k] = x[i * s_.ars + k * s_.acs];
      x = xc;
    }
    const float* c = s_.c_input >= 0 ? static_cast<const float*>(a.in[s_.c_input]) : nullptr;
    float* y = static_cast<float*>(a.out[0]);
    const int64_t npanels = (s_.N + PC - 1) / PC;
    a.pool->parallel_for(npanels, 1, [this, x, c, y](int64_t b, int64_t e) {
      for (int64_t q = b; q < e; ++q) panel(x, c, y, q);
    });
  }

 private:
  bool contiguous_a() const { return s_.acs == 1 && s_.ars == s_.K; }
  int panel_cols(int64_t q) const { return (int)std::min<int64_t>(PC, gemm::round_up(s_.N - q * PC, 16)); }

  void panel(const float* x, const float* c, float* y, int64_t q) const {
    alignas(64) float acc[4 * PC];
    const int64_t j0 = q * PC, K = s_.K, N = s_.N;
    const int wc = panel_cols(q);
    const int nc = (int)std::min<int64_t>(PC, N - j0);
    for (int64_t i0 = 0; i0 < s_.M; i0 += 4) {
      const int m = (int)std::min<int64_t>(4, s_.M - i0);
      if (K > 0) gemm::gemv_f16w_panel_avx512(x + i0 * K, K, m, w_.data() + j0 * K, wc, acc);
      else std::fill(acc, acc + 4 * PC, 0.f);
      for (int i = 0; i < m; ++i) {
        float* yr = y + (i0 + i) * N + j0;
        const float* ar = acc + i * PC;
        for (int j = 0; j < nc; ++j) {
          float v = s_.alpha * ar[j];
          if (c) v += s_.beta * c[(i0 + i) * s_.c_sm + (j0 + j) * s_.c_sn];
          yr[j] = v;
        }
        act_.apply(yr, nc);
      }
    }
  }

  Linear s_;
  Activation act_;
  std::vector<uint16_t> w_;
};

}  // namespace

bool f16_gemv_supports(const Layer& l) {
  const Linear s = linear_of(l);
  if (!s.ok || !l.in(1).const_data || s.M > kMaxRows) return false;
  const float* b = l.in(1).cdata<float>();
  for (int64_t i = 0, n = s.K * s.N; i < n; ++i)
    if (std::isfinite(b[i]) && std::fabs(b[i]) > 65504.f) return false;
  return true;
}

std::unique_ptr<Kernel> f16_gemv_prepare(const Layer& l) { return std::make_unique<GemvF16Kernel>(l); }

}  // namespace linear
}  // namespace snep
