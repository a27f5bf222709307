"""Residuals added in place (graph_passes/inplace_residual.py): a conv that fuses the
residual add writes its output over a residual that dies there, chained block to block."""
import numpy as np
import onnxruntime
import pytest
from onnx import helper, numpy_helper

import softneuro_ep as ort
from softneuro_ep import _engine
from softneuro_ep.graph_passes.inplace_residual import residual_aliases
from softneuro_ep.graph_passes.ir import Node

F = 1  # float32
D16 = "cpu:float32:nchw16c/direct"


def _node(name, ins, out):
    return Node("Conv", ins, [out], {}, name)


def test_aliases_only_a_residual_that_dies_there():
    nodes = [_node("c0", ["x", "w"], "a"),            # 0
             _node("c1", ["a", "w", "b", "x2"], "y"),  # 1: x2 is read again at 2
             _node("c2", ["y", "w", "b", "x2"], "y2"),  # 2: x2 dies here
             _node("c3", ["y2", "w", "b", "a"], "y3"),  # 3: a dies here, but the routine is not in place
             _node("c4", ["y3", "w", "b", "y3"], "y4")]  # 4: the residual is also the conv's input
    first = {"a": 0, "x2": 0, "y": 1, "y2": 2, "y3": 3, "y4": 4}
    last = {"a": 3, "x2": 2, "y": 2, "y2": 3, "y3": 4, "y4": 4}
    sizes = dict.fromkeys(first, 4096)
    choice = {"c1": D16, "c2": D16 + "/t1", "c3": "cpu:float32:nchw/gemm_1x1", "c4": D16}
    layout = dict.fromkeys(first, "nchw16c")
    assert residual_aliases(nodes, choice, first, last, sizes, layout, set()) == {"y2": "x2"}
    assert residual_aliases(nodes, choice, first, last, sizes, layout, {"x2"}) == {}
    assert residual_aliases(nodes, choice, first, last, dict(sizes, y2=8192), layout, set()) == {}


def _resnet_blocks(c=32, blocks=3, hw=10):
    """x -> stem conv -> Relu -> blocks of (1x1 -> Relu -> 3x3 -> Add(residual) -> Relu) -> 1x1 conv."""
    rng = np.random.default_rng(0)
    nodes, inits = [], []

    def conv(name, src, dst, cin, cout, k):
        w = numpy_helper.from_array(rng.uniform(-0.3, 0.3, (cout, cin, k, k)).astype(np.float32), name + "_w")
        b = numpy_helper.from_array(rng.uniform(-0.1, 0.1, cout).astype(np.float32), name + "_b")
        inits.extend([w, b])
        nodes.append(helper.make_node("Conv", [src, w.name, b.name], [dst], name=name, pads=[k // 2] * 4))

    conv("stem", "x", "s", 3, c, 3)
    nodes.append(helper.make_node("Relu", ["s"], ["r0"], name="relu0"))
    for k in range(blocks):
        conv(f"b{k}a", f"r{k}", f"a{k}", c, c, 1)
        nodes.append(helper.make_node("Relu", [f"a{k}"], [f"ra{k}"], name=f"relu_a{k}"))
        conv(f"b{k}b", f"ra{k}", f"b{k}", c, c, 3)
        nodes.append(helper.make_node("Add", [f"b{k}", f"r{k}"], [f"sum{k}"], name=f"add{k}"))
        nodes.append(helper.make_node("Relu", [f"sum{k}"], [f"r{k + 1}"], name=f"relu{k + 1}"))
    conv("head", f"r{blocks}", "y", c, 8, 1)
    g = helper.make_graph(nodes, "res", [helper.make_tensor_value_info("x", F, [1, 3, hw, hw])],
                          [helper.make_tensor_value_info("y", F, [1, 8, hw, hw])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _session(model, tmp_path):
    opts = {"routines": "cpu:float32:nchw16c@0..20", "profile_cache": str(tmp_path / "c.sqlite")}
    return ort.InferenceSession(model, providers=[("SoftNeuroExecutionProvider", opts)])


def test_resnet_blocks_in_place_match_onnxruntime(tmp_path, monkeypatch):
    if not any(r["usable"] and r["descriptor"] == D16 for r in _engine.routines("Conv")):
        pytest.skip("needs AVX-512")
    model = _resnet_blocks()
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 10, 10)).astype(np.float32)
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    s = _session(model, tmp_path)
    got = s.run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    fused = [name for name, op, desc in s.plan_summary() if op == "Conv" and desc.startswith(D16)]
    assert {f"b{k}b" for k in range(3)} <= set(fused)  # the adds are fused into the 3x3 convs
    arena = next(iter(s._plans.values())).plan.arena_bytes

    monkeypatch.setenv("SNEP_INPLACE_RESIDUAL", "0")
    s0 = _session(model, tmp_path)
    got0 = s0.run(None, {"x": x})[0]
    np.testing.assert_allclose(got0, want, rtol=1e-5, atol=1e-5)
    arena0 = next(iter(s0._plans.values())).plan.arena_bytes
    # each block's output takes its residual's slot: one 32x10x10 tensor fewer live at the peak
    assert arena <= arena0 - 32 * 10 * 10 * 4
