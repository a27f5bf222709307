"""No memory growth over many runs: resident memory after 10,000 runs stays
within 5% (+2 MB) of what it was after a 1,000-run warm-up. Tensors are made
large enough (tens of KB) that leaking one buffer, feed or output per run
would grow memory by hundreds of MB."""
import gc
import os

import numpy as np
import pytest

CPU = ["CPUExecutionProvider"]
WARMUP, RUNS = 1_000, 10_000
SLACK = 2 * 1024 * 1024


def rss_bytes():
    try:
        import psutil
        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _no_growth(run):
    for _ in range(WARMUP):
        run()
    gc.collect()
    before = rss_bytes()
    for _ in range(RUNS):
        run()
    gc.collect()
    after = rss_bytes()
    assert after <= before * 1.05 + SLACK, f"RSS grew from {before / 2**20:.1f} MB to {after / 2**20:.1f} MB"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc or psutil")
def test_static_model_no_growth(sn, models):
    model, reference = models.chain(256, matmul=False)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 64
    sess = sn.InferenceSession(model.SerializeToString(), providers=CPU)
    x = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)  # 64 KB in, 64 KB out
    want = reference(x)[0]
    feed = {"X": x}
    np.testing.assert_allclose(sess.run(None, feed)[0], want, rtol=1e-5, atol=1e-5)
    _no_growth(lambda: sess.run(None, feed))
    np.testing.assert_allclose(sess.run(None, feed)[0], want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc or psutil")
def test_dynamic_model_and_errors_no_growth(sn, models):
    """Alternating batch sizes (cached plans), output selection, and a rejected
    feed every tenth run: none of it may leak."""
    sess = sn.InferenceSession(models.relu(("N", 2048)).SerializeToString(), providers=CPU)
    xs = [np.full((n, 2048), -1.0, np.float32) for n in (1, 2, 3)]  # 8-24 KB a run
    bad = {"X": np.ones((4, 5000), np.float32)}
    state = {"i": 0}

    def run():
        i = state["i"] = state["i"] + 1
        if i % 10 == 0:
            try:
                sess.run(None, bad)
            except sn.InvalidArgument:
                pass
            else:
                raise AssertionError("bad feed accepted")
        else:
            x = xs[i % 3]
            (y,) = sess.run(["Y"], {"X": x[:, ::-1] if i % 7 == 0 else x})  # sometimes a strided view
            assert y.shape == x.shape

    _no_growth(run)
    (y,) = sess.run(None, {"X": -xs[2]})
    np.testing.assert_array_equal(y, np.ones((3, 2048), np.float32))


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc or psutil")
def test_plans_give_back_their_packed_weights():
    """Each plan packs its kernels' weights into its own huge-page arena and unmaps it when
    dropped: 40 plans with 3 MB of packed weights each (120 MB if kept) leave memory flat,
    and every one computes the right product, also when timed with its weights evicted."""
    from softneuro_ep import _engine
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1024, 768)).astype(np.float32)
    x = rng.standard_normal((8, 1024)).astype(np.float32)
    want = x @ w

    def one_plan():
        p = _engine.Plan(1)
        xi, wi, yi = p.add_input(1, [8, 1024], 0), p.add_constant(1, w), p.add_output(1, [8, 768], 0)
        p.add_step("mm", "MatMul", {"_opset": 17}, [xi, wi], [yi], "")
        p.finalize()
        assert p.time_median([x], 0, 1, 1, 0.0, cold=2) > 0
        np.testing.assert_allclose(p.run([x])[0], want, rtol=1e-4, atol=1e-3)

    for _ in range(5):
        one_plan()
    gc.collect()
    before = rss_bytes()
    for _ in range(40):
        one_plan()
    gc.collect()
    after = rss_bytes()
    assert after <= before + 24 * 2**20, f"RSS grew from {before / 2**20:.1f} MB to {after / 2**20:.1f} MB"
