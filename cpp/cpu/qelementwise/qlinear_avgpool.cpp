// QLinearAveragePool (com.microsoft contrib op): u8 or s8, NCHW (channels_last=0 only), 1-3 spatial dims,
// per-tensor scales and zero points. Computed as onnxruntime's CPU kernel does:
//   - kernel_shape equal to the spatial dims with no padding: its global-average-pool path (MLAS),
//     y = saturate(nearbyint(float(sum(x) - zx * HW) * float32(sx / (sy * HW))) + zy)
//   - otherwise x is dequantized to float32 (sx * (x - zx)), summed in float32 over the window's valid
//     taps in row-major order, divided by the count (the kernel size with count_include_pad, else the
//     valid taps) and quantized: saturate(nearbyint(avg / sy + zy)).
// A window with no valid tap (possible only with ceil_mode output sizes onnx does not give) is rejected.
#include <array>
#include <cmath>
#include <limits>

#include "core/routine.h"
#include "cpu/elementwise/ew_util.h"
#include "cpu/pool/pool_geometry.h"
#include "cpu/qelementwise/qglobal_avg.h"

namespace snep {
namespace {

struct QPoolDim {
  int64_t n = 1, o = 1, k = 1;
  std::vector<int64_t> lo, hi;  // per output index: valid input range [lo, hi)
};

struct QPoolGeom {
  std::array<QPoolDim, 3> d;  // (D, H, W), leading dims of size 1 for 1-D/2-D
  int64_t planes = 0;
  bool global = false;
};

bool q8(DType t) { return t == DType::UInt8 || t == DType::Int8; }

bool qavg_geometry(const Layer& l, QPoolGeom& g) {
  if (l.inputs.size() < 4 || l.inputs.size() > 5 || l.outputs.size() != 1) return false;
  for (int i : {0, 1, 3})
    if (!l.has_input(i)) return false;
  for (size_t i = 0; i < l.inputs.size(); ++i)
    if (l.has_input(i) && l.in(i).layout != Layout::Plain) return false;
  const auto &x = l.in(0), &y = l.out(0);
  if (!q8(x.dtype) || y.dtype != x.dtype || l.out(0).layout != Layout::Plain) return false;
  if (l.in(1).dtype != DType::Float32 || l.in(3).dtype != DType::Float32 || l.in(1).numel() != 1 ||
      l.in(3).numel() != 1)
    return false;
  for (int i : {2, 4})
    if (l.has_input(i) && (l.in(i).dtype != x.dtype || l.in(i).numel() != 1)) return false;
  if (l.attrs.get_int("channels_last", 0) != 0) return false;
  int r = x.rank();
  if (r < 3 || r > 5 || y.rank() != r || y.shape[0] != x.shape[0] || y.shape[1] != x.shape[1]) return false;
  int nsp = r - 2;
  auto k = l.attrs.get_ints("kernel_shape");
  auto s = l.attrs.get_ints("strides", std::vector<int64_t>(nsp, 1));
  auto dl = l.attrs.get_ints("dilations", std::vector<int64_t>(nsp, 1));
  auto p = l.attrs.get_ints("pads", std::vector<int64_t>(2 * nsp, 0));
  if ((int)k.size() != nsp || (int)s.size() != nsp || (int)dl.size() != nsp || (int)p.size() != 2 * nsp) return false;
  for (auto v : dl)
    if (v != 1) return false;
  std::string ap = l.attrs.get_string("auto_pad", "NOTSET");
  if (ap.empty()) ap = "NOTSET";
  bool ceil_mode = l.attrs.get_int("ceil_mode", 0) != 0;
  g.planes = x.shape[0] * x.shape[1];
  g.global = true;
  for (int i = 0; i < nsp; ++i) {
    int64_t n = x.shape[2 + i], o = y.shape[2 + i], pb = p[i], pe = p[i + nsp];
    if (!pool_dim(n, o, k[i], s[i], 1, ap, ceil_mode, &pb, &pe)) return false;
    if (k[i] != n || pb != 0 || pe != 0) g.global = false;
    QPoolDim& t = g.d[3 - nsp + i];
    t.n = n; t.o = o; t.k = k[i];
    t.lo.resize(o); t.hi.resize(o);
    for (int64_t q = 0; q < o; ++q) {
      int64_t st = q * s[i] - pb;
      t.lo[q] = std::max<int64_t>(st, 0);
      t.hi[q] = std::min(st + k[i], n);
      if (t.hi[q] <= t.lo[q]) return false;  // a window with no valid tap
    }
  }
  for (int j = 0; j < 3 - nsp; ++j) g.d[j] = QPoolDim{1, 1, 1, {0}, {1}};
  return true;
}

bool qavg_supports(const Layer& l) {
  QPoolGeom g;
  return qavg_geometry(l, g);
}

template <class T>
void qavg_run(const QPoolGeom& g, bool include_pad, const RunArgs& a) {
  const T* x = static_cast<const T*>(a.in[0]);
  T* y = static_cast<T*>(a.out[0]);
  const float sx = *static_cast<const float*>(a.in[1]), sy = *static_cast<const float*>(a.in[3]);
  const int32_t zx = a.in[2] ? (int32_t)*static_cast<const T*>(a.in[2]) : 0;
  const int32_t zy = a.in[4] ? (int32_t)*static_cast<const T*>(a.in[4]) : 0;
  constexpr int32_t qmin = std::numeric_limits<T>::lowest(), qmax = std::numeric_limits<T>::max();
  const QPoolDim &D = g.d[0], &H = g.d[1], &W = g.d[2];
  const int64_t isz = D.n * H.n * W.n, osz = D.o * H.o * W.o;
  if (g.global) {
    qpool::global_avg_planes<T>(a.pool, x, y, g.planes, isz, sx, sy, zx, zy);
    return;
  }
  float lut[256];
  for (int i = 0; i < 256; ++i) lut[i] = sx * (float)((int32_t)(T)(uint8_t)i - zx);
  const float ksize = (float)(D.k * H.k * W.k);
  const float fzy = (float)zy;
  const int64_t rows = g.planes * D.o * H.o;
  ew::par_for(a.pool, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, W.o * W.k * H.k * D.k)),
              [&](int64_t rb, int64_t re) {
    for (int64_t row = rb; row < re; ++row) {
      int64_t oh = row % H.o, od = (row / H.o) % D.o, pl = row / (H.o * D.o);
      const uint8_t* xp = reinterpret_cast<const uint8_t*>(x + pl * isz);
      T* yr = y + pl * osz + (od * H.o + oh) * W.o;
      const int64_t d0 = D.lo[od], d1 = D.hi[od], h0 = H.lo[oh], h1 = H.hi[oh];
      for (int64_t ow = 0; ow < W.o; ++ow) {
        const int64_t w0 = W.lo[ow], w1 = W.hi[ow];
        float acc = 0.0f;
        for (int64_t id = d0; id < d1; ++id)
          for (int64_t ih = h0; ih < h1; ++ih) {
            const uint8_t* xr = xp + (id * H.n + ih) * W.n;
            for (int64_t iw = w0; iw < w1; ++iw) acc += lut[xr[iw]];
          }
        float cnt = include_pad ? ksize : (float)((d1 - d0) * (h1 - h0) * (w1 - w0));
        float avg = acc / cnt;
        int32_t q = (int32_t)std::nearbyint(avg / sy + fzy);
        yr[ow] = (T)std::min(std::max(q, qmin), qmax);
      }
    }
  });
}

std::unique_ptr<Kernel> qavg_prepare(const Layer& l) {
  QPoolGeom g;
  if (!qavg_geometry(l, g)) throw InvalidArgumentError(l.where() + ": QLinearAveragePool: unsupported layer");
  bool include_pad = l.attrs.get_int("count_include_pad", 0) != 0;
  bool s8 = l.in(0).dtype == DType::Int8;
  return std::make_unique<FnKernel>([g, include_pad, s8](const RunArgs& a) {
    if (s8) qavg_run<int8_t>(g, include_pad, a);
    else qavg_run<uint8_t>(g, include_pad, a);
  });
}

SNEP_REGISTER_LAMBDA("QLinearAveragePool", "cpu:qint8/direct", qavg_supports, qavg_prepare);

}  // namespace
}  // namespace snep
