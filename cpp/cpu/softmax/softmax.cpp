// Softmax, LogSoftmax, Hardmax over float32. Before opset 13 the input is
// flattened to 2-D at `axis` (default 1); from 13 the op runs along `axis`
// (default -1). Two routines per op: cpu:float32/direct (baseline ISA) and
// cpu:float32/avx512 (same source, AVX-512 build; the baseline build's exp loop
// does not vectorise, so this one is the fast path). cpu:float32:nhwc/direct runs
// the same rows over a 4-D NHWC tensor: an axis is a physical one there (channels
// are rows of C), so only the reduced span moves (the AVX-512 build where present).
#include <algorithm>
#include <memory>
#include <vector>

#include "core/cpu_features.h"

#include "cpu/elementwise/ew_util.h"
#include "cpu/softmax/softmax_impl.h"

namespace snep {
namespace detail {
void softmax_f32_avx512(int mode, const float* x, float* y, int64_t outer, int64_t n, int64_t inner, int64_t tb,
                        int64_t te);
}
namespace {
using namespace ew;

using TaskFn = void (*)(int, const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);

void generic_tasks(int mode, const float* x, float* y, int64_t outer, int64_t n, int64_t inner, int64_t tb, int64_t te) {
  smx::softmax_tasks(mode, x, y, outer, n, inner, tb, te);
}

int64_t default_axis(const Layer& l) { return l.attrs.get_int("_opset", 13) < 13 ? 1 : -1; }

bool sm_supports(const Layer& l) {
  if (l.inputs.size() != 1 || l.outputs.size() != 1 || !all_float32(l) || l.out(0).shape != l.in(0).shape) return false;
  int r = l.in(0).rank();
  int64_t ax = l.attrs.get_int("axis", default_axis(l));
  if (r == 0) return false;
  return ax >= -r && ax < r;
}

// The (outer, n, inner) span of the softmax over x's physical order (Plain, or NHWC:
// logical dims [N, C, H, W] stored as [N, H, W, C]); false when the reduced dims are
// not one contiguous run of it (NHWC before opset 13 with axis 2 or 3: C interleaves).
bool physical_span(const Layer& l, int64_t* outer, int64_t* n, int64_t* inner) {
  const auto& s = l.in(0).shape;
  int ax = norm_axis(l.attrs.get_int("axis", default_axis(l)), (int)s.size());
  const bool flat = l.attrs.get_int("_opset", 13) < 13;  // reduce over every dim from ax on
  std::vector<int64_t> p = s;
  if (l.in(0).layout == Layout::NHWC) {
    static const int kPos[4] = {0, 3, 1, 2};  // logical dim -> physical position
    p = {s[0], s[2], s[3], s[1]};
    if (flat && ax >= 2) return false;
    ax = flat ? std::min(ax, 1) : kPos[ax];
  }
  *outer = prod(p, 0, ax);
  *n = flat ? prod(p, ax) : p[ax];
  *inner = flat ? 1 : prod(p, ax + 1);
  return true;
}

bool sm_nhwc_supports(const Layer& l) {
  int64_t o, n, i;
  return l.inputs.size() == 1 && l.outputs.size() == 1 && all_float32(l) && l.in(0).rank() == 4 &&
         l.in(0).layout == Layout::NHWC && l.out(0).layout == Layout::NHWC && l.out(0).shape == l.in(0).shape &&
         !l.in(0).const_data && sm_supports(l) && physical_span(l, &o, &n, &i);
}

std::unique_ptr<Kernel> sm_prepare(const Layer& l, TaskFn fn) {
  int64_t outer, n, inner;
  physical_span(l, &outer, &n, &inner);
  int mode = l.op == "Softmax" ? 0 : (l.op == "LogSoftmax" ? 1 : 2);
  int64_t tasks = inner == 1 ? outer : outer * ((inner + 15) / 16);
  int64_t per_task = inner == 1 ? n : n * std::min<int64_t>(16, inner);
  int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, per_task));
  if (n == 0 || outer == 0 || inner == 0) tasks = 0;
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const float* x = static_cast<const float*>(a.in[0]);
    float* y = static_cast<float*>(a.out[0]);
    par_for(a.pool, tasks, grain, [&](int64_t b, int64_t e) { fn(mode, x, y, outer, n, inner, b, e); });
  });
}

const bool registered = [] {
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    Registry::get().add(std::make_unique<LambdaRoutine>(
        op, "cpu:float32/direct", sm_supports, [](const Layer& l) { return sm_prepare(l, &generic_tasks); }));
    Registry::get().add(std::make_unique<LambdaRoutine>(
        op, "cpu:float32/avx512", sm_supports,
        [](const Layer& l) { return sm_prepare(l, &detail::softmax_f32_avx512); }, "avx512f"));
    Registry::get().add(std::make_unique<LambdaRoutine>(op, "cpu:float32:nhwc/direct", sm_nhwc_supports, [](const Layer& l) {
      return sm_prepare(l, cpu_has("avx512f") ? &detail::softmax_f32_avx512 : &generic_tasks);
    }));
  }
  return true;
}();

}  // namespace
}  // namespace snep
