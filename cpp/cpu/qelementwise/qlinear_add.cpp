// QLinearAdd (com.microsoft's contrib op; also what graph_passes/qdq.py makes of
// DequantizeLinear -> Add -> QuantizeLinear): u8 tensors with per-tensor scales and
// zero points, same shapes or a scalar B. Engine extension: attr activation="Relu".
#include <string>

#include "core/cpu_features.h"
#include "core/routine.h"
#include "cpu/elementwise/ew_util.h"
#include "cpu/qelementwise/qlinear_add_kernel.h"

namespace snep {
namespace detail {
void qlinear_add_u8_avx512(const uint8_t* a, const uint8_t* b, int64_t b_step, uint8_t* y, int64_t n, float ra,
                           float rb, int32_t za, int32_t zb, int32_t zc, int32_t lo);
}
namespace qadd {
AddU8Fn best_add_u8() { return cpu_has("avx512f") ? &detail::qlinear_add_u8_avx512 : &add_u8; }
}  // namespace qadd
namespace {

using AddFn = void (*)(const uint8_t*, const uint8_t*, int64_t, uint8_t*, int64_t, float, float, int32_t, int32_t,
                       int32_t, int32_t);

bool qadd_supports(const Layer& l) {
  if (l.inputs.size() != 8 || l.outputs.size() != 1) return false;
  for (int i = 0; i < 8; ++i)
    if (!l.has_input(i) || l.in(i).layout != Layout::Plain) return false;
  for (int i : {0, 2, 3, 5, 7})
    if (l.in(i).dtype != DType::UInt8) return false;
  for (int i : {1, 4, 6})
    if (l.in(i).dtype != DType::Float32) return false;
  for (int i : {1, 2, 4, 5, 6, 7})
    if (l.in(i).numel() != 1) return false;
  if (l.out(0).dtype != DType::UInt8 || l.out(0).shape != l.in(0).shape) return false;
  if (l.in(3).shape != l.in(0).shape && l.in(3).numel() != 1) return false;
  std::string act = l.attrs.get_string("activation", "");
  return act.empty() || act == "Relu";
}

std::unique_ptr<Kernel> qadd_prepare(const Layer& l) {
  int64_t n = l.out(0).numel();
  int64_t b_step = l.in(3).numel() == 1 ? 0 : 1;
  bool relu = l.attrs.get_string("activation", "") == "Relu";
  AddFn fn = qadd::best_add_u8();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    float sa = *static_cast<const float*>(a.in[1]), sb = *static_cast<const float*>(a.in[4]);
    float sc = *static_cast<const float*>(a.in[6]);
    int32_t za = *static_cast<const uint8_t*>(a.in[2]), zb = *static_cast<const uint8_t*>(a.in[5]);
    int32_t zc = *static_cast<const uint8_t*>(a.in[7]);
    float ra = sa / sc, rb = sb / sc;
    const uint8_t* x = static_cast<const uint8_t*>(a.in[0]);
    const uint8_t* b = static_cast<const uint8_t*>(a.in[3]);
    uint8_t* y = static_cast<uint8_t*>(a.out[0]);
    ew::par_for(a.pool, n, 1 << 15, [&](int64_t lo, int64_t hi) {
      fn(x + lo, b + lo * b_step, b_step, y + lo, hi - lo, ra, rb, za, zb, zc, relu ? zc : 0);
    });
  });
}
SNEP_REGISTER_LAMBDA("QLinearAdd", "cpu:qint8/direct", qadd_supports, qadd_prepare);

}  // namespace
}  // namespace snep
