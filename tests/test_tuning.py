"""Tuning options, the profile cache and routine pins."""
import os
import sqlite3
import subprocess
import sys
import warnings

import numpy as np
import pytest
from onnx import helper

import softneuro_ep as ort
from softneuro_ep.graph_passes.tune import parse_pins
from softneuro_ep.profile_cache import ProfileCache


def _model():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Sigmoid", ["b"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [1, 2, 2, 4])],
                          [helper.make_tensor_value_info("y", 1, [1, 2, 2, 4])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _session(tmp_path, **opts):
    opts.setdefault("profile_cache", str(tmp_path / "cache.sqlite"))
    return ort.InferenceSession(_model(), providers=[("SoftNeuroExecutionProvider", opts)])


def _check(sess):
    x = np.linspace(-3, 3, 16, dtype=np.float32).reshape(1, 2, 2, 4)
    y = sess.run(None, {"x": x})[0]
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-np.maximum(x, 0))), rtol=1e-6)


@pytest.mark.parametrize("mode", ["dprs", "greedy", "none"])
def test_tuning_modes_run_correctly(tmp_path, mode):
    _check(_session(tmp_path, tuning=mode))


def test_profiles_are_cached_and_reused(tmp_path):
    s1 = _session(tmp_path)
    _check(s1)
    t1 = next(iter(s1._plans.values())).tuned
    assert t1.profiled > 0 and t1.cached == 0
    s2 = _session(tmp_path)
    t2 = next(iter(s2._plans.values())).tuned
    assert t2.profiled == 0 and t2.cached == t1.profiled
    assert t2.choice == t1.choice  # same cache and model: same plan


def test_session_config_entries_are_tuning_options(tmp_path):
    so = ort.SessionOptions()
    so.add_session_config_entry("softneuro.tuning", "greedy")
    so.add_session_config_entry("softneuro.profile_cache", str(tmp_path / "c.sqlite"))
    s = ort.InferenceSession(_model(), so)
    _check(s)
    assert os.path.exists(tmp_path / "c.sqlite")


@pytest.mark.parametrize("opts, key", [({"tuning": "fastest"}, "tuning"), ({"bogus": "1"}, "bogus"),
                                       ({"layouts": "nchw,xyz"}, "layouts"), ({"devices": "tpu"}, "devices"),
                                       ({"profile_budget_s": "soon"}, "profile_budget_s"),
                                       ({"routines": "cpu/direct"}, "routines")])
def test_bad_options_name_the_key(tmp_path, opts, key):
    with pytest.raises(ort.InvalidArgument, match=key):
        _session(tmp_path, **opts)


def test_pins_choose_the_routine(tmp_path):
    # every usable Relu routine, blocked layouts included (Reorder adapts are inserted around those)
    descs = [r["descriptor"] for r in ort._engine.routines("Relu") if r["usable"]]
    for d in descs:
        s = _session(tmp_path, routines=f"{d}@0..1")
        _check(s)
        steps = [x for x in s.plan_summary() if x[1] != "Reorder"]
        assert [x[2] for x in steps[:2]] == [d, d]


def test_pin_that_cannot_apply_is_an_error(tmp_path):
    with pytest.raises(ort.InvalidArgument, match="layer 2"):
        _session(tmp_path, routines="cpu:float32:nchw/im2col_gemm@2")


def test_parse_pins():
    assert parse_pins("cpu:float32:nchw/winograd_f43@2..23;cpu@1,24") == [
        ("cpu:float32:nchw/winograd_f43", 2, 23), ("cpu", 1, 1), ("cpu", 24, 24)]


def test_corrupt_cache_is_set_aside_and_rebuilt(tmp_path):
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = _session(tmp_path)
    _check(s)
    assert any("unreadable" in str(x.message) for x in w)
    assert any(p.name.startswith("cache.sqlite.corrupt-") for p in tmp_path.iterdir())
    assert ProfileCache(str(path)).count() > 0


def test_foreign_sqlite_file_is_set_aside(tmp_path):
    path = tmp_path / "cache.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE profile (x INTEGER)")
    db.commit()
    db.close()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        s = _session(tmp_path)
    _check(s)
    assert ProfileCache(str(path)).count() > 0


WRITER = """
import sys
from softneuro_ep.profile_cache import ProfileCache
c = ProfileCache(sys.argv[1])
for i in range(200):
    c.put_many("m", [(f"r{sys.argv[2]}", 1, f"sig{i}", float(i))])
"""


def test_two_processes_writing_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ProfileCache(path).close()
    # cwd away from the repository, so the child imports the installed package
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, str(k)], cwd=str(tmp_path)) for k in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    assert ProfileCache(path).count() == 400


def test_plan_file_is_saved_then_loaded(tmp_path):
    pf = str(tmp_path / "model.plan")
    s1 = _session(tmp_path, plan_file=pf)
    _check(s1)
    assert os.path.exists(pf)
    choice = next(iter(s1._plans.values())).tuned.choice
    s2 = _session(tmp_path, plan_file=pf, profile_cache=str(tmp_path / "other.sqlite"))
    _check(s2)
    spec = next(iter(s2._plans.values()))
    assert spec.tuned is None  # loaded, not tuned
    assert {n: d for n, _, d in s2.plan_summary()} == choice


def test_corrupt_plan_file_is_retuned(tmp_path):
    pf = tmp_path / "model.plan"
    pf.write_text("{not json")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = _session(tmp_path, plan_file=str(pf))
    _check(s)
    assert any("unreadable" in str(x.message) for x in w)
    assert '"plans"' in pf.read_text()


def test_profiles_are_keyed_by_engine_build(tmp_path, monkeypatch):
    # a rebuilt engine (other kernels, other speeds) must not reuse the old build's profiles
    from softneuro_ep import profile_cache
    s1 = _session(tmp_path)
    assert next(iter(s1._plans.values())).tuned.profiled > 0
    monkeypatch.setattr(profile_cache, "engine_build_id", lambda: "another-build")
    s2 = _session(tmp_path)
    t2 = next(iter(s2._plans.values())).tuned
    assert t2.cached == 0 and t2.profiled > 0
    _check(s2)


def _fake_timing(monkeypatch, script, screen):
    """_time_candidates over fake plans: screening runs (one run, no warm-up) return screen[name]
    (or, a list, its next item), timed rounds the next of script[name]. Returns (candidates, calls made)."""
    import types as pytypes

    from softneuro_ep.graph_passes import tune
    calls = []

    class FakePlan:
        workspace_bytes = 64

        def __init__(self, name):
            self.name = name

        def add_step(self, *args):
            pass

        def finalize(self):
            pass

        def time_median(self, feeds, warmup, min_reps, max_reps, budget_us, cold=0):
            if max_reps == 1 and warmup == 0:
                calls.append("screen " + self.name)
                v = screen[self.name]
                return v[sum(1 for c in calls if c == "screen " + self.name) - 1] if isinstance(v, list) else v
            calls.append(self.name)
            return script[self.name][sum(1 for c in calls if c == self.name) - 1]

    def fake_probe(node, g, types, threads, rng, layout="nchw", with_feeds=True, view=False):
        return FakePlan(node.name), [], [], [], None, None

    monkeypatch.setattr(tune, "_probe_plan", fake_probe)
    node = lambda n: pytypes.SimpleNamespace(name=n, op="Relu", attrs={}, inputs=["x"])  # noqa: E731
    g = pytypes.SimpleNamespace(initializers={})
    grp = [pytypes.SimpleNamespace(r={"descriptor": f"cpu/{n.lower()}"}, node=node(n), g=g, types={}) for n in screen]
    return grp, calls


def test_candidates_are_timed_in_interleaved_rounds_and_keep_their_fastest(monkeypatch):
    """A slow spell of the VM (here: B's first round, 2x) must not decide between a layer's
    candidates (one timing each would pick A): rounds go A B A B A B, each keeps its fastest."""
    from softneuro_ep.graph_passes import tune
    grp, calls = _fake_timing(monkeypatch, {"A": [130.0, 140.0, 135.0], "B": [260.0, 100.0, 105.0]},
                              {"A": 150.0, "B": 150.0})
    out = tune._time_candidates(grp, 2, None, 17, deadline=float("inf"))
    assert calls == ["screen A", "screen B"] + ["A", "B"] * tune.PROFILE_ROUNDS
    assert [(c.node.name, us, ws) for c, us, ws in out] == [("A", 130.0, 64.0), ("B", 100.0, 64.0)]


def test_hopeless_candidates_keep_their_screening_run(monkeypatch):
    """A candidate whose single run is more than SCREEN_CUTOFF x the layer's fastest (a reference
    routine, 1000x slower) is not timed in rounds: its one run is its figure."""
    from softneuro_ep.graph_passes import tune
    grp, calls = _fake_timing(monkeypatch, {"A": [130.0, 120.0, 125.0], "B": [1.0, 1.0, 1.0]},
                              {"REF": 200000.0, "A": 150.0, "B": 150.0 * tune.SCREEN_CUTOFF * 1.01})
    out = tune._time_candidates(grp, 2, None, 17, deadline=float("inf"))
    # B (just over the cutoff) gets a second single run before it is cut; REF (1333x) does not
    assert calls == ["screen REF", "screen A", "screen B", "screen B"] + ["A"] * tune.PROFILE_ROUNDS
    assert [(c.node.name, us) for c, us, _ in out] == [("REF", 200000.0), ("A", 120.0),
                                                       ("B", 150.0 * tune.SCREEN_CUTOFF * 1.01)]


def test_a_slow_first_run_does_not_cut_a_candidate(monkeypatch):
    """A fresh plan's first run can read many times its speed (measured: a 2-thread depthwise conv
    of 20 us read 355 us once, and was kept at that). Over the cutoff once, its second run decides."""
    from softneuro_ep.graph_passes import tune
    grp, calls = _fake_timing(monkeypatch, {"A": [30.0, 31.0, 32.0], "B": [20.0, 21.0, 19.0]},
                              {"A": 40.0, "B": [355.0, 25.0]})
    out = tune._time_candidates(grp, 2, None, 17, deadline=float("inf"))
    assert calls == ["screen A", "screen B", "screen B"] + ["A", "B"] * tune.PROFILE_ROUNDS
    assert [(c.node.name, us) for c, us, _ in out] == [("A", 30.0), ("B", 19.0)]


def _stem_model():
    rng = np.random.default_rng(3)
    w1 = helper.make_tensor("w1", 1, [32, 3, 3, 3], rng.uniform(-1, 1, 32 * 27).astype(np.float32))
    w2 = helper.make_tensor("w2", 1, [16, 32, 1, 1], rng.uniform(-1, 1, 16 * 32).astype(np.float32))
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"]), helper.make_node("Conv", ["b", "w2"], ["y"], kernel_shape=[1, 1])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [1, 3, 20, 20])],
                          [helper.make_tensor_value_info("y", 1, [1, 16, 10, 10])], [w1, w2])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_routine_reading_one_layout_and_writing_another(tmp_path):
    """A routine whose descriptor says IN>OUT reads the graph input in NCHW with no Reorder
    before it and hands NCHW16c to the next layer; the layouts option can exclude it."""
    from softneuro_ep.graph_passes.adapt import io_layouts
    assert io_layouts("cpu:float32:nchw>nchw16c/direct") == ("nchw", "nchw16c")
    assert io_layouts("cpu:float32:nhwc/direct") == ("nhwc", "nhwc") and io_layouts("cpu/copy") == ("nchw", "nchw")
    desc = "cpu:float32:nchw>nchw16c/direct"
    if not any(r["descriptor"] == desc and r["usable"] for r in ort._engine.routines("Conv")):
        pytest.skip("needs AVX-512")
    import onnxruntime
    model = _stem_model()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 20, 20)).astype(np.float32)
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    cache = str(tmp_path / "c.sqlite")
    s = ort.InferenceSession(model, providers=[("SoftNeuroExecutionProvider",
                                                {"profile_cache": cache, "routines": f"{desc}@0"})])
    np.testing.assert_allclose(s.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)
    steps = s.plan_summary()
    assert steps[0][1] == "Conv" and steps[0][2] == desc  # the graph input is read as it comes
    s2 = ort.InferenceSession(model, providers=[("SoftNeuroExecutionProvider",
                                                 {"profile_cache": cache, "layouts": "nchw"})])
    np.testing.assert_allclose(s2.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)
    assert all(">" not in step[2] and "16c" not in step[2] for step in s2.plan_summary())
    for mode in ("dprs", "greedy"):
        s3 = ort.InferenceSession(model, providers=[("SoftNeuroExecutionProvider",
                                                     {"profile_cache": cache, "tuning": mode})])
        np.testing.assert_allclose(s3.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)


def test_cold_profiles_time_steps_and_keep_values(monkeypatch):
    """Profiling runs each timed repetition after flushing the L2 caches (level 1) and also
    evicting the layer's constants and packed weights from every cache level (level 2), then
    reading the layer's inputs back: the timing is the steps' time, the inputs and outputs
    are untouched, and profiles of different rules never share cache entries."""
    from softneuro_ep import _engine
    from softneuro_ep.graph_passes import tune
    from softneuro_ep.profile_cache import machine_fingerprint
    p = _engine.Plan(2)
    x = p.add_input(1, [64, 64], 0)
    w = p.add_constant(1, np.eye(64, dtype=np.float32) * 2)
    y = p.add_output(1, [64, 64], 0)
    p.add_step("mm", "MatMul", {"_opset": 17}, [x, w], [y], "")
    p.finalize()
    feed = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    keep = feed.copy()
    for level in (1, 2):
        us = p.time_median([feed], 1, 3, 5, 1000.0, cold=level)
        assert 0 < us < 1e6
        np.testing.assert_array_equal(feed, keep)
        np.testing.assert_allclose(p.run([feed])[0], 2 * feed, rtol=1e-6)
    prints = set()
    for level in (0, 1, 2):
        monkeypatch.setattr(tune, "COLD", level)
        prints.add(machine_fingerprint(1))
    assert len(prints) == 3


def _conv_model():
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", 1, [8, 4, 3, 3], rng.standard_normal(8 * 4 * 9).astype(np.float32).tolist())
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
                          [helper.make_tensor_value_info("x", 1, [1, 4, 10, 10])],
                          [helper.make_tensor_value_info("y", 1, [1, 8, 10, 10])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("threads", [1, 2])
def test_single_thread_variants_are_measured_only_where_they_differ(tmp_path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    s = ort.InferenceSession(_conv_model(), so, providers=[("SoftNeuroExecutionProvider",
                                                            {"profile_cache": str(tmp_path / "c.sqlite")})])
    s.run(None, {"x": np.ones((1, 4, 10, 10), np.float32)})
    cands = next(iter(s._plans.values())).tuned.candidates
    conv = next(c for c in cands.values() if len(c) > 1)
    twins = [k for k in conv if k.endswith("/t1") and k[:-3] in conv]
    # on one thread "X/t1" runs exactly as X: measured once; on two both are candidates
    assert (len(twins) == 0) if threads == 1 else (len(twins) >= 1), conv
