// Task grid of the blocked GEMM drivers (sgemm.cpp, bf16gemm.cpp): the output is
// cut into (batch, M block, N chunk) tasks sized for the caches, then split finer
// until there are enough tasks for the threads.
#pragma once
#include <algorithm>
#include <cstdint>

namespace snep {
namespace gemm {

struct Grid {
  int64_t mpanels, npanels, mb_panels, nc_panels, mblocks, nchunks, total;
};

// a_block_elems: elements of one A block kept in L2; nc_max: N panels per chunk before threading.
inline Grid plan_grid(int64_t batch, int64_t M, int64_t N, int MR, int NR, int64_t kc, int64_t a_block_elems,
                      int64_t nc_max, int nth) {
  Grid g;
  g.mpanels = (M + MR - 1) / MR;
  g.npanels = (N + NR - 1) / NR;
  g.mb_panels = std::max<int64_t>(1, a_block_elems / (std::max<int64_t>(kc, 1) * MR));
  g.mb_panels = std::min(g.mb_panels, g.mpanels);
  g.mblocks = (g.mpanels + g.mb_panels - 1) / g.mb_panels;
  g.nchunks = (g.npanels + nc_max - 1) / nc_max;
  if (nth > 1) {
    const int64_t want = 4 * nth;
    while (batch * g.mblocks * g.nchunks < want && g.nchunks < g.npanels) ++g.nchunks;
    while (batch * g.mblocks * g.nchunks < nth && g.mblocks < g.mpanels) {
      ++g.mblocks;
      g.mb_panels = (g.mpanels + g.mblocks - 1) / g.mblocks;
      g.mblocks = (g.mpanels + g.mb_panels - 1) / g.mb_panels;
    }
    // Prefer a task count that is a multiple of the thread count.
    int64_t t = batch * g.mblocks * g.nchunks;
    int64_t per = batch * g.mblocks;
    while (t % nth != 0 && g.nchunks < g.npanels && t < 16 * nth) { ++g.nchunks; t += per; }
  }
  g.nc_panels = (g.npanels + g.nchunks - 1) / g.nchunks;
  g.nchunks = (g.npanels + g.nc_panels - 1) / g.nc_panels;
  g.total = batch * g.mblocks * g.nchunks;
  return g;
}

}  // namespace gemm
}  // namespace snep
