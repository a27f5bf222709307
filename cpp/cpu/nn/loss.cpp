// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12/13+):
// input (N, C, d...), target (N, d...) int32/int64, optional weight (C);
// reduction none / sum / mean (mean divides by the summed weights of the
// non-ignored targets); ignore_index. SoftmaxCrossEntropyLoss computes a
// log-softmax over C first and may output it (log_prob). float32/float64,
// statistics in double.
#include <cmath>
#include <limits>
#include <memory>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

bool loss_supports(const Layer& l, bool sce) {
  if (l.inputs.size() < 2 || l.inputs.size() > 3 || l.outputs.empty()) return false;
  if (l.outputs.size() > (sce ? 2u : 1u)) return false;
  DType t = l.in(0).dtype;
  if (t != DType::Float32 && t != DType::Float64) return false;
  const auto& x = l.in(0).shape;
  if (x.size() < 2) return false;
  DType tt = l.in(1).dtype;
  if (tt != DType::Int32 && tt != DType::Int64) return false;
  std::vector<int64_t> ts = {x[0]};
  ts.insert(ts.end(), x.begin() + 2, x.end());
  if (l.in(1).shape != ts) return false;
  if (l.has_input(2) && (l.in(2).dtype != t || l.in(2).shape != std::vector<int64_t>{x[1]})) return false;
  std::string red = l.attrs.get_string("reduction", "mean");
  if (red != "mean" && red != "sum" && red != "none") return false;
  if (l.out(0).dtype != t) return false;
  if (red == "none" ? l.out(0).shape != ts : l.out(0).numel() != 1) return false;
  if (l.outputs.size() > 1 && (l.out(1).dtype != t || l.out(1).shape != x)) return false;
  return true;
}

template <class T, class I>
std::unique_ptr<Kernel> make_loss(const Layer& l, bool sce) {
  const auto& x = l.in(0).shape;
  const int64_t N = x[0], C = x[1], D = prod(x, 2);
  const bool has_w = l.has_input(2);
  const bool has_ii = l.attrs.has("ignore_index");
  const int64_t ii = l.attrs.get_int("ignore_index", 0);
  const std::string red = l.attrs.get_string("reduction", "mean");
  const int rmode = red == "none" ? 0 : red == "sum" ? 1 : 2;
  const bool out_lp = l.outputs.size() > 1;
  const size_t ws = sce && !out_lp ? (size_t)(N * C * D) * sizeof(T) : 0;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const T* in = static_cast<const T*>(a.in[0]);
    const I* tg = static_cast<const I*>(a.in[1]);
    const T* w = has_w ? static_cast<const T*>(a.in[2]) : nullptr;
    T* out = static_cast<T*>(a.out[0]);
    const T* lp = in;
    if (sce) {
      T* dst = out_lp ? static_cast<T*>(a.out[1]) : static_cast<T*>(a.workspace);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t d = 0; d < D; ++d) {
          const T* xr = in + n * C * D + d;
          T* yr = dst + n * C * D + d;
          T m = -std::numeric_limits<T>::infinity();
          for (int64_t c = 0; c < C; ++c) m = std::max(m, xr[c * D]);
          double s = 0;
          for (int64_t c = 0; c < C; ++c) s += std::exp((double)xr[c * D] - (double)m);
          double ls = std::log(s);
          for (int64_t c = 0; c < C; ++c) yr[c * D] = (T)((double)xr[c * D] - (double)m - ls);
        }
      lp = dst;
    }
    double sum = 0, wsum = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d) {
        int64_t t = (int64_t)tg[n * D + d];
        double v = 0, wt = 0;
        if (!(has_ii && t == ii) && t >= 0 && t < C) {
          wt = w ? (double)w[t] : 1.0;
          v = -(double)lp[(n * C + t) * D + d] * wt;
        }
        if (rmode == 0) out[n * D + d] = (T)v;
        sum += v;
        wsum += wt;
      }
    if (rmode == 1) out[0] = (T)sum;
    else if (rmode == 2) out[0] = (T)(sum / wsum);
  }, ws);
}

std::unique_ptr<Kernel> prep_loss(const Layer& l, bool sce) {
  bool i64 = l.in(1).dtype == DType::Int64;
  if (l.in(0).dtype == DType::Float32)
    return i64 ? make_loss<float, int64_t>(l, sce) : make_loss<float, int32_t>(l, sce);
  return i64 ? make_loss<double, int64_t>(l, sce) : make_loss<double, int32_t>(l, sce);
}

const bool reg_nll = (reg("NegativeLogLikelihoodLoss", "cpu/direct",
    [](const Layer& l) { return loss_supports(l, false); },
    [](const Layer& l) { return prep_loss(l, false); }), true);
const bool reg_sce = (reg("SoftmaxCrossEntropyLoss", "cpu/direct",
    [](const Layer& l) { return loss_supports(l, true); },
    [](const Layer& l) { return prep_loss(l, true); }), true);

}  // namespace
}  // namespace snep
