// AVX-512 build of the depthwise plane loop (auto-vectorised).
#include "cpu/quant/qdepthwise.h"
#include "cpu/quant/qdepthwise_plane.h"

namespace snep {
namespace qdw {
void plane_avx512(const Plane& g, const uint8_t* x, int32_t xz, const int32_t* w, int16_t* ph, int32_t* acc,
                  const RowSink& sink) {
  plane(g, x, xz, w, ph, acc, [&](int64_t oh, const int32_t* a) { sink.fn(sink.ctx, oh, a); });
}
}  // namespace qdw
}  // namespace snep
