"""A cached timing is settled by a second opinion (softneuro_ep.profile_cache): the row keeps
its fastest two samples, and a layer whose rows have one sample, or two that disagree, is
timed again by a session that finds them old enough."""
import sqlite3
import time

import numpy as np
import pytest
from onnx import helper, numpy_helper

import softneuro_ep as ort
from softneuro_ep import profile_cache
from softneuro_ep.profile_cache import AGREE, MAX_SAMPLES, RECHECK_AFTER_S, ProfileCache

KEY = ("cpu:float32:nchw/direct", 1, "sig")


def _row(path, key=KEY):
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT median_us, second_us, samples FROM profile WHERE routine=? AND version=? "
                          "AND signature=?", key).fetchone()
    finally:
        db.close()


def test_a_row_keeps_its_fastest_two_samples(tmp_path):
    path = str(tmp_path / "c.sqlite")
    c = ProfileCache(path)
    c.put_many("m", [(*KEY, 180.0)])
    assert _row(path) == (180.0, None, 1)
    c.put_many("m", [(*KEY, 100.0)])  # a faster sample: the slow one becomes the second
    assert _row(path) == (100.0, 180.0, 2)
    assert c.get_many("m", [KEY]) == {KEY: 100.0}
    c.put_many("m", [(*KEY, 300.0)])  # slower than both: counted, not kept
    assert _row(path) == (100.0, 180.0, 3)
    c.put_many("m", [(*KEY, 104.0)])
    assert _row(path) == (100.0, 104.0, 4)
    assert ProfileCache(path).get_many("m", [KEY]) == {KEY: 100.0}  # another process reads the same


def test_not_a_timing_replaces_the_row(tmp_path):
    path = str(tmp_path / "c.sqlite")
    c = ProfileCache(path)
    c.put_many("m", [(*KEY, 50.0)])
    c.put_many("m", [(*KEY, -1.0)])  # unsupported (tune.UNSUPPORTED)
    assert _row(path) == (-1.0, None, 1)
    assert c.unsettled("m", [KEY], now=time.time() + 10 * RECHECK_AFTER_S) == set()  # never re-taken
    c.put_many("m", [(*KEY, 70.0)])
    assert _row(path) == (70.0, None, 1)


@pytest.mark.parametrize("samples, settled", [
    ([100.0], False),                                   # one opinion
    ([100.0, 100.0 * AGREE * 1.05], False),             # two that disagree
    ([190.0, 100.0], False),                            # a slow spell first, then a quiet minute
    ([190.0, 100.0, 100.0 * AGREE * 0.98], True),       # ... and a third that agrees
    ([100.0, 100.0 * AGREE * 0.98], True),
    ([100.0 + 300.0 * (k % 2) for k in range(MAX_SAMPLES)], True),  # a host never quiet: settled anyway
])
def test_unsettled_rows_want_another_sample_once_old_enough(tmp_path, samples, settled):
    c = ProfileCache(str(tmp_path / "c.sqlite"))
    for us in samples:
        c.put_many("m", [(*KEY, us)])
    now = time.time()
    assert c.unsettled("m", [KEY], now=now) == set()  # just measured: not again within minutes
    later = c.unsettled("m", [KEY], now=now + RECHECK_AFTER_S + 1)
    assert later == (set() if settled else {KEY})
    assert c.unsettled("m", [("other", 1, "sig")], now=now + RECHECK_AFTER_S + 1) == set()  # not cached


def test_a_version_1_cache_is_upgraded_in_place(tmp_path):
    path = str(tmp_path / "c.sqlite")
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE profile (machine TEXT NOT NULL, routine TEXT NOT NULL, version INTEGER NOT NULL,
            signature TEXT NOT NULL, median_us REAL NOT NULL, measured_at REAL NOT NULL,
            PRIMARY KEY (machine, routine, version, signature));
        INSERT INTO meta VALUES ('schema', '1');""")
    db.execute("INSERT INTO profile VALUES ('m', ?, ?, ?, 42.0, ?)", (*KEY, time.time() - 2 * RECHECK_AFTER_S))
    db.commit()
    db.close()
    c = ProfileCache(path)
    assert c.get_many("m", [KEY]) == {KEY: 42.0}  # kept, not set aside
    assert c.unsettled("m", [KEY]) == {KEY}       # one sample: a second opinion wanted
    c.put_many("m", [(*KEY, 40.0)])
    assert _row(path) == (40.0, 42.0, 2)
    assert not list(tmp_path.glob("*.corrupt-*"))


def _conv_model(then_1x1=False):
    """A 3x3 conv "conv" (32 -> 32 on 20x20); then_1x1: followed by a 1x1 conv "new_conv" (32 -> 16)."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((32, 32, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["h" if then_1x1 else "y"], pads=[1, 1, 1, 1], name="conv")]
    inits = [w]
    if then_1x1:
        inits.append(numpy_helper.from_array(rng.standard_normal((16, 32, 1, 1)).astype(np.float32), "w2"))
        nodes.append(helper.make_node("Conv", ["h", "w2"], ["y"], name="new_conv"))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [1, 32, 20, 20])],
                          [helper.make_tensor_value_info("y", 1, [1, 16 if then_1x1 else 32, 20, 20])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _tuned(path, then_1x1=False):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # timings less at the mercy of a busy second core
    s = ort.InferenceSession(_conv_model(then_1x1), so,
                             providers=[("SoftNeuroExecutionProvider", {"profile_cache": path})])
    x = np.random.default_rng(1).standard_normal((1, 32, 20, 20)).astype(np.float32)
    s.run(None, {"x": x})
    return next(iter(s._plans.values())).tuned


def test_a_slow_spells_profile_is_timed_again_by_a_later_session(tmp_path):
    path = str(tmp_path / "c.sqlite")
    t1 = _tuned(path)
    winner = t1.choice["conv"]
    assert len(t1.candidates["conv"]) >= 2 and t1.rechecked == 0
    true_us = t1.candidates["conv"][winner]
    # the cache as a slow spell leaves it: the winner's one sample 50x slow, taken long ago;
    # every other row settled
    db = sqlite3.connect(path)
    old = time.time() - 2 * RECHECK_AFTER_S
    db.execute("UPDATE profile SET second_us=median_us, samples=2, measured_at=?", (old,))
    db.execute("UPDATE profile SET median_us=?, second_us=NULL, samples=1 WHERE routine=? AND median_us>=0",
               (50 * true_us, winner))
    db.commit()
    db.close()
    t2 = _tuned(path)
    # the layer was timed again (all its candidates), the slow sample is not what DPRS read
    assert t2.rechecked >= len(t2.candidates["conv"]) >= 2
    assert t2.candidates["conv"][winner] < 50 * true_us  # the fresh sample (the fastest of the two)
    med, second, samples = sqlite3.connect(path).execute(
        "SELECT median_us, second_us, samples FROM profile WHERE routine=? AND median_us>=0 AND samples=2",
        (winner,)).fetchone()
    assert med == t2.candidates["conv"][winner] and second == 50 * true_us
    t3 = _tuned(path)  # minutes have not passed: no third opinion yet
    assert t3.rechecked == 0 and t3.profiled == 0
    assert t3.candidates["conv"] == t2.candidates["conv"]


def test_with_settled_rows_nothing_is_timed_again(tmp_path, monkeypatch):
    path = str(tmp_path / "c.sqlite")
    t1 = _tuned(path)
    monkeypatch.setattr(profile_cache, "RECHECK_AFTER_S", -1.0)  # any row is old enough
    db = sqlite3.connect(path)
    db.execute("UPDATE profile SET second_us=median_us, samples=2")
    db.commit()
    db.close()
    t2 = _tuned(path)
    assert t2.profiled == 0 and t2.rechecked == 0 and t2.choice == t1.choice


def test_missing_timings_are_taken_before_second_opinions(tmp_path, monkeypatch):
    """A profile budget spent on second opinions must not leave a new layer untimed."""
    from softneuro_ep.graph_passes import tune
    path = str(tmp_path / "c.sqlite")
    _tuned(path)  # the conv is cached ...
    db = sqlite3.connect(path)
    db.execute("UPDATE profile SET measured_at=?", (time.time() - 2 * RECHECK_AFTER_S,))  # ... one sample, old
    db.commit()
    db.close()
    order = []
    real = tune._time_candidates

    def recording(grp, *a, **k):
        order.append(grp[0].node.name)
        return real(grp, *a, **k)
    monkeypatch.setattr(tune, "_time_candidates", recording)
    t = _tuned(path, then_1x1=True)
    assert order == ["new_conv", "conv"] and t.rechecked > 0


def test_adapt_timings_get_second_opinions_too(tmp_path):
    path = str(tmp_path / "c.sqlite")
    _tuned(path)
    db = sqlite3.connect(path)
    n = db.execute("SELECT count(*) FROM profile WHERE routine LIKE '%/reorder%' AND median_us >= 0").fetchone()[0]
    assert n > 0  # DPRS priced the Reorders between NCHW and NCHW16c
    old = time.time() - 2 * RECHECK_AFTER_S
    db.execute("UPDATE profile SET second_us=median_us, samples=2, measured_at=?", (old,))  # all settled ...
    db.execute("UPDATE profile SET median_us=1e6, second_us=NULL, samples=1 "       # ... but the Reorders
               "WHERE routine LIKE '%/reorder%' AND median_us >= 0")
    db.commit()
    db.close()
    t2 = _tuned(path)
    assert t2.profiled == 0 and t2.rechecked >= 1  # no layer re-timed, the adapts were
    rows = sqlite3.connect(path).execute("SELECT median_us, second_us, samples FROM profile "
                                         "WHERE routine LIKE '%/reorder%' AND median_us >= 0").fetchall()
    assert any(s == 2 and m < 1e6 and sec == 1e6 for m, sec, s in rows), rows


def test_an_adapt_left_unmeasured_when_the_budget_ran_out_is_estimated_not_impossible():
    """Out of profile budget, a Reorder some routine provides is priced by a pessimistic copy
    estimate (an inf there made DPRS find no path through MobileNetV3 on a loaded host); one no
    routine provides stays impossible."""
    from softneuro_ep.graph_passes import tune
    from softneuro_ep.graph_passes.ir import Value

    types = {"x": Value("x", 1, (1, 20, 7, 9)), "v": Value("v", 1, (3, 5))}
    spent = tune._AdaptCosts(types, 1, "m", None, deadline=time.monotonic() - 1.0)
    est = spent("x", "nchw", "nhwc")
    nbytes = 2 * 20 * 7 * 9 * 4
    assert est == pytest.approx(5.0 + nbytes / tune.ESTIMATE_BYTES_PER_US)
    assert spent.fresh == []  # nothing measured, nothing cached
    timed = tune._AdaptCosts(types, 1, "m", None, deadline=time.monotonic() + 60.0)("x", "nchw", "nhwc")
    assert 0 < timed < est  # the estimate is the pessimistic side of a real Reorder
    assert spent("v", "nchw", "nhwc") == float("inf")  # no Reorder takes a 2-D tensor to NHWC
