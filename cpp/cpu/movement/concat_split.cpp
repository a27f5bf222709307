// Concat and Split along any axis (any dtype by element size): row copies.
#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

bool concat_supports(const Layer& l) {
  if (l.inputs.empty() || l.outputs.size() != 1) return false;
  const auto& y = l.out(0);
  if (dtype_size(y.dtype) == 0 || !l.attrs.has("axis")) return false;
  int r = y.rank();
  int64_t axis = l.attrs.get_int("axis", 0);
  if (axis < -r || axis >= r) return false;
  if (axis < 0) axis += r;
  int64_t sum = 0;
  for (auto& t : l.inputs) {
    if (!t.present || t.dtype != y.dtype || t.rank() != r) return false;
    for (int d = 0; d < r; ++d) if (d != axis && t.shape[d] != y.shape[d]) return false;
    sum += t.shape[axis];
  }
  return sum == y.shape[axis];
}

std::unique_ptr<Kernel> concat_prepare(const Layer& l) {
  const auto& y = l.out(0);
  int r = y.rank();
  int64_t axis = mv::norm_axis(l.attrs.get_int("axis", 0), r, l);
  size_t esz = dtype_size(y.dtype);
  int64_t outer = prod(y.shape, 0, axis), inner = prod(y.shape, axis + 1) * (int64_t)esz;
  std::vector<int64_t> chunk, off;
  int64_t o = 0;
  for (auto& t : l.inputs) { chunk.push_back(t.shape[axis] * inner); off.push_back(o); o += t.shape[axis] * inner; }
  int64_t row = o;
  int64_t nin = (int64_t)chunk.size();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    char* dst = static_cast<char*>(a.out[0]);
    int64_t grain = std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, row / nin));
    a.pool->parallel_for(outer * nin, grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t i = t % nin, r0 = t / nin;
        if (chunk[i]) std::memcpy(dst + r0 * row + off[i], static_cast<const char*>(a.in[i]) + r0 * chunk[i], chunk[i]);
      }
    });
  });
}

SNEP_REGISTER_LAMBDA("Concat", "cpu/copy", concat_supports, concat_prepare);

// Split: the sizes come from the (static) output shapes; the split attribute
// or input, when known, must agree with them.
bool split_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.empty()) return false;
  const auto& x = l.in(0);
  int r = x.rank();
  if (dtype_size(x.dtype) == 0 || r == 0) return false;
  int64_t axis = l.attrs.get_int("axis", 0);
  if (axis < -r || axis >= r) return false;
  if (axis < 0) axis += r;
  int64_t sum = 0;
  for (auto& t : l.outputs) {
    if (t.dtype != x.dtype || t.rank() != r) return false;
    for (int d = 0; d < r; ++d) if (d != axis && t.shape[d] != x.shape[d]) return false;
    sum += t.shape[axis];
  }
  if (sum != x.shape[axis]) return false;
  int64_t opset = l.attrs.get_int("_opset", 13);
  std::vector<int64_t> split;
  if (opset < 13) split = l.attrs.get_ints("split");
  else if (l.has_input(1)) {
    if (!mv::is_int_index(l.in(1).dtype) || l.in(1).numel() != (int64_t)l.outputs.size()) return false;
    if (l.in(1).const_data) split = mv::read_ints(l.in(1).const_data, l.in(1));
  }
  if (!split.empty()) {
    if (split.size() != l.outputs.size()) return false;
    for (size_t i = 0; i < split.size(); ++i) if (split[i] != l.outputs[i].shape[axis]) return false;
  }
  return true;
}

std::unique_ptr<Kernel> split_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int r = x.rank();
  int64_t axis = mv::norm_axis(l.attrs.get_int("axis", 0), r, l);
  size_t esz = dtype_size(x.dtype);
  int64_t outer = prod(x.shape, 0, axis), inner = prod(x.shape, axis + 1) * (int64_t)esz;
  std::vector<int64_t> chunk, off;
  int64_t o = 0;
  for (auto& t : l.outputs) { chunk.push_back(t.shape[axis] * inner); off.push_back(o); o += t.shape[axis] * inner; }
  int64_t row = o;
  int64_t nout = (int64_t)chunk.size();
  bool check_split = l.attrs.get_int("_opset", 13) >= 13 && l.has_input(1) && !l.in(1).const_data;
  DType sdt = check_split ? l.in(1).dtype : DType::Int64;
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    if (check_split) {
      for (int64_t i = 0; i < nout; ++i)
        if (mv::read_int(a.in[1], sdt, i) * inner != chunk[i])
          throw InvalidArgumentError(where + ": split sizes do not match the output shapes");
    }
    const char* src = static_cast<const char*>(a.in[0]);
    int64_t grain = std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, row / nout));
    a.pool->parallel_for(outer * nout, grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t i = t % nout, r0 = t / nout;
        if (chunk[i]) std::memcpy(static_cast<char*>(a.out[i]) + r0 * chunk[i], src + r0 * row + off[i], chunk[i]);
      }
    });
  });
}

SNEP_REGISTER_LAMBDA("Split", "cpu/copy", split_supports, split_prepare);

}  // namespace
}  // namespace snep
