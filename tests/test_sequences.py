"""Sequences and optionals (graph_passes/sequences.py in the dynamic runner),
compared with onnxruntime on small models."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper as h

import softneuro_ep as snep

ort = pytest.importorskip("onnxruntime")

F = TP.FLOAT


def _model(nodes, inputs, outputs, opset=18, inits=()):
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)]).SerializeToString()


def _seq_t(elem=F, shape=None):
    return h.make_sequence_type_proto(h.make_tensor_type_proto(elem, shape))


def _run_both(model, feed):
    ours = snep.InferenceSession(model).run(None, feed)
    ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feed)
    return ours, ref


def _assert_same(ours, ref):
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        if b is None:
            assert a is None
        elif isinstance(b, list):
            assert isinstance(a, list) and len(a) == len(b)
            for x, y in zip(a, b):
                assert x.dtype == y.dtype and x.shape == y.shape
                np.testing.assert_allclose(x, y, rtol=1e-6)
        else:
            assert isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("split,keepdims", [(None, 1), (None, 0), ([1, 3], 1), (2, 1)])
def test_split_to_sequence_at(split, keepdims):
    """SplitToSequence -> SequenceAt / SequenceLength / ConcatFromSequence."""
    inits = []
    ins = ["x"]
    if split is not None:
        inits.append(onnx.numpy_helper.from_array(np.array(split, np.int64), "split"))
        ins.append("split")
    nodes = [h.make_node("SplitToSequence", ins, ["s"], axis=1, keepdims=keepdims),
             h.make_node("SequenceAt", ["s", "pos"], ["y"]),
             h.make_node("SequenceLength", ["s"], ["n"]),
             h.make_node("ConcatFromSequence", ["s"], ["c"], axis=1, new_axis=0 if keepdims else 1),
             h.make_node("Relu", ["y"], ["r"])]
    model = _model(nodes, [h.make_tensor_value_info("x", F, [2, 4, 3]), h.make_tensor_value_info("pos", TP.INT64, [])],
                   [h.make_value_info("s", _seq_t()), h.make_tensor_value_info("y", F, None),
                    h.make_tensor_value_info("n", TP.INT64, None), h.make_tensor_value_info("c", F, None),
                    h.make_tensor_value_info("r", F, None)], inits=inits)
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    for pos in (0, -1):
        ours, ref = _run_both(model, {"x": x, "pos": np.array(pos, np.int64)})
        _assert_same(ours, ref)
    sess = snep.InferenceSession(model)
    with pytest.raises(snep.InvalidArgument, match="out of range"):
        sess.run(None, {"x": x, "pos": np.array(9, np.int64)})


def test_loop_accumulates_sequence():
    body = h.make_graph(
        [h.make_node("Identity", ["c_in"], ["c_out"]),
         h.make_node("Cast", ["i"], ["fi"], to=F),
         h.make_node("Mul", ["fi", "x"], ["t"]),
         h.make_node("SequenceInsert", ["s_in", "t"], ["s_out"])],
        "body", [h.make_tensor_value_info("i", TP.INT64, []), h.make_tensor_value_info("c_in", TP.BOOL, []),
                 h.make_value_info("s_in", _seq_t())],
        [h.make_tensor_value_info("c_out", TP.BOOL, []), h.make_value_info("s_out", _seq_t())])
    nodes = [h.make_node("SequenceEmpty", [], ["s0"], dtype=F),
             h.make_node("Loop", ["M", "", "s0"], ["s"], body=body),
             h.make_node("ConcatFromSequence", ["s"], ["c"], axis=0, new_axis=1),
             h.make_node("SequenceErase", ["s"], ["s2"])]
    model = _model(nodes, [h.make_tensor_value_info("M", TP.INT64, []), h.make_tensor_value_info("x", F, [3])],
                   [h.make_value_info("s", _seq_t()), h.make_tensor_value_info("c", F, [None, 3]),
                    h.make_value_info("s2", _seq_t())])
    x = np.array([1, 2, 3], np.float32)
    ours, ref = _run_both(model, {"M": np.array(4, np.int64), "x": x})
    _assert_same(ours, ref)
    assert len(ours[0]) == 4 and len(ours[2]) == 3
    # a second run with another trip count reuses the session's plans
    ours, ref = _run_both(model, {"M": np.array(2, np.int64), "x": x})
    _assert_same(ours, ref)


def test_sequence_map():
    body = h.make_graph([h.make_node("Add", ["a", "b"], ["y"]), h.make_node("Shape", ["a"], ["sh"])], "body",
                        [h.make_tensor_value_info("a", F, None), h.make_tensor_value_info("b", F, None)],
                        [h.make_tensor_value_info("y", F, None), h.make_tensor_value_info("sh", TP.INT64, None)])
    nodes = [h.make_node("SequenceMap", ["s", "t"], ["ys", "shapes"], body=body)]
    model = _model(nodes, [h.make_value_info("s", _seq_t()), h.make_tensor_value_info("t", F, [1])],
                   [h.make_value_info("ys", _seq_t()), h.make_value_info("shapes", _seq_t(TP.INT64))])
    rng = np.random.default_rng(1)
    s = [rng.standard_normal(n).astype(np.float32) for n in (2, 5, 1)]
    ours, ref = _run_both(model, {"s": s, "t": np.array([0.5], np.float32)})
    _assert_same(ours, ref)
    ours, ref = _run_both(model, {"s": [], "t": np.array([0.5], np.float32)})
    _assert_same(ours, ref)


def test_optional_inputs_outputs():
    opt_t = h.make_optional_type_proto(h.make_tensor_type_proto(F, [3]))
    opt_s = h.make_optional_type_proto(_seq_t())
    nodes = [h.make_node("OptionalHasElement", ["o"], ["has"]),
             h.make_node("Identity", ["o"], ["o_copy"]),
             h.make_node("OptionalHasElement", ["os"], ["has_s"]),
             h.make_node("Identity", ["os"], ["os_copy"])]
    model = _model(nodes, [h.make_value_info("o", opt_t), h.make_value_info("os", opt_s)],
                   [h.make_tensor_value_info("has", TP.BOOL, []), h.make_value_info("o_copy", opt_t),
                    h.make_tensor_value_info("has_s", TP.BOOL, []), h.make_value_info("os_copy", opt_s)])
    sess = snep.InferenceSession(model)
    assert [i.type for i in sess.get_inputs()] == ["optional(tensor(float))", "optional(seq(tensor(float)))"]
    ref_sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    assert [(i.type, i.shape) for i in sess.get_outputs()] == [(i.type, i.shape) for i in ref_sess.get_outputs()]
    x = np.array([1, 2, 3], np.float32)
    for feed in ({"o": x, "os": [x, x * 2]}, {"o": None, "os": None}, {"o": None, "os": []}):
        ours, ref = _run_both(model, feed)
        _assert_same(ours, ref)

    # Optional / OptionalGetElement inside the graph, present and absent through If
    then_g = h.make_graph([h.make_node("Optional", ["x"], ["ot"])], "then", [], [h.make_value_info("ot", opt_t)])
    else_g = h.make_graph([h.make_node("Optional", [], ["oe"], type=h.make_tensor_type_proto(F, [3]))], "else", [],
                          [h.make_value_info("oe", opt_t)])
    nodes = [h.make_node("If", ["c"], ["opt"], then_branch=then_g, else_branch=else_g),
             h.make_node("OptionalHasElement", ["opt"], ["has"])]
    model = _model(nodes, [h.make_tensor_value_info("c", TP.BOOL, []), h.make_tensor_value_info("x", F, [3])],
                   [h.make_value_info("opt", opt_t), h.make_tensor_value_info("has", TP.BOOL, [])])
    for c in (True, False):
        ours, ref = _run_both(model, {"c": np.array(c), "x": x})
        _assert_same(ours, ref)
    get = _model([h.make_node("OptionalGetElement", ["o"], ["y"])], [h.make_value_info("o", opt_t)],
                 [h.make_tensor_value_info("y", F, [3])])
    _assert_same(*_run_both(get, {"o": x}))
    with pytest.raises(snep.InvalidArgument, match="empty"):
        snep.InferenceSession(get).run(None, {"o": None})


def test_bad_sequence_inputs():
    model = _model([h.make_node("SequenceAt", ["s", "p"], ["y"])],
                   [h.make_value_info("s", _seq_t()), h.make_tensor_value_info("p", TP.INT64, [])],
                   [h.make_tensor_value_info("y", F, [None])])
    sess = snep.InferenceSession(model)
    assert sess.get_inputs()[0].type == "seq(tensor(float))" and sess.get_inputs()[0].shape == []
    p = np.array(0, np.int64)
    with pytest.raises(snep.InvalidArgument, match="'s'.*sequence"):
        sess.run(None, {"s": np.ones((2, 3), np.float32), "p": p})
    with pytest.raises(snep.InvalidArgument, match="'s'.*int64"):
        sess.run(None, {"s": [np.ones(2, np.int64)], "p": p})
    with pytest.raises(snep.InvalidArgument, match="'s'"):
        sess.run(None, {"s": [np.ones(2, np.float32), "text"], "p": p})
    with pytest.raises(snep.InvalidArgument, match="out of range"):
        sess.run(None, {"s": [], "p": p})
    y, = sess.run(None, {"s": [np.ones(2, np.float32), np.zeros(3, np.float32)], "p": np.array(1, np.int64)})
    np.testing.assert_array_equal(y, np.zeros(3, np.float32))
    # inserting a tensor of another element type
    ins = _model([h.make_node("SequenceInsert", ["s", "t"], ["y"])],
                 [h.make_value_info("s", _seq_t()), h.make_tensor_value_info("t", TP.INT64, [2])],
                 [h.make_value_info("y", _seq_t())])
    with pytest.raises(snep.InvalidArgument, match="does not match"):
        snep.InferenceSession(ins).run(None, {"s": [np.ones(2, np.float32)], "t": np.ones(2, np.int64)})


def test_outputs_do_not_alias_feeds_or_initializers():
    w = onnx.numpy_helper.from_array(np.array([7, 8], np.float32), "w")
    nodes = [h.make_node("SequenceConstruct", ["x", "w"], ["s"]),
             h.make_node("SequenceAt", ["s", "zero"], ["y"])]
    zero = onnx.numpy_helper.from_array(np.array(0, np.int64), "zero")
    model = _model(nodes, [h.make_tensor_value_info("x", F, [2])],
                   [h.make_value_info("s", _seq_t()), h.make_tensor_value_info("y", F, [2])], inits=[w, zero])
    sess = snep.InferenceSession(model)
    x = np.array([1, 2], np.float32)
    s, y = sess.run(None, {"x": x})
    s[0][:] = 0
    s[1][:] = 0
    y[:] = 0
    np.testing.assert_array_equal(x, [1, 2])
    s, y = sess.run(None, {"x": x})
    np.testing.assert_array_equal(s[1], [7, 8])
    np.testing.assert_array_equal(y, [1, 2])
