"""NHWC float32 routines (cpu:float32:nhwc/...), each run in a small plan between
Reorder steps (NCHW feeds -> NHWC -> routine -> NCHW output) against the numpy
references of conformance/refs; the routine's output is also read raw, which checks
the physical NHWC order. They need no more than x86-64, so every check runs on
every CPU, and under SNEP_MAX_ISA the narrower kernel builds are checked too.
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

from softneuro_ep import InferenceSession, SessionOptions

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layout_plans import (ACT_ATTRS, BIG_CONVS, FAST, REORDER, PlanBuilder, arr, draw_conv,  # noqa: E402
                          draw_pool, draw_resize, draw_softmax, to_layout)
from refs import REFS  # noqa: E402
from refs.layout import to_nhwc  # noqa: E402

NHWC = "nhwc"


def run_nhwc(op, inputs, attrs, out_shape, desc, threads, const=()):
    """inputs: numpy arrays (None: omitted); indices in `const` are plan constants,
    the others reordered to NHWC. Returns (logical output, raw physical output)."""
    b = PlanBuilder(threads)
    ids = []
    for k, x in enumerate(inputs):
        if x is None:
            ids.append(-1)
        elif k in const:
            ids.append(b.const(x))
        else:
            ids.append(b.reorder_in(x, NHWC))
    y, off = b.arena(out_shape, NHWC)
    b.step(op, ids, [y], desc, attrs)
    b.reorder_out(y, out_shape)
    b.raw_out(off, out_shape, NHWC)
    return b.run()


def check(got, raw, want, rtol, atol, what=""):
    want = want.astype(np.float32)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    np.testing.assert_array_equal(raw, to_nhwc(got))


# ---- Reorder between NHWC and the blocked layouts -----------------------------------------

@given(data=st.data())
@FAST
@pytest.mark.parametrize("blocked", ["nchw16c", "nchw8c"])
def test_reorder_nhwc_blocked(blocked, data):
    """Plain -> NHWC -> blocked (read raw: pad lanes zero) -> NHWC -> Plain, rank 3 to 5."""
    d = data.draw
    rank = d(st.integers(3, 5))
    shape = (d(st.integers(1, 2)), d(st.integers(1, 40))) + tuple(d(st.integers(1, {3: 70, 4: 13, 5: 6}[rank]))
                                                                   for _ in range(rank - 2))
    x = arr(d, shape, -10, 10)
    b = PlanBuilder(d(st.sampled_from([1, 2])))
    t_nhwc = b.reorder_in(x, NHWC)
    t_blk, off = b.arena(shape, blocked)
    b.step("Reorder", [t_nhwc], [t_blk], REORDER)
    b.raw_out(off, shape, blocked)
    back, _ = b.arena(shape, NHWC)
    b.step("Reorder", [t_blk], [back], REORDER)
    b.reorder_out(back, shape)
    raw, got = b.run()
    np.testing.assert_array_equal(raw, to_layout(x, blocked))
    np.testing.assert_array_equal(got, x)


# ---- Conv ------------------------------------------------------------------------------

@given(data=st.data())
@FAST
@pytest.mark.parametrize("algo", ["gemm", "depthwise"])
def test_conv_nhwc(algo, data):
    inputs, attrs, out_shape = draw_conv(data.draw, algo == "depthwise")
    threads = data.draw(st.sampled_from([1, 2]))
    ref = REFS["Conv"]
    want = ref.compute(inputs, attrs)[0]
    rtol, atol = ref.tolerance("", np.float32)
    got, raw = run_nhwc("Conv", inputs, attrs, out_shape, f"cpu:float32:nhwc/{algo}", threads, const=(1, 2))
    check(got, raw, want, rtol, atol, f"Conv {algo} {attrs} {[None if i is None else i.shape for i in inputs]}")


# Past the draw: K split in several blocks (C*k*k > the GEMM's K block), pixel counts
# that are not a multiple of the micro-kernel's rows, 2 images.
@pytest.mark.parametrize("shape", BIG_CONVS + [(600, 40, 5, 7, 1, 1, 0), (96, 70, 9, 8, 3, 1, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_conv_nhwc_gemm_big(shape):
    c, m, h, w, k, s, pad = shape
    rng = np.random.default_rng(c * m + h)
    x = rng.uniform(-1, 1, (2, c, h, w)).astype(np.float32)
    wt = rng.uniform(-1, 1, (m, c, k, k)).astype(np.float32)
    bias = rng.uniform(-1, 1, m).astype(np.float32)
    attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [pad] * 4, "activation": "Relu"}
    out_shape = (2, m, (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1)
    z = rng.uniform(-1, 1, out_shape).astype(np.float32)
    want = REFS["Conv"].compute([x, wt, bias, z], attrs)[0]
    for threads in (1, 2):
        got, raw = run_nhwc("Conv", [x, wt, bias, z], attrs, out_shape, "cpu:float32:nhwc/gemm", threads,
                            const=(1, 2))
        check(got, raw, want, 1e-4, 1e-4, f"{shape} threads={threads}")


# Whole register tiles (4 pixels x 64 channels, 8 x 32 and 12 x 16 on AVX-512; 3 x 32, 6 x 16
# and 8 x 8 on AVX2) and channel tails, columns at the padding (one pixel at a time) and
# inside. (C, k, stride, pad, dilation, residual)
DW_WIDE = [(64, 5, 2, 2, 1, False), (100, 5, 2, 2, 1, True), (200, 3, 1, 1, 1, True), (96, 3, 1, 2, 2, False),
           (130, 3, 2, 0, 1, True), (96, 7, 1, 3, 1, True), (112, 3, 1, 1, 1, False), (24, 3, 1, 1, 1, True),
           (16, 3, 1, 0, 1, False), (8, 5, 1, 2, 1, True)]


@pytest.mark.parametrize("case", DW_WIDE, ids=lambda c: "-".join(map(str, c)))
def test_conv_nhwc_depthwise_wide(case):
    c, k, s, pad, dil, residual = case
    rng = np.random.default_rng(c + k)
    x = rng.uniform(-1, 1, (2, c, 12, 19)).astype(np.float32)
    wt = rng.uniform(-1, 1, (c, 1, k, k)).astype(np.float32)
    bias = rng.uniform(-1, 1, c).astype(np.float32)
    attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [pad] * 4, "dilations": [dil, dil], "group": c,
             "activation": "Clip", "activation_params": [0.0, 6.0]}
    out = REFS["Conv"].compute([x, wt, bias], attrs)[0].shape
    z = rng.uniform(-1, 1, out).astype(np.float32) if residual else None
    inputs = [x, wt, bias] + ([z] if residual else [])
    want = REFS["Conv"].compute(inputs, attrs)[0]
    for threads in (1, 2):
        got, raw = run_nhwc("Conv", inputs, attrs, want.shape, "cpu:float32:nhwc/depthwise", threads, const=(1, 2))
        check(got, raw, want, 1e-5, 1e-5, f"{case} threads={threads}")


def test_conv_nhwc_rejects_other_layouts_and_groups():
    b = PlanBuilder(1)
    x = b.reorder_in(np.zeros((1, 8, 4, 4), np.float32), NHWC)
    y, _ = b.arena((1, 8, 2, 2), NHWC)
    with pytest.raises(Exception, match="support"):  # grouped, not depthwise
        b.step("Conv", [x, b.const(np.zeros((8, 4, 3, 3), np.float32))], [y], "cpu:float32:nhwc/gemm",
               {"kernel_shape": [3, 3], "group": 2})
    xp = b.feed(np.zeros((1, 8, 4, 4), np.float32))  # ONNX's layout in
    with pytest.raises(Exception, match="support"):
        b.step("Conv", [xp, b.const(np.zeros((8, 8, 3, 3), np.float32))], [y], "cpu:float32:nhwc/gemm",
               {"kernel_shape": [3, 3]})


# ---- pooling -----------------------------------------------------------------------------

@given(data=st.data())
@FAST
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool_nhwc(op, data):
    x, attrs, want = draw_pool(data.draw, op, max_c=90)  # past one 64-channel chunk
    got, raw = run_nhwc(op, [x], attrs, want.shape, "cpu:float32:nhwc/direct", data.draw(st.sampled_from([1, 2])))
    check(got, raw, want, 1e-5, 1e-5, f"{op} {attrs} {x.shape}")


@given(data=st.data())
@FAST
def test_global_average_pool_nhwc(data):
    d = data.draw
    shape = (d(st.integers(1, 2)), d(st.integers(1, 300)), d(st.integers(1, 15)), d(st.integers(1, 15)))
    x = arr(d, shape, -10, 10)
    want = REFS["GlobalAveragePool"].compute([x], {})[0]
    got, raw = run_nhwc("GlobalAveragePool", [x], {}, want.shape, "cpu:float32:nhwc/direct",
                        d(st.sampled_from([1, 2])))
    check(got, raw, want, 1e-4, 1e-4)


# ---- elementwise -------------------------------------------------------------------------

@given(data=st.data())
@FAST
@pytest.mark.parametrize("op", ["Add", "Mul"])
def test_per_channel_nhwc(op, data):
    """x [N,C,H,W] with s [N or 1,C,1,1] (fed, or a constant: the same bytes in either layout)."""
    d = data.draw
    shape = (d(st.integers(1, 2)), d(st.integers(1, 70)), d(st.integers(2, 11)), d(st.integers(1, 11)))
    small = (d(st.sampled_from([1, shape[0]])), shape[1], 1, 1)
    a, b = arr(d, shape, -5, 5), arr(d, small, -5, 5)
    first = d(st.booleans())
    inputs = [b, a] if first else [a, b]
    const = ((0 if first else 1),) if d(st.booleans()) else ()
    want = a + b if op == "Add" else a * b
    got, raw = run_nhwc(op, inputs, {}, shape, "cpu:float32:nhwc/per_channel", d(st.sampled_from([1, 2])),
                        const=const)
    check(got, raw, want, 1e-6, 1e-6, f"{op} {shape} {small}")


@given(data=st.data())
@FAST
@pytest.mark.parametrize("op", ["Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh", "Add",
                                "Mul", "Sub", "Div"])
def test_elementwise_nhwc(op, data):
    """Ops that do not see the layout, run by their ONNX-layout routine."""
    d = data.draw
    shape = (d(st.integers(1, 2)), d(st.integers(1, 40)), d(st.integers(1, 9)), d(st.integers(1, 9)))
    x = arr(d, shape, -8, 8)
    attrs = {k: float(np.float32(d(s))) for k, s in ACT_ATTRS.get(op, {}).items() if d(st.booleans())}
    inputs, const = [x], ()
    if op == "Clip":
        inputs = [x, np.array(-1.0, np.float32), np.array(d(st.sampled_from([1.0, 6.0])), np.float32)]
        const = (1, 2)
    elif op in ("Add", "Mul", "Sub", "Div"):
        other = arr(d, shape, 0.5, 2) if d(st.booleans()) else np.array(1.5, np.float32)
        inputs = [x, other]
        const = (1,) if other.ndim == 0 else ()
    want = REFS[op].compute(inputs, attrs)[0]
    got, raw = run_nhwc(op, inputs, attrs, shape, "cpu:float32:nhwc/elementwise", d(st.sampled_from([1, 2])),
                        const=const)
    check(got, raw, want, 2e-5, 2e-5, f"{op} {attrs}")


def test_elementwise_nhwc_rejects_broadcasts():
    """A [C,1,1] operand broadcasts differently in NHWC: not a layout-blind case."""
    b = PlanBuilder(1)
    x = b.reorder_in(np.zeros((1, 8, 4, 4), np.float32), NHWC)
    y, _ = b.arena((1, 8, 4, 4), NHWC)
    with pytest.raises(Exception, match="support"):
        b.step("Add", [x, b.const(np.zeros((8, 1, 1), np.float32))], [y], "cpu:float32:nhwc/elementwise")


@given(data=st.data())
@FAST
def test_concat_nhwc(data):
    d = data.draw
    n, h, w = d(st.integers(1, 2)), d(st.integers(1, 9)), d(st.integers(1, 9))
    cs = [d(st.integers(1, 40)) for _ in range(d(st.integers(1, 4)))]
    xs = [arr(d, (n, c, h, w)) for c in cs]
    want = np.concatenate(xs, axis=1)
    got, raw = run_nhwc("Concat", xs, {"axis": d(st.sampled_from([1, -3]))}, want.shape, "cpu:float32:nhwc/direct",
                        d(st.sampled_from([1, 2])))
    check(got, raw, want, 0, 0)


# ---- a whole model on NHWC routines ---------------------------------------------------------

def _mobile_block_model(path):
    """Conv -> Relu6 -> depthwise -> Relu6 -> 1x1 (+residual) -> SE (GAP, 1x1, Sigmoid, Mul) ->
    MaxPool, Concat with an AveragePool branch: every NHWC routine on one path."""
    rng = np.random.default_rng(3)
    c = 24

    def init(name, shape):
        return helper.make_tensor(name, TensorProto.FLOAT, shape, rng.uniform(-0.5, 0.5, shape).astype(np.float32)
                                  .ravel().tolist())
    inits = [init("w0", [c, 3, 3, 3]), init("b0", [c]), init("wd", [c, 1, 3, 3]), init("w1", [c, c, 1, 1]),
             init("ws", [c, c, 1, 1]), init("lo", []), init("hi", [])]
    inits[-2] = helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0])
    inits[-1] = helper.make_tensor("hi", TensorProto.FLOAT, [], [6.0])
    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Clip", ["c0", "lo", "hi"], ["r0"]),
        helper.make_node("Conv", ["r0", "wd"], ["d0"], pads=[1, 1, 1, 1], group=c),
        helper.make_node("Clip", ["d0", "lo", "hi"], ["r1"]),
        helper.make_node("Conv", ["r1", "w1"], ["p0"]),
        helper.make_node("Add", ["p0", "r0"], ["a0"]),
        helper.make_node("GlobalAveragePool", ["a0"], ["g0"]),
        helper.make_node("Conv", ["g0", "ws"], ["s0"]),
        helper.make_node("Sigmoid", ["s0"], ["s1"]),
        helper.make_node("Mul", ["a0", "s1"], ["m0"]),
        helper.make_node("MaxPool", ["m0"], ["q0"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["m0"], ["q1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 0, 0]),
        helper.make_node("Concat", ["q0", "q1"], ["y"], axis=1),
    ]
    g = helper.make_graph(nodes, "nhwc_block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 30])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, path)
    return m


def test_model_on_nhwc_routines(tmp_path):
    """With layouts limited to NHWC, every layer runs on an NHWC routine (Reorders only at
    the graph's input and output), and the outputs match onnxruntime's."""
    ort = pytest.importorskip("onnxruntime")
    path = str(tmp_path / "m.onnx")
    _mobile_block_model(path)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 30)).astype(np.float32)
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for threads in (1, 2):
        so = SessionOptions()
        so.intra_op_num_threads = threads
        s = InferenceSession(path, so, providers=[("SoftNeuroExecutionProvider", {
            "profile_cache": str(tmp_path / "c.sqlite"), "layouts": "nhwc"})])
        np.testing.assert_allclose(s.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)
        steps = s.plan_summary()
        inner = [st_ for st_ in steps if st_[1] != "Reorder"]
        assert inner and all(":nhwc/" in st_[2] for st_ in inner), steps
        assert sum(st_[1] == "Reorder" for st_ in steps) == 2, steps


@pytest.mark.skipif(os.environ.get("SNEP_MAX_ISA") is not None, reason="already capped")
@pytest.mark.parametrize("max_isa", ["avx2", "plain"])
def test_narrower_kernel_builds(max_isa, child_env):
    """The AVX2 and baseline builds of the NHWC kernels (picked at prepare by the CPU's
    features, capped here) pass this file's checks too."""
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", os.path.abspath(__file__), "-k",
                        "not narrower"], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       env=child_env(SNEP_MAX_ISA=max_isa, SNEP_LAYOUT_EXAMPLES="10"), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert " passed" in r.stdout and "failed" not in r.stdout


@given(data=st.data())
@FAST
def test_split_nhwc(data):
    d = data.draw
    n, h, w = d(st.integers(1, 2)), d(st.integers(1, 9)), d(st.integers(1, 9))
    cs = [d(st.integers(1, 40)) for _ in range(d(st.integers(1, 4)))]
    x = arr(d, (n, sum(cs), h, w))
    b = PlanBuilder(d(st.sampled_from([1, 2])))
    ins = [b.reorder_in(x, NHWC)]
    if d(st.booleans()):
        ins.append(b.plan.add_constant(7, np.array(cs, np.int64)))
    outs = [b.arena((n, c, h, w), NHWC)[0] for c in cs]
    b.step("Split", ins, outs, "cpu:float32:nhwc/direct", {"axis": d(st.sampled_from([1, -3]))})
    for t, c in zip(outs, cs):
        b.reorder_out(t, (n, c, h, w))
    got = b.run()
    for g, want in zip(got, np.split(x, np.cumsum(cs)[:-1], axis=1)):
        np.testing.assert_array_equal(g, want)


@given(data=st.data())
@FAST
def test_resize_nhwc_nearest(data):
    inputs, attrs, want = draw_resize(data.draw, max_c=70)
    b = PlanBuilder(data.draw(st.sampled_from([1, 2])))
    ids = [b.reorder_in(inputs[0], NHWC), -1] + [
        -1 if v is None else b.plan.add_constant(1 if v.dtype == np.float32 else 7, v) for v in inputs[2:]]
    y, off = b.arena(want.shape, NHWC)
    b.step("Resize", ids, [y], "cpu:float32:nhwc/nearest", attrs)
    b.reorder_out(y, want.shape)
    b.raw_out(off, want.shape, NHWC)
    got, raw = b.run()
    check(got, raw, want, 0, 0, f"{attrs} {inputs[0].shape} -> {want.shape}")


@given(data=st.data())
@FAST
def test_softmax_nhwc(data):
    """Softmax / LogSoftmax / Hardmax over a 4-D NHWC tensor: opset 13 along any axis (channels
    are the rows, contiguous), opset 11 from axis 0 or 1 (the flattened dims are a suffix of NHWC)."""
    op, x, attrs, want = draw_softmax(data.draw, (0, 1, 2, 3))
    got, raw = run_nhwc(op, [x], attrs, x.shape, "cpu:float32:nhwc/direct", data.draw(st.sampled_from([1, 2])))
    check(got, raw, want, 1e-5, 1e-5, f"{op} {attrs} {x.shape}")


def test_softmax_nhwc_rejects_an_interleaved_flat_span():
    """Before opset 13, axis 2 reduces H and W together: in NHWC the channels lie between them."""
    b = PlanBuilder(1)
    x = b.reorder_in(np.zeros((1, 3, 4, 4), np.float32), NHWC)
    y, _ = b.arena((1, 3, 4, 4), NHWC)
    with pytest.raises(Exception, match="support"):
        b.step("Softmax", [x], [y], "cpu:float32:nhwc/direct", {"axis": 2, "_opset": 11})
