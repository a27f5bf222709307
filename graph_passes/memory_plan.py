"""Arena offsets by tensor liveness: tensors whose lifetimes do not overlap
share memory. Greedy by size (largest first), each placed at the lowest
64-byte-aligned offset free for its whole lifetime.

    plan_memory(lifetimes) -> (offsets, arena_bytes)
    lifetimes: {name: (first_step, last_step, nbytes)}
"""

ALIGN = 64


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(lifetimes):
    order = sorted(lifetimes, key=lambda k: (-lifetimes[k][2], lifetimes[k][0], k))
    placed = []  # (start, end, offset, size)
    offsets, arena = {}, 0
    for name in order:
        start, end, size = lifetimes[name]
        size = _align(max(size, 1))
        busy = sorted((o, o + s) for (s0, e0, o, s) in placed if s0 <= end and start <= e0)
        off = 0
        for lo, hi in busy:
            if off + size <= lo:
                break
            off = max(off, hi)
        placed.append((start, end, off, size))
        offsets[name] = off
        arena = max(arena, off + size)
    return offsets, arena
