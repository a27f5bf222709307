// Ops that make values from shapes or scalars: Range, ConstantOfShape, Shape,
// Size, EyeLike, OneHot.
#include "cpu/elementwise/ew_util.h"
#include "cpu/movement/movement_common.h"

namespace snep {
namespace {

bool numeric(DType t) {
  switch (t) {
    case DType::Float32: case DType::Float64: case DType::Int64: case DType::Int32: case DType::Int16:
    case DType::Int8: case DType::UInt8: case DType::UInt16: case DType::UInt32: case DType::UInt64:
    case DType::Bool: return true;
    default: return false;
  }
}

// ---- Range ------------------------------------------------------------------

bool range_supports(const Layer& l) {
  if (l.inputs.size() != 3 || l.outputs.size() != 1) return false;
  DType t = l.out(0).dtype;
  if (!(t == DType::Float32 || t == DType::Float64 || t == DType::Int16 || t == DType::Int32 || t == DType::Int64 ||
        t == DType::Float16)) return false;
  for (auto& i : l.inputs) if (!i.present || i.dtype != t || i.numel() != 1) return false;
  return l.out(0).rank() == 1;
}

std::unique_ptr<Kernel> range_prepare(const Layer& l) {
  DType t = l.out(0).dtype;
  int64_t n = l.out(0).numel();
  std::string where = l.where();
  if (t == DType::Float16) {  // computed in float, each value rounded once
    return std::make_unique<FnKernel>([=](const RunArgs& a) {
      float start = ew::h2f(*static_cast<const uint16_t*>(a.in[0])), limit = ew::h2f(*static_cast<const uint16_t*>(a.in[1])),
            delta = ew::h2f(*static_cast<const uint16_t*>(a.in[2]));
      if (delta == 0.f) throw InvalidArgumentError(where + ": delta is zero");
      double cnt = std::ceil(((double)limit - (double)start) / (double)delta);
      if ((int64_t)std::max(cnt, 0.0) != n) throw InvalidArgumentError(where + ": range does not match the output shape");
      uint16_t* y = static_cast<uint16_t*>(a.out[0]);
      for (int64_t i = 0; i < n; ++i) y[i] = ew::f2h(start + (float)i * delta);
    });
  }
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    SNEP_DISPATCH_NUMERIC(t, T, {
      T start = *static_cast<const T*>(a.in[0]), limit = *static_cast<const T*>(a.in[1]),
        delta = *static_cast<const T*>(a.in[2]);
      if (delta == T(0)) throw InvalidArgumentError(where + ": delta is zero");
      double cnt = std::ceil(((double)limit - (double)start) / (double)delta);
      if ((int64_t)std::max(cnt, 0.0) != n) throw InvalidArgumentError(where + ": range does not match the output shape");
      T* y = static_cast<T*>(a.out[0]);
      for (int64_t i = 0; i < n; ++i) y[i] = (T)(start + (T)i * delta);
    });
  });
}

SNEP_REGISTER_LAMBDA("Range", "cpu/direct", range_supports, range_prepare);

// ---- ConstantOfShape ----------------------------------------------------------

bool cos_supports(const Layer& l) {
  if (l.outputs.size() != 1 || !numeric(l.out(0).dtype)) return false;
  if (l.attrs.has("value")) {
    const auto& v = l.attrs.values.at("value");
    size_t n = v.kind == AttrValue::Floats ? v.floats.size() : v.kind == AttrValue::Ints ? v.ints.size() : 1;
    if (n != 1) return false;
  }
  return true;
}

std::unique_ptr<Kernel> cos_prepare(const Layer& l) {
  DType t = l.out(0).dtype;
  int64_t n = l.out(0).numel();
  double fv = 0;
  int64_t iv = 0;
  bool is_int = false;
  if (l.attrs.has("value")) {
    const auto& v = l.attrs.values.at("value");
    if (v.kind == AttrValue::Floats) fv = v.floats[0];
    else if (v.kind == AttrValue::Ints) { iv = v.ints[0]; is_int = true; }
    else if (v.kind == AttrValue::Float) fv = v.f;
    else { iv = v.i; is_int = true; }
  }
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    SNEP_DISPATCH_NUMERIC(t, T, {
      T val = is_int ? (T)iv : (T)fv;
      T* y = static_cast<T*>(a.out[0]);
      std::fill(y, y + n, val);
    });
  });
}

SNEP_REGISTER_LAMBDA("ConstantOfShape", "cpu/fill", cos_supports, cos_prepare);

// ---- Shape / Size -------------------------------------------------------------

bool shape_supports(const Layer& l) {
  if (!l.has_input(0) || l.outputs.size() != 1 || l.out(0).dtype != DType::Int64 || l.out(0).rank() != 1) return false;
  int64_t r = l.in(0).rank();
  int64_t s = l.attrs.get_int("start", 0), e = l.attrs.get_int("end", r);
  if (s < 0) s += r;
  if (e < 0) e += r;
  s = std::clamp<int64_t>(s, 0, r);
  e = std::clamp<int64_t>(e, 0, r);
  return l.out(0).numel() == std::max<int64_t>(0, e - s);
}

std::unique_ptr<Kernel> shape_prepare(const Layer& l) {
  int64_t r = l.in(0).rank();
  int64_t s = l.attrs.get_int("start", 0), e = l.attrs.get_int("end", r);
  if (s < 0) s += r;
  if (e < 0) e += r;
  s = std::clamp<int64_t>(s, 0, r);
  e = std::clamp<int64_t>(e, 0, r);
  std::vector<int64_t> v;
  for (int64_t i = s; i < e; ++i) v.push_back(l.in(0).shape[i]);
  return std::make_unique<FnKernel>([v](const RunArgs& a) {
    if (!v.empty()) std::memcpy(a.out[0], v.data(), v.size() * sizeof(int64_t));
  });
}

SNEP_REGISTER_LAMBDA("Shape", "cpu/static", shape_supports, shape_prepare);

bool size_supports(const Layer& l) {
  return l.has_input(0) && l.outputs.size() == 1 && l.out(0).dtype == DType::Int64 && l.out(0).numel() == 1;
}

std::unique_ptr<Kernel> size_prepare(const Layer& l) {
  int64_t n = l.in(0).numel();
  return std::make_unique<FnKernel>([n](const RunArgs& a) { *static_cast<int64_t*>(a.out[0]) = n; });
}

SNEP_REGISTER_LAMBDA("Size", "cpu/static", size_supports, size_prepare);

// ---- EyeLike ------------------------------------------------------------------

bool eyelike_supports(const Layer& l) {
  return l.has_input(0) && l.outputs.size() == 1 && l.in(0).rank() == 2 && l.out(0).shape == l.in(0).shape &&
         numeric(l.out(0).dtype);
}

std::unique_ptr<Kernel> eyelike_prepare(const Layer& l) {
  DType t = l.out(0).dtype;
  int64_t R = l.out(0).shape[0], C = l.out(0).shape[1], k = l.attrs.get_int("k", 0);
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    SNEP_DISPATCH_NUMERIC(t, T, {
      T* y = static_cast<T*>(a.out[0]);
      std::fill(y, y + R * C, T(0));
      for (int64_t i = 0; i < R; ++i) {
        int64_t j = i + k;
        if (j >= 0 && j < C) y[i * C + j] = T(1);
      }
    });
  });
}

SNEP_REGISTER_LAMBDA("EyeLike", "cpu/direct", eyelike_supports, eyelike_prepare);

// ---- OneHot -------------------------------------------------------------------

bool onehot_supports(const Layer& l) {
  if (l.inputs.size() != 3 || l.outputs.size() != 1) return false;
  for (auto& i : l.inputs) if (!i.present) return false;
  const auto& ind = l.in(0);
  const auto& y = l.out(0);
  if (!numeric(ind.dtype) || !numeric(l.in(1).dtype) || l.in(1).numel() != 1 || l.in(2).numel() != 2) return false;
  if (y.dtype != l.in(2).dtype || !numeric(y.dtype) || y.rank() != ind.rank() + 1) return false;
  int64_t r = y.rank();
  int64_t axis = l.attrs.get_int("axis", -1);
  if (axis < -r || axis >= r) return false;
  if (axis < 0) axis += r;
  for (int64_t i = 0, j = 0; i < r; ++i) {
    if (i == axis) continue;
    if (y.shape[i] != ind.shape[j++]) return false;
  }
  return true;
}

std::unique_ptr<Kernel> onehot_prepare(const Layer& l) {
  const auto& y = l.out(0);
  int64_t r = y.rank();
  int64_t axis = mv::norm_axis(l.attrs.get_int("axis", -1), r, l);
  int64_t outer = prod(y.shape, 0, axis), depth = y.shape[axis], inner = prod(y.shape, axis + 1);
  DType idt = l.in(0).dtype, ddt = l.in(1).dtype, t = y.dtype;
  std::string where = l.where();
  return std::make_unique<FnKernel>([=](const RunArgs& a) {
    double dv = mv::read_num(a.in[1], ddt, 0);
    if ((int64_t)dv != depth) throw InvalidArgumentError(where + ": depth does not match the output shape");
    SNEP_DISPATCH_NUMERIC(t, T, {
      const T* vals = static_cast<const T*>(a.in[2]);
      T off = vals[0], on = vals[1];
      T* out = static_cast<T*>(a.out[0]);
      std::fill(out, out + outer * depth * inner, off);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t v = (int64_t)mv::read_num(a.in[0], idt, o * inner + i);
          if (v < 0) v += depth;
          if (v >= 0 && v < depth) out[(o * depth + v) * inner + i] = on;
        }
    });
  });
}

SNEP_REGISTER_LAMBDA("OneHot", "cpu/direct", onehot_supports, onehot_prepare);

}  // namespace
}  // namespace snep
