// Einsum, general: the equation is parsed at prepare into one stride per
// (label, operand) -- repeated labels in an operand add their strides (the
// diagonal), ellipsis dimensions are broadcast right-aligned across operands --
// then each output element sums the product of the operands over the labels
// absent from the output. Direct loops (no GEMM lowering yet).
#include <algorithm>
#include <cctype>
#include <map>
#include <string>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {

struct EinsumPlan {
  bool ok = false;
  int nin = 0;
  std::vector<int64_t> osize, rsize;              // output / reduction label sizes
  std::vector<std::vector<int64_t>> ostr, rstr;   // [input][label] strides
  int64_t onum = 1, rnum = 1;
};

std::string strip(const std::string& s) {
  std::string r;
  for (char c : s) if (!std::isspace((unsigned char)c)) r += c;
  return r;
}

EinsumPlan einsum_plan(const Layer& l) {
  EinsumPlan p;
  std::string eq = strip(l.attrs.get_string("equation", ""));
  int nin = (int)l.inputs.size();
  if (nin < 1) return p;
  std::string lhs = eq, rhs;
  bool explicit_out = false;
  size_t arrow = eq.find("->");
  if (arrow != std::string::npos) { lhs = eq.substr(0, arrow); rhs = eq.substr(arrow + 2); explicit_out = true; }
  std::vector<std::string> terms;
  { size_t b = 0; for (;;) { size_t c = lhs.find(',', b); terms.push_back(lhs.substr(b, c - b)); if (c == std::string::npos) break; b = c + 1; } }
  if ((int)terms.size() != nin) return p;
  // Tokenise: labels 'a'..'z','A'..'Z' -> ids, "..." -> -1.
  auto tok = [](const std::string& t, std::vector<int>* out) {
    for (size_t i = 0; i < t.size();) {
      if (t.compare(i, 3, "...") == 0) { out->push_back(-1); i += 3; continue; }
      if (!std::isalpha((unsigned char)t[i])) return false;
      out->push_back((unsigned char)t[i]);
      ++i;
    }
    return std::count(out->begin(), out->end(), -1) <= 1;
  };
  std::vector<std::vector<int>> in_t(nin);
  int ell_rank = 0;
  std::vector<int> ell_r(nin, 0);
  for (int k = 0; k < nin; ++k) {
    if (!l.has_input(k) || !tok(terms[k], &in_t[k])) return p;
    int r = l.in(k).rank(), nl = 0;
    bool has_e = false;
    for (int v : in_t[k]) { if (v == -1) has_e = true; else ++nl; }
    if (has_e) { if (r < nl) return p; ell_r[k] = r - nl; } else if (r != nl) return p;
    ell_rank = std::max(ell_rank, ell_r[k]);
  }
  // Label sizes and per-input strides. Ellipsis dim j (of ell_rank, right-aligned) -> id 1000 + j.
  std::map<int, int64_t> size;
  std::map<int, int> count;
  std::vector<std::map<int, int64_t>> str(nin);
  for (int k = 0; k < nin; ++k) {
    const auto& sh = l.in(k).shape;
    std::vector<int> ids;
    for (int v : in_t[k]) {
      if (v == -1) for (int j = 0; j < ell_r[k]; ++j) ids.push_back(1000 + ell_rank - ell_r[k] + j);
      else ids.push_back(v);
    }
    std::vector<int64_t> st(sh.size(), 1);
    for (int d = (int)sh.size() - 2; d >= 0; --d) st[d] = st[d + 1] * sh[d + 1];
    for (size_t d = 0; d < ids.size(); ++d) {
      int id = ids[d];
      int64_t n = sh[d];
      if (id >= 1000) {
        if (n != 1) {
          if (size.count(id) && size[id] != 1 && size[id] != n) return p;
          size[id] = n;
          str[k][id] += st[d];
        } else if (!size.count(id)) size[id] = 1;
      } else {
        if (size.count(id) && size[id] != n) return p;
        size[id] = n;
        str[k][id] += st[d];
        if (k >= 0) ++count[id];
      }
    }
  }
  // Output labels.
  std::vector<int> out_ids;
  if (explicit_out) {
    std::vector<int> t;
    if (!tok(rhs, &t)) return p;
    for (int v : t) {
      if (v == -1) { for (int j = 0; j < ell_rank; ++j) out_ids.push_back(1000 + j); continue; }
      if (!size.count(v) || std::count(out_ids.begin(), out_ids.end(), v)) return p;
      out_ids.push_back(v);
    }
    if (ell_rank > 0 && std::find(t.begin(), t.end(), -1) == t.end()) {
      // ellipsis dims not in the output are summed (only legal if all are size 1 in numpy; ONNX allows sum)
    }
  } else {
    for (int j = 0; j < ell_rank; ++j) out_ids.push_back(1000 + j);
    for (auto& kv : count) if (kv.first < 1000 && kv.second == 1) out_ids.push_back(kv.first);
    // std::map orders ids by character code: uppercase before lowercase, as numpy does.
  }
  // Count occurrences across all operands for implicit mode done above (count per occurrence).
  std::vector<int64_t> oshape;
  for (int id : out_ids) oshape.push_back(size[id]);
  if (l.outputs.size() != 1 || l.out(0).shape != oshape) return p;
  for (int k = 0; k < nin; ++k) if (l.in(k).dtype != l.out(0).dtype) return p;
  p.nin = nin;
  p.ostr.resize(nin);
  p.rstr.resize(nin);
  for (int id : out_ids) {
    p.osize.push_back(size[id]);
    for (int k = 0; k < nin; ++k) p.ostr[k].push_back(str[k].count(id) ? str[k][id] : 0);
  }
  for (auto& kv : size) {
    if (std::find(out_ids.begin(), out_ids.end(), kv.first) != out_ids.end()) continue;
    p.rsize.push_back(kv.second);
    for (int k = 0; k < nin; ++k) p.rstr[k].push_back(str[k].count(kv.first) ? str[k][kv.first] : 0);
  }
  for (auto v : p.osize) p.onum *= v;
  for (auto v : p.rsize) p.rnum *= v;
  p.ok = nin <= 8 && p.osize.size() <= 16 && p.rsize.size() <= 16;
  return p;
}

template <class T, class Acc>
void einsum_run(const EinsumPlan& p, const RunArgs& a) {
  const T* in[8];
  for (int k = 0; k < p.nin; ++k) in[k] = static_cast<const T*>(a.in[k]);
  T* y = static_cast<T*>(a.out[0]);
  const int no = (int)p.osize.size(), nr = (int)p.rsize.size();
  ew::par_for(a.pool, p.onum, std::max<int64_t>(1, 4096 / std::max<int64_t>(p.rnum, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      int64_t base[8] = {0};
      int64_t rem = o;
      for (int d = no - 1; d >= 0; --d) {
        int64_t i = rem % p.osize[d];
        rem /= p.osize[d];
        for (int k = 0; k < p.nin; ++k) base[k] += i * p.ostr[k][d];
      }
      Acc acc = 0;
      int64_t idx[16] = {0}, off[8];
      for (int k = 0; k < p.nin; ++k) off[k] = base[k];
      for (int64_t r = 0; r < p.rnum; ++r) {
        Acc v = (Acc)in[0][off[0]];
        for (int k = 1; k < p.nin; ++k) v *= (Acc)in[k][off[k]];
        acc += v;
        for (int d = nr - 1; d >= 0; --d) {
          if (++idx[d] < p.rsize[d]) {
            for (int k = 0; k < p.nin; ++k) off[k] += p.rstr[k][d];
            break;
          }
          for (int k = 0; k < p.nin; ++k) off[k] -= (p.rsize[d] - 1) * p.rstr[k][d];
          idx[d] = 0;
        }
      }
      y[o] = (T)acc;
    }
  });
}

SNEP_REGISTER_LAMBDA(
    "Einsum", "cpu/direct",
    [](const Layer& l) {
      if (l.outputs.size() != 1) return false;
      DType t = l.out(0).dtype;
      if (t != DType::Float32 && t != DType::Float64 && t != DType::Int32 && t != DType::Int64) return false;
      return einsum_plan(l).ok;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      EinsumPlan p = einsum_plan(l);
      DType t = l.out(0).dtype;
      return std::make_unique<FnKernel>([p, t](const RunArgs& a) {
        switch (t) {
          case DType::Float32: einsum_run<float, float>(p, a); break;
          case DType::Float64: einsum_run<double, double>(p, a); break;
          case DType::Int32: einsum_run<int32_t, int32_t>(p, a); break;
          default: einsum_run<int64_t, int64_t>(p, a); break;
        }
      });
    });

}  // namespace
}  // namespace snep
