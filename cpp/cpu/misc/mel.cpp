// MelWeightMatrix (opset 17): (dft_length/2 + 1, num_mel_bins) triangular
// filters, bins placed as onnx's reference places them:
//   mel(f) = 2595 * log10(1 + f/700), num_mel_bins + 2 points stepped by
//   (mel(upper) - mel(lower)) / (num_mel_bins + 2) from mel(lower),
//   bin = floor((dft_length + 1) * hz(point) / sample_rate).
// The output shape comes from the layer; the runtime operands are checked
// against it. Output float32 / float64 / float16 (output_datatype).
#include <cmath>
#include <memory>
#include <vector>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

bool mel_int(DType t) { return t == DType::Int32 || t == DType::Int64; }
int64_t mel_read_int(DType t, const void* p) {
  return t == DType::Int32 ? *static_cast<const int32_t*>(p) : *static_cast<const int64_t*>(p);
}
double mel_read_float(DType t, const void* p) {
  switch (t) {
    case DType::Float32: return *static_cast<const float*>(p);
    case DType::Float64: return *static_cast<const double*>(p);
    case DType::Float16: return h2f(*static_cast<const uint16_t*>(p));
    default: return 0;
  }
}

bool mel_supports(const Layer& l) {
  if (l.inputs.size() != 5 || l.outputs.size() != 1) return false;
  for (int k = 0; k < 5; ++k) if (!l.has_input(k) || l.in(k).numel() != 1) return false;
  for (int k = 0; k < 3; ++k) if (!mel_int(l.in(k).dtype)) return false;
  if (!is_float(l.in(3).dtype) || l.in(4).dtype != l.in(3).dtype) return false;
  const DType t = l.out(0).dtype;
  if (!is_float(t) || (int64_t)t != l.attrs.get_int("output_datatype", 1) || l.out(0).rank() != 2) return false;
  return true;
}

template <class T>
std::unique_ptr<Kernel> make_mel(const Layer& l) {
  const int64_t rows = l.out(0).shape[0], cols = l.out(0).shape[1];
  DType ti[5];
  for (int k = 0; k < 5; ++k) ti[k] = l.in(k).dtype;
  const std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const int64_t nmel = mel_read_int(ti[0], a.in[0]), dft = mel_read_int(ti[1], a.in[1]);
    const int64_t sr = mel_read_int(ti[2], a.in[2]);
    const double lo = mel_read_float(ti[3], a.in[3]), hi = mel_read_float(ti[4], a.in[4]);
    if (nmel != cols || dft / 2 + 1 != rows) throw InvalidArgumentError(where + ": operands do not match the planned output shape");
    if (sr <= 0 || nmel < 0) throw InvalidArgumentError(where + ": sample_rate must be positive");
    const double lmel = 2595.0 * std::log1p(lo / 700.0) / std::log(10.0);
    const double hmel = 2595.0 * std::log1p(hi / 700.0) / std::log(10.0);
    const double step = (hmel - lmel) / (double)(nmel + 2);
    T* y = static_cast<T*>(a.out[0]);
    for (int64_t e = 0; e < rows * cols; ++e) y[e] = Num<T>::st(CT<T>(0));
    auto bin = [&](int64_t i) {
      const double hz = 700.0 * std::expm1(((double)i * step + lmel) / 2595.0 * std::log(10.0));
      return (int64_t)std::floor((double)(dft + 1) * hz / (double)sr);
    };
    auto set = [&](int64_t r, int64_t c, double v) {
      if (r < 0 || r >= rows) throw InvalidArgumentError(where + ": mel bin outside the spectrogram");
      y[r * cols + c] = Num<T>::st((CT<T>)v);
    };
    for (int64_t i = 0; i < nmel; ++i) {
      const int64_t b0 = bin(i), b1 = bin(i + 1), b2 = bin(i + 2);
      if (b1 == b0) set(b1, i, 1.0);
      else for (int64_t j = b0; j <= b1; ++j) set(j, i, (double)(j - b0) / (double)(b1 - b0));
      if (b2 > b1) for (int64_t j = b1; j < b2; ++j) set(j, i, (double)(b2 - j) / (double)(b2 - b1));
    }
  });
}

const bool reg_mel = (reg("MelWeightMatrix", "cpu/direct", mel_supports,
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.out(0).dtype, T, k = make_mel<T>(l));
      return k;
    }), true);

}  // namespace
}  // namespace snep
