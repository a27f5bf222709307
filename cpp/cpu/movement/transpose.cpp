// Transpose (any dtype by element size): a strided copy; permutations that
// move the contiguous dim (2-D, NCHW<->NHWC, ...) go through a blocked transpose.
#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

std::vector<int64_t> perm_of(const Layer& l) {
  int r = l.in(0).rank();
  std::vector<int64_t> perm = l.attrs.get_ints("perm");
  if (perm.empty()) for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  return perm;
}

bool transpose_supports(const Layer& l) {
  if (l.inputs.size() != 1 || l.outputs.size() != 1 || !l.has_input(0)) return false;
  const auto& x = l.in(0);
  if (x.dtype != l.out(0).dtype || dtype_size(x.dtype) == 0 || x.rank() > mv::kMaxRank) return false;
  auto perm = perm_of(l);
  if ((int)perm.size() != x.rank()) return false;
  std::vector<bool> seen(perm.size(), false);
  for (size_t i = 0; i < perm.size(); ++i) {
    int64_t p = perm[i] < 0 ? perm[i] + x.rank() : perm[i];
    if (p < 0 || p >= x.rank() || seen[p]) return false;
    seen[p] = true;
    if (l.out(0).shape[i] != x.shape[p]) return false;
  }
  return l.out(0).rank() == x.rank();
}

std::unique_ptr<Kernel> transpose_prepare(const Layer& l) {
  const auto& x = l.in(0);
  auto perm = perm_of(l);
  auto st = mv::contiguous_strides(x.shape);
  std::vector<int64_t> shp(perm.size()), ost(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    int64_t p = perm[i] < 0 ? perm[i] + x.rank() : perm[i];
    shp[i] = x.shape[p];
    ost[i] = st[p];
  }
  mv::StridedCopy sc;
  sc.init(shp.data(), ost.data(), (int)shp.size(), 0, dtype_size(x.dtype));
  return std::make_unique<FnKernel>([sc](const RunArgs& a) { sc.run(a.in[0], a.out[0], a.pool); });
}

SNEP_REGISTER_LAMBDA("Transpose", "cpu/blocked", transpose_supports, transpose_prepare);

}  // namespace
}  // namespace snep
