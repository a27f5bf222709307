"""qint8 in NHWC: the byte Reorder (cpu:qint8/reorder), QLinearConv by indirect GEMM on NHWC
activations (cpu:qint8:nhwc/igemm, AVX-512 VNNI) and depthwise QLinearConv on NHWC
(cpu:qint8:nhwc/depthwise, AVX-512 BW), each run in a small hand-built plan between
Reorder steps (Plain feeds -> NHWC -> routine -> Plain) and compared bit-exactly with the numpy
references of conformance/refs/quant.py; and a pre-quantized model tuned onto the NHWC routines
giving the same bits as its all-NCHW plan.
"""
import os
import sqlite3
import sys

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import softneuro_ep as ort
from softneuro_ep import InvalidArgument, _engine
from softneuro_ep.graph_passes.attrs import to_engine

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
from refs import REFS  # noqa: E402
from refs.quant import iconv_shape  # noqa: E402

U8, I8, F, I32 = 2, 3, 1, 6
ELEM = {np.dtype(np.uint8): U8, np.dtype(np.int8): I8, np.dtype(np.float32): F, np.dtype(np.int32): I32}
IGEMM = "cpu:qint8:nhwc/igemm"
DW = "cpu:qint8:nhwc/depthwise"
REORDER = "cpu:qint8/reorder"
USABLE = {(r["op"], r["descriptor"]) for r in _engine.routines() if r["usable"]}
needs_vnni = pytest.mark.skipif(("QLinearConv", IGEMM) not in USABLE, reason="the NHWC igemm needs AVX-512 VNNI")
needs_avx512 = pytest.mark.skipif(("QLinearConv", DW) not in USABLE, reason="the NHWC depthwise needs AVX-512")
FAST = settings(max_examples=int(os.environ.get("SNEP_QNHWC_EXAMPLES", "40")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Plan:
    """A plan of Plain feeds, constants, NHWC arena tensors and steps."""

    def __init__(self, threads):
        self.plan = _engine.Plan(threads)
        self.off = 0
        self.feeds = []
        self.k = 0

    def arena(self, shape, elem, layout):
        t = self.plan.add_arena_tensor(elem, list(shape), self.off, layout)
        self.off += (_engine.physical_bytes(elem, list(shape), layout) + 63) // 64 * 64
        return t

    def feed(self, x):
        self.feeds.append(np.ascontiguousarray(x))
        return self.plan.add_input(ELEM[x.dtype], list(x.shape), len(self.feeds) - 1)

    def step(self, op, ins, outs, desc, attrs=None):
        a = to_engine(attrs or {})
        a["_opset"] = 13
        self.k += 1
        self.plan.add_step(f"s{self.k}", op, a, ins, outs, desc)

    def to_nhwc(self, x):
        t = self.arena(x.shape, ELEM[x.dtype], "nhwc")
        self.step("Reorder", [self.feed(x)], [t], REORDER)
        return t

    def output_from(self, t, shape, elem, desc=REORDER):
        o = self.plan.add_output(elem, list(shape), 0)
        self.step("Reorder" if desc == REORDER else "Identity", [t], [o], desc)

    def run(self):
        self.plan.set_arena_bytes(max(self.off, 64))
        self.plan.finalize()
        return self.plan.run(self.feeds)[0]


# ---- Reorder of one-byte tensors ---------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 64, 56, 56), (2, 17, 5, 33), (1, 3, 16, 16), (1, 33, 1, 1), (1, 16, 7),
                                   (2, 5, 3, 4, 6), (1, 100, 3, 3)], ids=str)
@pytest.mark.parametrize("dt", [np.uint8, np.int8])
@pytest.mark.parametrize("threads", [1, 2])
def test_byte_reorder_to_nhwc_and_back(shape, dt, threads):
    rng = np.random.default_rng(0)
    x = rng.integers(np.iinfo(dt).min, np.iinfo(dt).max, size=shape, endpoint=True).astype(dt)
    # the raw bytes of the NHWC tensor: an arena tensor of the transposed shape aliasing it
    p = Plan(threads)
    p.to_nhwc(x)
    phys = (shape[0],) + shape[2:] + (shape[1],)
    alias = p.plan.add_arena_tensor(ELEM[x.dtype], list(phys), 0, "nchw")
    p.output_from(alias, phys, ELEM[x.dtype], desc="cpu/copy")
    raw = p.run()
    np.testing.assert_array_equal(raw, np.moveaxis(x, 1, -1))
    p = Plan(threads)
    p.output_from(p.to_nhwc(x), shape, ELEM[x.dtype])
    np.testing.assert_array_equal(p.run(), x)


def test_byte_reorder_refuses_float_and_blocked():
    x = np.zeros((1, 4, 3, 3), np.float32)
    p = Plan(1)
    with pytest.raises(InvalidArgument):
        p.to_nhwc(x)
    p = Plan(1)
    src = p.feed(np.zeros((1, 4, 3, 3), np.uint8))
    dst = p.arena((1, 4, 3, 3), U8, "nchw16c")
    with pytest.raises(InvalidArgument):
        p.step("Reorder", [src], [dst], REORDER)


# ---- QLinearConv on NHWC -------------------------------------------------------------------------
def conv_inputs(rng, n, c, m, h, w, k, s, p, d, per_channel, ydt, act, residual, group=1):
    x = rng.integers(0, 256, size=(n, c, h, w)).astype(np.uint8)
    wt = rng.integers(-128, 128, size=(m, c // group, k, k)).astype(np.int8)
    sx = np.float32(rng.uniform(0.01, 0.05))
    sw = rng.uniform(0.0005, 0.005, size=(m,) if per_channel else ()).astype(np.float32)
    sy = np.float32(rng.uniform(0.05, 0.6))
    yz = np.asarray(rng.integers(0, 256) if ydt == np.uint8 else rng.integers(-128, 128), ydt)
    attrs = {"group": group, "strides": [s, s], "dilations": [d, d], "pads": [p] * 4, "kernel_shape": [k, k]}
    inputs = [x, np.asarray(sx), np.asarray(rng.integers(0, 256), np.uint8), wt, sw, np.zeros(sw.shape, np.int8),
              np.asarray(sy), yz, rng.integers(-5000, 5000, size=(m,)).astype(np.int32)]
    if act:
        attrs["activation"] = act
        if act == "Clip":
            attrs["activation_params"] = [-1.5, 4.0]
    oshape = iconv_shape(x.shape, wt.shape, attrs)
    if residual in (np.uint8, np.int8):
        info = np.iinfo(residual)
        inputs += [rng.integers(info.min, info.max, size=oshape, endpoint=True).astype(residual),
                   np.asarray(np.float32(rng.uniform(0.05, 0.5))), np.asarray(rng.integers(info.min, info.max), residual)]
    return inputs, attrs, oshape


def run_nhwc(inputs, attrs, oshape, ydt, threads, z_at=9, desc=IGEMM):
    """QLinearConv with x (and z) fed through Reorder to NHWC, constants for the rest."""
    p = Plan(threads)
    ids = []
    for i, a in enumerate(inputs):
        if a is None:
            ids.append(-1)
        elif i in (0, z_at):
            ids.append(p.to_nhwc(a))
        else:
            ids.append(p.plan.add_constant(ELEM[a.dtype], np.ascontiguousarray(a)))
    y = p.arena(oshape, ELEM[np.dtype(ydt)], "nhwc")
    p.step("QLinearConv", ids, [y], desc, attrs)
    p.output_from(y, oshape, ELEM[np.dtype(ydt)])
    return p.run()


@needs_vnni
@FAST
@given(st.data())
def test_igemm_matches_the_reference(data):
    n = data.draw(st.integers(1, 2))
    c = 4 * data.draw(st.integers(1, 40))
    m = data.draw(st.sampled_from([1, 7, 16, 63, 64, 65, 100, 130]))
    k = data.draw(st.sampled_from([1, 1, 3, 3, 5, 7]))
    s, d = data.draw(st.sampled_from([1, 2])), data.draw(st.sampled_from([1, 1, 2]))
    p = data.draw(st.integers(0, k // 2))
    ext = (k - 1) * d + 1
    h = data.draw(st.integers(max(1, ext - 2 * p), 20))
    w = data.draw(st.integers(max(1, ext - 2 * p), 20))
    ydt = data.draw(st.sampled_from([np.uint8, np.int8]))
    act = data.draw(st.sampled_from(["", "Relu", "Clip"]))
    residual = data.draw(st.sampled_from([None, np.uint8, np.int8]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    inputs, attrs, oshape = conv_inputs(rng, n, c, m, h, w, k, s, p, d, data.draw(st.booleans()), ydt, act, residual)
    want = REFS["QLinearConv"].compute(inputs, attrs)[0]
    got = run_nhwc(inputs, attrs, oshape, ydt, data.draw(st.sampled_from([1, 2])))
    np.testing.assert_array_equal(got, want)


# network-like shapes: full 6x64 tiles, a 7x7 plane split over channel groups with 2 threads, stride 2
NET = [(1, 64, 64, 56, 56, 3, 1, 1), (1, 64, 256, 28, 28, 1, 1, 0), (1, 256, 128, 28, 28, 3, 2, 1),
       (1, 512, 2048, 7, 7, 1, 1, 0), (1, 256, 512, 14, 14, 1, 2, 0), (1, 128, 96, 9, 9, 3, 1, 0)]


@needs_vnni
@pytest.mark.parametrize("shape", NET, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("threads", [1, 2])
def test_igemm_network_shapes(shape, threads):
    n, c, m, h, w, k, s, p = shape
    rng = np.random.default_rng(5)
    inputs, attrs, oshape = conv_inputs(rng, n, c, m, h, w, k, s, p, 1, True, np.uint8, "Relu", np.uint8)
    want = REFS["QLinearConv"].compute(inputs, attrs)[0]
    np.testing.assert_array_equal(run_nhwc(inputs, attrs, oshape, np.uint8, threads), want)


@needs_vnni
@pytest.mark.parametrize("shape", [(1, 64, 256, 14, 14, 1, 1, 0), (2, 12, 70, 9, 7, 3, 1, 1),
                                   (1, 64, 100, 7, 7, 1, 1, 0)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_igemm_rounded_residual_equals_conv_then_qlinear_add(shape, relu, threads):
    n, c, m, h, w, k, s, p = shape
    rng = np.random.default_rng(2)
    inputs, attrs, oshape = conv_inputs(rng, n, c, m, h, w, k, s, p, 1, True, np.uint8, "", None)
    z = rng.integers(0, 256, size=oshape).astype(np.uint8)
    zs, zz = np.asarray(np.float32(0.21)), np.asarray(97, np.uint8)
    ss, sz = np.asarray(np.float32(0.37)), np.asarray(131, np.uint8)
    q1 = REFS["QLinearConv"].compute(inputs, attrs)[0]
    add_attrs = {"activation": "Relu"} if relu else {}
    want = REFS["QLinearAdd"].compute([q1, inputs[6], inputs[7], z, zs, zz, ss, sz], add_attrs)[0]
    got = run_nhwc(inputs + [z, zs, zz, ss, sz], {**attrs, **add_attrs}, oshape, np.uint8, threads)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(want, q1)


@needs_vnni
@pytest.mark.parametrize("scales", [(0.5, 0.25, 1.0), (2.0, 0.75, 0.5), (1e-3, 1e6, 1.0)], ids=["ties", "ties2", "huge"])
def test_igemm_rounded_residual_near_ties_and_huge_ratios(scales):
    # ra = y_scale / sum_scale and rb = z_scale / sum_scale of simple binary ratios put many sums
    # exactly on .5 (the lanes the fused add redoes exactly); huge ratios take the add in double
    ys, zs, ss = (np.asarray(np.float32(v)) for v in scales)
    rng = np.random.default_rng(4)
    inputs, attrs, oshape = conv_inputs(rng, 1, 16, 70, 9, 9, 3, 1, 1, 1, True, np.uint8, "", None)
    inputs[6] = ys
    z = rng.integers(0, 256, size=oshape).astype(np.uint8)
    zz, sz = np.asarray(97, np.uint8), np.asarray(131, np.uint8)
    q1 = REFS["QLinearConv"].compute(inputs, attrs)[0]
    for relu in (False, True):
        add_attrs = {"activation": "Relu"} if relu else {}
        want = REFS["QLinearAdd"].compute([q1, inputs[6], inputs[7], z, zs, zz, ss, sz], add_attrs)[0]
        got = run_nhwc(inputs + [z, zs, zz, ss, sz], {**attrs, **add_attrs}, oshape, np.uint8, 1)
        np.testing.assert_array_equal(got, want)
    if scales[0] == 0.5:  # ties do occur
        s = (q1.astype(np.float64) - inputs[7]) * 0.5 + (z.astype(np.float64) - 97) * 0.25
        assert (np.abs(s - np.floor(s) - 0.5) == 0).mean() > 0.1


def float32_add_misses(ya, zb, yc, ra, rb):
    """The (a, z) pairs whose output the fused add's float32 sum, s = fma(a - ya, ra, f32((z - zb) * rb)),
    would get wrong: s rounds to another integer than the exact sum and the clamp to [0, 255] keeps
    the difference. The lanes the kernels must redo exactly."""
    a = np.arange(256, dtype=np.float64)[:, None] - ya
    zb_ = np.arange(256, dtype=np.float64)[None, :] - zb
    exact = a * np.float64(ra) + zb_ * np.float64(rb)
    pb = (zb_.astype(np.float32) * np.float32(rb)).astype(np.float64)
    s = (a * np.float64(ra) + pb).astype(np.float32).astype(np.float64)  # one rounding, as the fma
    return np.clip(np.rint(s) + yc, 0, 255) != np.clip(np.rint(exact) + yc, 0, 255)


@needs_vnni
@pytest.mark.parametrize("m", [70, 16])  # the 6x64 and the 12x32 micro-kernel
@pytest.mark.parametrize("threads", [1, 2])
def test_igemm_rounded_residual_where_float32_rounds_the_wrong_way(m, threads):
    # scales and zero points (found by search) whose float32 sum crosses a .5 tie for 7 of the 65536
    # (a, z) pairs. The conv passes channel 0 through (weights +-1, unit multiplier), so a = 152 +- x
    # takes those pairs' a values, and z is chosen so that most outputs are missed pairs.
    ys, zs, ss = (np.float32(v) for v in (0.9526207447052002, 0.9981618523597717, 0.7024563550949097))
    ya, zb, yc = 152, 165, 139
    miss = float32_add_misses(ya, zb, yc, np.float32(ys / ss), np.float32(zs / ss))
    assert miss.sum() == 7
    rng = np.random.default_rng(6)
    x = rng.integers(0, 256, size=(1, 4, 9, 9)).astype(np.uint8)
    x[0, 0] = rng.choice([41, 63, 67, 71], size=(9, 9))  # a = 152 + x: 193 215 219 223, 152 - x: 111 85 81
    w = np.zeros((m, 4, 3, 3), np.int8)
    w[:, 0, 1, 1] = np.where(np.arange(m) % 2 == 0, 1, -1)
    attrs = {"group": 1, "strides": [1, 1], "dilations": [1, 1], "pads": [1] * 4, "kernel_shape": [3, 3]}
    inputs = [x, np.asarray(np.float32(1.0)), np.asarray(0, np.uint8), w, np.full(m, ys, np.float32),
              np.zeros(m, np.int8), np.asarray(ys), np.asarray(ya, np.uint8), np.zeros(m, np.int32)]
    oshape = (1, m, 9, 9)
    q1 = REFS["QLinearConv"].compute(inputs, attrs)[0]
    z = rng.integers(0, 256, size=oshape).astype(np.uint8)
    for a in np.unique(q1):
        zs_a = np.flatnonzero(miss[a])
        if zs_a.size:
            sel = q1 == a
            z[sel] = rng.choice(zs_a, size=int(sel.sum())).astype(np.uint8)
    assert miss[q1, z].sum() >= m * 40  # outputs the float32 form alone would get wrong
    extra = [z, np.asarray(zs), np.asarray(zb, np.uint8), np.asarray(ss), np.asarray(yc, np.uint8)]
    want = REFS["QLinearAdd"].compute([q1, inputs[6], inputs[7]] + extra, {})[0]
    got = run_nhwc(inputs + extra, attrs, oshape, np.uint8, threads)
    np.testing.assert_array_equal(got, want)


@needs_vnni
@pytest.mark.parametrize("mult", [1e3, 1e5], ids=["packs-saturate", "float-clamp"])
@pytest.mark.parametrize("ydt", [np.uint8, np.int8])
@pytest.mark.parametrize("act", ["", "Relu", "Clip"])
def test_igemm_saturates_large_multipliers(mult, ydt, act):
    # x_scale * w_scale / y_scale far above 1: most outputs saturate. Up to the point where
    # (acc + c0) * mult could reach 2^30 the clamp is the byte packs' saturation plus a byte
    # max / min (1e3 here); past it the float clamp (1e5)
    rng = np.random.default_rng(7)
    inputs, attrs, oshape = conv_inputs(rng, 1, 4, 70, 6, 6, 1, 1, 0, 1, True, ydt, act, None)
    inputs[1] = np.asarray(np.float32(1.0))
    inputs[4] = np.full(70, mult * 0.05, np.float32)
    inputs[6] = np.asarray(np.float32(0.05))
    inputs[8] = rng.integers(-300, 300, size=(70,)).astype(np.int32)
    want = REFS["QLinearConv"].compute(inputs, attrs)[0]
    assert ((want == want.min()) | (want == want.max())).mean() > 0.3  # at the range's or activation's ends
    np.testing.assert_array_equal(run_nhwc(inputs, attrs, oshape, ydt, 1), want)


@needs_vnni
def test_igemm_refuses_what_it_does_not_compute():
    rng = np.random.default_rng(0)

    def refused(inputs, attrs, oshape, layout="nhwc"):
        p = Plan(1)
        ids = [p.to_nhwc(a) if i == 0 and layout == "nhwc" else
               (p.feed(a) if i == 0 else p.plan.add_constant(ELEM[a.dtype], np.ascontiguousarray(a)))
               for i, a in enumerate(inputs)]
        y = p.arena(oshape, U8, layout)
        with pytest.raises(InvalidArgument):
            p.step("QLinearConv", ids, [y], IGEMM, attrs)

    base, attrs, oshape = conv_inputs(rng, 1, 8, 16, 6, 6, 3, 1, 1, 1, True, np.uint8, "", None)
    refused(base, attrs, oshape, layout="nchw")               # Plain activations
    odd, a2, o2 = conv_inputs(rng, 1, 6, 16, 6, 6, 3, 1, 1, 1, True, np.uint8, "", None)
    refused(odd, a2, o2)                                       # C not a multiple of 4
    wz = list(base)
    wz[5] = np.full(wz[5].shape, 1, np.int8)
    refused(wz, attrs, oshape)                                 # weight zero points not 0
    wu8 = list(base)
    wu8[3], wu8[5] = base[3].view(np.uint8), base[5].view(np.uint8)
    refused(wu8, attrs, oshape)                                # u8 weights
    grouped = list(base)
    grouped[3] = base[3][:, :4]
    refused(grouped, {**attrs, "group": 2}, oshape)            # grouped


# ---- depthwise QLinearConv on NHWC ------------------------------------------------------------------
@needs_avx512
@FAST
@given(st.data())
def test_depthwise_matches_the_reference(data):
    n = data.draw(st.integers(1, 2))
    c = data.draw(st.sampled_from([1, 5, 16, 31, 32, 33, 48, 64, 96, 144]))
    k = data.draw(st.sampled_from([1, 3, 3, 5]))
    s, d = data.draw(st.sampled_from([1, 2])), data.draw(st.sampled_from([1, 1, 2]))
    p = data.draw(st.integers(0, k // 2))
    ext = (k - 1) * d + 1
    h = data.draw(st.integers(max(1, ext - 2 * p), 17))
    w = data.draw(st.integers(max(1, ext - 2 * p), 17))
    ydt = data.draw(st.sampled_from([np.uint8, np.int8]))
    act = data.draw(st.sampled_from(["", "Relu", "Clip"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    inputs, attrs, oshape = conv_inputs(rng, n, c, c, h, w, k, s, p, d, data.draw(st.booleans()), ydt, act, None,
                                        group=c)
    if data.draw(st.booleans()):
        inputs = inputs[:8]  # no bias
    want = REFS["QLinearConv"].compute(inputs + [None] * (9 - len(inputs)), attrs)[0]
    got = run_nhwc(inputs, attrs, oshape, ydt, data.draw(st.sampled_from([1, 2])), desc=DW)
    np.testing.assert_array_equal(got, want)


@needs_avx512
@pytest.mark.parametrize("shape", [(32, 112, 3, 1), (96, 112, 3, 2), (144, 56, 3, 1), (960, 7, 3, 1), (672, 14, 5, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_depthwise_network_shapes(shape):
    c, h, k, s = shape
    rng = np.random.default_rng(3)
    inputs, attrs, oshape = conv_inputs(rng, 1, c, c, h, h, k, s, k // 2, 1, True, np.uint8, "Clip", None, group=c)
    want = REFS["QLinearConv"].compute(inputs, attrs)[0]
    for threads in (1, 2):
        np.testing.assert_array_equal(run_nhwc(inputs, attrs, oshape, np.uint8, threads, desc=DW), want)


@needs_avx512
def test_depthwise_refuses_a_residual_and_channel_multipliers():
    rng = np.random.default_rng(0)
    inputs, attrs, oshape = conv_inputs(rng, 1, 8, 8, 6, 6, 3, 1, 1, 1, True, np.uint8, "", np.uint8, group=8)
    with pytest.raises(InvalidArgument):
        run_nhwc(inputs, attrs, oshape, np.uint8, 1, desc=DW)
    inputs, attrs, oshape = conv_inputs(rng, 1, 8, 16, 6, 6, 3, 1, 1, 1, True, np.uint8, "", None, group=8)
    with pytest.raises(InvalidArgument):
        run_nhwc(inputs, attrs, oshape, np.uint8, 1, desc=DW)


# ---- a pre-quantized model tuned onto NHWC ---------------------------------------------------------
def _qdq_model(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    rng = np.random.default_rng(0)

    def w(name, *shape):
        t = numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32))
        t.name = name
        return t
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "r1"], ["s"]), helper.make_node("Relu", ["s"], ["r2"]),
             helper.make_node("Conv", ["r2", "w3"], ["y"], strides=[2, 2])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 12, 12])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [w("w1", 16, 8, 3, 3), w("w2", 16, 16, 3, 3), w("b2", 16), w("w3", 24, 16, 1, 1)])
    src, dst = str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": rng.standard_normal((1, 8, 12, 12)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.it, None)
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return dst


@needs_vnni
@pytest.mark.parametrize("extra_output", [False, True])
def test_qdq_model_tuned_onto_nhwc_gives_the_nchw_plans_bits(tmp_path, extra_output):
    path = _qdq_model(tmp_path)
    if extra_output:  # an int8 tensor held in NHWC between two convs is also a graph output
        m = onnx.load(path)
        q = [n.output[0] for n in m.graph.node if n.op_type == "QuantizeLinear"]
        m.graph.output.append(onnx.helper.make_tensor_value_info(q[2], onnx.TensorProto.UINT8, None))
        path = str(tmp_path / "q_extra.onnx")
        onnx.save(m, path)
    cache = tmp_path / "cache.sqlite"

    def session(**opts):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        return ort.InferenceSession(path, so, providers=[("SoftNeuroExecutionProvider",
                                                          {"profile_cache": str(cache), **opts})])
    x = np.random.default_rng(1).standard_normal((1, 8, 12, 12)).astype(np.float32)
    want = session(layouts="nchw").run(None, {"x": x})
    with sqlite3.connect(cache) as con:  # every NCHW int8 conv looks slow: the NHWC ones win where they apply
        con.execute("UPDATE profile SET median_us = 1e6 WHERE median_us > 0 AND routine LIKE 'cpu:qint8:nchw/%'")
    s = session()
    got = s.run(None, {"x": x})
    steps = next(iter(s._plans.values())).plan.step_routines()
    convs = [r[2] for r in steps if r[1] == "QLinearConv"]
    assert sum(d.startswith(IGEMM) for d in convs) == 3, steps
    assert any(r[1] == "Reorder" and r[2].startswith(REORDER) for r in steps), steps
    assert len(got) == (2 if extra_output else 1)
    for g_, w_ in zip(got, want):
        np.testing.assert_array_equal(g_, w_)


@needs_avx512
@pytest.mark.parametrize("desc", [IGEMM, DW])
def test_nhwc_convs_refuse_images_past_int32_offsets(desc):
    # the tap offsets are int32: an image of 2^31 or more bytes is left to other routines
    if ("QLinearConv", desc) not in USABLE:
        pytest.skip(f"{desc} needs AVX-512 VNNI")
    a = to_engine({"group": 1 if desc == IGEMM else 512, "kernel_shape": [1, 1]})
    a["_opset"] = 13
    for hw, want in ((64, True), (2048, False)):
        p = _engine.Plan(1)
        x = p.add_arena_tensor(U8, [1, 512, hw, hw], 0, "nhwc")
        w = np.zeros((512, 512 if desc == IGEMM else 1, 1, 1), np.int8)
        consts = [(F, np.float32(0.1)), (U8, np.uint8(0)), (I8, w), (F, np.float32(0.1)), (I8, np.int8(0)),
                  (F, np.float32(0.1)), (U8, np.uint8(0))]
        ins = [x] + [p.add_constant(e, np.asarray(v)) for e, v in consts]
        y = p.add_arena_tensor(U8, [1, 512, hw, hw], 0, "nhwc")
        assert p.supports(desc, "c", "QLinearConv", a, ins, [y]) == want
