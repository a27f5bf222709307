"""Concats as views (graph_passes/concat_alias.py, Plan's "view" step) and
standalone BatchNormalization as a depthwise 1x1 Conv (graph_passes/fuse.py)."""
import numpy as np
import onnxruntime
import pytest
from onnx import helper, numpy_helper

import softneuro_ep as ort
from softneuro_ep import _engine
from softneuro_ep.graph_passes.concat_alias import alias_concats, contiguous_parts
from softneuro_ep.graph_passes.ir import Node

F = 1  # float32


def _concat(ins, out, axis=1):
    return Node("Concat", list(ins), [out], {"axis": axis}, f"concat_{out}")


def test_densenet_chain_becomes_one_buffer():
    # Concat([x, y1]), Concat([x, y1, y2]), Concat([x, y1, y2, y3]): prefixes of the last one
    nb = {"x": 256, "y1": 128, "y2": 128, "y3": 128, "c1": 384, "c2": 512, "c3": 640}
    nodes = [_concat(["x", "y1"], "c1"), _concat(["x", "y1", "y2"], "c2"), _concat(["x", "y1", "y2", "y3"], "c3")]
    place, views = alias_concats(nodes, nb)
    assert views == {id(n) for n in nodes}
    roots = {r for r, _ in place.values()}
    assert len(roots) == 1
    off = {t: o for t, (_, o) in place.items()}
    base = off["c3"]
    assert [off[t] - base for t in ("x", "y1", "y2", "y3")] == [0, 256, 384, 512]
    assert off["c1"] == off["c2"] == base


def test_contradicting_placements_leave_a_copy():
    nb = {"a": 128, "b": 128, "ab": 256, "ba": 256}
    first, second = _concat(["a", "b"], "ab"), _concat(["b", "a"], "ba")
    place, views = alias_concats([first, second], nb)
    assert views == {id(first)}
    assert place["b"][1] - place["a"][1] == 128 and "ba" not in place


def test_a_tensor_twice_in_one_concat_is_copied():
    n = _concat(["a", "a"], "aa")
    assert alias_concats([n], {"a": 64, "aa": 128})[1] == set()


def test_unaligned_parts_are_copied():
    n = _concat(["a", "b"], "ab")
    assert alias_concats([n], {"a": 40, "b": 40, "ab": 80})[1] == set()


def test_overlapping_written_tensors_are_refused():
    # c1 = [a, b] puts b right after a; c2 = [a, d] would put d on b's bytes
    nb = {"a": 64, "b": 64, "d": 64, "c1": 128, "c2": 128}
    n1, n2 = _concat(["a", "b"], "c1"), _concat(["a", "d"], "c2")
    assert alias_concats([n1, n2], nb)[1] == {id(n1)}


@pytest.mark.parametrize("layout,shapes,axis,ok", [
    ("nchw", [(1, 3, 4, 4), (1, 5, 4, 4)], 1, True),
    ("nchw", [(2, 3, 4, 4), (2, 5, 4, 4)], 1, False),   # batch 2: each input is two ranges
    ("nchw", [(2, 3, 4, 4), (1, 3, 4, 4)], 0, True),
    ("nchw16c", [(1, 32, 4, 4), (1, 5, 4, 4)], 1, True),  # only the last may end in a partial block
    ("nchw16c", [(1, 5, 4, 4), (1, 32, 4, 4)], 1, False),
    ("nchw16c", [(2, 32, 4, 4), (2, 16, 4, 4)], 1, False),
    ("nhwc", [(1, 16, 4, 4), (1, 16, 4, 4)], 1, False),  # channels interleave per pixel
])
def test_contiguity_by_layout(layout, shapes, axis, ok):
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    names = [f"i{k}" for k in range(len(shapes))]
    node = _concat(names, "y", axis)
    assert contiguous_parts(node, dict(zip(names, shapes), y=tuple(out)), layout) == ok


def _conv(name, x, y, cin, cout, k, rng):
    w = numpy_helper.from_array(rng.uniform(-1, 1, (cout, cin, k, k)).astype(np.float32), name + "_w")
    return helper.make_node("Conv", [x, w.name], [y], name=name, pads=[k // 2] * 4), w


def _dense_model(c=16, batch=1):
    """x -> a, b; Concat(a, b) -> Relu -> c; Concat(a, b, c) (a DenseNet chain);
    Concat(b, a) (contradicts the chain: stays a copy); a graph output is also concatenated."""
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    for name, src, dst, cin, k in [("ca", "x", "a", 3, 1), ("cb", "x", "b", 3, 3), ("cc", "r", "c", 2 * c, 3)]:
        n, w = _conv(name, src, dst, cin, c, k, rng)
        nodes.append(n)
        inits.append(w)
    nodes.insert(2, helper.make_node("Concat", ["a", "b"], ["ab"], axis=1, name="cat_ab"))
    nodes.insert(3, helper.make_node("Relu", ["ab"], ["r"], name="relu"))
    nodes += [helper.make_node("Concat", ["a", "b", "c"], ["abc"], axis=1, name="cat_abc"),
              helper.make_node("Concat", ["b", "a"], ["ba"], axis=1, name="cat_ba"),
              helper.make_node("Sigmoid", ["abc"], ["y"], name="sig"),
              helper.make_node("Concat", ["ba", "x"], ["z"], axis=1, name="cat_feed")]
    g = helper.make_graph(nodes, "dense", [helper.make_tensor_value_info("x", F, [batch, 3, 12, 12])],
                          [helper.make_tensor_value_info("y", F, [batch, 3 * c, 12, 12]),
                           helper.make_tensor_value_info("z", F, [batch, 2 * c + 3, 12, 12])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _run(model, x, tmp_path, **opts):
    opts.setdefault("profile_cache", str(tmp_path / "c.sqlite"))
    s = ort.InferenceSession(model, providers=[("SoftNeuroExecutionProvider", opts)])
    return s, s.run(None, {"x": x})


HAVE_NCHW16C = any(r["usable"] for r in ort._engine.routines("Conv") if r["descriptor"] == "cpu:float32:nchw16c/direct")


@pytest.mark.parametrize("opts", [{"tuning": "none"},
                                  pytest.param({"routines": "cpu:float32:nchw16c@0..20"}, marks=pytest.mark.skipif(
                                      not HAVE_NCHW16C, reason="NCHW16c routines need AVX-512"))],
                         ids=["nchw", "nchw16c"])
def test_views_in_a_model_match_onnxruntime(tmp_path, monkeypatch, opts):
    if "routines" in opts and not any(r["usable"] and "nchw16c" in r["descriptor"] for r in _engine.routines("Concat")):
        pytest.skip("needs AVX-512")
    model = _dense_model()
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 12, 12)).astype(np.float32)
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    s, got = _run(model, x, tmp_path, **opts)
    for g_, w_ in zip(got, want):
        np.testing.assert_allclose(g_, w_, rtol=1e-5, atol=1e-5)
    steps = {name: desc for name, op, desc in s.plan_summary() if op == "Concat"}
    assert steps["cat_ab"] == steps["cat_abc"] == "view"
    assert steps["cat_ba"] != "view"      # b then a contradicts a then b
    if "tuning" in opts:  # in NCHW the feed and the graph output are the caller's buffers
        assert steps["cat_feed"] != "view"
    else:  # the feed's NCHW16c copy and the output's NCHW16c form are arena tensors: a view
        assert steps["cat_feed"] == "view"
    monkeypatch.setenv("SNEP_CONCAT_VIEWS", "0")
    s0, got0 = _run(model, x, tmp_path, **opts)
    assert all(d != "view" for _, _, d in s0.plan_summary())
    for a, b in zip(got, got0):
        np.testing.assert_array_equal(a, b)


def test_batch_two_concats_are_copies(tmp_path):
    """Batch 2 in NCHW: each input is two byte ranges of the output, so nothing is a view."""
    model = _dense_model(batch=2)
    x = np.random.default_rng(4).uniform(-1, 1, (2, 3, 12, 12)).astype(np.float32)
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    s, got = _run(model, x, tmp_path, tuning="none")
    for g_, w_ in zip(got, want):
        np.testing.assert_allclose(g_, w_, rtol=1e-5, atol=1e-5)
    assert not [d for _, op, d in s.plan_summary() if d == "view"]


def test_executor_refuses_a_view_whose_inputs_are_elsewhere():
    p = _engine.Plan(1)
    a = p.add_arena_tensor(F, [1, 2, 4, 4], 0)
    b = p.add_arena_tensor(F, [1, 2, 4, 4], 128)  # 2*4*4 floats after a
    y = p.add_arena_tensor(F, [1, 4, 4, 4], 0)
    p.add_step("ok", "Concat", {"axis": 1}, [a, b], [y], "view")
    b_far = p.add_arena_tensor(F, [1, 2, 4, 4], 512)
    with pytest.raises(Exception, match="not placed inside the output"):
        p.add_step("bad", "Concat", {"axis": 1}, [a, b_far], [y], "view")
    short = p.add_arena_tensor(F, [1, 6, 4, 4], 0)
    with pytest.raises(Exception, match="do not fill the output"):
        p.add_step("short", "Concat", {"axis": 1}, [a, b], [short], "view")


def test_view_is_not_a_tunable_routine():
    assert all(r["descriptor"] != "view" for r in _engine.routines())


def _bn_model(c=24):
    rng = np.random.default_rng(2)
    stats = [numpy_helper.from_array(v.astype(np.float32), n) for n, v in [
        ("s", rng.uniform(0.5, 2, c)), ("b", rng.uniform(-1, 1, c)), ("m", rng.uniform(-1, 1, c)),
        ("v", rng.uniform(0.1, 2, c))]]
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"], epsilon=1e-3, name="bn"),
             helper.make_node("Relu", ["n"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "bn", [helper.make_tensor_value_info("x", F, [1, c, 9, 9])],
                          [helper.make_tensor_value_info("y", F, [1, c, 9, 9])], stats)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("tuning", ["none", "dprs"])
def test_batchnorm_runs_as_a_depthwise_conv_with_its_activation(tmp_path, tuning):
    model = _bn_model()
    x = np.random.default_rng(3).uniform(-2, 2, (1, 24, 9, 9)).astype(np.float32)
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    s, got = _run(model, x, tmp_path, tuning=tuning)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
    ops = [op for _, op, _ in s.plan_summary() if op != "Reorder"]
    assert ops == ["Conv"]  # BatchNormalization + Relu: one step


def test_bench_variants_tool(tmp_path, capsys):
    """tools/bench_variants: sessions tuned differently (here: cold and warm profiles) timed together."""
    from softneuro_ep.tools.bench_variants import main, parse_variant
    assert parse_variant("warm=profile_cache=/x.sqlite,_cold=0") == ("warm", {"profile_cache": "/x.sqlite",
                                                                            "_cold": "0"})
    path = tmp_path / "m.onnx"
    path.write_bytes(_bn_model())
    main(["--model", str(path), "--rounds", "1", "--variant", f"cold=profile_cache={tmp_path / 'c.sqlite'}",
          "--variant", f"warm=profile_cache={tmp_path / 'w.sqlite'},_cold=0"])
    out = capsys.readouterr().out
    assert all(f"  {k} " in out for k in ("cold", "warm", "onnxruntime"))


def test_bench_sessions_tool(tmp_path, capsys):
    """tools/bench_sessions: sessions of one saved plan (the first writes it) timed step by step in turn."""
    import re
    from softneuro_ep.tools.bench_sessions import main
    path = tmp_path / "m.onnx"
    path.write_bytes(_bn_model())
    plan = tmp_path / "m.plan"
    main(["--model", str(path), "--plan", str(plan), "--sessions", "3", "--rounds", "2", "--runs", "1", "--top", "2"])
    out = capsys.readouterr().out
    assert plan.exists()
    totals = re.search(r"totals \(sum of step medians\): (.*)   spread (\d+\.\d)%", out)
    assert totals and len(re.findall(r"[\d.]+ ms", totals.group(1))) == 3, out
    # --top 2 of the plan's steps: a Reorder and the conv where DPRS picked another layout, else the conv alone
    assert 1 <= len([ln for ln in out.splitlines() if ln.endswith("  us")]) <= 2, out
