"""QDQ models (quantize_static's default format) keep their classifier head in int8: DQ -> AveragePool /
GlobalAveragePool -> Q and DQ, DQ -> Gemm [-> Q] become com.microsoft QLinearAveragePool /
QLinearGlobalAveragePool / QGemm (graph_passes/qdq_head.py) and match onnxruntime within one step."""
import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import softneuro_ep as ort


def _w(rng, name, *shape, scale=0.2):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def head_net():
    """conv -> relu -> AveragePool(3x3/2, pads) -> conv -> GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("AveragePool", ["r1"], ["ap"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["ap", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c2"], ["gp"]),
             helper.make_node("Flatten", ["gp"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    inits = [_w(rng, "w1", 8, 3, 3, 3), _w(rng, "b1", 8), _w(rng, "w2", 16, 8, 3, 3, scale=0.1), _w(rng, "b2", 16),
             _w(rng, "wf", 10, 16), _w(rng, "bf", 10)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def samples(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(n)]


def quantized(tmp_path, per_channel, act="QUInt8"):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    src, dst = str(tmp_path / "f.onnx"), str(tmp_path / f"q{int(per_channel)}{act}.onnx")
    onnx.save(head_net(), src)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": x} for x in samples(4, 1)])

        def get_next(self):
            return next(self.it, None)
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=getattr(QuantType, act), weight_type=QuantType.QInt8)
    return onnx.load(dst)


def _ort(model):
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _inits(model):
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _ops(sess):
    return {r[1]: r[2] for r in sess.plan_summary()}


@pytest.mark.parametrize("per_channel", [False, True])
def test_qdq_head_runs_quantized_and_matches_onnxruntime(tmp_path, per_channel):
    m = quantized(tmp_path, per_channel)
    s, ref = ort.InferenceSession(m.SerializeToString()), _ort(m)
    s.run(None, {"x": samples(1, 5)[0]})
    ops = _ops(s)
    assert ops["QLinearAveragePool"].startswith("cpu:qint8/direct")
    assert ops["QLinearGlobalAveragePool"].startswith("cpu:qint8/direct")
    assert ops["QGemm"].startswith("cpu:qint8/qgemv")
    assert not {"AveragePool", "GlobalAveragePool", "Gemm"} & set(ops)
    step = float(_inits(m)["y_scale"])
    for x in samples(4, 11):
        y, r = s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        assert np.abs(y - r).max() <= step * 1.0001  # within one quantisation step
        assert np.abs(r).max() > 10 * step  # a real answer, not all zero points


def _without_output_q(m):
    """The model with Gemm's output Q -> DQ removed: Gemm writes y in float32 (QGemm's float output)."""
    m = onnx.ModelProto.FromString(m.SerializeToString())
    nodes = list(m.graph.node)
    q = next(n for n in nodes if n.op_type == "QuantizeLinear" and n.input[0] == "y_QuantizeLinear_Input")
    dq = next(n for n in nodes if n.op_type == "DequantizeLinear" and n.output[0] == "y")
    gemm = next(n for n in nodes if n.op_type == "Gemm")
    gemm.output[0] = "y"
    m.graph.node.remove(q)
    m.graph.node.remove(dq)
    return m


@pytest.mark.parametrize("float_bias", [False, True])
def test_qdq_gemm_without_output_q_is_a_float_qgemm(tmp_path, float_bias):
    m = _without_output_q(quantized(tmp_path, True))
    if float_bias:  # C as a float constant instead of DQ(int32): rounded to int32 in a_scale * b_scale units
        gemm = next(n for n in m.graph.node if n.op_type == "Gemm")
        dq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.output[0] == gemm.input[2])
        inits = _inits(m)
        bf = ((inits[dq.input[0]].astype(np.int64)) * inits[dq.input[1]].astype(np.float64)).astype(np.float32)
        bf = bf + np.float32(1e-3)  # off the int32 grid
        m.graph.initializer.append(numpy_helper.from_array(bf, "bf_float"))
        gemm.input[2] = "bf_float"
        m.graph.node.remove(dq)
    s, ref = ort.InferenceSession(m.SerializeToString()), _ort(m)
    for x in samples(3, 12):
        y, r = s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        assert y.dtype == np.float32
        # same u8 inputs and weights: only float rounding (and, with a float C, its rounding to
        # a_scale * b_scale units, ~1e-4 here) differ
        np.testing.assert_allclose(y, r, rtol=0, atol=2e-3 * np.abs(r).max())
    ops = _ops(s)
    assert ops["QGemm"].startswith("cpu:qint8/qgemv") and "Gemm" not in ops


def test_qdq_s8_average_pool_is_fused(tmp_path):
    m = quantized(tmp_path, False, act="QInt8")
    s, ref = ort.InferenceSession(m.SerializeToString()), _ort(m)
    x = samples(1, 13)[0]
    y, r = s.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
    assert _ops(s)["QLinearAveragePool"].startswith("cpu:qint8/direct")
    assert np.abs(y - r).max() <= float(_inits(m)["y_scale"]) * 1.0001


def test_qdq_pool_whose_float_output_is_read_elsewhere_stays_float(tmp_path):
    m = quantized(tmp_path, False)
    m.graph.output.append(helper.make_tensor_value_info("gp", TensorProto.FLOAT, None))  # a graph output now
    s, ref = ort.InferenceSession(m.SerializeToString()), _ort(m)
    x = samples(1, 14)[0]
    got, want = s.run(None, {"x": x}), ref.run(None, {"x": x})
    ops = _ops(s)
    assert "GlobalAveragePool" in ops and "QLinearGlobalAveragePool" not in ops
    assert "QLinearAveragePool" in ops  # the other fusions still happen
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)  # gp: float, as the model says
