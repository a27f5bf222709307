// Depthwise plane kernel compiled with AVX-512 flags (see depthwise_kernel.h).
#include "cpu/conv/depthwise_kernel.h"

namespace snep {
namespace conv {

void dw_plane_avx512(const DwGeom& g, const float* x, const float* w, float bias, const float* z, float* y) {
  dw_plane_impl(g, x, w, bias, z, y);
}

}  // namespace conv
}  // namespace snep
