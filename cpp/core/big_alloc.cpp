#include "core/big_alloc.h"

#include <cstdlib>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace snep {

void* big_alloc(size_t bytes) {
  constexpr size_t kHuge = size_t(2) << 20;
  if (bytes < kHuge) return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  const char* off = std::getenv("SNEP_HUGE_PAGES");  // "0": normal pages (comparisons)
  if (off && off[0] == '0') return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure leaves normal pages
#endif
  return p;
}

}  // namespace snep
