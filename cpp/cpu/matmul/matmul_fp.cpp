// MatMul for float16 (accumulated in float) and float64 (in double): numpy
// semantics (batched with broadcasting, 1-D operands promoted and their
// dimension removed). Plain loops, one output row per task; the float32 GEMM
// path lives in matmul.cpp. No fused bias / activation (fuse.py only fuses
// float32 MatMuls).
#include <memory>
#include <vector>

#include "cpu/elementwise/ew_util.h"

namespace snep {
namespace {
using namespace ew;

struct MMGeom {
  int64_t M = 0, K = 0, N = 0, batch = 1;
  std::vector<int64_t> aoff, boff;  // per output batch: element offsets of A's and B's matrices
};

bool mm_geom(const Layer& l, MMGeom* g) {
  auto a = l.in(0).shape, b = l.in(1).shape;
  if (a.empty() || b.empty()) return false;
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  const int64_t M = a[a.size() - 2], K = a.back(), N = b.back();
  if (b[b.size() - 2] != K) return false;
  const size_t rank = std::max(a.size(), b.size()) - 2;
  std::vector<int64_t> ab(rank, 1), bb(rank, 1), ob(rank, 1);
  for (size_t i = 0; i < a.size() - 2; ++i) ab[rank - (a.size() - 2) + i] = a[i];
  for (size_t i = 0; i < b.size() - 2; ++i) bb[rank - (b.size() - 2) + i] = b[i];
  for (size_t i = 0; i < rank; ++i) {
    if (ab[i] != bb[i] && ab[i] != 1 && bb[i] != 1) return false;
    ob[i] = ab[i] == 1 ? bb[i] : ab[i];
  }
  std::vector<int64_t> out = ob;
  if (!a1) out.push_back(M);
  if (!b1) out.push_back(N);
  if (l.out(0).shape != out) return false;
  if (!g) return true;
  g->M = M; g->K = K; g->N = N;
  g->batch = prod(ob);
  const auto sa = broadcast_strides(ab, ob), sb = broadcast_strides(bb, ob);
  g->aoff.resize(g->batch);
  g->boff.resize(g->batch);
  std::vector<int64_t> idx(rank, 0);
  for (int64_t bi = 0; bi < g->batch; ++bi) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < rank; ++d) { ia += idx[d] * sa[d]; ib += idx[d] * sb[d]; }
    g->aoff[bi] = ia * M * K;
    g->boff[bi] = ib * K * N;
    for (int d = (int)rank - 1; d >= 0; --d) {
      if (++idx[d] < ob[d]) break;
      idx[d] = 0;
    }
  }
  return true;
}

template <DType DT>
bool mmfp_supports(const Layer& l) {
  if (l.inputs.size() != 2 || l.outputs.size() != 1 || !l.has_input(0) || !l.has_input(1)) return false;
  if (l.in(0).dtype != DT || l.in(1).dtype != DT || l.out(0).dtype != DT) return false;
  if (l.attrs.has("activation")) return false;
  return mm_geom(l, nullptr);
}

template <class T>
std::unique_ptr<Kernel> make_mmfp(const Layer& l) {
  auto g = std::make_shared<MMGeom>();
  mm_geom(l, g.get());
  using C = CT<T>;
  const int64_t rows = g->batch * g->M;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g->K * g->N));
  // one accumulator row per task chunk
  const int64_t nch = std::min<int64_t>(std::max<int64_t>(rows, 1), 64);
  return std::make_unique<FnKernel>([g, rows, grain, nch](const RunArgs& ar) {
    const T* a = static_cast<const T*>(ar.in[0]);
    const T* b = static_cast<const T*>(ar.in[1]);
    T* y = static_cast<T*>(ar.out[0]);
    const int64_t M = g->M, K = g->K, N = g->N;
    C* ws = static_cast<C*>(ar.workspace);
    par_for(ar.pool, nch, std::max<int64_t>(1, grain / std::max<int64_t>(1, rows / nch)), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        C* acc = ws + c * N;
        for (int64_t r = c * rows / nch; r < (c + 1) * rows / nch; ++r) {
          const int64_t bi = r / M, i = r % M;
          const T* ar_ = a + g->aoff[bi] + i * K;
          const T* bm = b + g->boff[bi];
          for (int64_t n = 0; n < N; ++n) acc[n] = C(0);
          for (int64_t k = 0; k < K; ++k) {
            const C av = Num<T>::ld(ar_[k]);
            const T* br = bm + k * N;
            for (int64_t n = 0; n < N; ++n) acc[n] += av * Num<T>::ld(br[n]);
          }
          T* yr = y + r * N;
          for (int64_t n = 0; n < N; ++n) yr[n] = Num<T>::st(acc[n]);
        }
      }
    });
  }, sizeof(C) * (size_t)(nch * g->N) + 64);
}

const bool reg_mm16 = (reg("MatMul", "cpu:float16/direct", mmfp_supports<DType::Float16>, make_mmfp<f16>), true);
const bool reg_mm64 = (reg("MatMul", "cpu:float64/direct", mmfp_supports<DType::Float64>, make_mmfp<double>), true);

}  // namespace
}  // namespace snep
