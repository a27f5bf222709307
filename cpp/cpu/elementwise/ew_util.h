// Helpers shared by the elementwise, reduce, norm and softmax routines:
// float16 <-> float conversion, an allocation-free parallel_for wrapper, a
// collapsed multidirectional-broadcast iteration plan and dtype dispatch that
// includes float16.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/common.h"

namespace snep {
namespace ew {

// ---- float16 ---------------------------------------------------------------

struct f16 { uint16_t v; };

static inline float h2f(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t em = h & 0x7fff;
  uint32_t bits;
  if (em >= 0x7c00) {
    bits = sign | 0x7f800000u | ((em & 0x3ff) << 13);
  } else if (em >= 0x400) {
    bits = sign | ((em << 13) + ((127u - 15u) << 23));
  } else {
    float f = (float)em * 5.9604644775390625e-8f;  // 2^-24
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  }
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}

// Round to nearest even; overflow to inf; NaN stays NaN.
static inline uint16_t f2h(float ff) {
  uint32_t u;
  std::memcpy(&u, &ff, 4);
  uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint16_t o;
  if (u >= (uint32_t)(127 + 16) << 23) {
    o = u > 0x7f800000u ? (uint16_t)(0x7e00 | ((u >> 13) & 0x3ff)) : (uint16_t)0x7c00;
  } else if (u < (uint32_t)113 << 23) {
    const uint32_t magic_u = (uint32_t)((127 - 15) + (23 - 10) + 1) << 23;
    float f, magic;
    std::memcpy(&f, &u, 4);
    std::memcpy(&magic, &magic_u, 4);
    f += magic;
    uint32_t r;
    std::memcpy(&r, &f, 4);
    o = (uint16_t)(r - magic_u);
  } else {
    uint32_t mant_odd = (u >> 13) & 1;
    u += ((uint32_t)(15 - 127) << 23) + 0xfff;
    u += mant_odd;
    o = (uint16_t)(u >> 13);
  }
  return (uint16_t)(o | (sign >> 16));
}

// Compute type of a storage type: float for float16, the type itself otherwise.
template <class T> struct Num { using C = T; static C ld(T x) { return x; } static T st(C x) { return x; } };
template <> struct Num<f16> {
  using C = float;
  static float ld(f16 x) { return h2f(x.v); }
  static f16 st(float x) { return f16{f2h(x)}; }
};
template <class T> using CT = typename Num<T>::C;

// ---- threading ---------------------------------------------------------------

// parallel_for whose std::function holds one pointer (no allocation).
template <class F>
static inline void par_for(ThreadPool* pool, int64_t n, int64_t grain, const F& body) {
  if (n <= 0) return;
  if (!pool || n <= grain || pool->num_threads() <= 1) { body((int64_t)0, n); return; }
  const F* p = &body;
  pool->parallel_for(n, grain, [p](int64_t b, int64_t e) { (*p)(b, e); });
}

// ---- broadcasting ------------------------------------------------------------

constexpr int kMaxRank = 16;
constexpr int kMaxIn = 3;

// Output shape collapsed to the fewest dims: size-1 output dims dropped and
// adjacent dims merged where every input is either contiguous across them or
// broadcast across both. The innermost stride of each input is 0 or 1.
struct Bcast {
  int nin = 0;
  std::vector<int64_t> dims;          // collapsed output dims (>= 1 entry)
  std::vector<int64_t> st[kMaxIn];    // per input, per dim, in elements
  int64_t numel = 0, inner = 1, rows = 0;
  int64_t inner_st[kMaxIn] = {0, 0, 0};

  static bool ok(const Layer& l, int nin) {
    for (int k = 0; k < nin; ++k) if (l.in(k).rank() > kMaxRank) return false;
    return l.out(0).rank() <= kMaxRank;
  }

  void init(const std::vector<const std::vector<int64_t>*>& ins, const std::vector<int64_t>& out) {
    nin = (int)ins.size();
    std::vector<std::vector<int64_t>> full;
    for (auto* s : ins) full.push_back(broadcast_strides(*s, out));
    numel = prod(out);
    std::vector<int64_t> d;
    std::vector<std::vector<int64_t>> s(nin);
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == 1) continue;
      if (!d.empty()) {
        bool merge = true;
        for (int k = 0; k < nin; ++k)
          if (s[k].back() != full[k][i] * out[i]) { merge = false; break; }
        if (merge) {
          d.back() *= out[i];
          for (int k = 0; k < nin; ++k) s[k].back() = full[k][i];
          continue;
        }
      }
      d.push_back(out[i]);
      for (int k = 0; k < nin; ++k) s[k].push_back(full[k][i]);
    }
    if (d.empty()) { d.push_back(1); for (int k = 0; k < nin; ++k) s[k].push_back(0); }
    dims = d;
    for (int k = 0; k < nin; ++k) st[k] = s[k];
    inner = dims.back();
    rows = inner ? numel / inner : 0;
    for (int k = 0; k < nin; ++k) inner_st[k] = st[k].back() ? 1 : 0;
  }

  // f(out_offset, const int64_t* in_offsets, n) once per row of `inner` elements.
  template <class F>
  void for_rows(ThreadPool* pool, const F& f, int64_t grain_elems = 32768) const {
    if (numel == 0) return;
    const int R = (int)dims.size();
    auto body = [&](int64_t rb, int64_t re) {
      int64_t idx[kMaxRank];
      int64_t off[kMaxIn] = {0, 0, 0};
      int64_t r = rb;
      for (int d = R - 2; d >= 0; --d) {
        idx[d] = r % dims[d];
        r /= dims[d];
        for (int k = 0; k < nin; ++k) off[k] += idx[d] * st[k][d];
      }
      for (int64_t row = rb; row < re; ++row) {
        f(row * inner, (const int64_t*)off, inner);
        for (int d = R - 2; d >= 0; --d) {
          ++idx[d];
          for (int k = 0; k < nin; ++k) off[k] += st[k][d];
          if (idx[d] < dims[d]) break;
          for (int k = 0; k < nin; ++k) off[k] -= st[k][d] * dims[d];
          idx[d] = 0;
        }
      }
    };
    par_for(pool, rows, std::max<int64_t>(1, grain_elems / std::max<int64_t>(1, inner)), body);
  }
};

// ---- dtype dispatch including float16 ---------------------------------------

#define SNEP_EW_DISPATCH(DT, T, ...)                                          \
  switch (DT) {                                                               \
    case ::snep::DType::Float32: { using T = float; __VA_ARGS__; break; }      \
    case ::snep::DType::Float64: { using T = double; __VA_ARGS__; break; }     \
    case ::snep::DType::Float16: { using T = ::snep::ew::f16; __VA_ARGS__; break; } \
    case ::snep::DType::Int64: { using T = int64_t; __VA_ARGS__; break; }      \
    case ::snep::DType::Int32: { using T = int32_t; __VA_ARGS__; break; }      \
    case ::snep::DType::Int16: { using T = int16_t; __VA_ARGS__; break; }      \
    case ::snep::DType::Int8: { using T = int8_t; __VA_ARGS__; break; }        \
    case ::snep::DType::UInt8: { using T = uint8_t; __VA_ARGS__; break; }      \
    case ::snep::DType::UInt16: { using T = uint16_t; __VA_ARGS__; break; }    \
    case ::snep::DType::UInt32: { using T = uint32_t; __VA_ARGS__; break; }    \
    case ::snep::DType::UInt64: { using T = uint64_t; __VA_ARGS__; break; }    \
    case ::snep::DType::Bool: { using T = bool; __VA_ARGS__; break; }          \
    default: throw ::snep::NotImplementedError(std::string("dtype ") +        \
                                               ::snep::dtype_name(DT) + " not supported here"); \
  }

#define SNEP_EW_DISPATCH_FLOAT(DT, T, ...)                                    \
  switch (DT) {                                                               \
    case ::snep::DType::Float32: { using T = float; __VA_ARGS__; break; }      \
    case ::snep::DType::Float64: { using T = double; __VA_ARGS__; break; }     \
    case ::snep::DType::Float16: { using T = ::snep::ew::f16; __VA_ARGS__; break; } \
    default: throw ::snep::NotImplementedError(std::string("dtype ") +        \
                                               ::snep::dtype_name(DT) + " not supported here"); \
  }

static inline bool is_float(DType t) { return t == DType::Float32 || t == DType::Float64 || t == DType::Float16; }
static inline bool is_sint(DType t) {
  return t == DType::Int8 || t == DType::Int16 || t == DType::Int32 || t == DType::Int64;
}
static inline bool is_uint(DType t) {
  return t == DType::UInt8 || t == DType::UInt16 || t == DType::UInt32 || t == DType::UInt64;
}
static inline bool is_int(DType t) { return is_sint(t) || is_uint(t); }
static inline bool is_numeric(DType t) { return is_float(t) || is_int(t); }

// Registration without the macro (lambdas with captures contain commas).
static inline void reg(const char* op, const char* desc, LambdaRoutine::Supports s, LambdaRoutine::Prepare p) {
  Registry::get().add(std::make_unique<LambdaRoutine>(op, desc, std::move(s), std::move(p)));
}

static inline int norm_axis(int64_t a, int rank) { return (int)(a < 0 ? a + rank : a); }

}  // namespace ew
}  // namespace snep
