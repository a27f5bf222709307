// Assorted small ops: CumProd, BitwiseAnd/Or/Xor/Not, BitCast (same element
// size), Shrink, Det and RotaryEmbedding (opset 23). One `cpu/direct`
// routine per op; float16 is computed in float.
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>

#include "cpu/elementwise/ew_util.h"
#include "cpu/reduce/cumulative.h"

namespace snep {
namespace {
using namespace ew;

// ---- CumProd -------------------------------------------------------------------

template <class T>
std::unique_ptr<Kernel> make_cumprod(const Layer& l) {
  using C = CT<T>;
  return make_cumulative<T>(l, "CumProd", C(1), [](C a, C b) { return (C)(a * b); });
}

const bool registered_cumprod = (reg("CumProd", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 2 || !l.in(0).present || !l.in(1).present || l.outputs.size() != 1) return false;
      DType t = l.in(0).dtype;
      return is_numeric(t) && l.out(0).dtype == t && l.out(0).shape == l.in(0).shape && l.in(0).rank() >= 1 &&
             l.in(1).numel() == 1 && l.in(1).rank() <= 1 &&
             (l.in(1).dtype == DType::Int32 || l.in(1).dtype == DType::Int64);
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH(l.in(0).dtype, T, {
        if constexpr (!std::is_same_v<T, bool>) k = make_cumprod<T>(l);
      });
      return k;
    }), true);

// ---- Bitwise ---------------------------------------------------------------------

#define SNEP_INT_DISPATCH(DT, T, ...)                                         \
  switch (DT) {                                                               \
    case DType::Int64: { using T = int64_t; __VA_ARGS__; break; }             \
    case DType::Int32: { using T = int32_t; __VA_ARGS__; break; }             \
    case DType::Int16: { using T = int16_t; __VA_ARGS__; break; }             \
    case DType::Int8: { using T = int8_t; __VA_ARGS__; break; }               \
    case DType::UInt8: { using T = uint8_t; __VA_ARGS__; break; }             \
    case DType::UInt16: { using T = uint16_t; __VA_ARGS__; break; }           \
    case DType::UInt32: { using T = uint32_t; __VA_ARGS__; break; }           \
    case DType::UInt64: { using T = uint64_t; __VA_ARGS__; break; }           \
    default: throw NotImplementedError("bitwise: unsupported dtype");         \
  }

template <class T, int K>
std::unique_ptr<Kernel> make_bitwise(const Layer& l) {
  auto bc = std::make_shared<Bcast>();
  bc->init({&l.in(0).shape, &l.in(1).shape}, l.out(0).shape);
  return std::make_unique<FnKernel>([bc](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    const T* y = static_cast<const T*>(a.in[1]);
    T* o = static_cast<T*>(a.out[0]);
    const int64_t sx = bc->inner_st[0], sy = bc->inner_st[1];
    bc->for_rows(a.pool, [&](int64_t oo, const int64_t* off, int64_t n) {
      const T* px = x + off[0];
      const T* py = y + off[1];
      T* po = o + oo;
      for (int64_t i = 0; i < n; ++i) {
        T u = px[i * sx], v = py[i * sy];
        po[i] = K == 0 ? (T)(u & v) : K == 1 ? (T)(u | v) : (T)(u ^ v);
      }
    });
  });
}

bool bcast_shape_ok(const Layer& l) {
  const auto& a = l.in(0).shape;
  const auto& b = l.in(1).shape;
  const auto& o = l.out(0).shape;
  size_t r = std::max(a.size(), b.size());
  if (o.size() != r) return false;
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1;
    int64_t db = i + b.size() >= r ? b[i + b.size() - r] : 1;
    if (da != db && da != 1 && db != 1) return false;
    int64_t d = da == 1 ? db : da;
    if (o[i] != d) return false;
  }
  return true;
}

template <int K>
void reg_bitwise(const char* op) {
  reg(op, "cpu/direct",
      [](const Layer& l) {
        if (l.inputs.size() != 2 || !l.in(0).present || !l.in(1).present || l.outputs.size() != 1) return false;
        DType t = l.in(0).dtype;
        return is_int(t) && l.in(1).dtype == t && l.out(0).dtype == t && Bcast::ok(l, 2) && bcast_shape_ok(l);
      },
      [](const Layer& l) -> std::unique_ptr<Kernel> {
        std::unique_ptr<Kernel> k;
        SNEP_INT_DISPATCH(l.in(0).dtype, T, k = (make_bitwise<T, K>(l)));
        return k;
      });
}

const bool registered_bitwise = [] {
  reg_bitwise<0>("BitwiseAnd");
  reg_bitwise<1>("BitwiseOr");
  reg_bitwise<2>("BitwiseXor");
  reg("BitwiseNot", "cpu/direct",
      [](const Layer& l) {
        if (l.inputs.size() != 1 || !l.in(0).present || l.outputs.size() != 1) return false;
        DType t = l.in(0).dtype;
        return is_int(t) && l.out(0).dtype == t && l.out(0).shape == l.in(0).shape;
      },
      [](const Layer& l) -> std::unique_ptr<Kernel> {
        int64_t n = l.in(0).numel();
        std::unique_ptr<Kernel> k;
        SNEP_INT_DISPATCH(l.in(0).dtype, T, {
          k = std::make_unique<FnKernel>([n](const RunArgs& a) {
            const T* x = static_cast<const T*>(a.in[0]);
            T* y = static_cast<T*>(a.out[0]);
            par_for(a.pool, n, 1 << 16, [&](int64_t b, int64_t e) {
              for (int64_t i = b; i < e; ++i) y[i] = (T)~x[i];
            });
          });
        });
        return k;
      });
  return true;
}();

// ---- BitCast (same element size: a byte copy) ---------------------------------

const bool registered_bitcast = (reg("BitCast", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 1 || !l.in(0).present || l.outputs.size() != 1) return false;
      DType ti = l.in(0).dtype, to = l.out(0).dtype;
      if (dtype_size(ti) == 0 || dtype_size(ti) != dtype_size(to)) return false;
      if ((int64_t)to != l.attrs.get_int("to", -1)) return false;
      return l.out(0).shape == l.in(0).shape && l.in(0).layout == Layout::Plain;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      size_t bytes = (size_t)l.in(0).numel() * dtype_size(l.in(0).dtype);
      return std::make_unique<FnKernel>([bytes](const RunArgs& a) {
        if (a.out[0] != a.in[0] && bytes) std::memmove(a.out[0], a.in[0], bytes);
      });
    }), true);

// ---- Shrink ----------------------------------------------------------------------

const bool registered_shrink = (reg("Shrink", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 1 || !l.in(0).present || l.outputs.size() != 1) return false;
      DType t = l.in(0).dtype;
      return is_float(t) && l.out(0).dtype == t && l.out(0).shape == l.in(0).shape;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      float bias = (float)l.attrs.get_float("bias", 0.0), lambd = (float)l.attrs.get_float("lambd", 0.5);
      int64_t n = l.in(0).numel();
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, {
        k = std::make_unique<FnKernel>([n, bias, lambd](const RunArgs& a) {
          using C = CT<T>;
          const T* x = static_cast<const T*>(a.in[0]);
          T* y = static_cast<T*>(a.out[0]);
          const C b = (C)bias, lm = (C)lambd;
          par_for(a.pool, n, 1 << 16, [&](int64_t s, int64_t e) {
            for (int64_t i = s; i < e; ++i) {
              C v = Num<T>::ld(x[i]);
              y[i] = Num<T>::st(v < -lm ? (C)(v + b) : v > lm ? (C)(v - b) : C(0));
            }
          });
        });
      });
      return k;
    }), true);

// ---- Det: LU with partial pivoting in double ----------------------------------------

const bool registered_det = (reg("Det", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() != 1 || !l.in(0).present || l.outputs.size() != 1) return false;
      DType t = l.in(0).dtype;
      int r = l.in(0).rank();
      if (!is_float(t) || l.out(0).dtype != t || r < 2) return false;
      const auto& s = l.in(0).shape;
      if (s[r - 1] != s[r - 2]) return false;
      return l.out(0).shape == std::vector<int64_t>(s.begin(), s.end() - 2);
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      const auto& s = l.in(0).shape;
      int64_t m = s.back(), batch = prod(s, 0, s.size() - 2);
      size_t ws = (size_t)(m * m) * sizeof(double) * 1;
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, {
        k = std::make_unique<FnKernel>([m, batch](const RunArgs& a) {
          const T* x = static_cast<const T*>(a.in[0]);
          T* y = static_cast<T*>(a.out[0]);
          double* w = static_cast<double*>(a.workspace);
          for (int64_t b = 0; b < batch; ++b) {
            const T* xp = x + b * m * m;
            for (int64_t i = 0; i < m * m; ++i) w[i] = (double)Num<T>::ld(xp[i]);
            double det = 1.0;
            for (int64_t c = 0; c < m && det != 0.0; ++c) {
              int64_t p = c;
              for (int64_t r = c + 1; r < m; ++r) if (std::fabs(w[r * m + c]) > std::fabs(w[p * m + c])) p = r;
              if (w[p * m + c] == 0.0) { det = 0.0; break; }
              if (p != c) {
                for (int64_t j = 0; j < m; ++j) std::swap(w[p * m + j], w[c * m + j]);
                det = -det;
              }
              double piv = w[c * m + c];
              det *= piv;
              for (int64_t r = c + 1; r < m; ++r) {
                double f = w[r * m + c] / piv;
                if (f == 0.0) continue;
                for (int64_t j = c + 1; j < m; ++j) w[r * m + j] -= f * w[c * m + j];
              }
            }
            y[b] = Num<T>::st((CT<T>)det);
          }
        }, ws);
      });
      return k;
    }), true);

// ---- RotaryEmbedding (opset 23) -------------------------------------------------------

template <class T>
std::unique_ptr<Kernel> make_rope(const Layer& l) {
  const auto& xs = l.in(0).shape;
  bool four = xs.size() == 4;
  int64_t B = xs[0], S = four ? xs[2] : xs[1];
  int64_t H = four ? xs[1] : l.attrs.get_int("num_heads", 0);
  int64_t D = four ? xs[3] : xs[2] / H;
  int64_t rd = l.attrs.get_int("rotary_embedding_dim", 0);
  if (rd == 0) rd = D;
  bool inter = l.attrs.get_int("interleaved", 0) != 0;
  bool has_pos = l.has_input(3);
  DType pdt = has_pos ? l.in(3).dtype : DType::Int64;
  int64_t maxpos = l.in(1).shape[0];
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    const T* x = static_cast<const T*>(a.in[0]);
    const T* cc = static_cast<const T*>(a.in[1]);
    const T* sc = static_cast<const T*>(a.in[2]);
    T* y = static_cast<T*>(a.out[0]);
    const int64_t half = rd / 2;
    if (has_pos) {
      for (int64_t i = 0; i < B * S; ++i) {
        int64_t p = pdt == DType::Int32 ? static_cast<const int32_t*>(a.in[3])[i] : static_cast<const int64_t*>(a.in[3])[i];
        if (p < 0 || p >= maxpos) throw InvalidArgumentError("RotaryEmbedding: position_ids out of range");
      }
    }
    // rows: (b, s, h) in 3-D order or (b, h, s) in 4-D order; each row D contiguous
    int64_t rows = B * S * H;
    par_for(a.pool, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, D)), [&](int64_t rb, int64_t re) {
      using C = CT<T>;
      for (int64_t r = rb; r < re; ++r) {
        int64_t b, s;
        if (four) { b = r / (H * S); s = r % S; }
        else { b = r / (S * H); s = (r / H) % S; }
        int64_t cr;
        if (has_pos) {
          int64_t i = b * S + s;
          cr = pdt == DType::Int32 ? static_cast<const int32_t*>(a.in[3])[i] : static_cast<const int64_t*>(a.in[3])[i];
        } else {
          cr = b * S + s;
        }
        const T* cp = cc + cr * half;
        const T* sp = sc + cr * half;
        const T* xp = x + r * D;
        T* yp = y + r * D;
        for (int64_t j = 0; j < half; ++j) {
          int64_t i1 = inter ? 2 * j : j, i2 = inter ? 2 * j + 1 : j + half;
          C x1 = Num<T>::ld(xp[i1]), x2 = Num<T>::ld(xp[i2]);
          C c = Num<T>::ld(cp[j]), sn = Num<T>::ld(sp[j]);
          C re_ = (C)(c * x1 - sn * x2), im = (C)(sn * x1 + c * x2);
          yp[i1] = Num<T>::st(re_);
          yp[i2] = Num<T>::st(im);
        }
        for (int64_t j = rd; j < D; ++j) yp[j] = xp[j];
      }
    });
  });
}

const bool registered_rope = (reg("RotaryEmbedding", "cpu/direct",
    [](const Layer& l) {
      if (l.inputs.size() < 3 || l.inputs.size() > 4 || l.outputs.size() != 1) return false;
      for (int i = 0; i < 3; ++i) if (!l.in(i).present) return false;
      DType t = l.in(0).dtype;
      if (!is_float(t) || l.in(1).dtype != t || l.in(2).dtype != t || l.out(0).dtype != t) return false;
      const auto& xs = l.in(0).shape;
      if (l.out(0).shape != xs) return false;
      if (xs.size() != 3 && xs.size() != 4) return false;
      int64_t B = xs[0], S, D;
      int64_t nh = l.attrs.get_int("num_heads", 0);
      if (xs.size() == 4) {
        S = xs[2]; D = xs[3];
        if (nh != 0 && nh != xs[1]) return false;
      } else {
        if (nh <= 0 || xs[2] % nh) return false;
        S = xs[1]; D = xs[2] / nh;
      }
      int64_t rd = l.attrs.get_int("rotary_embedding_dim", 0);
      if (rd == 0) rd = D;
      if (rd < 0 || rd > D || rd % 2) return false;
      const auto& cs = l.in(1).shape;
      if (l.in(2).shape != cs) return false;
      if (l.has_input(3)) {
        const auto& p = l.in(3);
        if (p.dtype != DType::Int64 && p.dtype != DType::Int32) return false;
        if (p.shape != std::vector<int64_t>{B, S}) return false;
        if (cs.size() != 2 || cs[1] != rd / 2) return false;
      } else {
        if (cs != std::vector<int64_t>{B, S, rd / 2}) return false;
      }
      return true;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      std::unique_ptr<Kernel> k;
      SNEP_EW_DISPATCH_FLOAT(l.in(0).dtype, T, k = make_rope<T>(l));
      return k;
    }), true);

}  // namespace
}  // namespace snep
