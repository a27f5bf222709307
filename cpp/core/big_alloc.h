// Allocation of large buffers (the arena, packed weights): 64-byte aligned;
// from 2 MiB up also 2 MiB aligned and marked for transparent huge pages,
// so the kernels' strided walks over big activations and weights miss the
// TLB far less (Linux in THP "madvise" mode gives huge pages only when asked).
// Free with big_free. Live blocks are registered so that a plan can evict the
// packed weights its kernels allocated from every cache level (cold profiles).
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

namespace snep {
void* big_alloc(size_t bytes);
void big_free(void* p);

// While one is alive on a thread, every big_alloc on that thread is appended to `blocks`.
class BigAllocRecorder {
 public:
  explicit BigAllocRecorder(std::vector<const void*>* blocks);
  ~BigAllocRecorder();
  BigAllocRecorder(const BigAllocRecorder&) = delete;
  BigAllocRecorder& operator=(const BigAllocRecorder&) = delete;
 private:
  std::vector<const void*>* prev_;
};

// Bump allocation from 2 MiB-aligned mappings advised for huge pages, released all at
// once when the arena is destroyed. While a BigAllocArenaScope is alive on a thread,
// big_alloc on that thread takes its blocks from the arena (big_free of such a block
// only unregisters it, so blocks a prepare frees again stay mapped until then): a plan's
// packed weights, most of them far below 2 MiB, then sit on huge pages too.
class HugeArena {
 public:
  HugeArena() = default;
  ~HugeArena();
  HugeArena(const HugeArena&) = delete;
  HugeArena& operator=(const HugeArena&) = delete;
  void* alloc(size_t bytes);   // 64-byte aligned; nullptr when the mapping fails
 private:
  struct Chunk {
    char* base;
    size_t size, used;
  };
  std::vector<Chunk> chunks_;
};

class BigAllocArenaScope {
 public:
  explicit BigAllocArenaScope(HugeArena* arena);
  ~BigAllocArenaScope();
  BigAllocArenaScope(const BigAllocArenaScope&) = delete;
  BigAllocArenaScope& operator=(const BigAllocArenaScope&) = delete;
 private:
  HugeArena* prev_;
};

// Flushes [p, p + bytes) out of all cache levels (clflushopt where the CPU has it).
void evict_range(const void* p, size_t bytes);
// The still-live blocks of `blocks` with their sizes (freed ones left out), for evict_range.
std::vector<std::pair<const void*, size_t>> live_block_ranges(const std::vector<const void*>& blocks);
}  // namespace snep
