"""Multi-thread sessions: when DPRS picks single-thread ("/t1") routines, the whole
plan is also timed with them on all threads and the faster plan is kept
(graph_passes/thread_check.py). The profile cache is rigged so DPRS picks "/t1"
everywhere; the check must then run, keep a plan whose routines match its
verdict, and leave outputs unchanged."""
import sqlite3
import time

import numpy as np
import pytest
from onnx import helper, numpy_helper

import softneuro_ep as ort
from softneuro_ep.graph_passes.thread_check import T1, all_threads_alternative


def _model():
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 4, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((8, 8, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "w2"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [1, 4, 16, 16])],
                          [helper.make_tensor_value_info("y", 1, [1, 8, 16, 16])], [w1, w2])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _session(cache, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(_model(), so, providers=[("SoftNeuroExecutionProvider",
                                                          {"profile_cache": str(cache), "dtypes": "float32"})])


def _spec(sess, x):
    sess.run(None, {"x": x})
    return next(iter(sess._plans.values()))


def _rig(con):
    layers = "median_us > 0 AND routine NOT LIKE 'plan/%'"
    con.execute(f"UPDATE profile SET median_us = 2.0 WHERE {layers} AND routine NOT LIKE '%/t1'")
    con.execute(f"UPDATE profile SET median_us = 1.0 WHERE {layers} AND routine LIKE '%/t1'")


def _convs(spec):
    return [r[2] for r in spec.plan.step_routines() if r[1] == "Conv"]


def test_alternative_replaces_only_t1_routines_with_a_candidate_base():
    # the choice names routines; the candidates of a qint8 variant carry the "q8|" prefix
    choice = {"a": "cpu:float32:nchw/im2col_gemm/t1", "b": "cpu/direct", "c": "cpu:qint8:nchw/depthwise" + T1,
              "d": "cpu:z/t1", "e": "cpu:w/t1"}
    cands = {"a": {"cpu:float32:nchw/im2col_gemm": 2.0, "cpu:float32:nchw/im2col_gemm/t1": 1.0},
             "c": {"q8|cpu:qint8:nchw/depthwise": 1.0}, "d": {"cpu:z/t1": 1.0}, "e": {"cpu:other:w": 1.0}}
    alt = all_threads_alternative(choice, cands)
    assert alt == {"a": "cpu:float32:nchw/im2col_gemm", "b": "cpu/direct", "c": "cpu:qint8:nchw/depthwise",
                   "d": "cpu:z/t1", "e": "cpu:w/t1"}
    assert all_threads_alternative({"b": "cpu/direct"}, cands) is None


def test_t1_choices_are_checked_on_the_whole_plan(tmp_path):
    cache = tmp_path / "cache.sqlite"
    x = np.random.default_rng(1).standard_normal((1, 4, 16, 16)).astype(np.float32)
    want = _session(tmp_path / "ref.sqlite", 1).run(None, {"x": x})[0]
    _spec(_session(cache, 2), x)  # profiles every candidate into the cache
    with sqlite3.connect(cache) as con:  # make every "/t1" routine look twice as fast as its all-threads form
        _rig(con)
    sess = _session(cache, 2)
    spec = _spec(sess, x)
    check = spec.tuned.thread_check
    assert check is not None and check["layers"] >= 2, check
    assert check["dprs_us"] > 0 and check["all_threads_us"] > 0
    assert check["kept"] in ("dprs", "all_threads")
    convs = _convs(spec)
    assert len(convs) == 2
    if check["kept"] == "all_threads":
        assert not any(d.endswith(T1) for d in convs), convs
        assert not any(v.endswith(T1) for v in spec.tuned.choice.values()), spec.tuned.choice  # saved plans agree
    else:
        assert all(d.endswith(T1) for d in convs), convs
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)


def test_single_thread_sessions_are_not_checked(tmp_path):
    x = np.zeros((1, 4, 16, 16), np.float32)
    spec = _spec(_session(tmp_path / "c.sqlite", 1), x)
    assert spec.tuned.thread_check is None


def test_the_verdict_is_cached_with_the_profiles(tmp_path):
    # a second session on the same cache reads the whole-plan timings instead of re-timing (a close call
    # must not flip between sessions), and a verdict in the cache decides the plan
    cache = tmp_path / "cache.sqlite"
    x = np.random.default_rng(2).standard_normal((1, 4, 16, 16)).astype(np.float32)
    _spec(_session(cache, 2), x)
    with sqlite3.connect(cache) as con:
        _rig(con)
        # the rigged plan's verdict only (the first session may have picked the same /t1 plan and cached it)
        con.execute("DELETE FROM profile WHERE routine LIKE 'plan/%'")
    first = _spec(_session(cache, 2), x)
    assert first.tuned.thread_check["cached"] is False
    again = _spec(_session(cache, 2), x)
    assert again.tuned.thread_check == {**first.tuned.thread_check, "cached": True}
    assert again.tuned.choice == first.tuned.choice and _convs(again) == _convs(first)
    for kept, (dprs, alt) in (("all_threads", (100.0, 10.0)), ("dprs", (10.0, 100.0))):
        with sqlite3.connect(cache) as con:
            con.execute("UPDATE profile SET median_us = ? WHERE routine = 'plan/thread_check/dprs'", (dprs,))
            con.execute("UPDATE profile SET median_us = ? WHERE routine = 'plan/thread_check/all_threads'", (alt,))
        spec = _spec(_session(cache, 2), x)
        assert spec.tuned.thread_check["kept"] == kept and spec.tuned.thread_check["cached"] is True
        assert all(d.endswith(T1) == (kept == "dprs") for d in _convs(spec)), _convs(spec)


# ---- layout check: DPRS's plan against its all-NCHW16c alternative ----------------------------
# (the NCHW16c routines need AVX-512: without them there is no alternative to check)
needs_nchw16c = pytest.mark.skipif(
    not any(r["usable"] for r in ort._engine.routines("Conv") if r["descriptor"] == "cpu:float32:nchw16c/direct"),
    reason="NCHW16c routines need AVX-512")

def _rig_plain(con):
    """Every NCHW conv routine looks twice as fast as the NCHW16c ones: DPRS picks NCHW."""
    layers = "median_us > 0 AND routine NOT LIKE 'plan/%'"
    con.execute(f"UPDATE profile SET median_us = 1.0 WHERE {layers} AND routine LIKE 'cpu:float32:nchw/%'")
    con.execute(f"UPDATE profile SET median_us = 2.0 WHERE {layers} AND routine LIKE 'cpu:float32:nchw16c/%'")


def _profiled_then_rigged_plain(cache, x):
    """A 1-thread session profiles into `cache`, then the cache is rigged so DPRS picks NCHW (and its
    plan gets layout-checked); returns that next session."""
    _spec(_session(cache, 1), x)
    with sqlite3.connect(cache) as con:
        _rig_plain(con)
        con.execute("DELETE FROM profile WHERE routine LIKE 'plan/%'")  # the rigged plans' verdict only
    return _session(cache, 1)


@needs_nchw16c
def test_plain_layout_choices_are_checked_against_nchw16c_on_the_whole_plan(tmp_path):
    cache = tmp_path / "cache.sqlite"
    x = np.random.default_rng(3).standard_normal((1, 4, 16, 16)).astype(np.float32)
    want = _session(tmp_path / "ref.sqlite", 1).run(None, {"x": x})[0]
    sess = _profiled_then_rigged_plain(cache, x)
    spec = _spec(sess, x)
    check = spec.tuned.layout_check
    assert check is not None and check["layers"] >= 2, check
    assert check["dprs_us"] > 0 and check["blocked_us"] > 0 and check["cached"] is False
    convs = _convs(spec)
    assert len(convs) == 2
    if check["kept"] == "blocked":
        assert all(":nchw16c/" in d or ">nchw16c/" in d for d in convs), convs
        assert all(spec.tuned.choice[n] == d for n, _, d in spec.plan.step_routines() if n in spec.tuned.choice)
    else:
        assert check["kept"] == "dprs" and all(d.startswith("cpu:float32:nchw/") for d in convs), convs
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)
    # a later session reads the verdict from the cache, and a cached verdict decides the plan
    again = _spec(_session(cache, 1), x)
    assert again.tuned.layout_check == {**check, "cached": True} and _convs(again) == convs
    for kept, (dprs, blocked) in (("blocked", (100.0, 10.0)), ("dprs", (10.0, 100.0))):
        with sqlite3.connect(cache) as con:
            con.execute("UPDATE profile SET median_us = ? WHERE routine = 'plan/layout_check/dprs'", (dprs,))
            con.execute("UPDATE profile SET median_us = ? WHERE routine = 'plan/layout_check/blocked'", (blocked,))
        s = _session(cache, 1)
        spec = _spec(s, x)
        assert spec.tuned.layout_check["kept"] == kept, spec.tuned.layout_check
        assert all((":nchw16c/" in d or ">nchw16c/" in d) == (kept == "blocked") for d in _convs(spec)), _convs(spec)
        np.testing.assert_allclose(s.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)


@needs_nchw16c
def test_all_nchw16c_plans_and_budgeted_plans_are_not_layout_checked(tmp_path):
    cache = tmp_path / "cache.sqlite"
    x = np.zeros((1, 4, 16, 16), np.float32)
    _spec(_session(cache, 1), x)
    with sqlite3.connect(cache) as con:  # NCHW16c twice as fast: DPRS already picks it
        layers = "median_us > 0 AND routine NOT LIKE 'plan/%'"
        con.execute(f"UPDATE profile SET median_us = 2.0 WHERE {layers} AND routine LIKE 'cpu:float32:nchw/%'")
        con.execute(f"UPDATE profile SET median_us = 1.0 WHERE {layers} AND routine LIKE 'cpu:float32:nchw16c/%'")
    spec = _spec(_session(cache, 1), x)
    assert spec.tuned.layout_check is None
    assert all("nchw16c/" in d for d in _convs(spec)), _convs(spec)
    with sqlite3.connect(cache) as con:
        _rig_plain(con)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    budgeted = ort.InferenceSession(_model(), so, providers=[("SoftNeuroExecutionProvider", {
        "profile_cache": str(cache), "dtypes": "float32", "memory_limit_mb": "512"})])
    assert _spec(budgeted, x).tuned.layout_check is None


@needs_nchw16c
def test_a_cached_verdict_wants_a_second_opinion_too(tmp_path):
    # whole-plan timings are profile rows like any other: one sample, minutes old, is timed again, and
    # each plan's fastest sample decides (a slow spell on the first timing does not stay)
    from softneuro_ep.profile_cache import RECHECK_AFTER_S
    cache = tmp_path / "cache.sqlite"
    x = np.random.default_rng(4).standard_normal((1, 4, 16, 16)).astype(np.float32)
    first = _spec(_profiled_then_rigged_plain(cache, x), x).tuned.layout_check
    assert first["cached"] is False
    with sqlite3.connect(cache) as con:  # the DPRS plan's timing as a slow spell left it, long ago
        con.execute("UPDATE profile SET median_us = 1e9, second_us = NULL, samples = 1, measured_at = ? "
                    "WHERE routine = 'plan/layout_check/dprs'", (time.time() - 2 * RECHECK_AFTER_S,))
        con.execute("UPDATE profile SET measured_at = ? WHERE routine = 'plan/layout_check/blocked'",
                    (time.time() - 2 * RECHECK_AFTER_S,))
    again = _spec(_session(cache, 1), x).tuned.layout_check
    assert again["cached"] is False and again["dprs_us"] < 1e8, again
    with sqlite3.connect(cache) as con:
        med, second, samples = con.execute("SELECT median_us, second_us, samples FROM profile "
                                           "WHERE routine = 'plan/layout_check/dprs'").fetchone()
    assert med < 1e8 and second == 1e9 and samples == 2
    third = _spec(_session(cache, 1), x).tuned.layout_check  # just measured: read, not re-timed
    assert third["cached"] is True and third["dprs_us"] == med


# ---- NHWC check: DPRS's plan with NHWC layers against the same plan without them ----------------
def _nhwc_session(cache):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(_model(), so, providers=[("SoftNeuroExecutionProvider", {
        "profile_cache": str(cache), "dtypes": "float32", "layouts": "nchw,nhwc"})])


def test_nhwc_choices_are_checked_against_the_plan_without_them(tmp_path):
    """The NHWC convs rigged fastest: DPRS picks them, the plan without NHWC is timed
    against it whole, and the verdict (timed, then cached, then rigged) decides the plan."""
    cache = tmp_path / "cache.sqlite"
    x = np.random.default_rng(5).standard_normal((1, 4, 16, 16)).astype(np.float32)
    want = _session(tmp_path / "ref.sqlite", 1).run(None, {"x": x})[0]
    _spec(_nhwc_session(cache), x)
    with sqlite3.connect(cache) as con:
        layers = "median_us > 0 AND routine NOT LIKE 'plan/%'"
        con.execute(f"UPDATE profile SET median_us = 2.0 WHERE {layers} AND routine LIKE 'cpu:float32:nchw/%'")
        con.execute(f"UPDATE profile SET median_us = 0.5 WHERE {layers} AND routine LIKE 'cpu:float32:nhwc/%'")
        con.execute("DELETE FROM profile WHERE routine LIKE 'plan/%'")
    sess = _nhwc_session(cache)
    spec = _spec(sess, x)
    check = spec.tuned.nhwc_check
    assert check is not None and check["layers"] >= 2 and check["cached"] is False, check
    assert check["dprs_us"] > 0 and check["without_us"] > 0
    assert all(":nhwc/" in d for d in _convs(spec)) == (check["kept"] == "dprs"), (check, _convs(spec))
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)
    again = _spec(_nhwc_session(cache), x)
    assert again.tuned.nhwc_check == {**check, "cached": True} and _convs(again) == _convs(spec)
    for kept, (dprs, without) in (("without_nhwc", (100.0, 10.0)), ("dprs", (10.0, 100.0))):
        with sqlite3.connect(cache) as con:
            con.execute("UPDATE profile SET median_us = ? WHERE routine = 'plan/nhwc_check/dprs'", (dprs,))
            con.execute("UPDATE profile SET median_us = ? WHERE routine = 'plan/nhwc_check/without_nhwc'", (without,))
        s = _nhwc_session(cache)
        spec = _spec(s, x)
        assert spec.tuned.nhwc_check["kept"] == kept, spec.tuned.nhwc_check
        convs = _convs(spec)
        assert all(":nhwc/" in d for d in convs) if kept == "dprs" else not any("nhwc" in d for d in convs), convs
        np.testing.assert_allclose(s.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)


def test_dtype_generic_pooling_routines_leave_a_plan_checkable():
    """"cpu:nchw/direct" (MaxPool, GlobalAveragePool on any dtype) names a layout where a dtype
    would be: such a plan is still a float32 plan for the whole-plan checks."""
    from types import SimpleNamespace

    from softneuro_ep.graph_passes.thread_check import _float32_unbudgeted
    from softneuro_ep.graph_passes.tune import parse_descriptor
    assert parse_descriptor("cpu:nchw/direct") == ("cpu", None, "nchw")
    assert parse_descriptor("cpu:float32:nchw>nchw16c/direct") == ("cpu", "float32", "nchw>nchw16c")
    assert parse_descriptor("cpu/copy") == ("cpu", None, None)
    choice = {"conv": "cpu:float32:nchw/gemm_1x1", "pool": "cpu:nchw/direct"}
    assert _float32_unbudgeted(choice, SimpleNamespace(choice=dict(choice)), False)
    assert not _float32_unbudgeted({**choice, "q": "cpu:bfloat16:nchw/gemm_1x1"},
                                   SimpleNamespace(choice={**choice, "q": "cpu:bfloat16:nchw/gemm_1x1"}), False)
    assert not _float32_unbudgeted(choice, SimpleNamespace(choice=dict(choice)), True)
