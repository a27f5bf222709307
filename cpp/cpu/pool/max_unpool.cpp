// MaxUnpool (opset 9/11/22): Y zeros, then Y[I[e]] = X[e] for every element,
// I indexing the flattened tensor of the inferred shape
// (N, C, (in-1)*stride - pad_begin - pad_end + kernel ...). When the layer's
// output is larger (output_shape input), the inferred block sits at its
// origin, as onnx's reference places it. Any dtype (element copies); indices
// int64; sequential so repeated indices keep the last element, like the reference.
#include <cstring>
#include <memory>

#include "cpu/common.h"

namespace snep {
namespace {

bool unpool_inferred(const Layer& l, std::vector<int64_t>* inf) {
  const auto& x = l.in(0).shape;
  const int r = (int)x.size() - 2;
  const auto ks = l.attrs.get_ints("kernel_shape"), st = l.attrs.get_ints("strides"), pads = l.attrs.get_ints("pads");
  if (r < 1 || (int)ks.size() != r || (!st.empty() && (int)st.size() != r) || (!pads.empty() && (int)pads.size() != 2 * r))
    throw InvalidArgumentError(l.where() + ": kernel_shape / strides / pads do not match the input rank");
  *inf = {x[0], x[1]};
  for (int i = 0; i < r; ++i) {
    const int64_t s = st.empty() ? 1 : st[i];
    const int64_t d = (x[2 + i] - 1) * s - (pads.empty() ? 0 : pads[i] + pads[r + i]) + ks[i];
    if (s < 1 || d < 0) throw InvalidArgumentError(l.where() + ": bad strides / pads");
    inf->push_back(d);
  }
  return true;
}

bool unpool_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 3 || l.outputs.size() != 1 || !l.has_input(0) || !l.has_input(1)) return false;
  if (l.in(1).dtype != DType::Int64 || l.in(1).shape != l.in(0).shape || l.out(0).dtype != l.in(0).dtype) return false;
  if (dtype_size(l.in(0).dtype) == 0 || l.in(0).rank() < 3) return false;
  std::vector<int64_t> inf;
  unpool_inferred(l, &inf);
  const auto& y = l.out(0).shape;
  if (y.size() != inf.size()) return false;
  for (size_t i = 0; i < y.size(); ++i) if (y[i] < inf[i] || (i < 2 && y[i] != inf[i])) return false;
  return true;
}

std::unique_ptr<Kernel> unpool_prepare(const Layer& l) {
  std::vector<int64_t> inf;
  unpool_inferred(l, &inf);
  const auto y = l.out(0).shape;
  const bool same = y == inf;
  const int64_t n = l.in(0).numel(), total = prod(inf), ytotal = prod(y);
  const size_t es = dtype_size(l.in(0).dtype);
  const std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const char* x = static_cast<const char*>(a.in[0]);
    const int64_t* idx = static_cast<const int64_t*>(a.in[1]);
    char* out = static_cast<char*>(a.out[0]);
    std::memset(out, 0, es * (size_t)ytotal);
    for (int64_t e = 0; e < n; ++e) {
      int64_t i = idx[e];
      if (i < 0 || i >= total) throw InvalidArgumentError(where + ": index out of range");
      if (!same) {  // unravel in the inferred shape, ravel in the output's
        int64_t o = 0, mul = 1;
        for (int d = (int)inf.size() - 1; d >= 0; --d) {
          o += (i % inf[d]) * mul;
          i /= inf[d];
          mul *= y[d];
        }
        i = o;
      }
      std::memcpy(out + es * (size_t)i, x + es * (size_t)e, es);
    }
  });
}

const bool reg_unpool = (Registry::get().add(std::make_unique<LambdaRoutine>(
    "MaxUnpool", "cpu/direct", unpool_supports, unpool_prepare)), true);

}  // namespace
}  // namespace snep
