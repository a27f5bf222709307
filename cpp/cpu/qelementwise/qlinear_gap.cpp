// QLinearGlobalAveragePool (com.microsoft contrib op of QOperator models): u8 NCHW
// (or NHWC with channels_last=1), per-tensor scales. As onnxruntime's MLAS:
// y = saturate(nearbyint(float(sum(x - zx)) * float32(sx / (sy * HW))) + zy).
#include <cmath>

#include "core/routine.h"
#include "cpu/elementwise/ew_util.h"
#include "cpu/qelementwise/qglobal_avg.h"

namespace snep {
namespace {

bool qgap_supports(const Layer& l) {
  if (l.inputs.size() != 5 || l.outputs.size() != 1) return false;
  for (int i = 0; i < 5; ++i)
    if (!l.has_input(i) || l.in(i).layout != Layout::Plain) return false;
  const auto &x = l.in(0), &y = l.out(0);
  if (x.dtype != DType::UInt8 || y.dtype != DType::UInt8 || l.in(2).dtype != DType::UInt8 ||
      l.in(4).dtype != DType::UInt8 || l.in(1).dtype != DType::Float32 || l.in(3).dtype != DType::Float32)
    return false;
  for (int i : {1, 2, 3, 4})
    if (l.in(i).numel() != 1) return false;
  if (x.rank() < 3 || y.rank() != x.rank()) return false;
  bool cl = l.attrs.get_int("channels_last", 0) != 0;
  int cdim = cl ? x.rank() - 1 : 1;
  for (int d = 0; d < x.rank(); ++d) {
    bool keep = d == 0 || d == cdim;
    if (y.shape[d] != (keep ? x.shape[d] : 1)) return false;
  }
  return true;
}

std::unique_ptr<Kernel> qgap_prepare(const Layer& l) {
  const auto& x = l.in(0);
  bool cl = l.attrs.get_int("channels_last", 0) != 0;
  int64_t N = x.shape[0], C = cl ? x.shape[x.rank() - 1] : x.shape[1];
  int64_t HW = x.numel() / std::max<int64_t>(N * C, 1);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const uint8_t* xp = static_cast<const uint8_t*>(a.in[0]);
    uint8_t* yp = static_cast<uint8_t*>(a.out[0]);
    float sx = *static_cast<const float*>(a.in[1]), sy = *static_cast<const float*>(a.in[3]);
    int32_t zx = *static_cast<const uint8_t*>(a.in[2]), zy = *static_cast<const uint8_t*>(a.in[4]);
    if (!cl) return qpool::global_avg_planes<uint8_t>(a.pool, xp, yp, N * C, HW, sx, sy, zx, zy);
    float scale = sx / (sy * (float)HW);
    ew::par_for(a.pool, N * C, 64, [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {  // channels_last: channel c strided by C
        const uint8_t* p = xp + (nc / C) * HW * C + nc % C;
        int32_t acc = 0;
        for (int64_t i = 0; i < HW; ++i) acc += p[i * C];
        acc -= zx * (int32_t)HW;
        int32_t q = (int32_t)std::nearbyint((float)acc * scale) + zy;
        yp[nc] = (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
      }
    });
  });
}
SNEP_REGISTER_LAMBDA("QLinearGlobalAveragePool", "cpu:qint8/direct", qgap_supports, qgap_prepare);

}  // namespace
}  // namespace snep
