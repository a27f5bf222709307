// TfIdfVectorizer (opset 9) over int32 / int64 input ([C] or [B, C]; strings
// are not a supported dtype). The n-gram pool (pool_int64s, split by
// ngram_counts into 1-grams, 2-grams, ...) becomes a trie at prepare: only
// sizes in [min_gram_length, max_gram_length] are registered, a repeated
// n-gram keeps its last id, as onnx's reference builds its trie. Counting
// follows the reference: for every skip distance 1..max_skip_count+1 and start
// position, the n-grams x[s], x[s+d], ... of every size are looked up; 1-grams
// count at distance 1 only. Output float32 [B, max(ngram_indexes)+1] (or [..]
// for 1-D input), weighted by mode TF / IDF / TFIDF.
#include <map>
#include <memory>
#include <vector>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

struct TfIdf {
  struct Node {
    std::map<int64_t, int64_t> next;  // token -> child node
    int64_t col = -1;                 // output column when the path so far is a registered n-gram
  };
  int64_t min_n, max_n, max_skip, out_size;
  int mode;  // 0 TF, 1 IDF, 2 TFIDF
  std::vector<Node> trie{1};  // node 0 is the root
  std::vector<double> weights;

  void insert(const int64_t* g, int64_t n, int64_t col) {
    int64_t cur = 0;
    for (int64_t i = 0; i < n; ++i) {
      auto it = trie[cur].next.find(g[i]);
      if (it == trie[cur].next.end()) {
        trie.emplace_back();
        it = trie[cur].next.emplace(g[i], (int64_t)trie.size() - 1).first;
      }
      cur = it->second;
    }
    trie[cur].col = col;
  }
};

bool tfidf_parse(const Layer& l, TfIdf* t) {
  if (l.inputs.size() != 1 || l.outputs.size() != 1) return false;
  const DType dt = l.in(0).dtype;
  if ((dt != DType::Int32 && dt != DType::Int64) || l.out(0).dtype != DType::Float32) return false;
  if (l.attrs.has("pool_strings")) return false;
  const int r = l.in(0).rank();
  if (r != 1 && r != 2) return false;
  const std::string mode = l.attrs.get_string("mode", "");
  const int64_t mn = l.attrs.get_int("min_gram_length", 0), mx = l.attrs.get_int("max_gram_length", 0);
  const int64_t skip = l.attrs.get_int("max_skip_count", 0);
  const auto counts = l.attrs.get_ints("ngram_counts");
  const auto idx = l.attrs.get_ints("ngram_indexes");
  const auto pool = l.attrs.get_ints("pool_int64s");
  const auto w = l.attrs.get_floats("weights");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF")
    throw InvalidArgumentError(l.where() + ": mode must be TF, IDF or TFIDF");
  if (mn < 1 || mx < mn || skip < 0)
    throw InvalidArgumentError(l.where() + ": bad min_gram_length / max_gram_length / max_skip_count");
  if (idx.empty()) throw InvalidArgumentError(l.where() + ": ngram_indexes is empty");
  int64_t out_size = 0;
  for (auto v : idx) {
    if (v < 0) throw InvalidArgumentError(l.where() + ": negative ngram_indexes");
    out_size = std::max(out_size, v + 1);
  }
  if (!w.empty() && (int64_t)w.size() < out_size)
    throw InvalidArgumentError(l.where() + ": fewer weights than outputs");
  const auto& xs = l.in(0).shape;
  const std::vector<int64_t> want = r == 1 ? std::vector<int64_t>{out_size} : std::vector<int64_t>{xs[0], out_size};
  if (l.out(0).shape != want) return false;
  if (!t) return true;
  t->min_n = mn; t->max_n = mx; t->max_skip = skip; t->out_size = out_size;
  t->mode = mode == "TF" ? 0 : mode == "IDF" ? 1 : 2;
  t->weights = w;
  const int64_t total = (int64_t)pool.size();
  int64_t id = 0;  // 0-based n-gram id, the position in ngram_indexes
  for (size_t i = 0; i < counts.size(); ++i) {
    const int64_t n = (int64_t)i + 1;
    const int64_t b = counts[i], e = i + 1 < counts.size() ? counts[i + 1] : total;
    if (b < 0 || e > total || e < b) throw InvalidArgumentError(l.where() + ": bad ngram_counts");
    const int64_t ng = (e - b) / n;
    if (n >= mn && n <= mx) {
      for (int64_t g = 0; g < ng; ++g, ++id) {
        if (id >= (int64_t)idx.size()) throw InvalidArgumentError(l.where() + ": more n-grams than ngram_indexes");
        t->insert(pool.data() + b + g * n, n, idx[id]);
      }
    } else {
      id += ng;
    }
  }
  return true;
}

template <class T>
void tfidf_row(const TfIdf& t, const T* x, int64_t C, float* y) {
  int64_t start_n = t.min_n;
  for (int64_t d = 1; d <= t.max_skip + 1; ++d) {
    for (int64_t s = 0; s < C; ++s) {
      if (s + d * (start_n - 1) >= C) break;
      int64_t node = 0;
      for (int64_t n = 1, i = s; n <= t.max_n && i < C; ++n, i += d) {
        auto it = t.trie[node].next.find((int64_t)x[i]);
        if (it == t.trie[node].next.end()) break;  // no registered n-gram continues this prefix
        node = it->second;
        if (n >= start_n && t.trie[node].col >= 0) y[t.trie[node].col] += 1.f;
      }
    }
    if (start_n == 1) {
      ++start_n;  // unigrams do not depend on the skip distance: count them once
      if (start_n > t.max_n) break;
    }
  }
  for (int64_t i = 0; i < t.out_size; ++i) {
    const float f = y[i];
    if (t.mode == 1) y[i] = f > 0 ? (t.weights.empty() ? 1.f : (float)t.weights[i]) : 0.f;
    else if (t.mode == 2 && !t.weights.empty()) y[i] = (float)t.weights[i] * f;
  }
}

std::unique_ptr<Kernel> tfidf_prepare(const Layer& l) {
  auto t = std::make_shared<TfIdf>();
  tfidf_parse(l, t.get());
  const bool i64 = l.in(0).dtype == DType::Int64;
  const auto& xs = l.in(0).shape;
  const int64_t rows = xs.size() == 2 ? xs[0] : 1, C = xs.back();
  return std::make_unique<FnKernel>([t, i64, rows, C](const RunArgs& a) {
    float* y = static_cast<float*>(a.out[0]);
    par_for(a.pool, rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        float* yr = y + r * t->out_size;
        std::fill(yr, yr + t->out_size, 0.f);
        if (i64) tfidf_row(*t, static_cast<const int64_t*>(a.in[0]) + r * C, C, yr);
        else tfidf_row(*t, static_cast<const int32_t*>(a.in[0]) + r * C, C, yr);
      }
    });
  });
}

const bool reg_tfidf = (reg("TfIdfVectorizer", "cpu/direct",
    [](const Layer& l) { return tfidf_parse(l, nullptr); }, tfidf_prepare), true);

}  // namespace
}  // namespace snep
