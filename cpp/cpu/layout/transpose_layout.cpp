// Transpose between ONNX's channels-first and channels-last orders (perm
// [0, 2, ..., r-1, 1] and its inverse, rank 3..5) as a layout change. A tensor
// held in NHWC already has the bytes of its channels-last transpose, so
// Transpose(0,2,3,1) reading NHWC and writing plain is the same bytes, and so
// is Transpose(0,3,1,2) reading plain and writing NHWC: "view" routines, which
// lowering places on their input's bytes (graph_passes/byte_views) and which
// copy only where it could not. From the channel-blocked layouts the same
// Transposes are a Reorder to or from NHWC. Exporters write ConvNeXt's and
// Swin's channel LayerNorms and MLPs this way (Transpose, LayerNormalization
// or MatMul on the last axis, Transpose back): with these routines DPRS can keep
// the convolutions in NHWC or blocked form around them instead of paying two
// strided transposes.
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/common.h"
#include "cpu/layout/reorder.h"

namespace snep {
namespace {

enum class Dir { ToLast, ToFirst };  // channels-first -> channels-last, and back

bool perm_is(const Layer& l, Dir d) {
  const int r = l.in(0).rank();
  std::vector<int64_t> want(r);
  for (int i = 0; i < r; ++i) want[i] = i;
  if (d == Dir::ToLast) {
    for (int i = 1; i < r - 1; ++i) want[i] = i + 1;
    want[r - 1] = 1;
  } else {
    want[1] = r - 1;
    for (int i = 2; i < r; ++i) want[i] = i - 1;
  }
  std::vector<int64_t> perm = l.attrs.get_ints("perm");
  for (auto& p : perm)
    if (p < 0) p += r;
  return perm == want;
}

// The layer is a Transpose in direction d whose channels-first side (input for
// ToLast, output for ToFirst) is held in layout `first_side`, the other side plain.
bool supports_dir(const Layer& l, Dir d, Layout first_side, bool float_only) {
  if (l.op != "Transpose" || l.inputs.size() != 1 || l.outputs.size() != 1 || !l.has_input(0)) return false;
  const TensorInfo& x = l.in(0);
  const TensorInfo& y = l.out(0);
  if (x.dtype != y.dtype || dtype_size(x.dtype) == 0 || x.rank() < 3 || x.rank() > 5 || y.rank() != x.rank())
    return false;
  if (float_only && x.dtype != DType::Float32) return false;
  if (x.numel() != y.numel() || !perm_is(l, d)) return false;
  const TensorInfo& cf = d == Dir::ToLast ? x : y;  // the channels-first (logical N, C, S...) side
  const TensorInfo& cl = d == Dir::ToLast ? y : x;
  if (cf.layout != first_side || cl.layout != Layout::Plain) return false;
  const int r = x.rank();
  if (cl.shape[0] != cf.shape[0] || cl.shape[r - 1] != cf.shape[1]) return false;
  for (int i = 2; i < r; ++i)
    if (cl.shape[i - 1] != cf.shape[i]) return false;
  return true;
}

std::unique_ptr<Kernel> view_prepare(const Layer& l) {
  const size_t bytes = l.in(0).bytes();
  return std::make_unique<FnKernel>([bytes](const RunArgs& a) {
    if (a.out[0] == a.in[0] || !bytes) return;  // placed on its input: nothing to do
    char* y = static_cast<char*>(a.out[0]);
    const char* x = static_cast<const char*>(a.in[0]);
    a.pool->parallel_for((int64_t)bytes, 1 << 18, [&](int64_t b, int64_t e) { std::memcpy(y + b, x + b, (size_t)(e - b)); });
  });
}

void add(const char* desc, Dir d, Layout first_side, const char* isa) {
  const bool reorder = first_side != Layout::NHWC;
  LambdaRoutine::Supports s = [d, first_side, reorder](const Layer& l) {
    return supports_dir(l, d, first_side, reorder);
  };
  LambdaRoutine::Prepare p = [d, first_side, reorder](const Layer& l) -> std::unique_ptr<Kernel> {
    if (!reorder) return view_prepare(l);
    // Channels-last plain bytes are NHWC bytes of the channels-first shape.
    if (d == Dir::ToLast) return make_reorder_kernel(l.in(0).shape, first_side, Layout::NHWC);
    return make_reorder_kernel(l.out(0).shape, Layout::NHWC, first_side);
  };
  Registry::get().add(std::make_unique<LambdaRoutine>("Transpose", desc, std::move(s), std::move(p), isa));
}

const bool registered = [] {
  add("cpu:nhwc>nchw/view", Dir::ToLast, Layout::NHWC, "");
  add("cpu:nchw>nhwc/view", Dir::ToFirst, Layout::NHWC, "");
  add("cpu:float32:nchw16c>nchw/reorder", Dir::ToLast, Layout::NCHW16c, "avx512f");
  add("cpu:float32:nchw>nchw16c/reorder", Dir::ToFirst, Layout::NCHW16c, "avx512f");
  add("cpu:float32:nchw8c>nchw/reorder", Dir::ToLast, Layout::NCHW8c, "avx2_only");
  add("cpu:float32:nchw>nchw8c/reorder", Dir::ToFirst, Layout::NCHW8c, "avx2_only");
  return true;
}();

}  // namespace
}  // namespace snep
