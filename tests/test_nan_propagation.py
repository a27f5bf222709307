"""NaN goes through the activations as in onnxruntime (Relu(NaN), Clip(NaN), HardSigmoid(NaN) ...
are NaN, not 0 or a bound): every usable plain float32 routine of the standalone ops, and the
activations fused into Conv / MatMul / Gemm epilogues (sgemm micro-kernels, the small-channel
conv, Activation::apply). The blocked layouts: tests/test_layout_routines.py special values."""
import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper

from softneuro_ep import _engine
from softneuro_ep.graph_passes.node_eval import run_node

VALS = np.array([np.nan, np.inf, -np.inf, 0.0, 2.5, -2.5, 7.0, -7.0] * 5, np.float32)
OPS = {"Relu": {}, "Clip": {}, "HardSigmoid": {"alpha": 0.3, "beta": 0.4}, "HardSwish": {},
       "LeakyRelu": {"alpha": 0.2}, "Elu": {"alpha": 0.7}, "Tanh": {}, "Sigmoid": {}}


def _onnxruntime(op, attrs, inputs):
    names = ["x", "lo", "hi"][:len(inputs)]
    g = helper.make_graph([helper.make_node(op, names, ["y"], **attrs)], "g",
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape))
                           for n, a in zip(names, inputs)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(inputs[0].shape))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    s = onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, dict(zip(names, inputs)))[0]


def _plain(desc):
    return desc.count(":") < 2 or ":nchw/" in desc


@pytest.mark.parametrize("op", sorted(OPS))
def test_standalone_activation_routines_propagate_nan(op):
    inputs = [VALS] + ([np.array(-1.0, np.float32), np.array(6.0, np.float32)] if op == "Clip" else [])
    want = _onnxruntime(op, OPS[op], inputs)
    descs = [r["descriptor"] for r in _engine.routines(op) if r["usable"] and _plain(r["descriptor"])]
    assert descs
    for d in descs:
        (got,) = run_node(op, inputs, dict(OPS[op]), descriptor=d, const_inputs={1, 2} if op == "Clip" else False,
                          opset=17)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=d)


FUSED = [("Relu", {}), ("Clip", {"activation_params": [-1.0, 6.0]}), ("HardSigmoid", {"activation_params": [0.3, 0.4]}),
         ("HardSwish", {}), ("LeakyRelu", {"activation_params": [0.2]})]


def _act_ref(y, act, params):
    with np.errstate(invalid="ignore"):
        if act == "Relu":
            return np.where(np.isnan(y), y, np.maximum(y, 0))
        if act == "Clip":
            return np.where(np.isnan(y), y, np.clip(y, params[0], params[1]))
        if act == "HardSigmoid":
            return np.where(np.isnan(y), y, np.clip(params[0] * y + params[1], 0, 1))
        if act == "HardSwish":
            return np.where(np.isnan(y), y, y * np.clip(y / 6 + 0.5, 0, 1))
        return np.where(y < 0, params[0] * y, y)


@pytest.mark.parametrize("act,extra", FUSED, ids=[a for a, _ in FUSED])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_activations_propagate_nan(act, extra, threads):
    """A NaN in one row of A (MatMul, Gemm) or one pixel (1x1 Conv): the outputs it reaches are NaN
    after every routine's fused activation; the others are unchanged."""
    rng = np.random.default_rng(0)
    attrs = {"activation": act, **extra}
    params = extra.get("activation_params", [])
    a = rng.uniform(-1, 1, (37, 40)).astype(np.float32)
    a[5, 3] = np.nan
    b = rng.uniform(-1, 1, (40, 70)).astype(np.float32)
    want = _act_ref(a.astype(np.float64) @ b, act, params)
    for op in ("MatMul", "Gemm"):
        for r in _engine.routines(op):
            d = r["descriptor"]
            if not r["usable"] or "float32" not in d or not _plain(d):
                continue
            try:
                (got,) = run_node(op, [a, b], dict(attrs), descriptor=d, num_threads=threads, const_inputs={1})
            except Exception as e:  # a routine without this activation says so
                assert "support" in str(e), (d, e)
                continue
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, equal_nan=True, err_msg=f"{op} {d}")
    x = rng.uniform(-1, 1, (1, 3, 6, 7)).astype(np.float32)
    x[0, 1, 2, 4] = np.nan
    w = rng.uniform(-1, 1, (5, 3, 1, 1)).astype(np.float32)
    y = np.einsum("mc,nchw->nmhw", w[:, :, 0, 0].astype(np.float64), x.astype(np.float64))
    want = _act_ref(y, act, params)
    for r in _engine.routines("Conv"):
        d = r["descriptor"]
        if not r["usable"] or "float32" not in d or not _plain(d):
            continue
        try:
            (got,) = run_node("Conv", [x, w], {"kernel_shape": [1, 1], **attrs}, descriptor=d, num_threads=threads,
                              const_inputs={1})
        except Exception as e:
            assert "support" in str(e), (d, e)
            continue
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, equal_nan=True, err_msg=f"Conv {d}")
