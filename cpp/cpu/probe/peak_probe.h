// The core's arithmetic peak, measured on the machine: register-only chains of
// fused multiply-adds (fp32) or vpdpbusd (int8), as many independent as the
// ISA has registers for, so the figure is the clock the core holds under that
// load times its issue width. Tools report layer speeds as a share of it.
#pragma once
#include <cstdint>
#include <string>

namespace snep::probe {

struct Peak {
  std::string isa;    // "avx512", "avx2" or "plain": the widest FMA the CPU has
  double fp32 = 0;    // GFLOP/s (one FMA lane = 2 FLOP)
  double int8 = 0;    // GOP/s of vpdpbusd (AVX-512 VNNI), 0 where absent
};

// One core (the calling thread), each figure the best of `reps` timed bursts of
// about `burst_ms`.
Peak measure_peak(double burst_ms = 20.0, int reps = 3);

// ISA bodies: run `iters` rounds of 24 (14 for AVX2) independent chains; return the
// ops performed (FLOP or int8 ops).
double fma_chains_avx512(int64_t iters);
double vnni_chains_avx512vnni(int64_t iters);
double fma_chains_avx2(int64_t iters);

}  // namespace snep::probe
