// Entry points of the depthwise plane loop per ISA (plain C types only).
#pragma once
#include <cstdint>

namespace snep {
namespace qdw {
struct Plane;
struct BlockSink {
  void (*fn)(void* ctx, int64_t n0, const int32_t* acc, int64_t n);
  void* ctx;
};
void plane_avx512(const Plane& g, const uint8_t* x, int32_t xz, const int32_t* w, const int64_t* toff, int16_t* ph,
                  const BlockSink& sink);
}  // namespace qdw
}  // namespace snep
