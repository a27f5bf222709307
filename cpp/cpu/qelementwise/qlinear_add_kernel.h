// u8 QLinearAdd row kernel, included by the plain and the AVX-512 translation
// units (the latter compiled with AVX-512 flags so the loop vectorises).
// y = saturate(nearbyint((a - za) * ra + (b - zb) * rb) + zc), ra = sa / sc and
// rb = sb / sc in float32 (onnxruntime's QLinearAdd form); b_step 0 broadcasts
// a scalar b. lo clamps from below (zc for a fused Relu, else 0). The sum is in
// double: both products are exact there, so FMA contraction cannot change it.
#pragma once
#include <cmath>
#include <cstdint>

namespace snep {
namespace qadd {
inline void add_u8(const uint8_t* a, const uint8_t* b, int64_t b_step, uint8_t* y, int64_t n, float ra, float rb,
                   int32_t za, int32_t zb, int32_t zc, int32_t lo) {
  for (int64_t i = 0; i < n; ++i) {
    double v = (double)((int32_t)a[i] - za) * ra + (double)((int32_t)b[i * b_step] - zb) * rb;
    v = v < -1e9 ? -1e9 : (v > 1e9 ? 1e9 : v);  // keeps the int conversion defined
    int32_t q = (int32_t)std::nearbyint(v) + zc;
    q = q < lo ? lo : (q > 255 ? 255 : q);
    y[i] = (uint8_t)q;
  }
}
// The bound on the float32 form's error (qlinear_add_avx512.cpp: b'*rb rounded to float, then one fma):
// half an ulp of each rounding, from the largest |a - za| and |b - zb|; an ulp of x is at most |x| 2^-23.
// Below 1/64 the float32 form with its near-tie lanes redone decides every output; else use add_u8.
inline float add_u8_tol(int32_t za, int32_t zb, float ra, float rb) {
  const float amax = (float)(za > 255 - za ? za : 255 - za), bmax = (float)(zb > 255 - zb ? zb : 255 - zb);
  return (2.f * bmax * std::fabs(rb) + amax * std::fabs(ra)) * 0x1p-23f;
}
using AddU8Fn = void (*)(const uint8_t* a, const uint8_t* b, int64_t b_step, uint8_t* y, int64_t n, float ra,
                         float rb, int32_t za, int32_t zb, int32_t zc, int32_t lo);
AddU8Fn best_add_u8();  // the fastest kernel this CPU runs (cpu/qelementwise/qlinear_add.cpp); same results
}  // namespace qadd
}  // namespace snep
