"""Graphs whose shapes depend on data (graph_passes/dynamic.py), against onnxruntime."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper as h

import softneuro_ep as snep

F, I64, B = T.FLOAT, T.INT64, T.BOOL


def model(nodes, inputs, outputs, inits=(), opset=17):
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def vi(name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def both(m, feed):
    want = ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, feed)
    got = snep.InferenceSession(m).run(None, feed)
    return got, want


def assert_same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_nonzero_gather_shapes_change_with_data():
    # NonZero -> Transpose -> GatherND -> Relu: every shape after NonZero follows the data
    m = model([h.make_node("NonZero", ["x"], ["nz"]),
               h.make_node("Transpose", ["nz"], ["idx"], perm=[1, 0]),
               h.make_node("GatherND", ["x", "idx"], ["vals"]),
               h.make_node("Relu", ["vals"], ["y"])],
              [vi("x", F, [3, 4])], [vi("y", F, None), vi("nz", I64, None)])
    ours = snep.InferenceSession(m)
    theirs = ort.InferenceSession(m, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    sizes = set()
    for k in range(4):
        x = rng.standard_normal((3, 4)).astype(np.float32)
        x[rng.random((3, 4)) < 0.2 * k] = 0
        got, want = ours.run(None, {"x": x}), theirs.run(None, {"x": x})
        assert_same(got, want)
        sizes.add(got[0].shape[0])
    assert len(sizes) > 1  # the same session really saw different shapes
    zero = np.zeros((3, 4), np.float32)
    assert_same(ours.run(None, {"x": zero}), theirs.run(None, {"x": zero}))


def test_static_part_after_dynamic_node_is_compiled_and_reused():
    m = model([h.make_node("NonZero", ["x"], ["nz"]),
               h.make_node("Cast", ["nz"], ["f"], to=F),
               h.make_node("Mul", ["f", "f"], ["y"])],
              [vi("x", F, [5])], [vi("y", F, None)])
    s = snep.InferenceSession(m)
    x = np.array([0, 1, 0, 2, 3], np.float32)
    for _ in range(3):
        assert_same(s.run(None, {"x": x}), [np.array([[1, 9, 16]], np.float32)])
    runner = next(iter(s._plans.values())).plan.runner
    assert len(runner.stages) == 2  # NonZero, then one compiled plan for Cast+Mul


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_compress_on_fed_condition(axis):
    kw = {} if axis is None else {"axis": axis}
    m = model([h.make_node("Compress", ["x", "c"], ["y"], **kw)], [vi("x", F, [3, 2]), vi("c", B, [None])],
              [vi("y", F, None)])
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    for c in ([True, False, True], [False, True], [False, False]):
        assert_same(*both(m, {"x": x, "c": np.array(c)}))


@pytest.mark.parametrize("attrs", [{}, {"sorted": 0}, {"axis": 0}, {"axis": 1, "sorted": 0}, {"axis": -1}])
def test_unique(attrs):
    m = model([h.make_node("Unique", ["x"], ["y", "i", "inv", "n"], **attrs)], [vi("x", F, [4, 3])],
              [vi("y", F, None), vi("i", I64, None), vi("inv", I64, None), vi("n", I64, None)], opset=17)
    x = np.array([[2, 1, 1], [3, 4, 3], [2, 1, 1], [0, 1, 0]], np.float32)
    assert_same(*both(m, {"x": x}))


@pytest.mark.parametrize("center", [0, 1])
def test_nonmaxsuppression(center):
    m = model([h.make_node("NonMaxSuppression", ["b", "s", "m", "iou", "st"], ["sel"], center_point_box=center)],
              [vi("b", F, [2, 6, 4]), vi("s", F, [2, 2, 6]), vi("m", I64, [1]), vi("iou", F, [1]), vi("st", F, [1])],
              [vi("sel", I64, None)])
    rng = np.random.default_rng(1)
    boxes = np.round(rng.uniform(0, 5, (2, 6, 4))).astype(np.float32)
    scores = np.round(rng.uniform(0, 1, (2, 2, 6)), 1).astype(np.float32)
    for mx, iou, st in ((3, 0.5, 0.0), (10, 0.0, 0.3), (0, 0.5, 0.0)):
        feed = {"b": boxes, "s": scores, "m": np.array([mx]), "iou": np.array([iou], np.float32),
                "st": np.array([st], np.float32)}
        assert_same(*both(m, feed))


def test_range_from_computed_limit():
    # the Range limit is computed at run time (ReduceMax of the data)
    m = model([h.make_node("ReduceMax", ["x"], ["mx"], keepdims=0),
               h.make_node("Range", ["zero", "mx", "one"], ["r"]),
               h.make_node("Add", ["r", "one"], ["y"])],
              [vi("x", F, [4])], [vi("y", F, None)],
              [h.make_tensor("zero", F, [], [0.0]), h.make_tensor("one", F, [], [1.0])])
    s = snep.InferenceSession(m)
    for x in ([1, 3, 2, 0], [5, 1, 1, 1], [0.5, 0, 0, 0]):
        x = np.array(x, np.float32)
        want = ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"x": x})
        assert_same(s.run(None, {"x": x}), want)


def test_dynamic_overhead_is_small():
    """A compiled dynamic session re-runs with one dict lookup per stage, no shape inference."""
    m = model([h.make_node("NonZero", ["x"], ["nz"]), h.make_node("Cast", ["nz"], ["y"], to=F)],
              [vi("x", F, [8])], [vi("y", F, None)])
    s = snep.InferenceSession(m)
    x = np.arange(8, dtype=np.float32)
    s.run(None, {"x": x})
    import time
    t0 = time.perf_counter()
    for _ in range(200):
        s.run(None, {"x": x})
    per_run = (time.perf_counter() - t0) / 200
    assert per_run < 2e-3, per_run  # onnx shape inference alone takes longer than this
