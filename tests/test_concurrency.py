"""Sessions run from several Python threads at once (the plan runs with the GIL
released, each concurrent run on its own arena context): every result is
checked against numpy."""
import threading

import numpy as np
import pytest

CPU = ["CPUExecutionProvider"]
THREADS = 4
RUNS = 200


def _hammer(jobs):
    """jobs: list of callables(thread_index, iteration) -> None (assert inside).
    Runs each on its own thread, RUNS times, starting together; re-raises the
    first failure."""
    errors = []
    start = threading.Barrier(len(jobs))

    def worker(k, job):
        try:
            start.wait()
            for i in range(RUNS):
                job(k, i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((k, e))

    threads = [threading.Thread(target=worker, args=(k, job)) for k, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    if errors:
        raise AssertionError(f"{len(errors)} worker(s) failed; first (thread {errors[0][0]}): {errors[0][1]!r}") \
            from errors[0][1]


def _checker(sess, reference, shapes):
    """A job running sess on inputs that differ by thread and iteration."""
    def job(k, i):
        rng = np.random.default_rng(1000 * k + i)
        x = rng.standard_normal(shapes(k, i)).astype(np.float32)
        (y,) = sess.run(None, {"X": x})
        np.testing.assert_allclose(y, reference(x)[0], rtol=1e-5, atol=1e-5)
    return job


@pytest.mark.parametrize("intra", [1, 2])
def test_one_session_four_threads(sn, models, intra):
    model, reference = models.chain(16)
    so = sn.SessionOptions()
    so.intra_op_num_threads = intra
    sess = sn.InferenceSession(model.SerializeToString(), so, providers=CPU)
    # same shape on every thread (one plan, concurrent contexts) ...
    _hammer([_checker(sess, reference, lambda k, i: (8, 16))] * THREADS)
    # ... and a different batch per thread (several plans, built concurrently)
    _hammer([_checker(sess, reference, lambda k, i: (1 + k, 16))] * THREADS)


def test_dynamic_batches_interleaved(sn, models):
    model, reference = models.chain(8)
    sess = sn.InferenceSession(model.SerializeToString(), providers=CPU)
    _hammer([_checker(sess, reference, lambda k, i: (1 + (i + k) % 5, 8))] * THREADS)


def test_two_sessions_concurrently(sn, models):
    model_a, ref_a = models.chain(16)
    sess_a = sn.InferenceSession(model_a.SerializeToString(), providers=CPU)
    sess_b = sn.InferenceSession(models.relu(("N", 5)).SerializeToString(), providers=CPU)
    jobs = [_checker(sess_a, ref_a, lambda k, i: (4, 16)),
            _checker(sess_b, lambda x: [np.maximum(x, 0)], lambda k, i: (3 + i % 2, 5))] * 2
    _hammer(jobs)


def test_profiling_session_from_threads(sn, models, tmp_path, monkeypatch):
    import json
    monkeypatch.chdir(tmp_path)
    model, reference = models.chain(8)
    so = sn.SessionOptions()
    so.enable_profiling = True
    sess = sn.InferenceSession(model.SerializeToString(), so, providers=CPU)
    _hammer([_checker(sess, reference, lambda k, i: (2, 8))] * THREADS)
    with open(sess.end_profiling()) as f:
        events = json.load(f)
    assert len(events) == THREADS * RUNS * len(sess.plan_summary())
    assert len({e["tid"] for e in events}) == THREADS
