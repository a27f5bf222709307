"""com.microsoft QLinearAveragePool (cpu:qint8/direct): the numpy reference is onnxruntime's kernel, bit for
bit, and the engine runs the contrib op natively from a model."""
import os
import sys

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import softneuro_ep

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
from refs import REFS  # noqa: E402

CASES = [  # (x dtype, x shape, attributes)
    (np.uint8, (1, 1, 5), {"kernel_shape": [3], "pads": [1, 2]}),
    (np.uint8, (1, 1, 5), {"kernel_shape": [3], "pads": [1, 2], "count_include_pad": 1}),
    (np.uint8, (2, 3, 5, 7), {"kernel_shape": [3, 4], "strides": [1, 2], "pads": [1, 3, 2, 1]}),
    (np.uint8, (1, 3, 5, 7), {"kernel_shape": [3, 4], "strides": [1, 2], "pads": [1, 3, 2, 1],
                              "count_include_pad": 1}),
    (np.int8, (1, 4, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    (np.int8, (1, 2, 8, 6), {"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
    (np.uint8, (1, 2, 7, 7), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    (np.uint8, (1, 3, 6, 5), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    (np.int8, (1, 3, 6, 5), {"kernel_shape": [2, 3], "strides": [1, 2], "auto_pad": "SAME_LOWER",
                             "count_include_pad": 1}),
    (np.uint8, (1, 3, 6, 5), {"kernel_shape": [3, 2], "auto_pad": "VALID"}),
    (np.uint8, (1, 1, 5, 7, 9), {"kernel_shape": [3, 4, 5], "strides": [1, 2, 3], "pads": [1, 3, 2, 2, 1, 2]}),
    (np.uint8, (2, 16, 7, 7), {"kernel_shape": [7, 7]}),  # onnxruntime's global-average-pool path
    (np.int8, (1, 8, 5, 3), {"kernel_shape": [5, 3], "strides": [2, 2]}),
]


def _params(dt, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dt)
    zx = np.asarray(rng.integers(info.min, info.max), dt)
    zy = np.asarray(rng.integers(info.min, info.max), dt)
    return (np.asarray(np.float32(rng.uniform(0.01, 0.1))), zx, np.asarray(np.float32(rng.uniform(0.005, 0.08))), zy)


def qavgpool_model(dt, shape, attrs, params, y_shape=None):
    sx, zx, sy, zy = params
    t = TensorProto.UINT8 if dt == np.uint8 else TensorProto.INT8
    inits = [numpy_helper.from_array(a, n) for a, n in zip(params, ["sx", "zx", "sy", "zy"])]
    node = helper.make_node("QLinearAveragePool", ["x", "sx", "zx", "sy", "zy"], ["y"], domain="com.microsoft",
                            **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", t, list(shape))],
                          [helper.make_tensor_value_info("y", t, y_shape)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


def _ort(model, x):
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    s = onnxruntime.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_qlinear_avgpool_matches_onnxruntime_bit_for_bit(case):
    dt, shape, attrs = CASES[case]
    params = _params(dt, case)
    info = np.iinfo(dt)
    x = np.random.default_rng(100 + case).integers(info.min, info.max, size=shape, endpoint=True).astype(dt)
    ref = REFS["QLinearAveragePool"].compute([x, *params], attrs)[0]
    model = qavgpool_model(dt, shape, attrs, params, list(ref.shape))
    want = _ort(model, x)
    assert ref.shape == want.shape and ref.dtype == want.dtype
    np.testing.assert_array_equal(ref, want)
    assert len(np.unique(want)) > 1  # not a saturated or constant answer
    s = softneuro_ep.InferenceSession(model.SerializeToString())
    np.testing.assert_array_equal(s.run(None, {"x": x})[0], want)
    assert [r[2].startswith("cpu:qint8/direct") for r in s.plan_summary() if r[1] == "QLinearAveragePool"] == [True]


def test_qlinear_avgpool_two_threads_same_answer():
    dt, shape, attrs = np.uint8, (2, 16, 20, 20), {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]}
    params = _params(dt, 7)
    x = np.random.default_rng(7).integers(0, 255, size=shape, endpoint=True).astype(dt)
    model = qavgpool_model(dt, shape, attrs, params, list(shape))
    so = softneuro_ep.SessionOptions()
    so.intra_op_num_threads = 2
    s = softneuro_ep.InferenceSession(model.SerializeToString(), so)
    np.testing.assert_array_equal(s.run(None, {"x": x})[0], _ort(model, x))


def test_qlinear_avgpool_channels_last_is_reported_unsupported():
    params = _params(np.uint8, 3)
    model = qavgpool_model(np.uint8, (1, 5, 7, 3), {"kernel_shape": [3, 3], "channels_last": 1}, params,
                           [1, 3, 5, 3])
    with pytest.raises(Exception, match="QLinearAveragePool") as e:
        s = softneuro_ep.InferenceSession(model.SerializeToString())
        s.run(None, {"x": np.zeros((1, 5, 7, 3), np.uint8)})
    assert type(e.value).__module__.startswith("softneuro_ep")  # the engine's error, not a crash


def test_qlinear_avgpool_without_y_zero_point_is_zero():
    """(onnxruntime's type inference refuses an omitted x_zero_point; y_zero_point it takes as 0)"""
    dt, shape, attrs = np.uint8, (1, 2, 6, 6), {"kernel_shape": [2, 2], "strides": [2, 2]}
    sx, zx, sy = np.asarray(np.float32(0.05)), np.asarray(10, np.uint8), np.asarray(np.float32(0.03))
    x = np.random.default_rng(1).integers(0, 120, size=shape).astype(dt)
    inits = [numpy_helper.from_array(a, n) for a, n in ((sx, "sx"), (zx, "zx"), (sy, "sy"))]
    node = helper.make_node("QLinearAveragePool", ["x", "sx", "zx", "sy"], ["y"], domain="com.microsoft", **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 2, 3, 3])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    want = _ort(model, x)
    np.testing.assert_array_equal(REFS["QLinearAveragePool"].compute([x, sx, zx, sy, None], attrs)[0], want)
    np.testing.assert_array_equal(softneuro_ep.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0],
                                  want)
