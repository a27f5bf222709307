"""GELU fused into Gemm / MatMul epilogues (graph_passes/fuse.py): the opset-20 Gelu op and
the erf form older exporters write (BERT's FFN) become the MatMul's activation; outputs
match onnxruntime, and no separate Erf / Mul / Gelu step is left. A Conv keeps its Gelu
as a step (the conv kernels have no Gelu), and an erf form whose pieces are read
elsewhere is left alone."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import softneuro_ep as snep

RNG = np.random.default_rng(0)
M, K, N = 37, 48, 70


def _const(name, value):
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def _model(gelu_nodes, gelu_inits, opset, extra_outputs=(), conv=False):
    """x -> MatMul(+bias) (or a 1x1 Conv) -> h -> the GELU nodes -> y."""
    if conv:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, K, 5, 6])
        head = [helper.make_node("Conv", ["x", "w", "b"], ["h"], kernel_shape=[1, 1])]
        inits = [_const("w", RNG.normal(0, 0.3, (N, K, 1, 1))), _const("b", RNG.normal(0, 0.3, N))]
        yshape = [1, N, 5, 6]
    else:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])
        head = [helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["h"])]
        inits = [_const("w", RNG.normal(0, 0.3, (K, N))), _const("b", RNG.normal(0, 0.3, N))]
        yshape = [M, N]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, yshape)]
    outs += [helper.make_tensor_value_info(o, TensorProto.FLOAT, yshape) for o in extra_outputs]
    g = helper.make_graph(head + gelu_nodes, "gelu", [x], outs, inits + gelu_inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    return m.SerializeToString()


def erf_form_a():  # (h * (1 + erf(h / sqrt 2))) * 0.5, as tools/models/bert.py writes it
    nodes = [helper.make_node("Div", ["h", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["a"]), helper.make_node("Mul", ["h", "a"], ["p"]),
             helper.make_node("Mul", ["p", "half"], ["y"])]
    return nodes, [_const("sqrt2", np.sqrt(2.0)), _const("one", 1.0), _const("half", 0.5)]


def erf_form_b():  # (0.5 * h) * (1 + erf(h * 0.7071))
    nodes = [helper.make_node("Mul", ["inv", "h"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["one", "e"], ["a"]), helper.make_node("Mul", ["h", "half"], ["hh"]),
             helper.make_node("Mul", ["hh", "a"], ["y"])]
    return nodes, [_const("inv", 1 / np.sqrt(2.0)), _const("one", 1.0), _const("half", 0.5)]


def gelu_op(approximate):
    return [helper.make_node("Gelu", ["h"], ["y"], approximate=approximate)], []


CASES = {"erf_a": (erf_form_a, 17), "erf_b": (erf_form_b, 13), "gelu_none": (lambda: gelu_op("none"), 20),
         "gelu_tanh": (lambda: gelu_op("tanh"), 20)}


def _run_both(data, feed, threads=1):
    so = snep.SessionOptions()
    so.intra_op_num_threads = threads
    s = snep.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    got = s.run(None, feed)
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    want = ort.InferenceSession(data, o, providers=["CPUExecutionProvider"]).run(None, feed)
    return s, got, want


def _rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gelu_is_fused_into_the_matmul(case, threads):
    make, opset = CASES[case]
    data = _model(*make(), opset)
    x = RNG.normal(0, 1, (M, K)).astype(np.float32)
    s, got, want = _run_both(data, {"x": x}, threads)
    assert _rel_l2(got[0], want[0]) < 1e-5
    ops = [op for _, op, _ in s.plan_summary()]
    assert ops == ["MatMul"], ops  # bias and GELU in the epilogue


def test_an_erf_form_whose_pieces_are_read_elsewhere_is_left_alone():
    nodes, inits = erf_form_a()
    data = _model(nodes, inits, 17, extra_outputs=("e",))
    x = RNG.normal(0, 1, (M, K)).astype(np.float32)
    s, got, want = _run_both(data, {"x": x})
    for g, w in zip(got, want):
        assert _rel_l2(g, w) < 1e-5
    assert "Erf" in [op for _, op, _ in s.plan_summary()]


def test_a_conv_keeps_its_gelu_as_a_step():
    data = _model(*gelu_op("none"), 20, conv=True)
    x = RNG.normal(0, 1, (1, K, 5, 6)).astype(np.float32)
    s, got, want = _run_both(data, {"x": x})
    assert _rel_l2(got[0], want[0]) < 1e-5
    assert [op for _, op, _ in s.plan_summary()] == ["Conv", "Gelu"]


def test_conv_routines_refuse_a_fused_gelu():
    """Only the GEMM routines (epilogue through Activation::apply) take activation=Gelu."""
    from softneuro_ep.graph_passes.node_eval import run_node
    x = RNG.normal(0, 1, (1, 4, 5, 5)).astype(np.float32)
    w = RNG.normal(0, 1, (6, 4, 3, 3)).astype(np.float32)
    with pytest.raises(Exception, match="support"):
        run_node("Conv", [x, w], {"kernel_shape": [3, 3], "activation": "Gelu"},
                 outputs=[(np.float32, (1, 6, 3, 3))], descriptor="cpu:float32:nchw/im2col_gemm")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_at_special_and_saturating_values(approximate):
    """The vector GELU (cpu/simd/vec.h erf and tanh) against float64 over the branch points,
    saturation, tails of every length and the special values (NaN stays NaN)."""
    from math import erf
    x = np.concatenate([np.array([0.0, -0.0, 1e-30, -1e-30, 0.927734375 * 2 ** 0.5, -1.3120, 1.3121, 5.5, -5.5,
                                  9.9, -9.9, 30.0, -30.0, 88.0, -88.0, np.inf, np.nan], np.float32),
                        np.linspace(-12, 12, 1001, dtype=np.float32)])
    def session(n):
        g = helper.make_graph([helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)])
        m.ir_version = 9
        return snep.InferenceSession(m.SerializeToString())
    got = session(len(x)).run(None, {"x": x})[0]
    xd = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if approximate == "none":
            want = 0.5 * xd * (1 + np.vectorize(erf, otypes=[np.float64])(xd / np.sqrt(2)))
        else:
            want = 0.5 * xd * (1 + np.tanh(np.sqrt(2 / np.pi) * (xd + 0.044715 * xd ** 3)))
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=2e-6, atol=1e-7)
    for n in range(1, 35):  # every tail length of the 16-wide loop: the same values as in the long run
        np.testing.assert_array_equal(session(n).run(None, {"x": x[-n:]})[0], got[-n:])


@pytest.mark.parametrize("op", ["Tanh", "Sigmoid", "Erf"])
def test_vector_math_routines_at_special_values(op):
    """Every usable float32 routine of the ops written on vmath.h / vec.h: NaN stays NaN (the
    tanh's saturation clamp once turned it into 1), infinities saturate, values around the
    branch points match float64."""
    from math import erf

    from softneuro_ep import _engine
    from softneuro_ep.graph_passes.node_eval import run_node
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5499, 0.55, -0.55, 0.9277, -0.9278, 9.0, -9.0, 20.0,
                  -20.0, 45.0, -45.0, 88.0, -88.0, 100.0, -100.0, 1e-30, 3.0] * 2, np.float32)
    xd = x.astype(np.float64)
    with np.errstate(all="ignore"):
        want = {"Tanh": np.tanh(xd), "Sigmoid": 1 / (1 + np.exp(-xd)),
                "Erf": np.vectorize(erf, otypes=[np.float64])(xd)}[op]
    descs = [r["descriptor"] for r in _engine.routines(op) if r["usable"] and r["descriptor"].count(":") < 2]
    assert descs
    for d in descs:
        (got,) = run_node(op, [x], {}, descriptor=d)
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7, equal_nan=True, err_msg=d)
