// Resize (opset 10, 11-13, 18/19 attributes) and Upsample (7, 9).
// Every resized axis gets a tap table (input index + weight per output index:
// 1 tap nearest, 2 linear, 4 cubic; index -1 = tf_crop_and_resize
// extrapolation); the tensor is then resized one axis at a time (separable),
// or, for float32 when only the last two axes change, by a fused 2-D pass.
// Nearest works for any dtype (by element size); linear/cubic for float32/64.
#include <limits>

#include "cpu/movement/movement_common.h"
#include "cpu/resize/resize_tables.h"

namespace snep {
namespace {

enum Mode { kNearest, kLinear, kCubic };
enum Ctm { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfCrop, kHalfPixelSym };
enum NMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };
enum Policy { kStretch, kNotLarger, kNotSmaller };

struct Cfg {
  int r = 0;
  DType dt = DType::Float32;
  size_t esz = 4;
  std::vector<int64_t> in, out;
  Mode mode = kNearest;
  Ctm ctm = kHalfPixel;
  NMode nmode = kRoundPreferFloor;
  Policy policy = kStretch;
  double A = -0.75, extrap = 0;
  bool exclude = false;
  std::vector<int64_t> axes;  // axes the scales/sizes/roi refer to
  int roi_i = -1, scales_i = -1, sizes_i = -1;  // input indices (-1: none)
  std::vector<double> attr_scales;              // Upsample-7
  std::string where;
  int K = 1;                  // taps per output index (table stride)
  int Kb = 1;                 // taps of the plain filter (1, 2, 4); K > Kb only with antialias
  bool antialias = false;     // opset 18: linear/cubic filters widened by 1/scale on shrinking axes
  int64_t table_entries = 0;  // sum(out) * K
};

void compute_scales(const Cfg& c, const void* scales, const void* sizes, std::array<double, mv::kMaxRank>& scale);

bool parse(const Layer& l, Cfg& c) {
  if (!l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  const auto& y = l.out(0);
  if (x.dtype != y.dtype || x.rank() != y.rank() || x.rank() == 0 || x.rank() > mv::kMaxRank) return false;
  c.r = x.rank();
  c.dt = x.dtype;
  c.esz = dtype_size(x.dtype);
  if (c.esz == 0) return false;
  c.in = x.shape;
  c.out = y.shape;
  c.where = l.where();
  int64_t opset = l.attrs.get_int("_opset", 19);
  std::string m = l.attrs.get_string("mode", "nearest");
  if (m == "nearest") c.mode = kNearest;
  else if (m == "linear" || m == "bilinear" || m == "trilinear") c.mode = kLinear;
  else if (m == "cubic" && !(l.op == "Upsample")) c.mode = kCubic;
  else return false;
  if (c.mode != kNearest && !(c.dt == DType::Float32 || c.dt == DType::Float64)) return false;
  c.K = c.mode == kNearest ? 1 : (c.mode == kLinear ? 2 : 4);
  bool legacy = l.op == "Upsample" || opset < 11;
  if (legacy) {
    c.ctm = kAsymmetric;
    c.nmode = kSimple;
    if (l.op == "Upsample" && opset < 9) {
      c.attr_scales = l.attrs.get_floats("scales");
      if (c.attr_scales.empty()) for (auto v : l.attrs.get_ints("scales")) c.attr_scales.push_back((double)v);
      if ((int)c.attr_scales.size() != c.r) return false;
    } else {
      if (!l.has_input(1) || l.in(1).dtype != DType::Float32 || l.in(1).numel() != c.r) return false;
      c.scales_i = 1;
    }
    for (int d = 0; d < c.r; ++d) c.axes.push_back(d);
  } else {
    std::string t = l.attrs.get_string("coordinate_transformation_mode", "half_pixel");
    if (t == "half_pixel") c.ctm = kHalfPixel;
    else if (t == "pytorch_half_pixel") c.ctm = kPytorchHalfPixel;
    else if (t == "align_corners") c.ctm = kAlignCorners;
    else if (t == "asymmetric") c.ctm = kAsymmetric;
    else if (t == "tf_crop_and_resize") c.ctm = kTfCrop;
    else if (t == "half_pixel_symmetric" && opset >= 19) c.ctm = kHalfPixelSym;
    else return false;
    std::string nm = l.attrs.get_string("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") c.nmode = kRoundPreferFloor;
    else if (nm == "round_prefer_ceil") c.nmode = kRoundPreferCeil;
    else if (nm == "floor") c.nmode = kFloor;
    else if (nm == "ceil") c.nmode = kCeil;
    else return false;
    c.A = l.attrs.get_float("cubic_coeff_a", -0.75);
    c.exclude = l.attrs.get_int("exclude_outside", 0) != 0;
    c.extrap = l.attrs.get_float("extrapolation_value", 0.0);
    std::string pol = l.attrs.get_string("keep_aspect_ratio_policy", "stretch");
    if (pol == "stretch") c.policy = kStretch;
    else if (pol == "not_larger") c.policy = kNotLarger;
    else if (pol == "not_smaller") c.policy = kNotSmaller;
    else return false;
    c.axes = l.attrs.get_ints("axes");
    if (c.axes.empty()) for (int d = 0; d < c.r; ++d) c.axes.push_back(d);
    std::vector<bool> seen(c.r, false);
    for (auto& a : c.axes) {
      if (a < -c.r || a >= c.r) return false;
      if (a < 0) a += c.r;
      if (seen[a]) return false;
      seen[a] = true;
    }
    int64_t na = (int64_t)c.axes.size();
    bool has_scales = l.has_input(2) && l.in(2).numel() > 0;
    bool has_sizes = l.has_input(3) && l.in(3).numel() > 0;
    if (has_scales == has_sizes) return false;
    if (has_scales) {
      if (l.in(2).dtype != DType::Float32 || l.in(2).numel() != na) return false;
      c.scales_i = 2;
    } else {
      if (l.in(3).dtype != DType::Int64 || l.in(3).numel() != na) return false;
      c.sizes_i = 3;
    }
    if (c.ctm == kTfCrop) {
      if (!l.has_input(1) || l.in(1).numel() != 2 * na) return false;
      if (!(l.in(1).dtype == DType::Float32 || l.in(1).dtype == DType::Float64)) return false;
      c.roi_i = 1;
    }
  }
  for (int d = 0; d < c.r; ++d) if (c.in[d] == 0 && c.out[d] != 0) return false;
  c.Kb = c.K;
  if (!legacy && l.attrs.get_int("antialias", 0) != 0 && c.mode != kNearest) {
    // antialiasing only changes shrinking axes; their filter width follows the
    // scale, so the scales (or sizes) must be known at plan time to size the tables
    bool shrink = false;
    for (int d = 0; d < c.r; ++d) shrink = shrink || c.out[d] < c.in[d];
    if (shrink) {
      const int si = c.scales_i >= 0 ? c.scales_i : c.sizes_i;
      if (!l.in(si).const_data) return false;
      std::array<double, mv::kMaxRank> sc{};
      compute_scales(c, c.scales_i >= 0 ? l.in(si).const_data : nullptr, c.sizes_i >= 0 ? l.in(si).const_data : nullptr, sc);
      const double R = c.mode == kLinear ? 1.0 : 2.0;
      for (int d = 0; d < c.r; ++d) {
        if (!(sc[d] > 0) || sc[d] >= 1.0) continue;
        const double n = 2.0 - 2.0 * (std::floor(-R / sc[d]) + 1);
        if (n > 4096) return false;
        c.K = std::max(c.K, (int)n);
      }
      c.antialias = true;
    }
  }
  c.table_entries = 0;
  for (auto o : c.out) c.table_entries += o * c.K;
  return true;
}

struct Tables {
  int64_t* idx;   // table_entries
  double* w;      // table_entries
  std::array<bool, mv::kMaxRank> identity{};
  std::array<int64_t, mv::kMaxRank> off{};  // entry offset of each axis
};

inline int64_t nearest_index(float x, NMode m, double scale) {
  switch (m) {
    case kRoundPreferFloor: return (x == (float)(int64_t)x + 0.5f) ? (int64_t)std::floor(x) : (int64_t)std::round(x);
    case kRoundPreferCeil: return (int64_t)std::round(x);
    case kFloor: return (int64_t)std::floor(x);
    case kCeil: return (int64_t)std::ceil(x);
    case kSimple: return scale < 1.0 ? (int64_t)std::ceil(x) : (int64_t)x;
  }
  return 0;
}

// Per-axis scales from the scales or sizes values (pointers may be null).
void compute_scales(const Cfg& c, const void* scales, const void* sizes, std::array<double, mv::kMaxRank>& scale) {
  for (int d = 0; d < c.r; ++d) scale[d] = 1.0;
  int64_t na = (int64_t)c.axes.size();
  if (!c.attr_scales.empty()) {
    for (int d = 0; d < c.r; ++d) scale[d] = c.attr_scales[d];
  } else if (scales) {
    for (int64_t i = 0; i < na; ++i) scale[c.axes[i]] = static_cast<const float*>(scales)[i];
  } else {
    const int64_t* sz = static_cast<const int64_t*>(sizes);
    if (c.policy == kStretch) {
      for (int64_t i = 0; i < na; ++i) {
        int64_t d = c.axes[i];
        scale[d] = c.in[d] ? (double)(float)((float)sz[i] / (float)c.in[d]) : 1.0;
      }
    } else {
      double s = c.policy == kNotLarger ? std::numeric_limits<double>::max() : 0.0;
      for (int64_t i = 0; i < na; ++i) {
        int64_t d = c.axes[i];
        double v = (double)(float)((float)sz[i] / (float)c.in[d]);
        s = c.policy == kNotLarger ? std::min(s, v) : std::max(s, v);
      }
      for (int64_t i = 0; i < na; ++i) scale[c.axes[i]] = s;
    }
  }
}

// Antialiased taps of one output (onnx's reference): n = 2*ceil(R/s) taps
// centred on x, weights filter(s * (i - ratio)) normalised, R = 1 (linear
// triangle) or 2 (cubic). x an exact integer counts as ratio 1 from x - 1.
void antialias_taps(const Cfg& c, double x, double s, int64_t n_in, int64_t* ix, double* w) {
  const double fl = std::floor(x);
  const double ratio = x == fl ? 1.0 : x - fl;
  const int64_t base = (int64_t)fl - (x == fl ? 1 : 0);
  const double R = c.mode == kLinear ? 1.0 : 2.0;
  const int64_t start = (int64_t)std::floor(-R / s) + 1, n = 2 - 2 * start;
  const double A = c.A;
  double sum = 0;
  for (int64_t k = 0; k < c.K; ++k) {
    double v = 0;
    const int64_t p = base + start + k;
    if (k < n) {
      const double a = std::abs(s * ((double)(start + k) - ratio));
      if (c.mode == kLinear) v = std::max(0.0, 1.0 - a);
      else if (a <= 1) v = ((A + 2) * a - (A + 3)) * a * a + 1;
      else if (a < 2) v = ((A * a - 5 * A) * a + 8 * A) * a - 4 * A;
    }
    ix[k] = std::clamp<int64_t>(p, 0, n_in - 1);
    w[k] = v;
    sum += v;
  }
  for (int64_t k = 0; k < n; ++k) w[k] /= sum;
  if (c.exclude) {
    double s2 = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t p = base + start + k;
      if (p < 0 || p >= n_in) w[k] = 0;
      s2 += w[k];
    }
    if (s2 != 0) for (int64_t k = 0; k < n; ++k) w[k] /= s2;
  }
}

// Fills the tables from the scales/sizes/roi values (pointers may be null).
void build_tables(const Cfg& c, const void* roi, DType roi_dt, const void* scales, const void* sizes, Tables& t) {
  std::array<double, mv::kMaxRank> scale{}, rs{}, re{};
  for (int d = 0; d < c.r; ++d) { rs[d] = 0.0; re[d] = 1.0; }
  int64_t na = (int64_t)c.axes.size();
  compute_scales(c, scales, sizes, scale);
  if (roi) {
    for (int64_t i = 0; i < na; ++i) {
      rs[c.axes[i]] = mv::read_num(roi, roi_dt, i);
      re[c.axes[i]] = mv::read_num(roi, roi_dt, i + na);
    }
  }
  // output sizes must follow from the scales
  for (int d = 0; d < c.r; ++d) {
    if (scale[d] <= 0) throw InvalidArgumentError(c.where + ": scales must be positive");
    double want = (double)c.in[d] * scale[d];
    bool ok;
    if (sizes && c.policy == kStretch) {
      ok = true;
      for (int64_t i = 0; i < na; ++i) if (c.axes[i] == d) ok = static_cast<const int64_t*>(sizes)[i] == c.out[d];
    } else {
      int64_t fl = (int64_t)std::floor(want + 1e-6), rd = (int64_t)std::llround(want);
      ok = c.out[d] == fl || c.out[d] == rd || c.out[d] == (int64_t)std::floor(want);
    }
    if (!ok) throw InvalidArgumentError(c.where + ": scales/sizes do not match the output shape");
  }
  int64_t off = 0;
  const int K = c.K;
  for (int d = 0; d < c.r; ++d) {
    t.off[d] = off;
    int64_t n = c.in[d], o = c.out[d];
    double s = scale[d];
    bool ident = n == o;
    for (int64_t j = 0; j < o; ++j) {
      int64_t* ix = t.idx + off + j * K;
      double* w = t.w + off + j * K;
      // coordinates in float arithmetic, as onnxruntime computes them
      float x, fj = (float)j, fs = (float)s, fn = (float)n, fo = (float)o;
      float r0 = (float)rs[d], r1 = (float)re[d];
      switch (c.ctm) {
        case kHalfPixel: x = (fj + 0.5f) / fs - 0.5f; break;
        case kPytorchHalfPixel: x = o > 1 ? (fj + 0.5f) / fs - 0.5f : 0.0f; break;
        case kAlignCorners: x = o == 1 ? 0.0f : fj * (fn - 1) / (fo - 1); break;
        case kAsymmetric: x = fj / fs; break;
        case kTfCrop:
          x = o > 1 ? r0 * (fn - 1) + (fj * (r1 - r0) * (fn - 1)) / (fo - 1) : 0.5f * (r0 + r1) * (fn - 1);
          break;
        case kHalfPixelSym: {
          float ow = fs * fn;
          float adj = fo / ow;
          float center = fn / 2;
          float offset = center * (1 - adj);
          x = offset + (fj + 0.5f) / fs - 0.5f;
          break;
        }
        default: x = 0;
      }
      // onnxruntime leaves an axis with scale 1 untouched (its roi ignored)
      if (s == 1.0 && n == o) x = fj;
      for (int k = c.Kb; k < K; ++k) { ix[k] = 0; w[k] = 0; }  // padding taps of antialiased tables
      if (c.antialias && s < 1.0 && c.ctm != kTfCrop) {
        double xd;  // the reference's coordinates, in double
        const double dj = (double)j, dn = (double)n, dout = dn * s;
        switch (c.ctm) {
          case kPytorchHalfPixel: xd = o > 1 ? (dj + 0.5) / s - 0.5 : -0.5; break;
          case kAlignCorners: xd = o == 1 ? 0.0 : dj * (dn - 1) / (dout - 1); break;
          case kAsymmetric: xd = dj / s; break;
          case kHalfPixelSym: {
            const double off = dn / 2 * (1 - (double)o / dout);
            xd = off + (dj + 0.5) / s - 0.5;
            break;
          }
          default: xd = (dj + 0.5) / s - 0.5;
        }
        antialias_taps(c, xd, s, n, ix, w);
        ident = false;
        continue;
      }
      if (c.ctm == kTfCrop && (x < 0 || x > (float)(n - 1))) {
        for (int k = 0; k < K; ++k) { ix[k] = -1; w[k] = 0; }
        ident = false;
        continue;
      }
      if (c.mode == kNearest) {
        int64_t i = nearest_index(x, c.nmode, s);
        ix[0] = std::clamp<int64_t>(i, 0, n - 1);
        w[0] = 1.0;
        if (ix[0] != j) ident = false;
      } else if (c.mode == kLinear) {
        float xc = std::max(0.0f, std::min(x, (float)(n - 1)));
        int64_t i0 = std::min((int64_t)xc, n - 1);
        int64_t i1 = std::min(i0 + 1, n - 1);
        double f = i1 == i0 ? 0.0 : (double)(xc - (float)i0);
        ix[0] = i0; ix[1] = i1; w[0] = 1.0 - f; w[1] = f;
        if (!(i0 == j && f == 0.0)) ident = false;
      } else {
        int64_t i0 = (int64_t)std::floor(x);
        double f = (double)(x - (float)i0), A = (double)(float)c.A;
        double c0 = ((A * (f + 1) - 5 * A) * (f + 1) + 8 * A) * (f + 1) - 4 * A;
        double c1 = ((A + 2) * f - (A + 3)) * f * f + 1;
        double c2 = ((A + 2) * (1 - f) - (A + 3)) * (1 - f) * (1 - f) + 1;
        double c3 = ((A * (2 - f) - 5 * A) * (2 - f) + 8 * A) * (2 - f) - 4 * A;
        double cs[4] = {c0, c1, c2, c3};
        double sum = 0;
        for (int k = 0; k < 4; ++k) {
          int64_t p = i0 - 1 + k;
          if (c.exclude && (p < 0 || p >= n)) cs[k] = 0;
          sum += cs[k];
          ix[k] = std::clamp<int64_t>(p, 0, n - 1);
        }
        for (int k = 0; k < 4; ++k) w[k] = c.exclude ? (sum != 0 ? cs[k] / sum : 0) : cs[k];
        if (!(f == 0.0 && i0 == j)) ident = false;
      }
    }
    t.identity[d] = ident;
    off += o * K;
  }
}

// One axis: dst[o, j, i] = sum_k w[j,k] * src[o, idx[j,k], i]
template <class T>
void axis_pass(const T* src, T* dst, int64_t outer, int64_t nin, int64_t nout, int64_t inner, const int64_t* idx,
               const double* w, int K, bool copy, T ext, ThreadPool* pool) {
  int64_t tasks = outer * nout;
  pool->parallel_for(tasks, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, inner * K)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      int64_t o = t / nout, j = t % nout;
      T* d = dst + t * inner;
      const int64_t* ix = idx + j * K;
      const double* wj = w + j * K;
      const T* s = src + o * nin * inner;
      if (ix[0] < 0) { std::fill(d, d + inner, ext); continue; }
      if (copy) {
        if (inner == 1) *d = s[ix[0]];
        else std::memcpy(d, s + ix[0] * inner, inner * sizeof(T));
        continue;
      }
      if (inner == 1) {
        T acc = 0;
        for (int k = 0; k < K; ++k) acc += (T)wj[k] * s[ix[k]];
        *d = acc;
      } else {
        T w0 = (T)wj[0];
        const T* s0 = s + ix[0] * inner;
        for (int64_t i = 0; i < inner; ++i) d[i] = w0 * s0[i];
        for (int k = 1; k < K; ++k) {
          T wk = (T)wj[k];
          if (wk == T(0)) continue;
          const T* sk = s + ix[k] * inner;
          for (int64_t i = 0; i < inner; ++i) d[i] += wk * sk[i];
        }
      }
    }
  });
}

// Fused 2-D (last two axes) float32 resize, one output row per task.
void fused2d(const float* x, float* y, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
             const int64_t* hi, const double* hw, const int64_t* wi, const double* ww, int K, bool nearest,
             float ext, ThreadPool* pool) {
  pool->parallel_for(planes * OH, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, OW)), [&](int64_t b, int64_t e) {
    float tmp[4096];
    for (int64_t t = b; t < e; ++t) {
      int64_t pl = t / OH, oh = t % OH;
      const float* xp = x + pl * H * W;
      float* yr = y + t * OW;
      const int64_t* ih = hi + oh * K;
      if (ih[0] < 0) { std::fill(yr, yr + OW, ext); continue; }
      const float* row;
      if (nearest) {
        row = xp + ih[0] * W;
      } else {
        const double* wh = hw + oh * K;
        float w0 = (float)wh[0];
        const float* r0 = xp + ih[0] * W;
        for (int64_t i = 0; i < W; ++i) tmp[i] = w0 * r0[i];
        for (int k = 1; k < K; ++k) {
          float wk = (float)wh[k];
          if (wk == 0.f) continue;
          const float* rk = xp + ih[k] * W;
          for (int64_t i = 0; i < W; ++i) tmp[i] += wk * rk[i];
        }
        row = tmp;
      }
      if (nearest) {
        for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = wi[ow] < 0 ? ext : row[wi[ow]];
      } else if (K == 2) {
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t* iw = wi + ow * 2;
          const double* wv = ww + ow * 2;
          yr[ow] = iw[0] < 0 ? ext : (float)wv[0] * row[iw[0]] + (float)wv[1] * row[iw[1]];
        }
      } else {
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t* iw = wi + ow * K;
          const double* wv = ww + ow * K;
          if (iw[0] < 0) { yr[ow] = ext; continue; }
          float acc = 0;
          for (int k = 0; k < K; ++k) acc += (float)wv[k] * row[iw[k]];
          yr[ow] = acc;
        }
      }
    }
  });
}

class ResizeKernel : public Kernel {
 public:
  Cfg c;
  bool runtime = false;
  std::vector<int64_t> idx;
  std::vector<double> w;
  Tables pre{};
  size_t buf_bytes = 0;   // one ping-pong buffer
  size_t table_bytes = 0;
  DType roi_dt = DType::Float32;

  size_t workspace_bytes() const override { return 2 * buf_bytes + (runtime ? table_bytes : 0); }

  void run(const RunArgs& a) override {
    Tables t = pre;
    char* ws = static_cast<char*>(a.workspace);
    if (runtime) {
      t.idx = reinterpret_cast<int64_t*>(ws + 2 * buf_bytes);
      t.w = reinterpret_cast<double*>(ws + 2 * buf_bytes + c.table_entries * sizeof(int64_t));
      build_tables(c, c.roi_i >= 0 ? a.in[c.roi_i] : nullptr, roi_dt, c.scales_i >= 0 ? a.in[c.scales_i] : nullptr,
                   c.sizes_i >= 0 ? a.in[c.sizes_i] : nullptr, t);
    }
    if (prod(c.out) == 0) return;
    // axes to process
    std::array<int, mv::kMaxRank> ax{};
    int nax = 0;
    for (int d = 0; d < c.r; ++d) if (!t.identity[d]) ax[nax++] = d;
    if (nax == 0) { std::memcpy(a.out[0], a.in[0], prod(c.in) * c.esz); return; }
    if (c.dt == DType::Float32 && c.r >= 2 && ax[0] >= c.r - 2 && c.in[c.r - 1] <= 4096 && c.mode != kCubic) {
      int h = c.r - 2, wd = c.r - 1;
      int64_t planes = prod(c.in, 0, c.r - 2);
      // identity axes still have valid tables (index j, weight 1)
      fused2d(static_cast<const float*>(a.in[0]), static_cast<float*>(a.out[0]), planes, c.in[h], c.in[wd], c.out[h],
              c.out[wd], t.idx + t.off[h], t.w + t.off[h], t.idx + t.off[wd], t.w + t.off[wd], c.K,
              c.mode == kNearest, (float)c.extrap, a.pool);
      return;
    }
    // order: shrinking axes first
    std::sort(ax.begin(), ax.begin() + nax, [&](int p, int q) {
      return (double)c.out[p] / c.in[p] < (double)c.out[q] / c.in[q];
    });
    std::array<int64_t, mv::kMaxRank> cur{};
    for (int d = 0; d < c.r; ++d) cur[d] = c.in[d];
    const void* src = a.in[0];
    for (int p = 0; p < nax; ++p) {
      int d = ax[p];
      int64_t outer = 1, inner = 1;
      for (int q = 0; q < d; ++q) outer *= cur[q];
      for (int q = d + 1; q < c.r; ++q) inner *= cur[q];
      void* dst = p == nax - 1 ? a.out[0] : (void*)(ws + (p % 2) * buf_bytes);
      const int64_t* ix = t.idx + t.off[d];
      const double* wv = t.w + t.off[d];
      if (c.mode == kNearest) {
        SNEP_BY_SIZE(c.esz, U, {
          U e;
          SNEP_DISPATCH_NUMERIC(c.dt, T, { T v = (T)c.extrap; std::memcpy(&e, &v, sizeof(U)); });
          axis_pass<U>(static_cast<const U*>(src), static_cast<U*>(dst), outer, cur[d], c.out[d], inner, ix, wv, 1,
                       true, e, a.pool);
        });
      } else if (c.dt == DType::Float32) {
        axis_pass<float>(static_cast<const float*>(src), static_cast<float*>(dst), outer, cur[d], c.out[d], inner, ix,
                         wv, c.K, false, (float)c.extrap, a.pool);
      } else {
        axis_pass<double>(static_cast<const double*>(src), static_cast<double*>(dst), outer, cur[d], c.out[d], inner,
                          ix, wv, c.K, false, c.extrap, a.pool);
      }
      cur[d] = c.out[d];
      src = dst;
    }
  }
};

bool resize_supports(const Layer& l) {
  Cfg c;
  if (!parse(l, c)) return false;
  if (c.mode == kNearest) {
    if (c.ctm == kTfCrop || true) {
      // extrapolation value must be representable: any numeric dtype
      switch (c.dt) {
        case DType::Float16: case DType::BFloat16: case DType::String: return false;
        default: break;
      }
    }
  }
  return true;
}

std::unique_ptr<Kernel> resize_prepare(const Layer& l) {
  auto k = std::make_unique<ResizeKernel>();
  Cfg& c = k->c;
  parse(l, c);
  if (c.roi_i >= 0) k->roi_dt = l.in(c.roi_i).dtype;
  bool cst = true;
  for (int i : {c.roi_i, c.scales_i, c.sizes_i}) if (i >= 0 && !l.in(i).const_data) cst = false;
  k->table_bytes = (size_t)c.table_entries * (sizeof(int64_t) + sizeof(double)) + 64;
  k->runtime = !cst;
  if (cst) {
    k->idx.resize(c.table_entries + 1);
    k->w.resize(c.table_entries + 1);
    k->pre.idx = k->idx.data();
    k->pre.w = k->w.data();
    build_tables(c, c.roi_i >= 0 ? l.in(c.roi_i).const_data : nullptr, k->roi_dt,
                 c.scales_i >= 0 ? l.in(c.scales_i).const_data : nullptr,
                 c.sizes_i >= 0 ? l.in(c.sizes_i).const_data : nullptr, k->pre);
  }
  // largest intermediate over any pass order: bounded by the product of max(in, out) per axis
  int64_t big = 1;
  for (int d = 0; d < c.r; ++d) big *= std::max(c.in[d], c.out[d]);
  k->buf_bytes = (((size_t)big * c.esz) + 63) / 64 * 64;
  if (cst) {
    int nax = 0, lo = c.r;
    for (int d = 0; d < c.r; ++d) if (!k->pre.identity[d]) { ++nax; lo = std::min(lo, d); }
    bool fused = c.dt == DType::Float32 && c.r >= 2 && lo >= c.r - 2 && c.in[c.r - 1] <= 4096 && c.mode != kCubic;
    if (nax <= 1 || fused) k->buf_bytes = 0;
  }
  return k;
}

SNEP_REGISTER_LAMBDA("Resize", "cpu/separable", resize_supports, resize_prepare);
SNEP_REGISTER_LAMBDA("Upsample", "cpu/separable", resize_supports, resize_prepare);

}  // namespace

namespace resize {

bool nearest_2d_tables(const Layer& l, std::vector<int64_t>* rows, std::vector<int64_t>* cols) {
  Cfg c;
  if (!parse(l, c) || c.mode != kNearest || c.r != 4 || c.dt != DType::Float32 || c.ctm == kTfCrop) return false;
  if (c.in[0] != c.out[0] || c.in[1] != c.out[1]) return false;
  for (int i : {c.scales_i, c.sizes_i})
    if (i >= 0 && !l.in(i).const_data) return false;
  std::vector<int64_t> idx(c.table_entries + 1);
  std::vector<double> w(c.table_entries + 1);
  Tables t;
  t.idx = idx.data();
  t.w = w.data();
  try {
    build_tables(c, nullptr, DType::Float32, c.scales_i >= 0 ? l.in(c.scales_i).const_data : nullptr,
                 c.sizes_i >= 0 ? l.in(c.sizes_i).const_data : nullptr, t);
  } catch (const std::exception&) {
    return false;  // scales that do not give the output shape: the ONNX-layout routine says why
  }
  for (int d = 0; d < 2; ++d)  // N and C stay where they are
    for (int64_t j = 0; j < c.out[d]; ++j)
      if (idx[t.off[d] + j] != j) return false;
  if (rows) rows->assign(idx.begin() + t.off[2], idx.begin() + t.off[2] + c.out[2]);
  if (cols) cols->assign(idx.begin() + t.off[3], idx.begin() + t.off[3] + c.out[3]);
  return true;
}

std::unique_ptr<Kernel> nearest_2d_kernel(const Layer& l, int64_t planes, int64_t lanes) {
  auto rows = std::make_shared<std::vector<int64_t>>(), cols = std::make_shared<std::vector<int64_t>>();
  nearest_2d_tables(l, rows.get(), cols.get());
  const int64_t IH = l.in(0).shape[2], IW = l.in(0).shape[3], OH = (int64_t)rows->size(), OW = (int64_t)cols->size();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const float* xp = static_cast<const float*>(a.in[0]);
    float* yp = static_cast<float*>(a.out[0]);
    a.pool->parallel_for(planes * OH, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t pl = t / OH, oh = t % OH;
        const float* xr = xp + (pl * IH + (*rows)[oh]) * IW * lanes;
        float* yr = yp + (pl * OH + oh) * OW * lanes;
        for (int64_t ow = 0; ow < OW; ++ow)
          std::memcpy(yr + ow * lanes, xr + (*cols)[ow] * lanes, (size_t)lanes * sizeof(float));
      }
    });
  });
}

}  // namespace resize
}  // namespace snep
