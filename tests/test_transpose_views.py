"""Transposes between channels-first and channels-last orders as layout changes
(cpp/cpu/layout/transpose_layout.cpp) and steps placed on their input's bytes
(graph_passes/byte_views.py): a channels-last Transpose of a tensor held in NHWC
(and back) is a view; from or to a blocked layout it is a Reorder; Reshape-like
steps of plain tensors share their input's bytes. ConvNeXt blocks (depthwise conv,
Transpose, LayerNormalization, MLP, Transpose back) then run without a copy."""
import os
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import softneuro_ep as snep
from softneuro_ep import _engine
from softneuro_ep.graph_passes.byte_views import byte_views
from softneuro_ep.graph_passes.ir import Node

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layout_plans import BLOCKED, FAST, HAVE_BLOCKED, PlanBuilder, arr  # noqa: E402

F = TensorProto.FLOAT
NHWC = "nhwc"
VIEW_LAST, VIEW_FIRST = "cpu:nhwc>nchw/view", "cpu:nchw>nhwc/view"
TO_LAST = {3: [0, 2, 1], 4: [0, 2, 3, 1], 5: [0, 2, 3, 4, 1]}
TO_FIRST = {3: [0, 2, 1], 4: [0, 3, 1, 2], 5: [0, 4, 1, 2, 3]}


def _routines():
    """(descriptor, channels-first layout) of this CPU's channels-order Transposes."""
    out = [(VIEW_LAST, NHWC), (VIEW_FIRST, NHWC)]
    if HAVE_BLOCKED:
        out += [(f"cpu:float32:{BLOCKED}>nchw/reorder", BLOCKED), (f"cpu:float32:nchw>{BLOCKED}/reorder", BLOCKED)]
    return out


def _draw_shape(d):
    rank = d(st.integers(3, 5))
    return (d(st.integers(1, 2)), d(st.integers(1, 40))) + tuple(
        d(st.integers(1, {3: 30, 4: 9, 5: 5}[rank])) for _ in range(rank - 2))


@given(data=st.data())
@FAST
@pytest.mark.parametrize("desc,layout", _routines(), ids=lambda v: v if isinstance(v, str) and "/" in v else "")
def test_channels_order_transpose(desc, layout, data):
    """Channels-first (logical N, C, S...) held in `layout` <-> channels-last plain; placed on
    its input's bytes (a view's placement) or apart, 1 or 2 threads."""
    d = data.draw
    shape = _draw_shape(d)
    r = len(shape)
    threads = d(st.sampled_from([1, 2]))
    same_place = desc.endswith("/view") and d(st.booleans())
    b = PlanBuilder(threads)
    if ">nchw/" in desc:  # channels-first in `layout` -> channels-last plain
        x = arr(d, shape, -10, 10)
        t_in = b.reorder_in(x, layout)
        want = np.transpose(x, TO_LAST[r])
        t_out, _ = b.arena(want.shape, "nchw", 0 if same_place else None)  # reorder_in put t_in at 0
        b.step("Transpose", [t_in], [t_out], desc, {"perm": TO_LAST[r]})
        o = b.output(want.shape)
        b.step("Identity", [t_out], [o], "cpu/copy")
    else:  # channels-last plain -> channels-first in `layout`
        want = arr(d, shape, -10, 10)
        x = np.ascontiguousarray(np.transpose(want, TO_LAST[r]))
        t_in, _ = b.arena(x.shape, "nchw")
        b.step("Identity", [b.feed(x)], [t_in], "cpu/copy")
        t_out, _ = b.arena(shape, layout, 0 if same_place else None)
        b.step("Transpose", [t_in], [t_out], desc, {"perm": TO_FIRST[r]})
        b.reorder_out(t_out, shape)
    (got,) = b.run()
    np.testing.assert_array_equal(got, want)


def _supports(desc, perm, shape, in_layout, out_layout, dtype=F):
    p = _engine.Plan(1)
    out_shape = [shape[i] for i in perm]
    x = p.add_arena_tensor(dtype, list(shape), 0, in_layout)
    y = p.add_arena_tensor(dtype, out_shape, 1 << 16, out_layout)
    return p.supports(desc, "t", "Transpose", {"perm": perm, "_opset": 17}, [x], [y])


def test_supports_only_the_channels_orders_and_their_layouts():
    s = (1, 5, 3, 4)
    assert _supports(VIEW_LAST, [0, 2, 3, 1], s, NHWC, "nchw")
    assert _supports(VIEW_FIRST, [0, 3, 1, 2], (1, 3, 4, 5), "nchw", NHWC)
    assert _supports(VIEW_LAST, [0, 2, 3, 1], s, NHWC, "nchw", TensorProto.INT64)  # bytes: any dtype
    assert not _supports(VIEW_LAST, [0, 3, 2, 1], s, NHWC, "nchw")    # another permutation
    assert not _supports(VIEW_LAST, [0, 2, 3, 1], s, "nchw", "nchw")  # plain input: a real transpose
    assert not _supports(VIEW_FIRST, [0, 2, 3, 1], s, "nchw", NHWC)   # the wrong direction
    assert not _supports(VIEW_LAST, [0, 1], (3, 4), NHWC, "nchw")     # rank 2 has no channels order
    if HAVE_BLOCKED:
        reorder = f"cpu:float32:{BLOCKED}>nchw/reorder"
        assert _supports(reorder, [0, 2, 3, 1], s, BLOCKED, "nchw")
        assert not _supports(reorder, [0, 2, 3, 1], s, BLOCKED, "nchw", TensorProto.INT64)
        assert not _supports(reorder, [0, 2, 3, 1], s, NHWC, "nchw")


def test_view_routines_have_no_thread_variant():
    descs = {r["descriptor"] for r in _engine.routines("Transpose")}
    assert {VIEW_LAST, VIEW_FIRST} <= descs
    assert not any(d.endswith("/view/t1") for d in descs)


# ---- models ------------------------------------------------------------------------------

def _const(name, a):
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def _convnext_model(c=32, h=10, blocks=2):
    """ConvNeXt blocks (depthwise 7x7 -> Transpose -> LayerNorm -> MatMul + bias -> Gelu -> MatMul
    + bias -> scale -> Transpose -> residual Add), then a downsampling LayerNorm2d written as
    Transpose -> LayerNorm -> Transpose -> Conv 2x2 /2, as torchvision's ConvNeXt exports."""
    rng = np.random.default_rng(0)
    nodes, inits = [], []

    def w(name, shape, scale=0.2):
        inits.append(_const(name, rng.normal(0, scale, shape)))
        return name
    x = "x"
    for k in range(blocks):
        p = f"b{k}_"
        nodes += [
            helper.make_node("Conv", [x, w(p + "dw", (c, 1, 7, 7)), w(p + "dwb", c)], [p + "dw_out"], group=c,
                             kernel_shape=[7, 7], pads=[3] * 4),
            helper.make_node("Transpose", [p + "dw_out"], [p + "t1"], perm=[0, 2, 3, 1], name=p + "to_last"),
            helper.make_node("LayerNormalization", [p + "t1", w(p + "g", c), w(p + "bb", c)], [p + "ln"], axis=-1,
                             epsilon=1e-6),
            helper.make_node("MatMul", [p + "ln", w(p + "w1", (c, 4 * c))], [p + "m1"]),
            helper.make_node("Add", [p + "m1", w(p + "b1", 4 * c)], [p + "a1"]),
            helper.make_node("Gelu", [p + "a1"], [p + "ge"]),
            helper.make_node("MatMul", [p + "ge", w(p + "w2", (4 * c, c))], [p + "m2"]),
            helper.make_node("Add", [p + "m2", w(p + "b2", c)], [p + "a2"]),
            helper.make_node("Mul", [p + "a2", w(p + "gamma", c)], [p + "sc"]),
            helper.make_node("Transpose", [p + "sc"], [p + "t2"], perm=[0, 3, 1, 2], name=p + "to_first"),
            helper.make_node("Add", [x, p + "t2"], [p + "out"])]
        x = p + "out"
    nodes += [helper.make_node("Transpose", [x], ["d_t1"], perm=[0, 2, 3, 1], name="down_to_last"),
              helper.make_node("LayerNormalization", ["d_t1", w("d_g", c), w("d_b", c)], ["d_ln"], axis=-1,
                               epsilon=1e-6),
              helper.make_node("Transpose", ["d_ln"], ["d_t2"], perm=[0, 3, 1, 2], name="down_to_first"),
              helper.make_node("Conv", ["d_t2", w("d_w", (2 * c, c, 2, 2)), w("d_bias", 2 * c)], ["y"],
                               kernel_shape=[2, 2], strides=[2, 2])]
    g = helper.make_graph(nodes, "convnext", [helper.make_tensor_value_info("x", F, [1, c, h, h])],
                          [helper.make_tensor_value_info("y", F, [1, 2 * c, h // 2, h // 2])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    return m.SerializeToString()


# Every layer on an NHWC routine, a channels-order view, or its only (plain) routine.
NHWC_PINS = ";".join(f"{p}@0..99" for p in ("cpu:float32:nhwc", "cpu:nhwc>nchw", "cpu:nchw>nhwc", "cpu/direct",
                                             "cpu:float32/gemm", "cpu/broadcast"))


def _session(model, tmp_path, threads=1, **opts):
    opts.setdefault("profile_cache", str(tmp_path / "c.sqlite"))
    opts.setdefault("profile_budget_s", "5")
    so = snep.SessionOptions()
    so.intra_op_num_threads = threads
    return snep.InferenceSession(model, so, providers=[("SoftNeuroExecutionProvider", opts)])


def _placements(s):
    spec = next(iter(s._plans.values()))
    return {name: (ins, outs) for name, ins, outs in spec.plan.step_offsets()}


@pytest.mark.parametrize("threads", [1, 2])
def test_convnext_blocks_run_their_transposes_as_views(tmp_path, monkeypatch, threads):
    model = _convnext_model()
    x = np.random.default_rng(1).normal(0, 1, (1, 32, 10, 10)).astype(np.float32)
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    s = _session(model, tmp_path, routines=NHWC_PINS, threads=threads)
    got = s.run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    steps = {name: desc for name, _, desc in s.plan_summary()}
    views = [n for n in steps if "to_last" in n or "to_first" in n]
    assert len(views) == 6 and all(steps[n].endswith("/view") for n in views), steps
    assert steps["Conv_0"].startswith("cpu:float32:nhwc/depthwise")  # or its one-thread variant
    place = _placements(s)
    for n in views:  # placed on its input: the step copies nothing
        (i,), (o,) = place[n]
        assert i == o >= 0, (n, place[n])
    monkeypatch.setenv("SNEP_BYTE_VIEWS", "0")
    s0 = _session(model, tmp_path, routines=NHWC_PINS, threads=threads)
    np.testing.assert_array_equal(s0.run(None, {"x": x})[0], got)  # the same routines, copying
    place0 = _placements(s0)
    assert all(place0[n][0] != place0[n][1] for n in views)


def test_convnext_blocks_tuned_match_onnxruntime(tmp_path):
    """Whatever DPRS picks (plain, NHWC or blocked around the Transposes), the same answer."""
    model = _convnext_model(c=48, h=12)
    x = np.random.default_rng(2).normal(0, 1, (1, 48, 12, 12)).astype(np.float32)
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = _session(model, tmp_path).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    if HAVE_BLOCKED:  # the channels-order Transposes from and to the blocked layout
        pins = ";".join(f"{p}@0..99" for p in (f"cpu:float32:{BLOCKED}", f"cpu:float32:nchw>{BLOCKED}",
                                               "cpu/direct", "cpu:float32/gemm", "cpu/broadcast"))
        s = _session(model, tmp_path, routines=pins)
        np.testing.assert_allclose(s.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)
        steps = {name: desc for name, _, desc in s.plan_summary()}
        assert steps["b0_to_last"].startswith(f"cpu:float32:{BLOCKED}>nchw/reorder")  # or /t1
        assert steps["b0_to_first"].startswith(f"cpu:float32:nchw>{BLOCKED}/reorder")


def _reshape_model():
    """x -> Relu -> Reshape -> Flatten -> Gemm -> Unsqueeze -> Squeeze -> Sigmoid -> y; and
    Reshape(x) (a feed) and Flatten(h) -> a graph output, which keep their own buffers."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["rs"], name="reshape"),
             helper.make_node("Flatten", ["rs"], ["fl"], name="flatten", axis=1),
             helper.make_node("Gemm", ["fl", "w"], ["h"], transB=1),
             helper.make_node("Unsqueeze", ["h", "ax"], ["u"], name="unsqueeze"),
             helper.make_node("Squeeze", ["u", "ax"], ["sq"], name="squeeze"),
             helper.make_node("Sigmoid", ["sq"], ["y"]),
             helper.make_node("Reshape", ["x", "shape"], ["xr"], name="reshape_feed"),
             helper.make_node("Relu", ["xr"], ["z"]),
             helper.make_node("Flatten", ["rs"], ["rs_out"], name="flatten_out", axis=2)]
    inits = [numpy_helper.from_array(np.array([2, 12, 10], np.int64), "shape"),
             _const("w", rng.normal(0, 0.3, (7, 120))), numpy_helper.from_array(np.array([1], np.int64), "ax")]
    g = helper.make_graph(nodes, "reshapes", [helper.make_tensor_value_info("x", F, [2, 3, 4, 10])],
                          [helper.make_tensor_value_info("y", F, [2, 7]), helper.make_tensor_value_info("z", F, None),
                           helper.make_tensor_value_info("rs_out", F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_reshape_like_steps_share_their_inputs_bytes(tmp_path, monkeypatch):
    model = _reshape_model()
    x = np.random.default_rng(4).normal(0, 1, (2, 3, 4, 10)).astype(np.float32)
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    s = _session(model, tmp_path, tuning="none")
    got = s.run(None, {"x": x})
    for g_, w_ in zip(got, want):
        np.testing.assert_allclose(g_, w_, rtol=1e-5, atol=1e-6)
    place = _placements(s)
    for n in ("reshape", "flatten", "unsqueeze", "squeeze"):
        (i, *_), (o,) = place[n]
        assert i == o >= 0, (n, place[n])
    assert place["reshape_feed"][0][0] == -1 and place["reshape_feed"][1][0] >= 0  # a feed is the caller's
    assert place["flatten_out"][1][0] == -1  # a graph output is the caller's buffer
    monkeypatch.setenv("SNEP_BYTE_VIEWS", "0")
    s0 = _session(model, tmp_path, tuning="none")
    for a, b in zip(s0.run(None, {"x": x}), got):
        np.testing.assert_array_equal(a, b)
    assert _placements(s0)["reshape"][0][0] != _placements(s0)["reshape"][1][0]


def test_byte_views_skip_written_masks_other_layouts_and_placed_outputs():
    first = {t: 0 for t in ("a", "b", "c", "m", "d", "e", "f", "g")}
    nodes = [Node("Dropout", ["a"], ["b", "m"], {}, "drop_mask"),       # the mask is written: not a view
             Node("Reshape", ["c", "s"], ["d"], {}, "reshape_nhwc"),    # NHWC bytes are not the plain order
             Node("Transpose", ["d"], ["e"], {"perm": [0, 2, 3, 1]}, "t_view"),
             Node("Transpose", ["e"], ["f"], {"perm": [0, 2, 3, 1]}, "t_copy"),
             Node("Identity", ["f"], ["g"], {}, "ident_placed")]
    choice = {"t_view": VIEW_LAST, "t_copy": "cpu/blocked"}
    got = byte_views(nodes, choice, first, {"c": NHWC, "d": NHWC}, placement={"g": ("root", 0)})
    assert got == {"e": "d"}


def test_bench_trees_tool(tmp_path, capsys):
    """tools/bench_trees: the same tree as before and after (the installed package) runs and reports."""
    import os as _os

    from softneuro_ep.tools.bench_trees import main
    path = tmp_path / "m.onnx"
    path.write_bytes(_convnext_model(c=16, h=8, blocks=1))
    tree = _os.path.dirname(_os.path.dirname(_os.path.abspath(snep.__file__)))
    main(["--before", tree, "--after", tree, "--model", str(path), "--rounds", "1", "--blocks", "1"])
    out = capsys.readouterr().out
    assert "before: ratio" in out and "after: ratio" in out and "speed-up" in out
