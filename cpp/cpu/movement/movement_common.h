// Helpers shared by the data-movement routines (movement/, pool/, resize/):
// axis normalisation, reading small integer/float value inputs, and a generic
// strided copy (any element size) with a blocked-transpose fast path.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/common.h"

namespace snep {
namespace mv {

constexpr int kMaxRank = 16;
// Elements per parallel chunk for pure copies: waking a worker costs more
// than copying less than this.
constexpr int64_t kCopyGrain = 1 << 16;

inline int64_t norm_axis(int64_t a, int64_t r, const Layer& l) {
  if (a < 0) a += r;
  if (a < 0 || a >= r) throw InvalidArgumentError(l.where() + ": axis out of range");
  return a;
}

inline bool is_int_index(DType t) { return t == DType::Int64 || t == DType::Int32; }

inline bool is_integer(DType t) {
  switch (t) {
    case DType::Int8: case DType::Int16: case DType::Int32: case DType::Int64:
    case DType::UInt8: case DType::UInt16: case DType::UInt32: case DType::UInt64: return true;
    default: return false;
  }
}

// Element i of an integer (or float, truncated) tensor as int64.
inline int64_t read_int(const void* p, DType dt, int64_t i) {
  switch (dt) {
    case DType::Int64: return static_cast<const int64_t*>(p)[i];
    case DType::Int32: return static_cast<const int32_t*>(p)[i];
    case DType::Int16: return static_cast<const int16_t*>(p)[i];
    case DType::Int8: return static_cast<const int8_t*>(p)[i];
    case DType::UInt8: return static_cast<const uint8_t*>(p)[i];
    case DType::UInt16: return static_cast<const uint16_t*>(p)[i];
    case DType::UInt32: return static_cast<const uint32_t*>(p)[i];
    case DType::UInt64: return (int64_t) static_cast<const uint64_t*>(p)[i];
    case DType::Bool: return static_cast<const bool*>(p)[i];
    case DType::Float32: return (int64_t) static_cast<const float*>(p)[i];
    case DType::Float64: return (int64_t) static_cast<const double*>(p)[i];
    default: throw InvalidArgumentError(std::string("cannot read integers from dtype ") + dtype_name(dt));
  }
}

inline double read_num(const void* p, DType dt, int64_t i) {
  switch (dt) {
    case DType::Float32: return static_cast<const float*>(p)[i];
    case DType::Float64: return static_cast<const double*>(p)[i];
    default: return (double)read_int(p, dt, i);
  }
}

// The pointer of input k: the constant at prepare time, else the run argument.
inline const void* in_ptr(const Layer& l, size_t k) { return l.has_input(k) ? l.in(k).const_data : nullptr; }

inline std::vector<int64_t> read_ints(const void* p, const TensorInfo& t) {
  std::vector<int64_t> v((size_t)t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[(size_t)i] = read_int(p, t.dtype, i);
  return v;
}

inline std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = (int)s.size() - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

template <size_t N> struct UIntOf;
template <> struct UIntOf<1> { using T = uint8_t; };
template <> struct UIntOf<2> { using T = uint16_t; };
template <> struct UIntOf<4> { using T = uint32_t; };
template <> struct UIntOf<8> { using T = uint64_t; };

// Calls body with U = an unsigned type of the element size.
#define SNEP_BY_SIZE(ESZ, U, ...)                                   \
  switch (ESZ) {                                                    \
    case 1: { using U = uint8_t; __VA_ARGS__; break; }              \
    case 2: { using U = uint16_t; __VA_ARGS__; break; }             \
    case 4: { using U = uint32_t; __VA_ARGS__; break; }             \
    case 8: { using U = uint64_t; __VA_ARGS__; break; }             \
    default: throw ::snep::NotImplementedError("element size not supported"); \
  }

// Blocked 2-D transpose: dst[a*dA + b] = src[a + b*sB] for a < A, b < B.
template <class U>
inline void transpose_block(const U* src, U* dst, int64_t A, int64_t B, int64_t sB, int64_t dA) {
  constexpr int64_t T = 64 / sizeof(U) < 8 ? 8 : (64 / sizeof(U) > 32 ? 32 : 64 / sizeof(U));
  for (int64_t b0 = 0; b0 < B; b0 += T) {
    int64_t b1 = std::min(B, b0 + T);
    for (int64_t a0 = 0; a0 < A; a0 += T) {
      int64_t a1 = std::min(A, a0 + T);
      if (a1 - a0 == T && b1 - b0 == T) {
        for (int64_t a = a0; a < a0 + T; ++a) {
          U* d = dst + a * dA + b0;
          const U* s = src + a + b0 * sB;
          for (int64_t b = 0; b < T; ++b) d[b] = s[b * sB];
        }
      } else {
        for (int64_t a = a0; a < a1; ++a) {
          U* d = dst + a * dA;
          const U* s = src + a;
          for (int64_t b = b0; b < b1; ++b) d[b] = s[b * sB];
        }
      }
    }
  }
}

// Copies a strided view of `src` (shape, element strides, element offset) into
// a contiguous `dst`. Plain data, no heap: can be built at run time.
struct StridedCopy {
  int rank = 0;
  size_t esz = 4;
  int64_t total = 0;
  int64_t offset = 0;
  std::array<int64_t, kMaxRank> shape{}, stride{};

  // Builds from a view; dims of size 1 are dropped, mergeable dims merged.
  void init(const int64_t* shp, const int64_t* st, int r, int64_t off, size_t elem_size) {
    esz = elem_size;
    offset = off;
    total = 1;
    for (int i = 0; i < r; ++i) total *= shp[i];
    rank = 0;
    if (total == 0) return;
    for (int i = 0; i < r; ++i) {
      if (shp[i] == 1) continue;
      if (rank > 0 && stride[rank - 1] == st[i] * shp[i]) {
        shape[rank - 1] *= shp[i];
        stride[rank - 1] = st[i];
      } else {
        if (rank >= kMaxRank) throw NotImplementedError("strided copy: rank too large");
        shape[rank] = shp[i];
        stride[rank] = st[i];
        ++rank;
      }
    }
    if (rank == 0) { shape[0] = 1; stride[0] = 1; rank = 1; }
  }

  void run(const void* src, void* dst, ThreadPool* pool) const {
    if (total == 0) return;
    SNEP_BY_SIZE(esz, U, run_t<U>(static_cast<const U*>(src) + offset, static_cast<U*>(dst), pool));
  }

  template <class U>
  void run_t(const U* src, U* dst, ThreadPool* pool) const {
    const int r = rank;
    const int64_t inner = shape[r - 1], sin = stride[r - 1];
    // Blocked transpose when the innermost output dim is not contiguous in
    // the source but another dim is.
    int k = -1;
    if (sin != 1 && r >= 2 && inner >= 4) {
      for (int i = 0; i < r - 1; ++i) if (stride[i] == 1 && shape[i] >= 4) k = i;
    }
    if (k >= 0) {
      std::array<int64_t, kMaxRank> ost{};
      ost[r - 1] = 1;
      for (int i = r - 2; i >= 0; --i) ost[i] = ost[i + 1] * shape[i + 1];
      int64_t A = shape[k];
      int64_t outer = total / (A * inner);
      const int64_t ABLK = 64;
      int64_t nab = (A + ABLK - 1) / ABLK;
      int64_t tasks = outer * nab;
      int64_t grain = std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(1, ABLK * inner));
      pool->parallel_for(tasks, grain, [&](int64_t tb, int64_t te) {
        for (int64_t t = tb; t < te; ++t) {
          int64_t o = t / nab, ab = t % nab;
          int64_t so = 0, dof = 0, rem = o;
          for (int i = r - 2; i >= 0; --i) {
            if (i == k) continue;
            int64_t idx = rem % shape[i];
            rem /= shape[i];
            so += idx * stride[i];
            dof += idx * ost[i];
          }
          int64_t a0 = ab * ABLK, a1 = std::min(A, a0 + ABLK);
          transpose_block<U>(src + so + a0, dst + dof + a0 * ost[k], a1 - a0, inner, sin, ost[k]);
        }
      });
      return;
    }
    int64_t rows = total / inner;
    int64_t grain = std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(1, inner));
    pool->parallel_for(rows, grain, [&](int64_t rb, int64_t re) {
      std::array<int64_t, kMaxRank> idx{};
      int64_t rem = rb, so = 0;
      for (int i = r - 2; i >= 0; --i) {
        idx[i] = rem % shape[i];
        rem /= shape[i];
        so += idx[i] * stride[i];
      }
      U* d = dst + rb * inner;
      for (int64_t row = rb; row < re; ++row) {
        const U* s = src + so;
        if (sin == 1) std::memcpy(d, s, inner * sizeof(U));
        else if (sin == 0) std::fill(d, d + inner, *s);
        else for (int64_t j = 0; j < inner; ++j) d[j] = s[j * sin];
        d += inner;
        for (int i = r - 2; i >= 0; --i) {
          if (++idx[i] < shape[i]) { so += stride[i]; break; }
          so -= (shape[i] - 1) * stride[i];
          idx[i] = 0;
        }
      }
    });
  }
};

}  // namespace mv
}  // namespace snep
