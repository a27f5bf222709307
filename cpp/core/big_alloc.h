// Allocation of large buffers (the arena, packed weights): 64-byte aligned;
// from 2 MiB up also 2 MiB aligned and marked for transparent huge pages,
// so the kernels' strided walks over big activations and weights miss the
// TLB far less (Linux in THP "madvise" mode gives huge pages only when asked).
// Free with std::free.
#pragma once
#include <cstddef>

namespace snep {
void* big_alloc(size_t bytes);
}  // namespace snep
