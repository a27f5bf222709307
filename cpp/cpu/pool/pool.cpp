// MaxPool (with Indices), AveragePool, LpPool over 1-D/2-D/3-D spatial dims,
// and GlobalAveragePool / GlobalMaxPool / GlobalLpPool. NCHW. Windows are
// precomputed per spatial dim as [first valid tap, valid taps, padded taps].
#include <limits>

#include "core/cpu_features.h"
#include "cpu/movement/movement_common.h"
#include "cpu/pool/maxpool8.h"
#include "cpu/pool/pool_geometry.h"

namespace snep {
namespace {

enum Kind { kMax, kAvg, kLp };

struct DimTab {
  // per output index: first input position, tap stride = dilation, number of valid taps, taps inside pads
  std::vector<int64_t> first, count, padded;
  int64_t dil = 1, k = 1, s = 1, pb = 0;
  std::vector<int64_t> lo, hi;  // per kernel tap: output range where the tap is inside the input
};

struct PoolGeom {
  int nsp = 0;                  // spatial dims (1-3)
  int64_t planes = 0;           // N*C
  std::array<int64_t, 3> in{{1, 1, 1}}, out{{1, 1, 1}};
  std::array<DimTab, 3> tab;
};

bool float_like(DType t) { return t == DType::Float32 || t == DType::Float64; }

// Builds the geometry, or returns false when the layer is not a valid pool.
bool geometry(const Layer& l, Kind kind, PoolGeom& g) {
  if (!l.has_input(0) || l.outputs.empty()) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  int r = x.rank();
  if (r < 3 || r > 5 || y.rank() != r || y.shape[0] != x.shape[0] || y.shape[1] != x.shape[1]) return false;
  int nsp = r - 2;
  auto k = l.attrs.get_ints("kernel_shape");
  if ((int)k.size() != nsp) return false;
  auto s = l.attrs.get_ints("strides", std::vector<int64_t>(nsp, 1));
  auto d = l.attrs.get_ints("dilations", std::vector<int64_t>(nsp, 1));
  auto p = l.attrs.get_ints("pads", std::vector<int64_t>(2 * nsp, 0));
  if ((int)s.size() != nsp || (int)d.size() != nsp || (int)p.size() != 2 * nsp) return false;
  if (kind != kMax && l.attrs.has("dilations") && l.attrs.get_int("_opset", 19) < 19 && kind == kAvg) return false;
  std::string ap = l.attrs.get_string("auto_pad", "NOTSET");
  bool ceil_mode = l.attrs.get_int("ceil_mode", 0) != 0;
  g.nsp = nsp;
  g.planes = x.shape[0] * x.shape[1];
  for (int i = 0; i < nsp; ++i) {
    int64_t n = x.shape[2 + i], o = y.shape[2 + i];
    int64_t pb = p[i], pe = p[i + nsp];
    if (!pool_dim(n, o, k[i], s[i], d[i], ap, ceil_mode, &pb, &pe)) return false;
    int j = 3 - nsp + i;
    g.in[j] = n;
    g.out[j] = o;
    DimTab& t = g.tab[j];
    t.dil = d[i];
    t.k = k[i]; t.s = s[i]; t.pb = pb;
    t.lo.resize(k[i]); t.hi.resize(k[i]);
    for (int64_t m = 0; m < k[i]; ++m) {
      // q*s - pb + m*d in [0, n)
      int64_t a = pb - m * d[i];
      int64_t lo = a <= 0 ? 0 : (a + s[i] - 1) / s[i];
      int64_t b = n + pb - m * d[i];  // q*s < b
      int64_t hi = b <= 0 ? 0 : (b + s[i] - 1) / s[i];
      t.lo[m] = std::min(lo, o); t.hi[m] = std::max(t.lo[m], std::min(hi, o));
    }
    t.first.resize(o); t.count.resize(o); t.padded.resize(o);
    for (int64_t q = 0; q < o; ++q) {
      int64_t st = q * s[i] - pb;
      int64_t f = -1, c = 0, pc = 0;
      for (int64_t m = 0; m < k[i]; ++m) {
        int64_t pos = st + m * d[i];
        if (pos >= 0 && pos < n) { if (f < 0) f = pos; ++c; }
        if (pos >= -pb && pos < n + pe) ++pc;
      }
      t.first[q] = f < 0 ? 0 : f; t.count[q] = c; t.padded[q] = pc;
    }
  }
  for (int j = 0; j < 3 - nsp; ++j) {
    DimTab& t = g.tab[j];
    t.first = {0}; t.count = {1}; t.padded = {1}; t.dil = 1; t.k = 1; t.s = 1; t.pb = 0; t.lo = {0}; t.hi = {1};
  }
  return true;
}

template <class T, Kind K>
void pool_run(const PoolGeom& g, const T* x, T* y, int64_t* ind, bool col_major, bool include_pad, double p,
              ThreadPool* pool) {
  const int64_t ID = g.in[0], IH = g.in[1], IW = g.in[2], OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t isz = ID * IH * IW, osz = OD * OH * OW;
  const DimTab &td = g.tab[0], &th = g.tab[1], &tw = g.tab[2];
  int64_t rows = g.planes * OD * OH;
  if (!(K == kMax && ind)) {
    // Branch-free row accumulation: for each (depth, row) tap and each kernel
    // column m, the whole output row [lo_m, hi_m) is updated (vectorizable).
    pool->parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, OW * tw.k * th.k)), [&](int64_t rb, int64_t re) {
      for (int64_t row = rb; row < re; ++row) {
        int64_t oh = row % OH, od = (row / OH) % OD, pl = row / (OH * OD);
        const T* xp = x + pl * isz;
        T* yr = y + pl * osz + (od * OH + oh) * OW;
        T init = K == kMax ? std::numeric_limits<T>::lowest() : T(0);
        for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = init;
        int64_t d0 = td.first[od], dc = td.count[od], h0 = th.first[oh], hc = th.count[oh];
        for (int64_t a = 0; a < dc; ++a) {
          for (int64_t b = 0; b < hc; ++b) {
            const T* xr = xp + ((d0 + a * td.dil) * IH + (h0 + b * th.dil)) * IW;
            for (int64_t m = 0; m < tw.k; ++m) {
              int64_t lo = tw.lo[m], hi = tw.hi[m], off = m * tw.dil - tw.pb, st = tw.s;
              const T* xs = xr + off;
              if (K == kMax) {
                if (st == 1) for (int64_t ow = lo; ow < hi; ++ow) { T v = xs[ow]; yr[ow] = v > yr[ow] ? v : yr[ow]; }
                else if (st == 2) for (int64_t ow = lo; ow < hi; ++ow) { T v = xs[2 * ow]; yr[ow] = v > yr[ow] ? v : yr[ow]; }
                else for (int64_t ow = lo; ow < hi; ++ow) { T v = xs[ow * st]; yr[ow] = v > yr[ow] ? v : yr[ow]; }
              } else if (K == kAvg || p == 1) {
                if (K == kAvg) {
                  if (st == 1) for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += xs[ow];
                  else if (st == 2) for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += xs[2 * ow];
                  else for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += xs[ow * st];
                } else {
                  for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += (T)std::fabs((double)xs[ow * st]);
                }
              } else if (p == 2) {
                for (int64_t ow = lo; ow < hi; ++ow) { T v = xs[ow * st]; yr[ow] += v * v; }
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += (T)std::pow(std::fabs((double)xs[ow * st]), p);
              }
            }
          }
        }
        if (K == kAvg) {
          for (int64_t ow = 0; ow < OW; ++ow) {
            int64_t n = include_pad ? td.padded[od] * th.padded[oh] * tw.padded[ow] : dc * hc * tw.count[ow];
            yr[ow] = n ? (T)(yr[ow] / (T)n) : T(0);
          }
        } else if (K == kLp) {
          for (int64_t ow = 0; ow < OW; ++ow)
            yr[ow] = (T)(p == 2 ? std::sqrt((double)yr[ow]) : (p == 1 ? (double)yr[ow] : std::pow((double)yr[ow], 1.0 / p)));
        }
      }
    });
    return;
  }
  pool->parallel_for(rows, std::max<int64_t>(1, 256 / std::max<int64_t>(1, OW)), [&](int64_t rb, int64_t re) {
    for (int64_t row = rb; row < re; ++row) {
      int64_t oh = row % OH, od = (row / OH) % OD, pl = row / (OH * OD);
      const T* xp = x + pl * isz;
      T* yp = y + pl * osz + (od * OH + oh) * OW;
      int64_t d0 = td.first[od], dc = td.count[od], h0 = th.first[oh], hc = th.count[oh];
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t w0 = tw.first[ow], wc = tw.count[ow];
        if (K == kMax) {
          T best = std::numeric_limits<T>::lowest();
          int64_t bi = -1;
          for (int64_t a = 0; a < dc; ++a) {
            int64_t id = d0 + a * td.dil;
            for (int64_t b = 0; b < hc; ++b) {
              int64_t ih = h0 + b * th.dil;
              const T* xr = xp + (id * IH + ih) * IW;
              for (int64_t c = 0; c < wc; ++c) {
                int64_t iw = w0 + c * tw.dil;
                T v = xr[iw];
                if (v > best || bi < 0) { best = v; bi = (id * IH + ih) * IW + iw; }
              }
            }
          }
          yp[ow] = best;
          if (ind) {
            int64_t flat = bi;
            if (col_major && bi >= 0) { int64_t ih = bi / IW, iw = bi % IW; flat = ih + iw * IH; }
            ind[pl * osz + (od * OH + oh) * OW + ow] = pl * isz + flat;
          }
        } else {
          double acc = 0;
          for (int64_t a = 0; a < dc; ++a) {
            int64_t id = d0 + a * td.dil;
            for (int64_t b = 0; b < hc; ++b) {
              int64_t ih = h0 + b * th.dil;
              const T* xr = xp + (id * IH + ih) * IW;
              if (K == kAvg) {
                T s = 0;
                if (tw.dil == 1) for (int64_t c = 0; c < wc; ++c) s += xr[w0 + c];
                else for (int64_t c = 0; c < wc; ++c) s += xr[w0 + c * tw.dil];
                acc += s;
              } else {
                for (int64_t c = 0; c < wc; ++c) {
                  double v = std::fabs((double)xr[w0 + c * tw.dil]);
                  acc += p == 2 ? v * v : (p == 1 ? v : std::pow(v, p));
                }
              }
            }
          }
          if (K == kAvg) {
            int64_t n = include_pad ? td.padded[od] * th.padded[oh] * tw.padded[ow] : dc * hc * wc;
            yp[ow] = n ? (T)(acc / (double)n) : T(0);
          } else {
            yp[ow] = (T)(p == 2 ? std::sqrt(acc) : (p == 1 ? acc : std::pow(acc, 1.0 / p)));
          }
        }
      }
    }
  });
}

// 8-bit MaxPool without Indices through the AVX-512 kernel (cpu/pool/maxpool8.h):
// any window with horizontal stride 1 or 2.
struct MaxPool8 {
  std::vector<int64_t> row_beg, row_off;
  std::vector<uint64_t> masks;
  mp8::Job job;
  int64_t planes = 0, grain = 1;
};

std::shared_ptr<MaxPool8> maxpool8_plan(const PoolGeom& g, bool sgn) {
  const DimTab &td = g.tab[0], &th = g.tab[1], &tw = g.tab[2];
  if (tw.s != 1 && tw.s != 2) return nullptr;
  const int64_t IH = g.in[1], IW = g.in[2], OD = g.out[0], OH = g.out[1];
  auto m = std::make_shared<MaxPool8>();
  m->row_beg.push_back(0);
  for (int64_t od = 0; od < OD; ++od)
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t a = 0; a < td.count[od]; ++a)
        for (int64_t b = 0; b < th.count[oh]; ++b)
          m->row_off.push_back(((td.first[od] + a * td.dil) * IH + th.first[oh] + b * th.dil) * IW);
      m->row_beg.push_back((int64_t)m->row_off.size());
    }
  m->job = mp8::Job{nullptr, nullptr, sgn, g.in[0] * IH * IW, OD * OH * g.out[2], OD * OH, IW, g.out[2],
                    m->row_beg.data(), m->row_off.data(), tw.k, tw.s, tw.dil, tw.pb, nullptr};
  m->masks.resize(mp8::mask_words(m->job));
  mp8::fill_masks(m->job, m->masks.data());
  m->job.masks = m->masks.data();
  m->planes = g.planes;
  m->grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, IW * td.k * th.k));  // ~32 KB read per task
  return m;
}

void maxpool8_run(const MaxPool8& m, const void* x, void* y, ThreadPool* pool) {
  mp8::Job j = m.job;
  j.x = static_cast<const uint8_t*>(x);
  j.y = static_cast<uint8_t*>(y);
  pool->parallel_for(m.planes * j.rows, m.grain, [&](int64_t rb, int64_t re) { mp8::rows_avx512(j, rb, re); });
}

template <Kind K>
bool pool_supports(const Layer& l) {
  PoolGeom g;
  if (!geometry(l, K, g)) return false;
  DType t = l.in(0).dtype;
  if (l.out(0).dtype != t) return false;
  if (K == kMax) {
    if (!(float_like(t) || t == DType::Int8 || t == DType::UInt8)) return false;
    if (l.outputs.size() > 2) return false;
    if (l.outputs.size() == 2 && (l.out(1).dtype != DType::Int64 || l.out(1).shape != l.out(0).shape)) return false;
    int64_t so = l.attrs.get_int("storage_order", 0);
    if (so != 0 && !(so == 1 && g.nsp == 2)) return false;
  } else {
    if (!float_like(t) || l.outputs.size() != 1) return false;
    if (K == kLp && l.attrs.get_float("p", 2) <= 0) return false;
  }
  return true;
}

template <Kind K>
std::unique_ptr<Kernel> pool_prepare(const Layer& l) {
  auto g = std::make_shared<PoolGeom>();
  geometry(l, K, *g);
  DType t = l.in(0).dtype;
  bool col = l.attrs.get_int("storage_order", 0) == 1;
  bool inc = l.attrs.get_int("count_include_pad", 0) != 0;
  double p = l.attrs.get_float("p", 2);
  bool want_ind = K == kMax && l.outputs.size() == 2;
  if (K == kMax && !want_ind && (t == DType::UInt8 || t == DType::Int8) && cpu_has("avx512f")) {
    if (auto m = maxpool8_plan(*g, t == DType::Int8))
      return std::make_unique<FnKernel>([m](const RunArgs& a) { maxpool8_run(*m, a.in[0], a.out[0], a.pool); });
  }
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    int64_t* ind = want_ind ? static_cast<int64_t*>(a.out[1]) : nullptr;
    switch (t) {
      case DType::Float32: pool_run<float, K>(*g, (const float*)a.in[0], (float*)a.out[0], ind, col, inc, p, a.pool); break;
      case DType::Float64: pool_run<double, K>(*g, (const double*)a.in[0], (double*)a.out[0], ind, col, inc, p, a.pool); break;
      case DType::Int8:
        if constexpr (K == kMax) pool_run<int8_t, K>(*g, (const int8_t*)a.in[0], (int8_t*)a.out[0], ind, col, inc, p, a.pool);
        break;
      case DType::UInt8:
        if constexpr (K == kMax) pool_run<uint8_t, K>(*g, (const uint8_t*)a.in[0], (uint8_t*)a.out[0], ind, col, inc, p, a.pool);
        break;
      default: throw NotImplementedError("pool dtype");
    }
  });
}

SNEP_REGISTER_LAMBDA("MaxPool", "cpu:nchw/direct", pool_supports<kMax>, pool_prepare<kMax>);
SNEP_REGISTER_LAMBDA("AveragePool", "cpu:nchw/direct", pool_supports<kAvg>, pool_prepare<kAvg>);
SNEP_REGISTER_LAMBDA("LpPool", "cpu:nchw/direct", pool_supports<kLp>, pool_prepare<kLp>);

// ---- Global pools -------------------------------------------------------------

template <Kind K>
bool global_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  if (x.rank() < 3 || y.rank() != x.rank() || x.dtype != y.dtype || !float_like(x.dtype)) return false;
  if (y.shape[0] != x.shape[0] || y.shape[1] != x.shape[1]) return false;
  for (int i = 2; i < y.rank(); ++i) if (y.shape[i] != 1) return false;
  if (K == kLp && l.attrs.get_float("p", 2) <= 0) return false;
  return prod(x.shape, 2) > 0 || K == kLp || K == kAvg;
}

template <class T, Kind K>
void global_run(const T* x, T* y, int64_t planes, int64_t n, double p, ThreadPool* pool) {
  pool->parallel_for(planes, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, n)), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const T* xp = x + pl * n;
      if (K == kMax) {
        T m = n ? xp[0] : std::numeric_limits<T>::lowest();
        for (int64_t i = 1; i < n; ++i) m = xp[i] > m ? xp[i] : m;
        y[pl] = m;
      } else if (K == kAvg) {
        T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) { s0 += xp[i]; s1 += xp[i + 1]; s2 += xp[i + 2]; s3 += xp[i + 3]; }
        for (; i < n; ++i) s0 += xp[i];
        y[pl] = (T)(((s0 + s1) + (s2 + s3)) / (T)n);
      } else {
        double s = 0;
        for (int64_t i = 0; i < n; ++i) {
          double v = std::fabs((double)xp[i]);
          s += p == 2 ? v * v : std::pow(v, p);
        }
        y[pl] = (T)(p == 2 ? std::sqrt(s) : std::pow(s, 1.0 / p));
      }
    }
  });
}

template <Kind K>
std::unique_ptr<Kernel> global_prepare(const Layer& l) {
  const auto& x = l.in(0);
  int64_t planes = x.shape[0] * x.shape[1], n = prod(x.shape, 2);
  DType t = x.dtype;
  double p = l.attrs.get_float("p", 2);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    if (t == DType::Float32) global_run<float, K>((const float*)a.in[0], (float*)a.out[0], planes, n, p, a.pool);
    else global_run<double, K>((const double*)a.in[0], (double*)a.out[0], planes, n, p, a.pool);
  });
}

SNEP_REGISTER_LAMBDA("GlobalAveragePool", "cpu:nchw/direct", global_supports<kAvg>, global_prepare<kAvg>);
SNEP_REGISTER_LAMBDA("GlobalMaxPool", "cpu:nchw/direct", global_supports<kMax>, global_prepare<kMax>);
SNEP_REGISTER_LAMBDA("GlobalLpPool", "cpu:nchw/direct", global_supports<kLp>, global_prepare<kLp>);

}  // namespace
}  // namespace snep
