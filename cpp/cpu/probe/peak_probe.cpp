#include "cpu/probe/peak_probe.h"

#include <algorithm>
#include <chrono>

#include "core/cpu_features.h"

namespace snep::probe {
namespace {

// No vector unit to speak of: 8 scalar multiply-add chains (2 FLOP each).
double chains_plain(int64_t iters) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = 1.0f + i * 1e-3f;
  for (int64_t n = 0; n < iters; ++n)
    for (int i = 0; i < 8; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  volatile float sink = acc[0] + acc[7];
  (void)sink;
  return double(iters) * 8 * 2;
}

// Ops per second of `body`: grow the burst until it lasts `burst_ms`, then keep
// the best of `reps` bursts (the clock ramps up under load; interruptions only slow).
double rate(double (*body)(int64_t), double burst_ms, int reps) {
  using clock = std::chrono::steady_clock;
  int64_t iters = 1000;
  double best = 0;
  for (int done = 0; done < reps;) {
    const auto t0 = clock::now();
    const double ops = body(iters);
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    if (s * 1e3 < 0.5 * burst_ms) {  // too short to time: scale up and go again
      iters = std::max<int64_t>(iters * 2, int64_t(iters * burst_ms * 1e-3 / std::max(s, 1e-7)));
      continue;
    }
    best = std::max(best, ops / s);
    ++done;
  }
  return best;
}

}  // namespace

Peak measure_peak(double burst_ms, int reps) {
  Peak p;
  const auto& f = cpu_features();
  if (cpu_has("avx512f")) {
    p.isa = "avx512";
    p.fp32 = rate(fma_chains_avx512, burst_ms, reps) * 1e-9;
  } else if (f.avx2 && f.fma) {
    p.isa = "avx2";
    p.fp32 = rate(fma_chains_avx2, burst_ms, reps) * 1e-9;
  } else {
    p.isa = "plain";
    p.fp32 = rate(chains_plain, burst_ms, reps) * 1e-9;
  }
  if (cpu_has("avx512_vnni")) p.int8 = rate(vnni_chains_avx512vnni, burst_ms, reps) * 1e-9;
  return p;
}

}  // namespace snep::probe
