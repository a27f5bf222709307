"""Reduced precision: calibration, qint8 variants of float32 layers, accuracy and
memory budgets, pre-quantized (QDQ) models against onnxruntime."""
import dataclasses
import json
import re

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import softneuro_ep as ort
from softneuro_ep import InvalidArgument, InvalidGraph


def _w(rng, name, *shape, scale=0.2):
    t = numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32))
    t.name = name
    return t


def conv_net(channels=8, size=16, relu=False):
    """conv3x3 -> conv3x3 (+residual) -> maxpool -> conv1x1 (float32; relu optional)."""
    rng = np.random.default_rng(0)
    c = channels
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1])]
    a = "c1"
    if relu:
        nodes.append(helper.make_node("Relu", ["c1"], ["r1"]))
        a = "r1"
    nodes += [helper.make_node("Conv", [a, "w2"], ["c2"], pads=[1, 1, 1, 1]),
              helper.make_node("Add", ["c2", a], ["s"]),
              helper.make_node("MaxPool", ["s"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
              helper.make_node("Conv", ["p", "w3", "b3"], ["y"])]
    inits = [_w(rng, "w1", c, 3, 3, 3), _w(rng, "b1", c), _w(rng, "w2", c, c, 3, 3, scale=0.1),
             _w(rng, "w3", 4, c, 1, 1), _w(rng, "b3", 4)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def samples(n=6, size=16, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 3, size, size)).astype(np.float32) for _ in range(n)]


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def session(model, **opts):
    return ort.InferenceSession(model.SerializeToString(),
                                providers=[("SoftNeuroExecutionProvider", {k: str(v) for k, v in opts.items()})])


def plan_of(sess):
    return next(iter(sess._plans.values()))


@pytest.fixture(scope="module")
def model():
    return conv_net()


@pytest.fixture(scope="module")
def calib(model, tmp_path_factory):
    return ort.calibrate(model, samples(), path=str(tmp_path_factory.mktemp("cal") / "cal.json"))


# ---- calibration ------------------------------------------------------------------
def test_calibrate_ranges_cover_every_float_tensor(model, calib):
    doc = json.load(open(calib))
    xs = samples()
    ref = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert set(doc["ranges"]) >= {"x", "c1", "c2", "s", "p", "y"}
    ys = [ref.run(None, {"x": x})[0] for x in xs]
    lo, hi = doc["ranges"]["y"]
    assert lo == pytest.approx(min(float(y.min()) for y in ys), rel=1e-5)
    assert hi == pytest.approx(max(float(y.max()) for y in ys), rel=1e-5)
    assert doc["ranges"]["x"] == [pytest.approx(min(float(x.min()) for x in xs)),
                                  pytest.approx(max(float(x.max()) for x in xs))]
    assert doc["samples"] == len(xs)


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_calibrate_clipping_methods_lie_inside_minmax(model, calib, method, tmp_path):
    mm = json.load(open(calib))["ranges"]
    p = ort.calibrate(model, samples(), method=method, path=str(tmp_path / "c.json"))
    r = json.load(open(p))["ranges"]
    assert r.keys() == mm.keys()
    for k, (lo, hi) in r.items():
        assert mm[k][0] - 1e-6 <= lo <= hi <= mm[k][1] + 1e-6
    assert any(r[k] != mm[k] for k in r)  # something was clipped


def test_calibrate_accepts_a_data_reader(model, tmp_path):
    class Reader:
        def __init__(self):
            self.it = iter([{"x": x} for x in samples(3)])

        def get_next(self):
            return next(self.it, None)
    p = ort.calibrate(model, Reader(), path=str(tmp_path / "r.json"))
    assert json.load(open(p))["samples"] == 3


def test_calibrate_bad_arguments(model, tmp_path):
    with pytest.raises(InvalidArgument, match="method"):
        ort.calibrate(model, samples(1), method="magic")
    with pytest.raises(InvalidArgument, match="no samples"):
        ort.calibrate(model, [], path=str(tmp_path / "e.json"))


def test_calibration_for_another_model_is_refused(calib):
    other = conv_net(channels=4)
    with pytest.raises(InvalidArgument, match="another model"):
        session(other, calibration=calib)


def test_corrupt_or_missing_calibration_file(model, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidArgument, match="not a calibration file"):
        session(model, calibration=bad)
    with pytest.raises(InvalidArgument, match="does not exist"):
        session(model, calibration=tmp_path / "nope.json")


# ---- qint8 variants ------------------------------------------------------------------
def test_qint8_where_allowed_runs_the_convs_in_int8(model, calib):
    s = session(model, calibration=calib, dtypes="qint8")
    ops = [n.op for n in plan_of(s).graph.nodes]
    assert ops.count("QLinearConv") == 3 and "Conv" not in ops
    assert "MaxPool" in ops and "QuantizeLinear" in ops and "DequantizeLinear" in ops
    ref = session(model)
    for x in samples(3, seed=7):
        y, r = s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        assert rel(y, r) < 0.05


def test_qint8_without_calibration_is_not_considered(model):
    s = session(model, dtypes="float32,qint8")
    assert "QLinearConv" not in [n.op for n in plan_of(s).graph.nodes]


# ---- accuracy budget ------------------------------------------------------------------
@pytest.mark.parametrize("budget", [0.0, 1e-3, 0.05, 10.0])
def test_accuracy_budget_is_met_and_reported(model, calib, budget, tmp_path):
    s = session(model, calibration=calib, accuracy_budget=budget, dtypes="qint8",
                profile_cache=tmp_path / "p.sqlite")
    spec = plan_of(s)
    assert spec.tuned.error is not None and spec.tuned.error <= max(budget, 1e-5)
    ops = [n.op for n in spec.graph.nodes]
    if budget <= 1e-3:
        assert "QLinearConv" not in ops  # every qint8 layer costs ~1% here
    # measured on held-out samples: check it the same way
    ref = session(model)
    for x in ort.calibrate.__globals__["load_calibration"](calib, s._graph).samples[1:]:
        assert rel(s.run(None, x)[0], ref.run(None, x)[0]) <= max(budget, 1e-5)


def test_accuracy_budget_with_dtypes_qint8_keeps_int8_when_allowed(model, calib):
    s = session(model, calibration=calib, accuracy_budget=0.5, dtypes="qint8")
    # int8 is the only choice offered where it exists unless the budget forbids it: 0.5 does not
    assert s._plans and plan_of(s).tuned.error <= 0.5


def test_accuracy_budget_bad_values(model, calib):
    with pytest.raises(InvalidArgument, match="needs calibration"):
        session(model, accuracy_budget=0.01)
    with pytest.raises(InvalidArgument, match="impossible"):
        session(model, calibration=calib, accuracy_budget=-1)
    with pytest.raises(InvalidArgument, match="accuracy_metric"):
        session(model, calibration=calib, accuracy_budget=0.1, accuracy_metric="psnr")


# ---- memory budget ------------------------------------------------------------------
@pytest.fixture(scope="module")
def wide():
    # weights large against the kernels' workspaces (the int8 im2col's scratch is bigger than float32's),
    # so that int8 weights lower the smallest peak: 0.65 MB in float32, 0.41 with int8
    m = conv_net(channels=128, size=8)
    return m


def test_memory_limit_picks_int8_weights_to_fit(wide, tmp_path):
    cal = ort.calibrate(wide, samples(3, size=8), path=str(tmp_path / "w.json"))
    free = session(wide, calibration=cal, memory_limit_mb=1000, dtypes="float32")
    fp32_bytes = plan_of(free).tuned.memory_bytes
    assert fp32_bytes > 128 * 128 * 9 * 4  # the 3x3 weights alone
    # just below the smallest float32 plan (the error names it, rounded up to 1 KB; routines' workspaces
    # count, so it depends on which routines exist here): only int8 weights can fit
    with pytest.raises(InvalidArgument) as e:
        session(wide, calibration=cal, memory_limit_mb=0.001, dtypes="float32")
    least_fp32 = float(re.search(r"about ([0-9.]+) MB", str(e.value)).group(1))
    limit = least_fp32 - 0.002
    s = session(wide, calibration=cal, memory_limit_mb=limit)
    spec = plan_of(s)
    assert spec.tuned.memory_bytes <= limit * 2**20
    assert "QLinearConv" in [n.op for n in spec.graph.nodes]
    x = samples(1, size=8)[0]
    assert rel(s.run(None, {"x": x})[0], free.run(None, {"x": x})[0]) < 0.05


def test_memory_limit_below_the_smallest_plan_names_it(wide, tmp_path):
    cal = ort.calibrate(wide, samples(2, size=8), path=str(tmp_path / "w.json"))
    with pytest.raises(InvalidArgument, match=r"smallest peak.*about [0-9.]+ MB"):
        session(wide, calibration=cal, memory_limit_mb=0.01)
    with pytest.raises(InvalidArgument, match="smallest peak"):
        session(wide, memory_limit_mb=0.05)  # float32 only: the weights alone need more


# ---- pre-quantized (QDQ) models ------------------------------------------------------------
def qdq_model(tmp_path, relu=True, fmt="QDQ"):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    src, dst = str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx")
    onnx.save(conv_net(relu=relu), src)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": x} for x in samples(8)])

        def get_next(self):
            return next(self.it, None)
    quantize_static(src, dst, Reader(), quant_format=getattr(QuantFormat, fmt), per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return dst


def test_qdq_model_runs_in_int8_and_matches_onnxruntime(tmp_path):
    path = qdq_model(tmp_path)
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    ref = onnxruntime.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    s = ort.InferenceSession(path)
    ops = [n.op for n in plan_of(s).graph.nodes]
    assert ops.count("QLinearConv") == 3 and "Conv" not in ops
    # the residual add stays in int8, inside the conv that feeds it (a rounded residual: 14 inputs)
    assert "QLinearAdd" not in ops and "Add" not in ops
    assert sum(1 for n in plan_of(s).graph.nodes if n.op == "QLinearConv" and len(n.inputs) == 14) == 1
    step = max(abs(float(numpy_helper.to_array(i))) for i in onnx.load(path).graph.initializer
               if i.name.startswith("y") and i.name.endswith("_scale"))
    for x in samples(4, seed=11):
        y, r = s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        assert np.abs(y - r).max() <= step * 1.0001  # within one quantisation step


def test_qdq_model_with_a_bad_scale_is_named(tmp_path):
    path = qdq_model(tmp_path)
    m = onnx.load(path)
    for t in m.graph.initializer:
        if t.name == "w2_scale":
            a = numpy_helper.to_array(t).copy()
            a[0] = -a[0]
            t.CopyFrom(numpy_helper.from_array(a, t.name))
    with pytest.raises(InvalidGraph, match="w2_scale"):
        ort.InferenceSession(m.SerializeToString())


def test_qoperator_model_matches_onnxruntime(tmp_path):
    """QOperator format: QLinearConv plus the com.microsoft QLinearAdd / QLinearGlobalAveragePool / QGemm."""
    path = qdq_model(tmp_path, fmt="QOperator")
    domains = {(n.op_type, n.domain) for n in onnx.load(path).graph.node}
    assert ("QLinearAdd", "com.microsoft") in domains
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    ref = onnxruntime.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    s = ort.InferenceSession(path)
    step = max(abs(float(numpy_helper.to_array(i))) for i in onnx.load(path).graph.initializer
               if i.name.startswith("y") and i.name.endswith("_scale"))
    for x in samples(3, seed=12):
        y, r = s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        assert np.abs(y - r).max() <= step * 1.0001


def qoperator_classifier():
    """conv -> GlobalAveragePool -> Flatten -> Gemm, so quantize_static emits QLinearGlobalAveragePool and QGemm."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("GlobalAveragePool", ["r1"], ["gp"]),
             helper.make_node("Flatten", ["gp"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    inits = [_w(rng, "w1", 8, 3, 3, 3), _w(rng, "b1", 8), _w(rng, "wf", 5, 8), _w(rng, "bf", 5)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_qoperator_contrib_ops_match_onnxruntime(tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    src, dst = str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx")
    onnx.save(qoperator_classifier(), src)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": x} for x in samples(4)])

        def get_next(self):
            return next(self.it, None)
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    ops = {n.op_type for n in onnx.load(dst).graph.node}
    assert {"QLinearGlobalAveragePool", "QGemm"} <= ops
    ref = onnxruntime.InferenceSession(dst, providers=["CPUExecutionProvider"])
    s = ort.InferenceSession(dst)
    for x in samples(3, seed=13):
        y, r = s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        assert np.abs(y - r).max() <= 0.02 * np.abs(r).max()


def test_accuracy_budget_weighs_bfloat16_and_float16_routines_too(tmp_path):
    """A budget lets bfloat16/float16 routines of float32 layers (Gemm here) compete; the result stays in budget."""
    m = qoperator_classifier()
    cal = ort.calibrate(m, samples(4), path=str(tmp_path / "c.json"))
    s = session(m, calibration=cal, accuracy_budget=0.02)
    spec = plan_of(s)
    assert spec.tuned.error is not None and spec.tuned.error <= 0.02
    reduced = [k for L in spec.tuned.dp_layers for c in L.candidates for k in [c.routine]
               if "bfloat16" in k or "float16" in k]
    usable = {r["descriptor"] for r in ort._engine.routines("Gemm") if r["usable"]}
    if "cpu:bfloat16/gemm" in usable:
        assert reduced  # offered to DPRS under a budget ...
    plain = session(m, calibration=cal)
    assert not [k for L in plan_of(plain).tuned.dp_layers for c in L.candidates for k in [c.routine]
                if "bfloat16" in k]  # ... and never without one


def branchy_net():
    """conv -> (conv, conv) -> Concat -> Resize(nearest) -> conv: the u8 pass-through ops."""
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Conv", ["x", "w0"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "w1"], ["b1"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "w2"], ["b2"]),
             helper.make_node("Concat", ["b1", "b2"], ["c"], axis=1),
             helper.make_node("Resize", ["c", "", "scales"], ["r"], mode="nearest"),
             helper.make_node("Conv", ["r", "w3"], ["y"])]
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    inits = [_w(rng, "w0", 8, 3, 3, 3), _w(rng, "w1", 8, 8, 3, 3, scale=0.1), _w(rng, "w2", 8, 8, 1, 1),
             _w(rng, "w3", 4, 16, 1, 1), scales]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_concat_and_nearest_resize_keep_chains_quantized(tmp_path):
    m = branchy_net()
    cal = ort.calibrate(m, samples(4), path=str(tmp_path / "b.json"))
    s = session(m, calibration=cal, dtypes="qint8")
    ops = [n.op for n in plan_of(s).graph.nodes]
    assert ops.count("QLinearConv") == 4 and "Concat" in ops and "Resize" in ops
    assert ops.count("QuantizeLinear") == 1 and ops.count("DequantizeLinear") == 1  # at the graph's ends only
    ref = session(m)
    for x in samples(3, seed=21):
        assert rel(s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]) < 0.05


# ---- qint8 Gemm: QGemm variants and native com.microsoft QGemm ------------------------------------
def fc_net(trans_b=1, k=64, n=100, bias=True):
    """x -> Flatten -> Gemm (a classifier's fully-connected layer; constant float32 weights)."""
    rng = np.random.default_rng(5)
    w = _w(rng, "wf", *((n, k) if trans_b else (k, n)), scale=0.1)
    ins = ["f", "wf"] + (["bf"] if bias else [])
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ins, ["y"], transB=trans_b)]
    inits = [w] + ([_w(rng, "bf", n)] if bias else [])
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k // 4, 2, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def fc_samples(n, k=64, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, k // 4, 2, 2)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("trans_b,bias", [(1, True), (0, True), (1, False)])
def test_qint8_where_allowed_runs_the_fc_gemm_as_qgemm(trans_b, bias, tmp_path):
    m = fc_net(trans_b, bias=bias)
    cal = ort.calibrate(m, fc_samples(4), path=str(tmp_path / "c.json"))
    s = session(m, calibration=cal, dtypes="qint8")
    spec = plan_of(s)
    nodes = spec.graph.nodes
    ops = [n.op for n in nodes]
    assert "QGemm" in ops and "Gemm" not in ops
    assert "DequantizeLinear" not in ops  # QGemm's output is float32: no adapt after it
    assert ops.count("QuantizeLinear") == 1
    qg = next(n for n in nodes if n.op == "QGemm")
    assert qg.domain == "com.microsoft"
    assert [r[2].startswith("cpu:qint8/qgemv") for r in spec.plan.step_routines() if r[1] == "QGemm"] == [True]
    assert any(k.startswith("q8|cpu:qint8/qgemv") for k in spec.tuned.candidates[qg.name])  # profiled
    ref = session(m)
    for x in fc_samples(3, seed=31):
        y, r = s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        # unit-normal inputs over a calibrated range of ~[-3, 3]: the u8 step (~0.024) alone is ~0.7% rms,
        # the s8 weights add less: ~1% expected, 3% bounds it
        assert rel(y, r) < 0.03


def test_qgemm_variant_matches_its_quantized_arithmetic(tmp_path):
    """The QGemm variant computes float32(sum (xq - xz) wq + bq) * xs * ws exactly (numpy model of quant_tune)."""
    from softneuro_ep.graph_passes.quant_tune import qparams, quantize_np
    m = fc_net(1)
    cal = ort.calibrate(m, fc_samples(4), path=str(tmp_path / "c.json"))
    s = session(m, calibration=cal, dtypes="qint8")
    lo, hi = json.load(open(cal))["ranges"]["f"]
    xs, xz = qparams(lo, hi)
    wf = numpy_helper.to_array(m.graph.initializer[0])
    bf = numpy_helper.to_array(m.graph.initializer[1])
    ws = (np.abs(wf).max(axis=1) / 127.0).astype(np.float32)
    wq = np.clip(np.rint(wf / ws[:, None]), -127, 127).astype(np.int64)
    bq = np.rint(bf.astype(np.float64) / (float(xs) * ws.astype(np.float64))).astype(np.int64)
    x = fc_samples(1, seed=40)[0]
    xq = quantize_np(x.reshape(1, -1), xs, xz).astype(np.int64)
    acc = (xq - int(xz)) @ wq.T + bq
    want = (acc.astype(np.float32) * (np.float32(1.0) * xs * ws).astype(np.float32)).astype(np.float32)
    np.testing.assert_array_equal(s.run(None, {"x": x})[0], want)


def test_accuracy_budget_measures_the_qgemm_variant(tmp_path):
    m = fc_net(1)
    cal = ort.calibrate(m, fc_samples(4), path=str(tmp_path / "c.json"))
    s = session(m, calibration=cal, accuracy_budget=0.05)
    spec = plan_of(s)
    errs = spec.tuned.candidate_errors
    q = [e for (name, key), e in errs.items() if key.startswith("q8|cpu:qint8/qgemv")]
    assert q and all(0 < e < 0.03 for e in q)  # ~1%: see test_qint8_where_allowed_runs_the_fc_gemm_as_qgemm
    assert spec.tuned.error <= 0.05


def test_dtypes_fallback_does_not_readmit_reduced_routines(tmp_path):
    """dtypes=qint8 without a qint8 routine for a float32 Gemm keeps it float32: bfloat16/float16 only on request."""
    m = fc_net(1)
    s = session(m, dtypes="qint8")  # no calibration: no qint8 variant either
    spec = plan_of(s)
    gemm = next(n for n in spec.graph.nodes if n.op == "Gemm")
    cands = spec.tuned.candidates[gemm.name]
    assert cands and all("float16" not in k and "bfloat16" not in k for k in cands), cands
    assert all(d.startswith("cpu:float32") or ":" not in d for d in cands), cands
    usable = {r["descriptor"] for r in ort._engine.routines("Gemm") if r["usable"]}
    if "cpu:float16/gemv" in usable:  # listed in dtypes: allowed
        s2 = session(m, dtypes="qint8,float16")
        assert "cpu:float16/gemv" in plan_of(s2).tuned.candidates[gemm.name]
    x = fc_samples(1)[0]
    np.testing.assert_allclose(s.run(None, {"x": x})[0], session(m).run(None, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_qoperator_qgemm_runs_natively_and_matches_onnxruntime(tmp_path):
    """quantize_static's QOperator classifier ends in com.microsoft QGemm: run by cpu:qint8/qgemv, not expanded."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    src, dst = str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx")
    onnx.save(fc_net(1, k=256, n=300), src)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": x} for x in fc_samples(8, k=256)])

        def get_next(self):
            return next(self.it, None)
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    qm = onnx.load(dst)
    qgemm = [n for n in qm.graph.node if n.op_type == "QGemm"]
    assert len(qgemm) == 1 and qgemm[0].domain == "com.microsoft"
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    ref = onnxruntime.InferenceSession(dst, so, providers=["CPUExecutionProvider"])
    s = ort.InferenceSession(dst)
    inits = {i.name: numpy_helper.to_array(i) for i in qm.graph.initializer}
    ys = qgemm[0].input[7] if len(qgemm[0].input) > 7 and qgemm[0].input[7] else None
    step = float(inits[ys]) if ys else 0.0
    for x in fc_samples(3, k=256, seed=13):
        y, r = s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        assert np.abs(y - r).max() <= step * 1.0001 + 1e-6 * np.abs(r).max()  # within one quantisation step
    spec = plan_of(s)
    ops = [n.op for n in spec.graph.nodes]
    assert "QGemm" in ops and "Gemm" not in ops
    assert [r[2].startswith("cpu:qint8/qgemv") for r in spec.plan.step_routines() if r[1] == "QGemm"] == [True]


def test_qgemm_forms_the_routine_does_not_take_are_expanded():
    """A QGemm whose B is not a constant falls back to DequantizeLinear -> Gemm (-> QuantizeLinear)."""
    from softneuro_ep.graph_passes.load import to_ir
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(a, name) for a, name in (
        (np.asarray(np.float32(0.05)), "as"), (np.asarray(np.uint8(3)), "az"), (np.full(6, 0.01, np.float32), "bs"),
        (np.zeros(6, np.int8), "bz"))]
    node = helper.make_node("QGemm", ["a", "as", "az", "b", "bs", "bz"], ["y"], domain="com.microsoft", transB=1)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", TensorProto.UINT8, [2, 5]),
                                        helper.make_tensor_value_info("b", TensorProto.INT8, [6, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    assert "QGemm" not in [n.op for n in to_ir(m).nodes]
    a = rng.integers(0, 256, size=(2, 5)).astype(np.uint8)
    b = rng.integers(-128, 128, size=(6, 5)).astype(np.int8)
    want = ((a.astype(np.float32) - 3) * np.float32(0.05)) @ (b.astype(np.float32) * np.float32(0.01)).T
    np.testing.assert_allclose(ort.InferenceSession(m.SerializeToString()).run(None, {"a": a, "b": b})[0], want,
                               rtol=1e-5, atol=1e-5)
    # the same with B constant runs natively
    m2 = helper.make_model(helper.make_graph([node], "g", [g.input[0]], list(g.output),
                                             inits + [numpy_helper.from_array(b, "b")]),
                           opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    assert "QGemm" in [n.op for n in to_ir(m2).nodes]
    np.testing.assert_allclose(ort.InferenceSession(m2.SerializeToString()).run(None, {"a": a})[0], want,
                               rtol=1e-5, atol=1e-5)


def conv_fc_net():
    """conv 1x1 256->128 -> Relu -> GlobalAveragePool -> Flatten -> Gemm 128->2000: the pooling averages the
    conv's quantisation error away, the classifier's reaches the output whole."""
    rng = np.random.default_rng(6)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("GlobalAveragePool", ["r1"], ["gp"]),
             helper.make_node("Flatten", ["gp"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    inits = [_w(rng, "w1", 128, 256, 1, 1, scale=0.05), _w(rng, "b1", 128), _w(rng, "wf", 2000, 128),
             _w(rng, "bf", 2000)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_accuracy_budget_retries_a_plan_without_its_output_layers_reduced(tmp_path, monkeypatch):
    """The budget search ranks candidates by local error; an output layer's error is not attenuated by the
    layers after it. Errors estimated so that the search's second plan quantizes both the conv and the
    classifier (over budget because of the classifier): the retry without the classifier keeps the conv."""
    from softneuro_ep.graph_passes import budget as B
    m = conv_fc_net()
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((1, 256, 16, 16)).astype(np.float32) for _ in range(4)]
    cal = ort.calibrate(m, xs, path=str(tmp_path / "c.json"))
    probe = plan_of(session(m, calibration=cal, accuracy_budget=1.0, dtypes="float32,qint8",
                            profile_cache=tmp_path / "p.sqlite"))
    e_fc = max(e for (n, k), e in probe.tuned.candidate_errors.items() if k.startswith("q8|cpu:qint8/qgemv"))
    budget = e_fc / 1.5  # the classifier's qint8 form alone exceeds it
    real = B._layer_errors
    factor = {"Conv": 1.5, "Gemm": 1.2}  # estimated e of the qint8 forms, in budgets

    def rigged(g, types, feed_names, threads, tuned, sample):
        errs = real(g, types, feed_names, threads, tuned, sample)
        ops = {n.name: n.op for n in g.nodes}
        # the conv's float32 routines timed 10x slower, so that its qint8 form is the faster whatever this
        # machine measured (the two are within 40 us here; a noisy profile flipped the choice once)
        for L in tuned.dp_layers:
            if ops.get(L.name) == "Conv":
                L.candidates = [c if c.routine.startswith("q8|") else dataclasses.replace(c, time=c.time * 10)
                                for c in L.candidates]
        return {(n, k): (factor[ops[n]] * budget) ** 2 if k.startswith("q8|") and ops[n] in factor else e
                for (n, k), e in errs.items()}
    monkeypatch.setattr(B, "_layer_errors", rigged)
    # float32 and qint8 only (bfloat16 would compete with the conv's qint8 form)
    s = session(m, calibration=cal, accuracy_budget=budget, dtypes="float32,qint8",
                profile_cache=tmp_path / "p.sqlite")
    spec = plan_of(s)
    ops = [n.op for n in spec.graph.nodes]
    assert spec.tuned.error <= budget
    assert "QGemm" not in ops
    assert "QLinearConv" in ops  # without the retry: float32 everywhere (the first plan, the only one in budget)


def test_output_layers_include_the_linear_tail_before_them():
    # the classifier's pooling and flattening pass their quantisation error to the logits whole, like the
    # classifier itself: the budget search treats all three as output layers (not the conv under the pooling)
    from softneuro_ep.graph_passes.budget import _output_tail
    from softneuro_ep.graph_passes.load import to_ir
    g = to_ir(conv_fc_net())
    ops = {n.name: n.op for n in g.nodes}
    assert sorted(ops[n] for n in _output_tail(g, ["y"])) == ["Flatten", "Gemm", "GlobalAveragePool"]
    assert sorted(ops[n] for n in _output_tail(g, ["y", "r1"])) == ["Flatten", "Gemm", "GlobalAveragePool", "Relu"]


def test_memory_estimate_counts_the_kernels_workspace(wide, tmp_path):
    # a plan's kernel scratch (one buffer, the largest chosen routine's) is part of its peak: measured with the
    # routine's profile, cached with its time, and estimated as the lowered plan has it
    from softneuro_ep.graph_passes.budget import _workspace_bytes
    cache = tmp_path / "c.sqlite"
    opts = dict(memory_limit_mb=1000, dtypes="float32", profile_cache=cache,
                routines="cpu:float32:nchw/im2col_gemm@0")  # a routine with scratch (its column matrix)
    spec = plan_of(session(wide, **opts))
    assert spec.plan.workspace_bytes > 0
    assert _workspace_bytes(spec.tuned) == spec.plan.workspace_bytes
    again = plan_of(session(wide, **opts)).tuned
    assert again.profiled == 0 and again.workspaces == spec.tuned.workspaces
