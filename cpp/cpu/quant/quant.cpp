// Quantization ops: QuantizeLinear, DequantizeLinear (per-tensor, per-axis,
// blocked), DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul,
// QLinearConv. Integer products accumulate in int32; requantization computes
// float(acc) * (s_in * s_w / s_out) in float32, rounds half to even, adds the
// zero point and saturates (as onnxruntime's MLAS does).
#include <cfenv>
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/conv/conv_params.h"
#include "cpu/elementwise/ew_util.h"
#include "cpu/qelementwise/qlinear_add_kernel.h"
#include "cpu/quant/qlinear_fused.h"

namespace snep {
namespace {

using ew::par_for;

bool is_q8(DType t) { return t == DType::Int8 || t == DType::UInt8; }
bool is_qtype(DType t) {
  return t == DType::Int8 || t == DType::UInt8 || t == DType::Int16 || t == DType::UInt16 || t == DType::Int32;
}
bool is_ftype(DType t) { return t == DType::Float32 || t == DType::Float16; }

// Reads element i of a float32/float16 tensor as float.
inline float ldf(const void* p, DType t, int64_t i) {
  return t == DType::Float16 ? ew::h2f(static_cast<const uint16_t*>(p)[i]) : static_cast<const float*>(p)[i];
}
inline void stf(void* p, DType t, int64_t i, float v) {
  if (t == DType::Float16) static_cast<uint16_t*>(p)[i] = ew::f2h(v);
  else static_cast<float*>(p)[i] = v;
}
// Reads element i of an integer tensor as int64 (null pointer: 0).
inline int64_t ldi(const void* p, DType t, int64_t i) {
  if (!p) return 0;
  switch (t) {
    case DType::Int8: return static_cast<const int8_t*>(p)[i];
    case DType::UInt8: return static_cast<const uint8_t*>(p)[i];
    case DType::Int16: return static_cast<const int16_t*>(p)[i];
    case DType::UInt16: return static_cast<const uint16_t*>(p)[i];
    case DType::Int32: return static_cast<const int32_t*>(p)[i];
    default: return 0;
  }
}
inline void qrange(DType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case DType::Int8: *lo = -128; *hi = 127; break;
    case DType::UInt8: *lo = 0; *hi = 255; break;
    case DType::Int16: *lo = -32768; *hi = 32767; break;
    case DType::UInt16: *lo = 0; *hi = 65535; break;
    default: *lo = std::numeric_limits<int32_t>::min(); *hi = std::numeric_limits<int32_t>::max(); break;
  }
}
inline void sti(void* p, DType t, int64_t i, int64_t v) {
  switch (t) {
    case DType::Int8: static_cast<int8_t*>(p)[i] = (int8_t)v; break;
    case DType::UInt8: static_cast<uint8_t*>(p)[i] = (uint8_t)v; break;
    case DType::Int16: static_cast<int16_t*>(p)[i] = (int16_t)v; break;
    case DType::UInt16: static_cast<uint16_t*>(p)[i] = (uint16_t)v; break;
    case DType::Int32: static_cast<int32_t*>(p)[i] = (int32_t)v; break;
    default: break;
  }
}
// round(v) half to even, + zp, saturated to [lo, hi].
inline int64_t quantize_val(float v, int64_t zp, int64_t lo, int64_t hi) {
  if (std::isnan(v)) return std::min(std::max<int64_t>(zp, lo), hi);  // not specified; never drawn
  double r = std::nearbyint((double)v) + (double)zp;
  if (r < (double)lo) return lo;
  if (r > (double)hi) return hi;
  return (int64_t)r;
}

// ---- scale / zero-point indexing: per-tensor, per-axis, blocked -------------
struct QIndex {
  int64_t outer = 1, D = 1, inner = 1, block = 0, nb = 1;
  int mode = 0;  // 0 per-tensor, 1 per-axis, 2 blocked
  int64_t idx(int64_t i) const {
    if (mode == 0) return 0;
    int64_t in_ = i % inner, d = (i / inner) % D;
    if (mode == 1) return d;
    int64_t o = i / (inner * D);
    return (o * nb + d / block) * inner + in_;
  }
};

bool qindex(const Layer& l, const TensorInfo& x, const TensorInfo& s, QIndex* q) {
  int r = x.rank();
  int64_t axis = l.attrs.get_int("axis", 1);
  int64_t block = l.attrs.get_int("block_size", 0);
  if (s.numel() == 1 && s.rank() <= 1 && block == 0) { q->mode = 0; return true; }
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return false;
  q->outer = prod(x.shape, 0, axis);
  q->D = x.shape[axis];
  q->inner = prod(x.shape, axis + 1);
  if (block == 0) {
    if (s.rank() != 1 || s.shape[0] != q->D) return false;
    q->mode = 1;
    return true;
  }
  if (block < 0 || s.rank() != r) return false;
  q->nb = (q->D + block - 1) / block;
  for (int i = 0; i < r; ++i)
    if (s.shape[i] != (i == axis ? q->nb : x.shape[i])) return false;
  q->block = block;
  q->mode = 2;
  return true;
}

// ---- QuantizeLinear ---------------------------------------------------------
bool quantize_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 3 || l.outputs.size() != 1) return false;
  if (!l.has_input(0) || !l.has_input(1)) return false;
  const auto &x = l.in(0), &s = l.in(1), &y = l.out(0);
  if (!is_ftype(x.dtype) || !is_ftype(s.dtype) || !is_qtype(y.dtype) || y.dtype == DType::Int32) return false;
  if (x.shape != y.shape) return false;
  if (l.has_input(2) && (l.in(2).dtype != y.dtype || l.in(2).shape != s.shape)) return false;
  if (l.attrs.get_int("precision", 0) != 0) return false;
  QIndex q;
  return qindex(l, x, s, &q);
}

std::unique_ptr<Kernel> quantize_prepare(const Layer& l) {
  QIndex q;
  qindex(l, l.in(0), l.in(1), &q);
  DType xt = l.in(0).dtype, st = l.in(1).dtype, yt = l.out(0).dtype;
  int64_t n = l.in(0).numel(), lo, hi;
  qrange(yt, &lo, &hi);
  bool hz = l.has_input(2);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const void *x = a.in[0], *s = a.in[1], *z = hz ? a.in[2] : nullptr;
    void* y = a.out[0];
    par_for(a.pool, n, 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        int64_t k = q.idx(i);
        float v = ldf(x, xt, i) / ldf(s, st, k);
        if (xt == DType::Float16 && st == DType::Float16) v = ew::h2f(ew::f2h(v));
        sti(y, yt, i, quantize_val(v, ldi(z, yt, k), lo, hi));
      }
    });
  });
}
SNEP_REGISTER_LAMBDA("QuantizeLinear", "cpu/direct", quantize_supports, quantize_prepare);

// ---- DequantizeLinear -------------------------------------------------------
bool dequantize_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 3 || l.outputs.size() != 1) return false;
  if (!l.has_input(0) || !l.has_input(1)) return false;
  const auto &x = l.in(0), &s = l.in(1), &y = l.out(0);
  if (!is_qtype(x.dtype) || !is_ftype(s.dtype) || !is_ftype(y.dtype)) return false;
  if (x.shape != y.shape) return false;
  if (l.has_input(2) && (l.in(2).dtype != x.dtype || l.in(2).shape != s.shape)) return false;
  if (x.dtype == DType::Int32 && l.has_input(2)) {
    // int32 with a zero point: (x - zp) may overflow int32; onnxruntime wraps.
    return false;
  }
  QIndex q;
  return qindex(l, x, s, &q);
}

std::unique_ptr<Kernel> dequantize_prepare(const Layer& l) {
  QIndex q;
  qindex(l, l.in(0), l.in(1), &q);
  DType xt = l.in(0).dtype, st = l.in(1).dtype, yt = l.out(0).dtype;
  int64_t n = l.in(0).numel();
  bool hz = l.has_input(2);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const void *x = a.in[0], *s = a.in[1], *z = hz ? a.in[2] : nullptr;
    void* y = a.out[0];
    par_for(a.pool, n, 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        int64_t k = q.idx(i);
        float v = (float)(ldi(x, xt, i) - ldi(z, xt, k)) * ldf(s, st, k);
        stf(y, yt, i, v);
      }
    });
  });
}
SNEP_REGISTER_LAMBDA("DequantizeLinear", "cpu/direct", dequantize_supports, dequantize_prepare);

// ---- DynamicQuantizeLinear --------------------------------------------------
SNEP_REGISTER_LAMBDA(
    "DynamicQuantizeLinear", "cpu:float32/direct",
    [](const Layer& l) {
      return l.inputs.size() == 1 && l.has_input(0) && l.in(0).dtype == DType::Float32 && l.outputs.size() == 3 &&
             l.out(0).dtype == DType::UInt8 && l.out(1).dtype == DType::Float32 && l.out(2).dtype == DType::UInt8 &&
             l.out(0).shape == l.in(0).shape && l.out(1).numel() == 1 && l.out(2).numel() == 1;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      int64_t n = l.in(0).numel();
      return std::make_unique<FnKernel>([n](const RunArgs& a) {
        const float* x = static_cast<const float*>(a.in[0]);
        float mn = 0.f, mx = 0.f;
        for (int64_t i = 0; i < n; ++i) { mn = std::min(mn, x[i]); mx = std::max(mx, x[i]); }
        float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
        float zpf = 0.0f - mn / scale;
        zpf = std::max(0.0f, std::min(255.0f, zpf));
        int64_t zp = (int64_t)std::nearbyint(zpf);
        uint8_t* y = static_cast<uint8_t*>(a.out[0]);
        par_for(a.pool, n, 1 << 14, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) y[i] = (uint8_t)quantize_val(x[i] / scale, zp, 0, 255);
        });
        *static_cast<float*>(a.out[1]) = scale;
        *static_cast<uint8_t*>(a.out[2]) = (uint8_t)zp;
      });
    });

// ---- integer matmul core ----------------------------------------------------
struct MMShape {
  int64_t M = 0, K = 0, N = 0, batch = 1;
  std::vector<int64_t> aoff, boff;  // per output batch: element offsets into A / B
  bool ok = false;
};

MMShape mm_shape(const TensorInfo& A, const TensorInfo& B, const TensorInfo& Y) {
  MMShape s;
  auto a = A.shape, b = B.shape;
  if (a.empty() || b.empty()) return s;
  bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  s.M = a[a.size() - 2]; s.K = a.back(); s.N = b.back();
  if (b[b.size() - 2] != s.K) return s;
  size_t rank = std::max(a.size(), b.size()) - 2;
  std::vector<int64_t> ab(rank, 1), bb(rank, 1), ob(rank, 1);
  for (size_t i = 0; i < a.size() - 2; ++i) ab[rank - (a.size() - 2) + i] = a[i];
  for (size_t i = 0; i < b.size() - 2; ++i) bb[rank - (b.size() - 2) + i] = b[i];
  for (size_t i = 0; i < rank; ++i) {
    if (ab[i] != bb[i] && ab[i] != 1 && bb[i] != 1) return s;
    ob[i] = ab[i] == 1 ? bb[i] : ab[i];
  }
  std::vector<int64_t> out = ob;
  if (!a1) out.push_back(s.M);
  if (!b1) out.push_back(s.N);
  if (Y.shape != out) return s;
  s.batch = prod(ob);
  std::vector<int64_t> idx(rank, 0);
  for (int64_t bi = 0; bi < s.batch; ++bi) {
    int64_t ia = 0, ib = 0, sa = 1, sb = 1;
    for (int d = (int)rank - 1; d >= 0; --d) {
      ia += (ab[d] == 1 ? 0 : idx[d]) * sa; sa *= ab[d];
      ib += (bb[d] == 1 ? 0 : idx[d]) * sb; sb *= bb[d];
    }
    s.aoff.push_back(ia * s.M * s.K);
    s.boff.push_back(ib * s.K * s.N);
    for (int d = (int)rank - 1; d >= 0; --d) { if (++idx[d] < ob[d]) break; idx[d] = 0; }
  }
  s.ok = true;
  return s;
}

// acc[m][n] = sum_k (A[m,k] - az[m]) * (B[k,n] - bz[n]); az/bz indexed by stride 0 or 1.
template <class TA, class TB>
void imm(const TA* A, const TB* B, int64_t M, int64_t K, int64_t N, const void* az, DType azt, int64_t azs,
         const void* bz, DType bzt, int64_t bzs, int32_t* acc) {
  for (int64_t m = 0; m < M; ++m) {
    int32_t za = (int32_t)ldi(az, azt, m * azs);
    int32_t* c = acc + m * N;
    for (int64_t n = 0; n < N; ++n) c[n] = 0;
    for (int64_t k = 0; k < K; ++k) {
      int32_t av = (int32_t)A[m * K + k] - za;
      if (av == 0) continue;
      const TB* brow = B + k * N;
      for (int64_t n = 0; n < N; ++n) c[n] += av * (int32_t)brow[n];
    }
    if (bz) {
      int32_t asum = 0;
      for (int64_t k = 0; k < K; ++k) asum += (int32_t)A[m * K + k] - za;
      for (int64_t n = 0; n < N; ++n) c[n] -= asum * (int32_t)ldi(bz, bzt, n * bzs);
    }
  }
}

using ImmFn = void (*)(const void*, const void*, int64_t, int64_t, int64_t, const void*, DType, int64_t, const void*,
                       DType, int64_t, int32_t*);
template <class TA, class TB>
void imm_v(const void* A, const void* B, int64_t M, int64_t K, int64_t N, const void* az, DType azt, int64_t azs,
           const void* bz, DType bzt, int64_t bzs, int32_t* acc) {
  imm<TA, TB>(static_cast<const TA*>(A), static_cast<const TB*>(B), M, K, N, az, azt, azs, bz, bzt, bzs, acc);
}
ImmFn imm_for(DType a, DType b) {
  if (a == DType::UInt8) return b == DType::UInt8 ? imm_v<uint8_t, uint8_t> : imm_v<uint8_t, int8_t>;
  return b == DType::UInt8 ? imm_v<int8_t, uint8_t> : imm_v<int8_t, int8_t>;
}

// zero point / scale operand: scalar (stride 0) or a vector of length n (stride 1); -1 if invalid.
int64_t vec_stride(const Layer& l, size_t i, int64_t n) {
  if (!l.has_input(i)) return 0;
  const auto& t = l.in(i);
  if (t.numel() == 1 && t.rank() <= 1) return 0;
  if (t.rank() == 1 && t.shape[0] == n) return 1;
  return -1;
}

// ---- MatMulInteger ----------------------------------------------------------
bool mmi_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 4 || l.outputs.size() != 1) return false;
  if (!l.has_input(0) || !l.has_input(1) || !is_q8(l.in(0).dtype) || !is_q8(l.in(1).dtype)) return false;
  if (l.out(0).dtype != DType::Int32) return false;
  MMShape s = mm_shape(l.in(0), l.in(1), l.out(0));
  if (!s.ok) return false;
  if (l.has_input(2) && (l.in(2).dtype != l.in(0).dtype || vec_stride(l, 2, s.M) < 0)) return false;
  if (l.has_input(3) && (l.in(3).dtype != l.in(1).dtype || vec_stride(l, 3, s.N) < 0)) return false;
  return true;
}

std::unique_ptr<Kernel> mmi_prepare(const Layer& l) {
  MMShape s = mm_shape(l.in(0), l.in(1), l.out(0));
  ImmFn fn = imm_for(l.in(0).dtype, l.in(1).dtype);
  DType at = l.in(0).dtype, bt = l.in(1).dtype;
  int64_t azs = vec_stride(l, 2, s.M), bzs = vec_stride(l, 3, s.N);
  size_t ea = dtype_size(at), eb = dtype_size(bt);
  bool h2 = l.has_input(2), h3 = l.has_input(3);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    int32_t* y = static_cast<int32_t*>(a.out[0]);
    const void* az = h2 ? a.in[2] : nullptr;
    const void* bz = h3 ? a.in[3] : nullptr;
    par_for(a.pool, s.batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t bi = b0; bi < b1; ++bi)
        fn(static_cast<const char*>(a.in[0]) + s.aoff[bi] * ea, static_cast<const char*>(a.in[1]) + s.boff[bi] * eb,
           s.M, s.K, s.N, az, at, azs, bz, bt, bzs, y + bi * s.M * s.N);
    });
  });
}
SNEP_REGISTER_LAMBDA("MatMulInteger", "cpu:int8/direct", mmi_supports, mmi_prepare);

// ---- QLinearMatMul ----------------------------------------------------------
// inputs: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
bool qlmm_supports(const Layer& l) {
  if (l.inputs.size() != 8 || l.outputs.size() != 1) return false;
  for (int i = 0; i < 8; ++i) if (!l.has_input(i)) return false;
  DType at = l.in(0).dtype, bt = l.in(3).dtype, yt = l.out(0).dtype;
  if (!is_q8(at) || !is_q8(bt) || !is_q8(yt)) return false;
  if (l.in(2).dtype != at || l.in(5).dtype != bt || l.in(7).dtype != yt) return false;
  for (int i : {1, 4, 6}) if (!is_ftype(l.in(i).dtype)) return false;
  MMShape s = mm_shape(l.in(0), l.in(3), l.out(0));
  if (!s.ok) return false;
  // per-row a / per-column b only for 2-D operands
  if (vec_stride(l, 1, s.M) < 0 || vec_stride(l, 2, s.M) < 0 || vec_stride(l, 4, s.N) < 0 ||
      vec_stride(l, 5, s.N) < 0)
    return false;
  if (l.in(6).numel() != 1 || l.in(7).numel() != 1) return false;
  if ((vec_stride(l, 1, s.M) || vec_stride(l, 2, s.M) || vec_stride(l, 4, s.N) || vec_stride(l, 5, s.N)) &&
      (l.in(0).rank() != 2 || l.in(3).rank() != 2))
    return false;
  return true;
}

std::unique_ptr<Kernel> qlmm_prepare(const Layer& l) {
  MMShape s = mm_shape(l.in(0), l.in(3), l.out(0));
  ImmFn fn = imm_for(l.in(0).dtype, l.in(3).dtype);
  DType at = l.in(0).dtype, bt = l.in(3).dtype, yt = l.out(0).dtype;
  DType ast = l.in(1).dtype, bst = l.in(4).dtype, yst = l.in(6).dtype;
  int64_t azs = vec_stride(l, 2, s.M), bzs = vec_stride(l, 5, s.N);
  int64_t ass = vec_stride(l, 1, s.M), bss = vec_stride(l, 4, s.N);
  size_t ea = dtype_size(at), eb = dtype_size(bt);
  int64_t MN = s.M * s.N, lo, hi;
  qrange(yt, &lo, &hi);
  return std::make_unique<FnKernel>(
      [=](const RunArgs& a) {
        int32_t* ws = static_cast<int32_t*>(a.workspace);
        float ys = ldf(a.in[6], yst, 0);
        int64_t yz = ldi(a.in[7], yt, 0);
        for (int64_t bi = 0; bi < s.batch; ++bi) {
          fn(static_cast<const char*>(a.in[0]) + s.aoff[bi] * ea, static_cast<const char*>(a.in[3]) + s.boff[bi] * eb,
             s.M, s.K, s.N, a.in[2], at, azs, a.in[5], bt, bzs, ws);
          for (int64_t m = 0; m < s.M; ++m)
            for (int64_t n = 0; n < s.N; ++n) {
              float mult = ldf(a.in[1], ast, m * ass) * ldf(a.in[4], bst, n * bss) / ys;
              sti(a.out[0], yt, bi * MN + m * s.N + n, quantize_val((float)ws[m * s.N + n] * mult, yz, lo, hi));
            }
        }
      },
      (size_t)std::max<int64_t>(MN, 1) * 4);
}
SNEP_REGISTER_LAMBDA("QLinearMatMul", "cpu:int8/direct", qlmm_supports, qlmm_prepare);

// ---- integer convolution core -----------------------------------------------
// acc[m][o] for image n, one group at a time, direct loops over 3-D geometry.
template <class TX, class TW>
void iconv(const conv::ConvParams& p, const TX* x, const TW* w, int32_t xz, const void* wz, DType wzt, int64_t wzs,
           int32_t* y, int64_t n) {
  int64_t Cg = p.C / p.group, Mg = p.M / p.group, isz = p.in_size(), osz = p.out_size(), ksz = p.k_size();
  for (int64_t m = 0; m < p.M; ++m) {
    int64_t g = m / Mg;
    int32_t wzv = (int32_t)ldi(wz, wzt, m * wzs);
    int32_t* yo = y + m * osz;  // y: image n's output
    for (int64_t o0 = 0; o0 < p.out[0]; ++o0)
      for (int64_t o1 = 0; o1 < p.out[1]; ++o1)
        for (int64_t o2 = 0; o2 < p.out[2]; ++o2) {
          int32_t acc = 0;
          for (int64_t c = 0; c < Cg; ++c) {
            const TX* xc = x + (n * p.C + g * Cg + c) * isz;
            const TW* wc = w + (m * Cg + c) * ksz;
            for (int64_t k0 = 0; k0 < p.k[0]; ++k0) {
              int64_t i0 = o0 * p.s[0] - p.pb[0] + k0 * p.d[0];
              if (i0 < 0 || i0 >= p.in[0]) continue;
              for (int64_t k1 = 0; k1 < p.k[1]; ++k1) {
                int64_t i1 = o1 * p.s[1] - p.pb[1] + k1 * p.d[1];
                if (i1 < 0 || i1 >= p.in[1]) continue;
                for (int64_t k2 = 0; k2 < p.k[2]; ++k2) {
                  int64_t i2 = o2 * p.s[2] - p.pb[2] + k2 * p.d[2];
                  if (i2 < 0 || i2 >= p.in[2]) continue;
                  acc += ((int32_t)xc[(i0 * p.in[1] + i1) * p.in[2] + i2] - xz) *
                         ((int32_t)wc[(k0 * p.k[1] + k1) * p.k[2] + k2] - wzv);
                }
              }
            }
          }
          yo[(o0 * p.out[1] + o1) * p.out[2] + o2] = acc;
        }
  }
}
using IconvFn = void (*)(const conv::ConvParams&, const void*, const void*, int32_t, const void*, DType, int64_t,
                         int32_t*, int64_t);
template <class TX, class TW>
void iconv_v(const conv::ConvParams& p, const void* x, const void* w, int32_t xz, const void* wz, DType wzt,
             int64_t wzs, int32_t* y, int64_t n) {
  iconv<TX, TW>(p, static_cast<const TX*>(x), static_cast<const TW*>(w), xz, wz, wzt, wzs, y, n);
}
IconvFn iconv_for(DType a, DType b) {
  if (a == DType::UInt8) return b == DType::UInt8 ? iconv_v<uint8_t, uint8_t> : iconv_v<uint8_t, int8_t>;
  return b == DType::UInt8 ? iconv_v<int8_t, uint8_t> : iconv_v<int8_t, int8_t>;
}

conv::ConvParams qconv_params(const Layer& l, size_t wi) {
  Layer t;
  t.op = "Conv";
  t.attrs = l.attrs;
  t.inputs = {l.in(0), l.in(wi)};
  t.outputs = l.outputs;
  return conv::conv_params(t);
}

// ---- ConvInteger: x, w, x_zp?, w_zp? ----------------------------------------
bool convi_supports(const Layer& l) {
  if (l.inputs.size() < 2 || l.inputs.size() > 4 || l.outputs.size() != 1) return false;
  if (!l.has_input(0) || !l.has_input(1) || !is_q8(l.in(0).dtype) || !is_q8(l.in(1).dtype)) return false;
  if (l.out(0).dtype != DType::Int32 || l.in(0).layout != Layout::Plain) return false;
  conv::ConvParams p = qconv_params(l, 1);
  if (!p.ok) return false;
  if (l.has_input(2) && (l.in(2).dtype != l.in(0).dtype || l.in(2).numel() != 1)) return false;
  if (l.has_input(3) && (l.in(3).dtype != l.in(1).dtype || vec_stride(l, 3, p.M) < 0)) return false;
  return true;
}

std::unique_ptr<Kernel> convi_prepare(const Layer& l) {
  conv::ConvParams p = qconv_params(l, 1);
  IconvFn fn = iconv_for(l.in(0).dtype, l.in(1).dtype);
  DType xt = l.in(0).dtype, wt = l.in(1).dtype;
  int64_t wzs = vec_stride(l, 3, p.M);
  bool h2 = l.has_input(2), h3 = l.has_input(3);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    int32_t xz = h2 ? (int32_t)ldi(a.in[2], xt, 0) : 0;
    const void* wz = h3 ? a.in[3] : nullptr;
    int32_t* y = static_cast<int32_t*>(a.out[0]);
    par_for(a.pool, p.N, 1, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) fn(p, a.in[0], a.in[1], xz, wz, wt, wzs, y + n * p.M * p.out_size(), n);
    });
  });
}
SNEP_REGISTER_LAMBDA("ConvInteger", "cpu:int8:nchw/direct", convi_supports, convi_prepare);

// ---- QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B? ------
// plus the fused activation and residual (z, z_scale, z_zp) of qlinear_fused.h.
bool qlconv_supports(const Layer& l) {
  if (l.inputs.size() < 8 || l.inputs.size() > 14 || l.outputs.size() != 1) return false;
  if (!qfused::activation_ok(l.attrs) || !(qfused::residual_ok(l) || qfused::rounded_residual_ok(l))) return false;
  for (int i = 0; i < 8; ++i) if (!l.has_input(i)) return false;
  DType xt = l.in(0).dtype, wt = l.in(3).dtype, yt = l.out(0).dtype;
  if (!is_q8(xt) || !is_q8(wt) || !is_q8(yt) || l.in(0).layout != Layout::Plain) return false;
  if (l.in(2).dtype != xt || l.in(5).dtype != wt || l.in(7).dtype != yt) return false;
  for (int i : {1, 4, 6}) if (l.in(i).dtype != DType::Float32) return false;
  conv::ConvParams p = qconv_params(l, 3);
  if (!p.ok) return false;
  if (l.in(1).numel() != 1 || l.in(2).numel() != 1 || l.in(6).numel() != 1 || l.in(7).numel() != 1) return false;
  if (vec_stride(l, 4, p.M) < 0 || vec_stride(l, 5, p.M) < 0) return false;
  if (l.has_input(8) && (l.in(8).dtype != DType::Int32 || l.in(8).rank() != 1 || l.in(8).shape[0] != p.M))
    return false;
  return true;
}

std::unique_ptr<Kernel> qlconv_prepare(const Layer& l) {
  conv::ConvParams p = qconv_params(l, 3);
  IconvFn fn = iconv_for(l.in(0).dtype, l.in(3).dtype);
  DType xt = l.in(0).dtype, wt = l.in(3).dtype, yt = l.out(0).dtype;
  int64_t wzs = vec_stride(l, 5, p.M), wss = vec_stride(l, 4, p.M);
  int64_t per = p.M * p.out_size(), osz = p.out_size(), lo, hi;
  qrange(yt, &lo, &hi);
  bool hb = l.has_input(8), hz = qfused::has_residual(l), hr = qfused::has_rounded_residual(l);
  DType zt = hz ? l.in(9).dtype : DType::UInt8;
  Activation act = hr ? Activation{} : Activation::from_attrs(l.attrs);  // rounded: on the sum, below
  bool sum_relu = hr && l.attrs.get_string("activation", "") == "Relu";
  return std::make_unique<FnKernel>(
      [=](const RunArgs& a) {
        int32_t* ws = static_cast<int32_t*>(a.workspace);
        int32_t xz = (int32_t)ldi(a.in[2], xt, 0);
        float xs = static_cast<const float*>(a.in[1])[0], ys = static_cast<const float*>(a.in[6])[0];
        const float* wsc = static_cast<const float*>(a.in[4]);
        const int32_t* bias = hb ? static_cast<const int32_t*>(a.in[8]) : nullptr;
        int64_t yz = ldi(a.in[7], yt, 0);
        int32_t qlo, qhi;
        qfused::out_range(act, yt == DType::Int8, ys, (int32_t)yz, &qlo, &qhi);
        const void* z = hz ? a.in[9] : nullptr;
        int64_t zz = hz ? ldi(a.in[11], zt, 0) : 0;
        float zmult = hz ? static_cast<const float*>(a.in[10])[0] / ys : 0.f;
        for (int64_t n = 0; n < p.N; ++n) {
          fn(p, a.in[0], a.in[3], xz, a.in[5], wt, wzs, ws, n);
          for (int64_t m = 0; m < p.M; ++m) {
            float mult = xs * wsc[m * wss] / ys;
            int32_t bv = bias ? bias[m] : 0;
            for (int64_t o = 0; o < osz; ++o) {
              int64_t i = n * per + m * osz + o;
              float v = (float)(ws[m * osz + o] + bv) * mult;
              if (z) v = v + (float)(ldi(z, zt, i) - zz) * zmult;
              int64_t q = quantize_val(v, yz, lo, hi);
              sti(a.out[0], yt, i, std::min<int64_t>(std::max<int64_t>(q, qlo), qhi));
            }
          }
        }
        if (hr) {
          const qfused::RoundedAdd r = qfused::RoundedAdd::of(a, sum_relu);
          uint8_t* y = static_cast<uint8_t*>(a.out[0]);
          qadd::add_u8(y, static_cast<const uint8_t*>(a.in[9]), 1, y, p.N * per, r.ra, r.rb, r.ya, r.zz, r.yz, r.lo);
        }
      },
      (size_t)std::max<int64_t>(per, 1) * 4);
}
SNEP_REGISTER_LAMBDA("QLinearConv", "cpu:int8:nchw/direct", qlconv_supports, qlconv_prepare);

}  // namespace
}  // namespace snep
