#include "core/big_alloc.h"

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace snep {
namespace {

std::mutex& live_mutex() {
  static std::mutex m;
  return m;
}
enum class Source { Heap, Mapped, Arena };  // how big_free releases a block
struct Block {
  size_t size;
  Source source;
};
std::unordered_map<const void*, Block>& live_blocks() {
  static std::unordered_map<const void*, Block> blocks;
  return blocks;
}
thread_local std::vector<const void*>* t_recording = nullptr;
thread_local HugeArena* t_arena = nullptr;

constexpr size_t kHuge = size_t(2) << 20;

// `size` bytes (a multiple of 2 MiB), 2 MiB aligned, advised for huge pages before the first
// touch. Blocks from 2 MiB up are mapped afresh like this and unmapped when freed: from the
// heap they could be memory earlier frees returned, already faulted in as 4 KiB pages that
// the advice no longer changes.
void* map_huge(size_t size) {
#if defined(__linux__)
  const size_t span = size + kHuge;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t r = reinterpret_cast<uintptr_t>(raw), a = (r + kHuge - 1) & ~(kHuge - 1);
  if (a > r) munmap(raw, a - r);
  if (r + span > a + size) munmap(reinterpret_cast<void*>(a + size), r + span - (a + size));
  void* p = reinterpret_cast<void*>(a);
#if defined(MADV_HUGEPAGE)
  madvise(p, size, MADV_HUGEPAGE);  // advice only: failure leaves normal pages
#endif
  return p;
#else
  return std::aligned_alloc(kHuge, size);
#endif
}

void unmap_huge(void* p, size_t size) {
#if defined(__linux__)
  munmap(p, size);
#else
  (void)size;
  std::free(p);
#endif
}

bool huge_pages_off() {
  const char* off = std::getenv("SNEP_HUGE_PAGES");  // "0": normal pages (comparisons)
  return off && off[0] == '0';
}

void* raw_alloc(size_t bytes, size_t* size, Source* source) {
  *size = (bytes + 63) / 64 * 64;
  *source = Source::Heap;
  if (huge_pages_off()) return std::aligned_alloc(64, *size);
  if (t_arena) {
    *source = Source::Arena;
    return t_arena->alloc(*size);
  }
  if (bytes < kHuge) return std::aligned_alloc(64, *size);
  *size = (bytes + kHuge - 1) / kHuge * kHuge;
  *source = Source::Mapped;
  return map_huge(*size);
}

#if defined(__x86_64__)
bool has_clflushopt() {
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 23));
}
__attribute__((target("clflushopt"))) void flush_lines_opt(const char* p, size_t bytes) {
  for (size_t i = 0; i < bytes; i += 64) _mm_clflushopt(const_cast<char*>(p + i));
}
void flush_lines(const char* p, size_t bytes) {
  for (size_t i = 0; i < bytes; i += 64) _mm_clflush(p + i);
}
#endif

}  // namespace

void* big_alloc(size_t bytes) {
  size_t size = 0;
  Source source = Source::Heap;
  void* p = raw_alloc(bytes, &size, &source);
  if (p) {
    std::lock_guard<std::mutex> g(live_mutex());
    live_blocks()[p] = Block{size, source};
    if (t_recording) t_recording->push_back(p);
  }
  return p;
}

void big_free(void* p) {
  if (!p) return;
  Block b{0, Source::Heap};
  {
    std::lock_guard<std::mutex> g(live_mutex());
    auto it = live_blocks().find(p);
    if (it != live_blocks().end()) {
      b = it->second;
      live_blocks().erase(it);
    }
  }
  if (b.source == Source::Mapped) unmap_huge(p, b.size);
  else if (b.source == Source::Heap) std::free(p);
  // Arena blocks go back with their arena.
}

HugeArena::~HugeArena() {
  for (const Chunk& c : chunks_) unmap_huge(c.base, c.size);
}

void* HugeArena::alloc(size_t bytes) {
  bytes = (bytes + 63) / 64 * 64;
  for (Chunk& c : chunks_)  // first fit: the tail of an earlier chunk takes small blocks
    if (c.size - c.used >= bytes) {
      void* p = c.base + c.used;
      c.used += bytes;
      return p;
    }
  const size_t size = (bytes + kHuge - 1) / kHuge * kHuge;
  char* base = static_cast<char*>(map_huge(size));
  if (!base) return nullptr;
  chunks_.push_back(Chunk{base, size, bytes});
  return base;
}

BigAllocArenaScope::BigAllocArenaScope(HugeArena* arena) : prev_(t_arena) { t_arena = arena; }
BigAllocArenaScope::~BigAllocArenaScope() { t_arena = prev_; }

BigAllocRecorder::BigAllocRecorder(std::vector<const void*>* blocks) : prev_(t_recording) { t_recording = blocks; }
BigAllocRecorder::~BigAllocRecorder() { t_recording = prev_; }

void evict_range(const void* p, size_t bytes) {
#if defined(__x86_64__)
  static const bool opt = has_clflushopt();
  const char* start = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t(63));
  bytes += static_cast<const char*>(p) - start;
  if (opt) flush_lines_opt(start, bytes);
  else flush_lines(start, bytes);
  _mm_mfence();
#else
  (void)p;
  (void)bytes;
#endif
}

std::vector<std::pair<const void*, size_t>> live_block_ranges(const std::vector<const void*>& blocks) {
  std::lock_guard<std::mutex> g(live_mutex());
  std::vector<std::pair<const void*, size_t>> out;
  for (const void* p : blocks) {
    auto it = live_blocks().find(p);
    if (it != live_blocks().end()) out.emplace_back(p, it->second.size);
  }
  return out;
}

}  // namespace snep
