// ai.onnx.ml tree ensembles on numeric inputs X of shape (N, F):
//   TreeEnsemble (ai.onnx.ml 5): nodes_* / leaf_* arrays, tree_roots, integer
//     modes (0 LEQ, 1 LT, 2 GTE, 3 GT, 4 EQ, 5 NEQ, 6 MEMBER with NaN-delimited
//     membership_values in node order), output (N, n_targets) in X's type.
//   TreeEnsembleRegressor (ai.onnx.ml 1/3): trees by nodes_treeids/nodes_nodeids,
//     string modes (BRANCH_* or LEAF), targets by target_treeids/nodeids, output
//     float32; X float32/float64/int32/int64.
//   TreeEnsembleClassifier (ai.onnx.ml 1/3): the regressor's trees with class_*
//     votes; integer labels (classlabels_int64s) and three or more classes only
//     (onnxruntime's two-class rules are not implemented); outputs the label
//     (int64, N) and the scores (float32, N x classes).
// Both become one flat ensemble at prepare(); every index is checked there
// (InvalidArgument naming the node), and every tree is checked acyclic, so
// run() walks without bounds checks. Comparisons are made in double (splits
// stored as float32/float16 are exact in double); scores accumulate in double.
// Aggregation as onnxruntime: SUM, AVERAGE (sum / number of trees), MIN/MAX
// over the leaves reaching a target, then base_values (a target no leaf
// reaches scores 0, base value not added, as onnxruntime), then post_transform (SOFTMAX, LOGISTIC,
// SOFTMAX_ZERO, PROBIT) as the spec's math says: softmax over one target is 1
// (onnxruntime passes a single target's score through untransformed).
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

enum Mode : uint8_t { LEQ = 0, LT = 1, GTE = 2, GT = 3, EQ = 4, NEQ = 5, MEMBER = 6 };
enum Agg { AVERAGE = 0, SUM = 1, MIN = 2, MAX = 3 };
enum Post { NONE = 0, SOFTMAX = 1, LOGISTIC = 2, SOFTMAX_ZERO = 3, PROBIT = 4 };

struct TNode {  // 24 bytes: the walk's working set
  double split = 0;
  int32_t feature = 0;
  int32_t t = 0, f = 0;  // >= 0: node index; < 0: ~leaf index
  uint8_t mode = LEQ;
  bool miss_true = false;
};

struct Ensemble {
  std::vector<TNode> nodes;
  std::vector<int64_t> set_b, set_e;        // per node, MEMBER: its range in members
  int uniform = -1;                         // LEQ/LT/GTE/GT when every branch node has it and no missing flag
  bool splits_f32 = false;                  // every branch split is a float32 value
  std::vector<int64_t> roots;               // node index, or ~leaf index
  std::vector<int64_t> leaf_b, leaf_e;      // leaf -> range in tgt / w
  std::vector<int64_t> tgt;
  std::vector<double> w;
  std::vector<double> members;
  std::vector<double> base;                 // empty or n_targets
  int64_t n_targets = 1;
  int agg = SUM, post = NONE;
};

// Numbers of an attribute given either as ints or as floats.
std::vector<double> nums(const Attrs& a, const std::string& k) {
  auto it = a.values.find(k);
  if (it == a.values.end()) return {};
  if (it->second.kind == AttrValue::Ints) return std::vector<double>(it->second.ints.begin(), it->second.ints.end());
  if (it->second.kind == AttrValue::Int) return {(double)it->second.i};
  if (it->second.kind == AttrValue::Float) return {it->second.f};
  return it->second.floats;
}
std::vector<int64_t> ints(const Attrs& a, const std::string& k) {
  auto it = a.values.find(k);
  if (it == a.values.end()) return {};
  if (it->second.kind == AttrValue::Floats) {
    std::vector<int64_t> r;
    for (double v : it->second.floats) r.push_back((int64_t)v);
    return r;
  }
  if (it->second.kind == AttrValue::Int) return {it->second.i};
  return it->second.ints;
}

[[noreturn]] void bad(const Layer& l, const std::string& msg) { throw InvalidArgumentError(l.where() + ": " + msg); }

// Every tree acyclic, every feature index in [0, n_features).
void check_trees(const Layer& l, const Ensemble& e, int64_t n_features) {
  std::vector<uint8_t> state(e.nodes.size(), 0);  // 0 new, 1 on stack, 2 done
  std::vector<std::pair<int64_t, int>> stack;
  for (int64_t r : e.roots) {
    if (r < 0 || state[r] == 2) continue;
    stack.assign(1, {r, 0});
    state[r] = 1;
    while (!stack.empty()) {
      auto& [n, k] = stack.back();
      const TNode& nd = e.nodes[n];
      if (k == 0 && (nd.feature < 0 || nd.feature >= n_features))
        bad(l, "node " + std::to_string(n) + " reads feature " + std::to_string(nd.feature) + " of " +
                   std::to_string(n_features));
      if (k == 2) { state[n] = 2; stack.pop_back(); continue; }
      int64_t c = k == 0 ? nd.t : nd.f;
      ++k;
      if (c < 0 || state[c] == 2) continue;
      if (state[c] == 1) bad(l, "the trees have a cycle through node " + std::to_string(c));
      state[c] = 1;
      stack.push_back({c, 0});
    }
  }
}

int64_t check_index(const Layer& l, int64_t v, int64_t n, const std::string& what, int64_t at) {
  if (v < 0 || v >= n)
    bad(l, what + "[" + std::to_string(at) + "] = " + std::to_string(v) + " is out of range [0, " + std::to_string(n) + ")");
  return v;
}

void check_post_agg(const Layer& l, Ensemble& e) {
  if (e.agg < AVERAGE || e.agg > MAX) bad(l, "unknown aggregate_function " + std::to_string(e.agg));
  if (e.post < NONE || e.post > PROBIT) bad(l, "unknown post_transform " + std::to_string(e.post));
  if (e.n_targets < 1) bad(l, "n_targets must be positive");
  if (!e.base.empty() && (int64_t)e.base.size() != e.n_targets)
    bad(l, "base_values has " + std::to_string(e.base.size()) + " values for " + std::to_string(e.n_targets) + " targets");
}

// The one comparison every branch node makes, when they share one and have no
// missing-value flag (the walk then skips the mode switch and the NaN test).
void set_uniform(Ensemble& e, const std::vector<bool>& branch) {
  int u = -2;
  for (size_t i = 0; i < e.nodes.size(); ++i) {
    if (!branch[i]) continue;
    const TNode& nd = e.nodes[i];
    if (nd.miss_true || nd.mode > GT || (u != -2 && u != nd.mode)) u = -1;
    if (u == -1) break;
    u = nd.mode;
  }
  e.uniform = u < 0 ? -1 : u;
  e.splits_f32 = true;
  for (size_t i = 0; i < e.nodes.size(); ++i)
    if (branch[i] && (double)(float)e.nodes[i].split != e.nodes[i].split) e.splits_f32 = false;
}

// ---- TreeEnsemble (ai.onnx.ml 5) --------------------------------------------

Ensemble build_v5(const Layer& l) {
  const Attrs& a = l.attrs;
  Ensemble e;
  e.n_targets = a.get_int("n_targets", 1);
  e.agg = (int)a.get_int("aggregate_function", SUM);
  e.post = (int)a.get_int("post_transform", NONE);
  check_post_agg(l, e);
  auto splits = nums(a, "nodes_splits");
  auto feats = ints(a, "nodes_featureids"), modes = ints(a, "nodes_modes");
  auto tids = ints(a, "nodes_truenodeids"), fids = ints(a, "nodes_falsenodeids");
  auto tleaf = ints(a, "nodes_trueleafs"), fleaf = ints(a, "nodes_falseleafs");
  auto miss = ints(a, "nodes_missing_value_tracks_true");
  auto ltgt = ints(a, "leaf_targetids");
  auto lw = nums(a, "leaf_weights");
  auto roots = ints(a, "tree_roots");
  auto mem = nums(a, "membership_values");
  const size_t n = feats.size();
  for (auto [name, sz] : {std::pair<const char*, size_t>{"nodes_splits", splits.size()}, {"nodes_modes", modes.size()},
                          {"nodes_truenodeids", tids.size()}, {"nodes_falsenodeids", fids.size()},
                          {"nodes_trueleafs", tleaf.size()}, {"nodes_falseleafs", fleaf.size()}})
    if (sz != n) bad(l, std::string(name) + " has " + std::to_string(sz) + " entries, nodes_featureids " + std::to_string(n));
  if (!miss.empty() && miss.size() != n)
    bad(l, "nodes_missing_value_tracks_true has " + std::to_string(miss.size()) + " entries for " + std::to_string(n) + " nodes");
  if (ltgt.size() != lw.size())
    bad(l, "leaf_targetids has " + std::to_string(ltgt.size()) + " entries, leaf_weights " + std::to_string(lw.size()));
  if (roots.empty()) bad(l, "tree_roots is empty");
  const int64_t nl = (int64_t)lw.size(), nn = (int64_t)n;
  if (nl >= INT32_MAX || nn >= INT32_MAX) bad(l, "too many nodes or leaves");
  for (int64_t i = 0; i < nl; ++i) {
    check_index(l, ltgt[i], e.n_targets, "leaf_targetids", i);
    e.leaf_b.push_back(i);
    e.leaf_e.push_back(i + 1);
  }
  e.tgt = ltgt;
  e.w = lw;
  // membership sets in node order, each ended by a NaN
  size_t mpos = 0;
  e.nodes.resize(n);
  e.set_b.assign(n, 0);
  e.set_e.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    TNode& nd = e.nodes[i];
    nd.feature = feats[i] < 0 || feats[i] >= INT32_MAX ? -1 : (int32_t)feats[i];
    nd.split = splits[i];
    if (modes[i] < LEQ || modes[i] > MEMBER) bad(l, "node " + std::to_string(i) + " has unknown mode " + std::to_string(modes[i]));
    nd.mode = (uint8_t)modes[i];
    nd.miss_true = !miss.empty() && miss[i] != 0;
    nd.t = (int32_t)(tleaf[i] ? ~check_index(l, tids[i], nl, "nodes_truenodeids (leaf)", i)
                              : check_index(l, tids[i], nn, "nodes_truenodeids", i));
    nd.f = (int32_t)(fleaf[i] ? ~check_index(l, fids[i], nl, "nodes_falsenodeids (leaf)", i)
                              : check_index(l, fids[i], nn, "nodes_falsenodeids", i));
    if (nd.mode == MEMBER) {
      size_t b = mpos;
      while (mpos < mem.size() && !std::isnan(mem[mpos])) ++mpos;
      if (mpos >= mem.size()) bad(l, "membership_values has too few NaN-delimited sets for the BRANCH_MEMBER nodes");
      e.set_b[i] = (int64_t)e.members.size();
      for (size_t k = b; k < mpos; ++k) e.members.push_back(mem[k]);
      e.set_e[i] = (int64_t)e.members.size();
      ++mpos;  // the NaN
    }
  }
  for (size_t k = mpos; k < mem.size(); ++k)
    if (std::isnan(mem[k])) bad(l, "membership_values has more sets than BRANCH_MEMBER nodes");
  set_uniform(e, std::vector<bool>(n, true));
  for (size_t r = 0; r < roots.size(); ++r) {
    int64_t i = check_index(l, roots[r], nn, "tree_roots", (int64_t)r);
    // a one-leaf tree: both branches of its root name the same leaf
    if (tleaf[i] && fleaf[i] && tids[i] == fids[i]) e.roots.push_back(e.nodes[i].t);
    else e.roots.push_back(i);
  }
  return e;
}

// ---- TreeEnsembleRegressor (ai.onnx.ml 1/3) ---------------------------------

int mode_of(const Layer& l, const std::string& s, size_t i) {
  static const std::map<std::string, int> m = {{"BRANCH_LEQ", LEQ}, {"BRANCH_LT", LT}, {"BRANCH_GTE", GTE}, {"BRANCH_GT", GT},
                                                {"BRANCH_EQ", EQ}, {"BRANCH_NEQ", NEQ}, {"LEAF", -1}};
  auto it = m.find(s);
  if (it == m.end()) bad(l, "node " + std::to_string(i) + " has unknown mode '" + s + "'");
  return it->second;
}

int named(const Layer& l, const std::string& k, const std::string& v, std::initializer_list<const char*> names) {
  int i = 0;
  for (const char* n : names) {
    if (v == n) return i;
    ++i;
  }
  bad(l, "unknown " + k + " '" + v + "'");
}

// The regressor's target_* or the classifier's class_* (classes indexing classlabels_int64s).
Ensemble build_v3(const Layer& l, bool classifier = false) {
  const Attrs& a = l.attrs;
  Ensemble e;
  const std::string tp = classifier ? "class_" : "target_";
  e.n_targets = classifier ? (int64_t)ints(a, "classlabels_int64s").size() : a.get_int("n_targets", 1);
  e.agg = classifier ? SUM : named(l, "aggregate_function", a.get_string("aggregate_function", "SUM"),
                                   {"AVERAGE", "SUM", "MIN", "MAX"});
  e.post = named(l, "post_transform", a.get_string("post_transform", "NONE"),
                 {"NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"});
  e.base = a.has("base_values_as_tensor") ? nums(a, "base_values_as_tensor") : nums(a, "base_values");
  check_post_agg(l, e);
  auto values = a.has("nodes_values_as_tensor") ? nums(a, "nodes_values_as_tensor") : nums(a, "nodes_values");
  auto feats = ints(a, "nodes_featureids"), treeids = ints(a, "nodes_treeids"), nodeids = ints(a, "nodes_nodeids");
  auto tids = ints(a, "nodes_truenodeids"), fids = ints(a, "nodes_falsenodeids");
  auto miss = ints(a, "nodes_missing_value_tracks_true");
  std::vector<std::string> modes;
  if (auto it = a.values.find("nodes_modes"); it != a.values.end()) {
    if (it->second.kind == AttrValue::Strings) modes = it->second.strings;
    else if (it->second.kind == AttrValue::String) modes = {it->second.s};
    else if (!it->second.ints.empty() || !it->second.floats.empty()) bad(l, "nodes_modes must be strings");
  }
  auto ttree = ints(a, tp + "treeids"), tnode = ints(a, tp + "nodeids"), tid = ints(a, tp + "ids");
  auto tw = a.has(tp + "weights_as_tensor") ? nums(a, tp + "weights_as_tensor") : nums(a, tp + "weights");
  const size_t n = nodeids.size();
  if (n == 0) bad(l, "no nodes");
  for (auto [name, sz] : {std::pair<const char*, size_t>{"nodes_treeids", treeids.size()}, {"nodes_modes", modes.size()},
                          {"nodes_featureids", feats.size()}, {"nodes_values", values.size()},
                          {"nodes_truenodeids", tids.size()}, {"nodes_falsenodeids", fids.size()}})
    if (sz != n) bad(l, std::string(name) + " has " + std::to_string(sz) + " entries, nodes_nodeids " + std::to_string(n));
  if (!miss.empty() && miss.size() != n)
    bad(l, "nodes_missing_value_tracks_true has " + std::to_string(miss.size()) + " entries for " + std::to_string(n) + " nodes");
  if (ttree.size() != tw.size() || tnode.size() != tw.size() || tid.size() != tw.size())
    bad(l, tp + "treeids, " + tp + "nodeids, " + tp + "ids and " + tp + "weights differ in length");
  std::map<std::pair<int64_t, int64_t>, int64_t> index;
  for (size_t i = 0; i < n; ++i)
    if (!index.emplace(std::make_pair(treeids[i], nodeids[i]), (int64_t)i).second)
      bad(l, "node (tree " + std::to_string(treeids[i]) + ", id " + std::to_string(nodeids[i]) + ") is listed twice");
  // leaves: one per LEAF node, holding its targets
  std::vector<int64_t> leaf_of(n, -1);
  std::vector<std::vector<int64_t>> leaf_targets;
  std::vector<int> mode(n);
  for (size_t i = 0; i < n; ++i) {
    mode[i] = mode_of(l, modes[i], i);
    if (mode[i] < 0) {
      leaf_of[i] = (int64_t)leaf_targets.size();
      leaf_targets.emplace_back();
    }
  }
  for (size_t k = 0; k < tw.size(); ++k) {
    auto it = index.find({ttree[k], tnode[k]});
    if (it == index.end() || leaf_of[it->second] < 0)
      bad(l, tp + std::to_string(k) + " names (tree " + std::to_string(ttree[k]) + ", id " + std::to_string(tnode[k]) +
                 "), which is not a LEAF node");
    check_index(l, tid[k], e.n_targets, tp + "ids", (int64_t)k);
    leaf_targets[leaf_of[it->second]].push_back((int64_t)k);
  }
  for (auto& lt : leaf_targets) {
    e.leaf_b.push_back((int64_t)e.tgt.size());
    for (int64_t k : lt) { e.tgt.push_back(tid[k]); e.w.push_back(tw[k]); }
    e.leaf_e.push_back((int64_t)e.tgt.size());
  }
  auto child = [&](size_t i, int64_t id, const char* what) -> int64_t {
    auto it = index.find({treeids[i], id});
    if (it == index.end())
      bad(l, std::string(what) + " of node " + std::to_string(i) + " names id " + std::to_string(id) + ", not in tree " +
                 std::to_string(treeids[i]));
    return leaf_of[it->second] >= 0 ? ~leaf_of[it->second] : it->second;
  };
  // branch nodes keep their positions (leaf positions are never reached)
  if (n >= INT32_MAX) bad(l, "too many nodes");
  e.nodes.resize(n);
  std::vector<bool> branch(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (mode[i] < 0) continue;
    branch[i] = true;
    TNode& nd = e.nodes[i];
    nd.mode = (uint8_t)mode[i];
    nd.feature = feats[i] < 0 || feats[i] >= INT32_MAX ? -1 : (int32_t)feats[i];
    nd.split = values[i];
    nd.miss_true = !miss.empty() && miss[i] != 0;
    nd.t = (int32_t)child(i, tids[i], "nodes_truenodeids");
    nd.f = (int32_t)child(i, fids[i], "nodes_falsenodeids");
  }
  set_uniform(e, branch);
  // one tree per tree id, rooted at its first listed node (as onnxruntime)
  std::map<int64_t, bool> seen;
  for (size_t i = 0; i < n; ++i)
    if (seen.emplace(treeids[i], true).second) e.roots.push_back(mode[i] < 0 ? ~leaf_of[i] : (int64_t)i);
  return e;
}

// ---- evaluation ---------------------------------------------------------------

double erfinv(double y) {
  if (y <= -1) return -INFINITY;
  if (y >= 1) return INFINITY;
  // Giles-style start, then Newton on erf
  double w = -std::log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    x = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
                     0.246640727, 1.50140941})
      x = c + x * w;
  } else {
    w = std::sqrt(w) - 3.0;
    x = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                     1.00167406, 2.83297682})
      x = c + x * w;
  }
  x *= y;
  for (int k = 0; k < 3; ++k) {
    double err = std::erf(x) - y;
    double d = 2.0 / std::sqrt(M_PI) * std::exp(-x * x);
    if (d == 0) break;
    x -= err / d;
  }
  return x;
}

void post_transform(int post, double* v, int64_t n) {
  switch (post) {
    case SOFTMAX: {
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < n; ++j) m = std::max(m, v[j]);
      for (int64_t j = 0; j < n; ++j) s += (v[j] = std::exp(v[j] - m));
      for (int64_t j = 0; j < n; ++j) v[j] /= s;
      break;
    }
    case SOFTMAX_ZERO: {  // exactly-zero scores stay (near) zero, as onnxruntime
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < n; ++j) m = std::max(m, v[j]);
      const double em = std::exp(-m);
      for (int64_t j = 0; j < n; ++j) {
        if (v[j] > 1e-7 || v[j] < -1e-7) s += (v[j] = std::exp(v[j] - m));
        else v[j] *= em;
      }
      for (int64_t j = 0; j < n; ++j) v[j] /= s;
      break;
    }
    case LOGISTIC:
      for (int64_t j = 0; j < n; ++j) v[j] = 1.0 / (1.0 + std::exp(-v[j]));
      break;
    case PROBIT:
      for (int64_t j = 0; j < n; ++j) v[j] = M_SQRT2 * erfinv(2.0 * v[j] - 1.0);
      break;
    default: break;
  }
}

template <class T> double load(const T& v) { return (double)v; }
template <> double load<uint16_t>(const uint16_t& v) { return (double)h2f(v); }
template <class O> O store(double v) { return (O)v; }
template <> uint16_t store<uint16_t>(double v) { return f2h((float)v); }

// Whether a row with feature value v takes node nd's true branch. U: the
// uniform comparison, or -1 (any mode, missing-value flags). Float inputs are
// compared in float when every split is a float (exact either way).
template <class T, int U, bool F32>
inline bool goes_true(const Ensemble& e, const TNode& nd, int32_t c, const T& xv) {
  if constexpr (F32 && U >= 0) {
    const float v = (float)xv, sp = (float)nd.split;
    if constexpr (U == LEQ) return v <= sp;
    else if constexpr (U == LT) return v < sp;
    else if constexpr (U == GTE) return v >= sp;
    else return v > sp;
  } else {
    const double v = load<T>(xv);
    if constexpr (U == LEQ) return v <= nd.split;
    else if constexpr (U == LT) return v < nd.split;
    else if constexpr (U == GTE) return v >= nd.split;
    else if constexpr (U == GT) return v > nd.split;
    else {
      bool go;
      switch (nd.mode) {
        case LEQ: go = v <= nd.split; break;
        case LT: go = v < nd.split; break;
        case GTE: go = v >= nd.split; break;
        case GT: go = v > nd.split; break;
        case EQ: go = v == nd.split; break;
        case NEQ: go = v != nd.split; break;
        default: {
          const auto b = e.members.begin() + e.set_b[c], en = e.members.begin() + e.set_e[c];
          go = std::find(b, en, v) != en;
        }
      }
      return go || (nd.miss_true && std::isnan(v));
    }
  }
}

constexpr int64_t kRowBlock = 64;  // rows walked through one tree before the next (the tree stays in cache)

// Scores s and reached flags h (K per row) of rows [r0, r1), before averaging,
// base values and post_transform. Rows go through a tree kLanes at a time in
// lockstep: independent walks overlap their load latencies.
constexpr int kLanes = 8;

template <class T, int U, bool F32>
void score_rows_u(const Ensemble& e, const T* X, int64_t F, int64_t r0, int64_t r1, double* s, double* h) {
  const int64_t K = e.n_targets;
  const TNode* nodes = e.nodes.data();
  for (int64_t j = 0; j < (r1 - r0) * K; ++j) s[j] = h[j] = 0;
  auto add = [&](int64_t r, int64_t leaf) {
    double* sr = s + (r - r0) * K;
    double* hr = h + (r - r0) * K;
    for (int64_t k = e.leaf_b[leaf]; k < e.leaf_e[leaf]; ++k) {
      const int64_t j = e.tgt[k];
      const double w = e.w[k];
      if (e.agg == MIN) sr[j] = hr[j] != 0 ? std::min(sr[j], w) : w;
      else if (e.agg == MAX) sr[j] = hr[j] != 0 ? std::max(sr[j], w) : w;
      else sr[j] += w;
      hr[j] = 1;
    }
  };
  for (int64_t root : e.roots) {
    if (root < 0) {
      for (int64_t r = r0; r < r1; ++r) add(r, ~root);
      continue;
    }
    for (int64_t g = r0; g < r1; g += kLanes) {
      const int n = (int)std::min<int64_t>(kLanes, r1 - g);
      int32_t c[kLanes];
      for (int i = 0; i < n; ++i) c[i] = (int32_t)root;
      bool active = true;
      while (active) {
        active = false;
        for (int i = 0; i < n; ++i) {
          if (c[i] < 0) continue;
          const TNode& nd = nodes[c[i]];
          c[i] = goes_true<T, U, F32>(e, nd, c[i], X[(g + i) * F + nd.feature]) ? nd.t : nd.f;
          active |= c[i] >= 0;
        }
      }
      for (int i = 0; i < n; ++i) add(g + i, ~(int64_t)c[i]);
    }
  }
}

template <class T>
void score_rows(const Ensemble& e, const T* X, int64_t F, int64_t r0, int64_t r1, double* s, double* h) {
  if constexpr (std::is_same_v<T, float>) {
    if (e.splits_f32) {
      switch (e.uniform) {
        case LEQ: return score_rows_u<T, LEQ, true>(e, X, F, r0, r1, s, h);
        case LT: return score_rows_u<T, LT, true>(e, X, F, r0, r1, s, h);
        case GTE: return score_rows_u<T, GTE, true>(e, X, F, r0, r1, s, h);
        case GT: return score_rows_u<T, GT, true>(e, X, F, r0, r1, s, h);
        default: break;
      }
    }
  }
  switch (e.uniform) {
    case LEQ: return score_rows_u<T, LEQ, false>(e, X, F, r0, r1, s, h);
    case LT: return score_rows_u<T, LT, false>(e, X, F, r0, r1, s, h);
    case GTE: return score_rows_u<T, GTE, false>(e, X, F, r0, r1, s, h);
    case GT: return score_rows_u<T, GT, false>(e, X, F, r0, r1, s, h);
    default: return score_rows_u<T, -1, false>(e, X, F, r0, r1, s, h);
  }
}

// Runs fin(row, s, h) for every row after scoring it, row blocks in parallel.
template <class T, class Fin>
void for_rows(const Ensemble& e, const RunArgs& a, int64_t N, int64_t F, const Fin& fin) {
  const int64_t K = e.n_targets, nb = (N + kRowBlock - 1) / kRowBlock;
  const T* X = static_cast<const T*>(a.in[0]);
  double* ws = static_cast<double*>(a.workspace);
  par_for(a.pool, nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * kRowBlock, r1 = std::min(N, r0 + kRowBlock);
      double* s = ws + r0 * K * 2;  // this block's scores then flags
      double* h = s + (r1 - r0) * K;
      score_rows<T>(e, X, F, r0, r1, s, h);
      for (int64_t r = r0; r < r1; ++r) fin(r, s + (r - r0) * K, h + (r - r0) * K);
    }
  });
}

template <class T, class O>
std::unique_ptr<Kernel> make_kernel(const Layer& l, std::shared_ptr<const Ensemble> ep) {
  const int64_t N = l.in(0).shape[0], F = l.in(0).shape[1], K = ep->n_targets;
  const size_t ws = (size_t)2 * (size_t)std::max<int64_t>(1, N) * (size_t)K * sizeof(double);
  return std::make_unique<FnKernel>([ep, N, F, K](const RunArgs& a) {
    const Ensemble& e = *ep;
    O* Y = static_cast<O*>(a.out[0]);
    const double n_trees = (double)e.roots.size();
    for_rows<T>(e, a, N, F, [&](int64_t r, double* s, const double* h) {
      for (int64_t j = 0; j < K; ++j) {
        if (e.agg == AVERAGE) s[j] /= n_trees;
        if (!e.base.empty() && h[j] != 0) s[j] += e.base[j];
      }
      post_transform(e.post, s, K);
      O* y = Y + r * K;
      for (int64_t j = 0; j < K; ++j) y[j] = store<O>(s[j]);
    });
  }, ws);
}

// TreeEnsembleClassifier with three or more classes, as onnxruntime: a class
// no leaf reached scores its base value (0 without one); the label is the
// first class of highest score among those reached or given a base value.
template <class T>
std::unique_ptr<Kernel> make_classifier(const Layer& l, std::shared_ptr<const Ensemble> ep) {
  const int64_t N = l.in(0).shape[0], F = l.in(0).shape[1], K = ep->n_targets;
  const size_t ws = (size_t)2 * (size_t)std::max<int64_t>(1, N) * (size_t)K * sizeof(double);
  auto labels = std::make_shared<std::vector<int64_t>>(ints(l.attrs, "classlabels_int64s"));
  return std::make_unique<FnKernel>([ep, labels, N, F, K](const RunArgs& a) {
    const Ensemble& e = *ep;
    int64_t* Y = static_cast<int64_t*>(a.out[0]);
    float* Z = static_cast<float*>(a.out[1]);
    for_rows<T>(e, a, N, F, [&](int64_t r, double* s, double* h) {
      int64_t best = -1;
      for (int64_t j = 0; j < K; ++j) {
        if (j < (int64_t)e.base.size()) { s[j] += e.base[j]; h[j] = 1; }
        if (h[j] != 0 && (best < 0 || s[j] > s[best])) best = j;
      }
      Y[r] = (*labels)[best < 0 ? 0 : best];
      post_transform(e.post, s, K);
      for (int64_t j = 0; j < K; ++j) Z[r * K + j] = (float)s[j];
    });
  }, ws);
}

bool shape_ok(const Layer& l, int64_t n_targets) {
  if (l.inputs.size() != 1 || !l.has_input(0) || l.outputs.size() != 1) return false;
  const auto& x = l.in(0);
  if (x.rank() != 2 || l.out(0).shape != std::vector<int64_t>{x.shape[0], n_targets}) return false;
  return true;
}

const bool reg_tree_v5 = (reg("TreeEnsemble", "cpu/direct",
    [](const Layer& l) {
      const DType t = l.in(0).dtype;
      return shape_ok(l, l.attrs.get_int("n_targets", 1)) &&
             (t == DType::Float32 || t == DType::Float64 || t == DType::Float16) && l.out(0).dtype == t;
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      auto e = std::make_shared<Ensemble>(build_v5(l));
      check_trees(l, *e, l.in(0).shape[1]);
      switch (l.in(0).dtype) {
        case DType::Float64: return make_kernel<double, double>(l, e);
        case DType::Float16: return make_kernel<uint16_t, uint16_t>(l, e);
        default: return make_kernel<float, float>(l, e);
      }
    }), true);

const bool reg_tree_v3 = (reg("TreeEnsembleRegressor", "cpu/direct",
    [](const Layer& l) {
      const DType t = l.in(0).dtype;
      return shape_ok(l, l.attrs.get_int("n_targets", 1)) && l.out(0).dtype == DType::Float32 &&
             (t == DType::Float32 || t == DType::Float64 || t == DType::Int32 || t == DType::Int64);
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      auto e = std::make_shared<Ensemble>(build_v3(l));
      check_trees(l, *e, l.in(0).shape[1]);
      switch (l.in(0).dtype) {
        case DType::Float64: return make_kernel<double, float>(l, e);
        case DType::Int32: return make_kernel<int32_t, float>(l, e);
        case DType::Int64: return make_kernel<int64_t, float>(l, e);
        default: return make_kernel<float, float>(l, e);
      }
    }), true);

const bool reg_tree_cls = (reg("TreeEnsembleClassifier", "cpu/direct",
    [](const Layer& l) {
      const int64_t k = (int64_t)ints(l.attrs, "classlabels_int64s").size();
      if (k < 3 || l.attrs.has("classlabels_strings") || l.outputs.size() != 2) return false;  // binary: not yet
      if (l.inputs.size() != 1 || !l.has_input(0) || l.in(0).rank() != 2) return false;
      const DType t = l.in(0).dtype;
      const int64_t n = l.in(0).shape[0];
      return (t == DType::Float32 || t == DType::Float64 || t == DType::Int32 || t == DType::Int64) &&
             l.out(0).dtype == DType::Int64 && l.out(0).shape == std::vector<int64_t>{n} &&
             l.out(1).dtype == DType::Float32 && l.out(1).shape == std::vector<int64_t>{n, k};
    },
    [](const Layer& l) -> std::unique_ptr<Kernel> {
      auto e = std::make_shared<Ensemble>(build_v3(l, true));
      check_trees(l, *e, l.in(0).shape[1]);
      switch (l.in(0).dtype) {
        case DType::Float64: return make_classifier<double>(l, e);
        case DType::Int32: return make_classifier<int32_t>(l, e);
        case DType::Int64: return make_classifier<int64_t>(l, e);
        default: return make_classifier<float>(l, e);
      }
    }), true);

}  // namespace
}  // namespace snep
