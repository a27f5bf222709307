"""If, Loop and Scan (graph_passes/dynamic.py), against onnxruntime."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper as h

import softneuro_ep as snep

F, I64, B = T.FLOAT, T.INT64, T.BOOL


def vi(name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits=(), opset=17):
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def check(m, feeds):
    ours = snep.InferenceSession(m)
    theirs = ort.InferenceSession(m, providers=["CPUExecutionProvider"])
    for feed in feeds:
        got, want = ours.run(None, feed), theirs.run(None, feed)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape, (g.shape, w.shape)
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_if_branches_of_different_shapes():
    then = h.make_graph([h.make_node("Add", ["x", "x"], ["t"])], "then", [], [vi("t", F, [2, 3])])
    els = h.make_graph([h.make_node("ReduceSum", ["x", "ax"], ["e"], keepdims=1)], "else", [], [vi("e", F, [2, 1])])
    m = model([h.make_node("Greater", ["a", "b"], ["c"]),
               h.make_node("If", ["c"], ["y"], then_branch=then, else_branch=els),
               h.make_node("Neg", ["y"], ["z"])],
              [vi("x", F, [2, 3]), vi("a", F, []), vi("b", F, [])], [vi("z", F, None)],
              [h.make_tensor("ax", I64, [1], [1])], opset=13)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    check(m, [{"x": x, "a": np.array(1, np.float32), "b": np.array(0, np.float32)},
              {"x": x, "a": np.array(0, np.float32), "b": np.array(1, np.float32)}])


def loop_body_double():
    # carried x doubles; scan output collects x + iteration
    return h.make_graph(
        [h.make_node("Identity", ["c_in"], ["c_out"]),
         h.make_node("Add", ["x_in", "x_in"], ["x_out"]),
         h.make_node("Cast", ["i"], ["fi"], to=F),
         h.make_node("Add", ["x_in", "fi"], ["s"])],
        "body", [vi("i", I64, []), vi("c_in", B, []), vi("x_in", F, [2])],
        [vi("c_out", B, []), vi("x_out", F, [2]), vi("s", F, [2])])


def test_loop_data_dependent_trip_count():
    m = model([h.make_node("Loop", ["M", "", "x"], ["y", "scan"], body=loop_body_double())],
              [vi("M", I64, []), vi("x", F, [2])], [vi("y", F, [2]), vi("scan", F, None)])
    x = np.array([1, -2], np.float32)
    check(m, [{"M": np.array(n, np.int64), "x": x} for n in (3, 1, 5)])


def test_loop_condition_from_body():
    # while x < limit: x = x * 2 (the condition is computed in the body from an outer value)
    body = h.make_graph(
        [h.make_node("Mul", ["x_in", "two"], ["x_out"]),
         h.make_node("Less", ["x_out", "limit"], ["c_out"])],
        "body", [vi("i", I64, []), vi("c_in", B, []), vi("x_in", F, [])], [vi("c_out", B, []), vi("x_out", F, [])])
    m = model([h.make_node("Loop", ["", "c0", "x"], ["y"], body=body)],
              [vi("c0", B, []), vi("x", F, []), vi("limit", F, [])], [vi("y", F, [])],
              [h.make_tensor("two", F, [], [2.0])])
    check(m, [{"c0": np.array(True), "x": np.array(1, np.float32), "limit": np.array(lim, np.float32)}
              for lim in (1.5, 100.0, 1000.0)] + [{"c0": np.array(False), "x": np.array(3, np.float32),
                                                   "limit": np.array(9, np.float32)}])


def test_nested_if_in_loop():
    then = h.make_graph([h.make_node("Add", ["x_in", "one"], ["t"])], "then", [], [vi("t", F, [3])])
    els = h.make_graph([h.make_node("Mul", ["x_in", "x_in"], ["e"])], "else", [], [vi("e", F, [3])])
    body = h.make_graph(
        [h.make_node("Identity", ["c_in"], ["c_out"]),
         h.make_node("Mod", ["i", "two_i"], ["r"]),
         h.make_node("Equal", ["r", "zero_i"], ["even"]),
         h.make_node("If", ["even"], ["x_out"], then_branch=then, else_branch=els)],
        "body", [vi("i", I64, []), vi("c_in", B, []), vi("x_in", F, [3])], [vi("c_out", B, []), vi("x_out", F, [3])])
    m = model([h.make_node("Loop", ["M", "", "x"], ["y"], body=body)],
              [vi("M", I64, []), vi("x", F, [3])], [vi("y", F, [3])],
              [h.make_tensor("one", F, [], [1.0]), h.make_tensor("two_i", I64, [], [2]),
               h.make_tensor("zero_i", I64, [], [0])])
    check(m, [{"M": np.array(n, np.int64), "x": np.array([0.5, 1, -1], np.float32)} for n in (0, 1, 4)])


@pytest.mark.parametrize("directions", [(0, 0), (1, 0), (0, 1)])
def test_scan_running_sum(directions):
    body = h.make_graph(
        [h.make_node("Add", ["acc_in", "x_t"], ["acc_out"]), h.make_node("Mul", ["x_t", "x_t"], ["sq"])],
        "body", [vi("acc_in", F, [2]), vi("x_t", F, [2])], [vi("acc_out", F, [2]), vi("sq", F, [2])])
    m = model([h.make_node("Scan", ["acc", "xs"], ["acc_final", "sqs"], body=body, num_scan_inputs=1,
                           scan_input_axes=[1], scan_input_directions=[directions[0]],
                           scan_output_directions=[directions[1]], scan_output_axes=[-1])],
              [vi("acc", F, [2]), vi("xs", F, [2, None])], [vi("acc_final", F, [2]), vi("sqs", F, None)])
    rng = np.random.default_rng(2)
    check(m, [{"acc": np.zeros(2, np.float32), "xs": rng.standard_normal((2, n)).astype(np.float32)}
              for n in (4, 1, 6)])


def test_loop_body_output_count_mismatch_is_a_clear_error():
    body = loop_body_double()
    body.output.append(vi("extra", F, [2]))
    body.node.append(h.make_node("Identity", ["x_in"], ["extra"]))
    m = model([h.make_node("Loop", ["M", "", "x"], ["y", "scan"], body=body)],
              [vi("M", I64, []), vi("x", F, [2])], [vi("y", F, [2]), vi("scan", F, [None, 2])])
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.Fail):
        ort.InferenceSession(m, providers=["CPUExecutionProvider"])
    with pytest.raises(snep.Fail, match="body has 4 outputs"):
        snep.InferenceSession(m)


def test_loop_without_trip_count_or_condition_fails_instead_of_hanging():
    m = model([h.make_node("Loop", ["", "", "x"], ["y", "scan"], body=loop_body_double())],
              [vi("x", F, [2])], [vi("y", F, [2]), vi("scan", F, None)])
    with pytest.raises(snep.Fail, match="never end"):
        snep.InferenceSession(m).run(None, {"x": np.ones(2, np.float32)})


def test_if_condition_with_several_elements_is_invalid_argument():
    then = h.make_graph([h.make_node("Identity", ["x"], ["t"])], "then", [], [vi("t", F, [2])])
    m = model([h.make_node("If", ["c"], ["y"], then_branch=then, else_branch=then)],
              [vi("c", B, [None]), vi("x", F, [2])], [vi("y", F, None)])
    s = snep.InferenceSession(m)
    with pytest.raises(snep.InvalidArgument):
        s.run(None, {"c": np.array([True, False]), "x": np.ones(2, np.float32)})


def test_loop_trip_count_and_condition_with_scan_output():
    # stops at M or when the running sum passes the limit, whichever comes first
    body = h.make_graph(
        [h.make_node("Add", ["x_in", "step"], ["x_out"]),
         h.make_node("ReduceSum", ["x_out"], ["s"], keepdims=0),
         h.make_node("Less", ["s", "limit"], ["c_out"]),
         h.make_node("Mul", ["x_out", "x_out"], ["sq"])],
        "body", [vi("i", I64, []), vi("c_in", B, []), vi("x_in", F, [2])],
        [vi("c_out", B, []), vi("x_out", F, [2]), vi("sq", F, [2])])
    m = model([h.make_node("Loop", ["M", "c0", "x"], ["y", "sqs"], body=body)],
              [vi("M", I64, []), vi("c0", B, []), vi("x", F, [2]), vi("step", F, [2]), vi("limit", F, [])],
              [vi("y", F, [2]), vi("sqs", F, [None, 2])])
    base = {"c0": np.array(True), "x": np.zeros(2, np.float32), "step": np.array([1, 0.5], np.float32)}
    check(m, [dict(base, M=np.array(m_, np.int64), limit=np.array(lim, np.float32))
              for m_, lim in ((10, 4.0), (2, 100.0), (10, 100.0))])


def test_scan_opset8_batched():
    body = h.make_graph(
        [h.make_node("Add", ["acc_in", "x_t"], ["acc_out"]), h.make_node("Neg", ["x_t"], ["y_t"])],
        "body", [vi("acc_in", F, [2]), vi("x_t", F, [2])], [vi("acc_out", F, [2]), vi("y_t", F, [2])])
    m = model([h.make_node("Scan", ["", "acc", "xs"], ["acc_final", "ys"], body=body, num_scan_inputs=1,
                           directions=[1])],
              [vi("acc", F, [3, 2]), vi("xs", F, [3, 4, 2])], [vi("acc_final", F, [3, 2]), vi("ys", F, [3, 4, 2])],
              opset=8)
    rng = np.random.default_rng(3)
    check(m, [{"acc": np.zeros((3, 2), np.float32), "xs": rng.standard_normal((3, 4, 2)).astype(np.float32)}])


def test_loop_carried_value_grows_every_iteration():
    # the body's shapes change each iteration: its compiled plan cannot be reused as is
    body = h.make_graph(
        [h.make_node("Identity", ["c_in"], ["c_out"]),
         h.make_node("Cast", ["i"], ["fi"], to=F),
         h.make_node("Unsqueeze", ["fi", "zero"], ["fi1"]),
         h.make_node("Concat", ["x_in", "fi1"], ["x_out"], axis=0),
         h.make_node("ReduceSum", ["x_out"], ["s"], keepdims=0)],
        "body", [vi("i", I64, []), vi("c_in", B, []), vi("x_in", F, [None])],
        [vi("c_out", B, []), vi("x_out", F, [None]), vi("s", F, [])])
    m = model([h.make_node("Loop", ["M", "", "x"], ["y", "sums"], body=body)],
              [vi("M", I64, []), vi("x", F, [None])], [vi("y", F, [None]), vi("sums", F, [None])],
              [h.make_tensor("zero", I64, [1], [0])])
    check(m, [{"M": np.array(n, np.int64), "x": np.array([0.5], np.float32)} for n in (5, 2, 5)])
