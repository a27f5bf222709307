"""Mixed precision through the classifier head: a float32 model with a calibration, tuned with qint8, keeps
conv -> AveragePool -> conv -> GlobalAveragePool -> Flatten -> Gemm in u8 up to the QGemm
(graph_passes/quant_tune.py's QLinear(Global)AveragePool and Flatten/Reshape variants)."""
import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import softneuro_ep as ort
from softneuro_ep.graph_passes.quant_tune import dequantize_np, qparams, quantize_np


def _w(rng, name, *shape, scale=0.2):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def head_net(flatten="Flatten"):
    rng = np.random.default_rng(6)
    tail = ([helper.make_node("Flatten", ["gp"], ["f"])] if flatten == "Flatten" else
            [helper.make_node("Reshape", ["gp", "shape"], ["f"])])
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("AveragePool", ["r1"], ["ap"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["ap", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["gp"])] + tail + \
        [helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    inits = [_w(rng, "w1", 8, 3, 3, 3), _w(rng, "b1", 8), _w(rng, "w2", 16, 8, 3, 3, scale=0.1), _w(rng, "b2", 16),
             _w(rng, "wf", 10, 16), _w(rng, "bf", 10), numpy_helper.from_array(np.array([1, 16], np.int64), "shape")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def samples(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(n)]


def session(model, **opts):
    return ort.InferenceSession(model.SerializeToString(),
                                providers=[("SoftNeuroExecutionProvider", {k: str(v) for k, v in opts.items()})])


def plan_of(s):
    return next(iter(s._plans.values()))


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("flatten", ["Flatten", "Reshape"])
def test_qint8_keeps_the_head_u8_up_to_the_qgemm(tmp_path, flatten):
    m = head_net(flatten)
    cal = ort.calibrate(m, samples(6, 1), path=str(tmp_path / "c.json"))
    s = session(m, calibration=cal, dtypes="qint8")
    spec = plan_of(s)
    ops = [n.op for n in spec.graph.nodes]
    assert ops.count("QLinearConv") == 2 and {"QLinearAveragePool", "QLinearGlobalAveragePool", "QGemm"} <= set(ops)
    assert not {"Conv", "AveragePool", "GlobalAveragePool", "Gemm"} & set(ops)
    # u8 from the input's QuantizeLinear to the QGemm (float32 out): no adapt in between
    assert ops.count("QuantizeLinear") == 1 and "DequantizeLinear" not in ops and flatten in ops
    routines = {r[1]: r[2] for r in spec.plan.step_routines()}
    assert routines["QLinearAveragePool"].startswith("cpu:qint8/direct")
    assert routines["QLinearGlobalAveragePool"].startswith("cpu:qint8/direct")
    ref = session(m)
    for x in samples(3, 7):
        assert rel(s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]) < 0.05


def test_pool_variants_compute_their_quantized_arithmetic(tmp_path):
    """The GlobalAveragePool variant is QLinearGlobalAveragePool on the calibrated parameters, exactly."""
    m = head_net()
    cal = ort.calibrate(m, samples(6, 1), path=str(tmp_path / "c.json"))
    ranges = json.load(open(cal))["ranges"]
    s = session(m, calibration=cal, dtypes="qint8")
    spec = plan_of(s)
    gap = next(n for n in spec.graph.nodes if n.op == "QLinearGlobalAveragePool")
    x_params, y_params = qparams(*ranges["r2"]), qparams(*ranges["gp"])
    inits = spec.tuned.planner.variants[gap.name].initializers
    assert [float(inits[gap.inputs[1]]), int(inits[gap.inputs[2]]), float(inits[gap.inputs[3]]),
            int(inits[gap.inputs[4]])] == [float(x_params[0]), int(x_params[1]), float(y_params[0]), int(y_params[1])]
    # the pool's arithmetic, checked in float: its output is the u8 mean within one output step
    r2 = np.maximum(session(_upto(m, "c2")).run(None, {"x": samples(1, 9)[0]})[0], 0)
    q = quantize_np(r2, *x_params)
    mean = dequantize_np(q, *x_params).mean(axis=(2, 3), keepdims=True)
    from softneuro_ep.graph_passes.node_eval import run_node
    got = run_node("QLinearGlobalAveragePool", [q] + [inits[i] for i in gap.inputs[1:]], {},
                   outputs=[(np.uint8, mean.shape)])[0]
    assert np.abs(dequantize_np(got, *y_params) - mean).max() <= float(y_params[0]) * 0.5001


def _upto(m, name):
    from onnx import ModelProto
    m2 = ModelProto.FromString(m.SerializeToString())
    del m2.graph.output[:]
    m2.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return m2


def test_accuracy_budget_prices_and_measures_the_pool_variants(tmp_path):
    """Under a budget the pool variants are profiled candidates with an error estimate made as the convs'
    (the variant run on calibration sample 0's real input, quantized, against the float32 output)."""
    from softneuro_ep.graph_passes.node_eval import run_node
    m = head_net()
    cal = ort.calibrate(m, samples(6, 1), path=str(tmp_path / "c.json"))
    s = session(m, calibration=cal, accuracy_budget=0.05, profile_cache=tmp_path / "p.sqlite")
    spec = plan_of(s)
    errs, planner = spec.tuned.candidate_errors, spec.tuned.planner  # (layer, key) -> e (relative L2)
    names = {n.op: n.name for n in s._graph.nodes}
    for op in ("AveragePool", "GlobalAveragePool", "Flatten", "Conv"):
        keys = [k for k in spec.tuned.candidates[names[op]] if k.startswith("q8|")]
        assert keys and all((names[op], k) in errs and errs[(names[op], k)] > 0 for k in keys), op
    # the GlobalAveragePool estimate, recomputed here
    sample = ort.calibrate.__globals__["load_calibration"](cal, s._graph).samples[0]
    r2, gp = session(_upto(m, "r2")).run(None, sample)[0], session(_upto(m, "gp")).run(None, sample)[0]
    v = planner.variants[names["GlobalAveragePool"]]
    q = quantize_np(r2, *planner.params["r2"])
    got = run_node("QLinearGlobalAveragePool", [q] + [v.initializers[i] for i in v.node.inputs[1:]], {},
                   outputs=[(np.uint8, gp.shape)])[0]
    want = float(np.sum((dequantize_np(got, *planner.params["gp"]) - gp) ** 2) / np.sum(gp * gp))
    assert errs[(names["GlobalAveragePool"], "q8|")] == pytest.approx(want ** 0.5, rel=1e-4)  # e, not e^2
    assert 0 < want ** 0.5 < 0.02  # half a u8 step on values spread over much of the range
    assert spec.tuned.error is not None and spec.tuned.error <= 0.05
