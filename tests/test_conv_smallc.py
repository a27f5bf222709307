"""cpu:float32:nchw/direct_smallc (Conv with few input channels: network stems)
against onnxruntime's Conv plus numpy for the fused epilogue (bias, residual
input 3, activation), at 1 and 2 threads, constant and runtime weights, batch
1 and 2, stride 1 and 2, kernels 1..7, pads, widths that leave partial vectors."""
import numpy as np
import onnxruntime
import pytest
from onnx import helper, numpy_helper

from softneuro_ep import _engine
from softneuro_ep.graph_passes.node_eval import run_node

DESC = "cpu:float32:nchw/direct_smallc"
USABLE = any(r["descriptor"] == DESC and r["usable"] for r in _engine.routines("Conv"))
CASES = [  # N, C, M, H, W, k, s, pad
    (1, 3, 64, 224, 224, 7, 2, 3), (1, 3, 32, 64, 61, 3, 2, 1), (2, 1, 5, 17, 19, 3, 1, 1),
    (1, 4, 13, 9, 40, 5, 2, 2), (1, 2, 9, 33, 47, 2, 1, 0), (2, 3, 16, 8, 16, 1, 1, 0), (1, 3, 8, 5, 3, 3, 2, 1)]
ACTS = [({}, lambda v: v), ({"activation": "Relu"}, lambda v: np.maximum(v, 0)),
        ({"activation": "Clip", "activation_params": [-0.5, 0.7]}, lambda v: np.clip(v, -0.5, 0.7)),
        ({"activation": "LeakyRelu", "activation_params": [0.1]}, lambda v: np.where(v >= 0, v, 0.1 * v))]


def ort_conv(x, w, b, attrs):
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, None)],
                          [helper.make_tensor_value_info("y", 1, None)],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    sess = onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.skipif(not USABLE, reason="needs AVX-512 (the routine is not registered as usable on this CPU)")
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("act", range(len(ACTS)))
def test_smallc_matches_onnxruntime(case, act):
    n, c, m, h, w_, k, s, p = case
    rng = np.random.default_rng(hash(case) % 2**32 + act)
    x = rng.standard_normal((n, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c, k, k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])
    conv = ort_conv(x, w, b, attrs)
    z = rng.standard_normal(conv.shape).astype(np.float32) if act % 2 else None
    fused, fn = ACTS[act]
    want = fn(conv + (z if z is not None else 0))
    ins = [x, w, b] + ([z] if z is not None else [])
    for threads, const in ((1, True), (2, False)):  # weights regrouped at prepare / per run
        got = run_node("Conv", ins, {**attrs, **fused}, outputs=[(np.float32, want.shape)], descriptor=DESC,
                       num_threads=threads, const_inputs=const)[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max(),
                                   err_msg=f"threads={threads} const={const}")


@pytest.mark.skipif(not USABLE, reason="needs AVX-512 (the routine is not registered as usable on this CPU)")
@pytest.mark.parametrize("c, attrs, out", [(8, {}, 14), (3, {"dilations": [2, 2]}, 12), (3, {"strides": [3, 3]}, 5),
                                           (3, {"group": 3}, 14)])
def test_smallc_declines_what_it_does_not_cover(c, attrs, out):
    # 8 input channels: im2col's K is long enough there; dilation, stride 3 and groups are not covered
    x = np.zeros((1, c, 16, 16), np.float32)
    w = np.zeros((3, 1 if "group" in attrs else c, 3, 3), np.float32)
    run_node("Conv", [np.zeros((1, 3, 16, 16), np.float32), np.zeros((3, 3, 3, 3), np.float32)], {"kernel_shape": [3, 3]},
             outputs=[(np.float32, (1, 3, 14, 14))], descriptor=DESC, const_inputs=True)  # the plain case runs
    with pytest.raises(Exception, match="does not support"):
        run_node("Conv", [x, w], {"kernel_shape": [3, 3], **attrs}, outputs=[(np.float32, (1, 3, out, out))],
                 descriptor=DESC, const_inputs=True)
