"""ThreadPool.parallel_for: every index runs exactly once, whatever the split, and a thread
that finishes its share takes slices from a slow thread's share (SNEP_POOL_STEAL=0 keeps one
fixed chunk per thread). The int8 routines' qgemm::run_tasks splits the same way, one task per item."""
import pytest

from softneuro_ep import _engine


def _covered_once(ranges, n):
    seen = [0] * n
    for b, e, _ in ranges:
        assert 0 <= b < e <= n
        for i in range(b, e):
            seen[i] += 1
    return seen == [1] * n


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("n,grain", [(1, 1), (2, 1), (7, 3), (100, 1), (1000, 16), (17, 100), (4099, 7)])
def test_every_index_once(threads, n, grain):
    ranges = _engine._pool_trace(threads, n, grain, 0)
    assert _covered_once(ranges, n)
    if threads == 1:
        assert [(b, e) for b, e, _ in ranges] == [(0, n)]


def test_slices_are_not_smaller_than_grain():
    ranges = _engine._pool_trace(2, 1000, 16, 0)
    assert len(ranges) > 2  # cut into slices, not halves
    assert all(e - b >= 16 for b, e, _ in ranges)


def test_idle_thread_takes_slices_of_a_slow_share():
    n = 160
    ranges = _engine._pool_trace(2, n, 1, 5000)  # the caller sleeps 5 ms in each of its slices
    assert _covered_once(ranges, n)
    # Each thread owns half. The worker finishes its half long before the caller, then takes the
    # caller's slices from the back: the caller runs less than its half (without stealing it would
    # run exactly half, or everything if the worker woke late).
    assert sum(e - b for b, e, by_caller in ranges if by_caller) < n // 2


def test_fixed_split_without_stealing(monkeypatch):
    monkeypatch.setenv("SNEP_POOL_STEAL", "0")
    n = 160
    ranges = _engine._pool_trace(2, n, 1, 5000)
    assert _covered_once(ranges, n)
    assert sorted((b, e) for b, e, _ in ranges) == [(0, 80), (80, 160)]


@pytest.mark.parametrize("delay_us", [0, 3000])
def test_quantized_tasks_run_in_contiguous_shares(delay_us):
    """qgemm::run_tasks (the int8 routines' split): worker w owns tasks [w n / 2, (w + 1) n / 2) and
    runs them in order from the front; tasks it takes from the other's share come from the back."""
    n = 40
    order = _engine._owned_trace(2, n, delay_us)
    assert sorted(t for t, _, _ in order) == list(range(n))
    for w in (0, 1):
        lo, hi = w * n // 2, (w + 1) * n // 2
        own = [t for t, s, _ in order if s == w and lo <= t < hi]
        stolen = [t for t, s, _ in order if s == w and not lo <= t < hi]
        assert own == list(range(lo, lo + len(own)))
        assert stolen == sorted(stolen, reverse=True)
    if delay_us:  # the slow caller's share is mostly run by the worker
        assert sum(1 for _, _, by_caller in order if not by_caller) > n // 2
