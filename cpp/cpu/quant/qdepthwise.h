// Entry points of the depthwise plane loop per ISA (plain C types only).
#pragma once
#include <cstdint>

namespace snep {
namespace qdw {
struct Plane;
struct RowSink {
  void (*fn)(void* ctx, int64_t oh, const int32_t* acc);
  void* ctx;
};
void plane_avx512(const Plane& g, const uint8_t* x, int32_t xz, const int32_t* w, int16_t* ph, int32_t* acc,
                  const RowSink& sink);
}  // namespace qdw
}  // namespace snep
