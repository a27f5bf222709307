"""A constant per-channel Mul after a Conv or MatMul folds into its weights and bias
(graph_passes/fuse.py fold_channel_scale: ConvNeXt's layer scale, CaiT's): the same
answer as onnxruntime, one step fewer; a Mul that does not scale whole output
channels, widens the output, or reads a tensor used elsewhere stays a step."""
import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import softneuro_ep as snep

F = TensorProto.FLOAT
RNG = np.random.default_rng(0)


def _c(name, a):
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def _conv_model(scale, extra_out=False):
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["h"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["h", "s"], ["m"]), helper.make_node("Relu", ["m"], ["y"])]
    outs = [helper.make_tensor_value_info("y", F, None)]
    if extra_out:
        outs.append(helper.make_tensor_value_info("h", F, None))
    inits = [_c("w", RNG.normal(0, 0.3, (6, 4, 3, 3))), _c("b", RNG.normal(0, 0.3, 6)), _c("s", scale)]
    g = helper.make_graph(nodes, "conv_scale", [helper.make_tensor_value_info("x", F, [1, 4, 7, 7])], outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), (1, 4, 7, 7)


def _matmul_model(scale, rank=3, scale_first=False):
    shape = [2, 5, 8][-rank:] if rank <= 3 else [1, 2, 5, 8]
    mul_ins = ["s", "a"] if scale_first else ["a", "s"]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["a"]),
             helper.make_node("Mul", mul_ins, ["y"])]
    inits = [_c("w", RNG.normal(0, 0.3, (8, 12))), _c("b", RNG.normal(0, 0.3, 12)), _c("s", scale)]
    g = helper.make_graph(nodes, "mm_scale", [helper.make_tensor_value_info("x", F, shape)],
                          [helper.make_tensor_value_info("y", F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), tuple(shape)


def _check(model_shape, folded, tmp_path):
    model, shape = model_shape
    x = RNG.normal(0, 1, shape).astype(np.float32)
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    s = snep.InferenceSession(model, providers=[("SoftNeuroExecutionProvider",
                                                 {"tuning": "none", "profile_cache": str(tmp_path / "c.sqlite")})])
    got = s.run(None, {"x": x})
    for g_, w_ in zip(got, want):
        assert g_.shape == w_.shape
        np.testing.assert_allclose(g_, w_, rtol=1e-5, atol=1e-5)
    muls = [op for _, op, _ in s.plan_summary() if op == "Mul"]
    assert (not muls) == folded, s.plan_summary()


@pytest.mark.parametrize("scale", [RNG.uniform(0.1, 2, (6, 1, 1)), RNG.uniform(0.1, 2, (1, 6, 1, 1)), 0.37,
                                   np.full((1, 1, 1, 1), -1.5)], ids=["c11", "1c11", "scalar", "scalar4d"])
def test_conv_scale_folds(scale, tmp_path):
    _check(_conv_model(scale), True, tmp_path)


@pytest.mark.parametrize("scale", [RNG.uniform(0.1, 2, 7), RNG.uniform(0.1, 2, (1, 1, 1, 1, 1)),
                                   RNG.uniform(0.1, 2, (6, 1, 7))],
                         ids=["along_w", "widens", "varies_by_row"])
def test_conv_scale_not_per_channel_stays(scale, tmp_path):
    _check(_conv_model(scale), False, tmp_path)


def test_conv_output_read_elsewhere_keeps_its_mul(tmp_path):
    _check(_conv_model(RNG.uniform(0.1, 2, (6, 1, 1)), extra_out=True), False, tmp_path)


@pytest.mark.parametrize("rank,scale,scale_first", [(3, RNG.uniform(-1, 1, 12), False),
                                                    (2, RNG.uniform(-1, 1, (1, 12)), True),
                                                    (4, 0.5, False), (3, RNG.uniform(-1, 1, (1, 1, 12)), False)])
def test_matmul_scale_folds(rank, scale, scale_first, tmp_path):
    _check(_matmul_model(scale, rank, scale_first), True, tmp_path)


@pytest.mark.parametrize("rank,scale", [(2, RNG.uniform(-1, 1, (1, 1, 12))), (3, RNG.uniform(-1, 1, (5, 12)))],
                         ids=["widens", "varies_by_row"])
def test_matmul_scale_not_per_channel_stays(rank, scale, tmp_path):
    _check(_matmul_model(scale, rank), False, tmp_path)
