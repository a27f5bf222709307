"""Helpers shared by the layout-routine tests (test_layout_routines.py, test_nhwc_routines.py):
small hand-built plans with Reorder steps around one routine, and the drawn / fixed cases."""
import os
import sys

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from softneuro_ep import _engine
from softneuro_ep.graph_passes.attrs import to_engine

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
from refs.layout import to_blocked, to_nhwc  # noqa: E402
from refs.linalg import draw_activation  # noqa: E402
from refs.pool_resize import _pool_geometry, pool_ref  # noqa: E402

F = 1  # TensorProto.FLOAT
OPSET = 17
REORDER = "cpu:float32/reorder"
D16 = "cpu:float32:nchw16c/direct"
FAST = settings(max_examples=int(os.environ.get("SNEP_LAYOUT_EXAMPLES", "25")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

BLOCK = {"nchw16c": 16, "nchw8c": 8}


def _usable(desc):
    return any(r["usable"] for r in _engine.routines("Conv") if r["descriptor"] == desc)


# The block layout of this CPU's blocked routines: NCHW16c with AVX-512, NCHW8c with AVX2 only
# (the 8c set is offered only there; SNEP_MAX_ISA=avx2 selects it on an AVX-512 CPU).
BLOCKED = "nchw16c" if _usable("cpu:float32:nchw16c/direct") else "nchw8c"
HAVE_BLOCKED = _usable(f"cpu:float32:{BLOCKED}/direct")
DB = f"cpu:float32:{BLOCKED}/direct"


def physical_shape(shape, layout):
    if layout == "nhwc":
        return (shape[0],) + tuple(shape[2:]) + (shape[1],)
    b = BLOCK[layout]
    return (shape[0], -(-shape[1] // b)) + tuple(shape[2:]) + (b,)


def to_layout(x, layout):
    return to_nhwc(x) if layout == "nhwc" else to_blocked(x, BLOCK[layout])


class PlanBuilder:
    def __init__(self, threads):
        self.plan = _engine.Plan(threads)
        self.off = 0
        self.feeds = []
        self.n_out = 0
        self.k = 0

    def arena(self, shape, layout, offset=None):
        if offset is None:
            offset = self.off
            self.off += (_engine.physical_bytes(F, list(shape), layout) + 63) // 64 * 64
        return self.plan.add_arena_tensor(F, list(shape), offset, layout), offset

    def feed(self, x):
        self.feeds.append(np.ascontiguousarray(x, np.float32))
        return self.plan.add_input(F, list(x.shape), len(self.feeds) - 1)

    def const(self, x):
        return self.plan.add_constant(F, np.ascontiguousarray(x, np.float32))

    def step(self, op, ins, outs, desc, attrs=None):
        a = to_engine(attrs or {})
        a["_opset"] = (attrs or {}).get("_opset", OPSET)  # a test may set an older opset's semantics
        self.k += 1
        self.plan.add_step(f"{op.lower()}{self.k}", op, a, ins, outs, desc)

    def reorder_in(self, x, layout=BLOCKED):
        t, _ = self.arena(x.shape, layout)
        self.step("Reorder", [self.feed(x)], [t], REORDER)
        return t

    def output(self, shape):
        o = self.plan.add_output(F, list(shape), self.n_out)
        self.n_out += 1
        return o

    def reorder_out(self, t, shape):
        o = self.output(shape)
        self.step("Reorder", [t], [o], REORDER)

    def raw_out(self, offset, shape, layout=BLOCKED):
        """Copies the physical bytes of the tensor at `offset` to an output."""
        ps = physical_shape(shape, layout)
        alias, _ = self.arena(ps, "nchw", offset)
        self.step("Identity", [alias], [self.output(ps)], "cpu/copy")

    def run(self):
        self.plan.set_arena_bytes(max(self.off, 64))
        self.plan.finalize()
        return self.plan.run(self.feeds)


def arr(draw, shape, lo=-1.0, hi=1.0):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def draw_conv(draw, depthwise):
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 40))
    m = c if depthwise else draw(st.integers(1, 40))
    ks = [draw(st.integers(1, 5 if depthwise else 3)) for _ in range(2)]
    strides = [draw(st.integers(1, 2 if depthwise else 3)) for _ in range(2)]
    dil = [draw(st.integers(1, 2)) for _ in range(2)]
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    ap = draw(st.sampled_from(["NOTSET"] * 4 + ["VALID", "SAME_UPPER", "SAME_LOWER"]))
    xs = []
    for i in range(2):
        ext = (ks[i] - 1) * dil[i] + 1
        lo = max(1, ext - (pads[i] + pads[i + 2] if ap == "NOTSET" else 0))
        xs.append(draw(st.integers(lo, max(lo, 15))))
    attrs = {"kernel_shape": ks, "strides": strides, "dilations": dil, "group": c if depthwise else 1}
    if ap == "NOTSET":
        attrs["pads"] = pads
    else:
        attrs["auto_pad"] = ap
    from refs.linalg import conv_geometry
    out = conv_geometry(xs, ks, attrs)[4]
    x = arr(draw, (n, c) + tuple(xs))
    w = arr(draw, (m, 1 if depthwise else c) + tuple(ks))
    bias = arr(draw, (m,)) if draw(st.booleans()) else None
    z = arr(draw, (n, m) + tuple(out)) if draw(st.booleans()) else None
    draw_activation(draw, attrs)
    inputs = [x, w, bias, z]
    while inputs[-1] is None:
        inputs.pop()
    return inputs, attrs, (n, m) + tuple(out)


# Shapes past the hypothesis draw (<= 40 channels): groups of 4 output blocks and a
# ragged last group, several input-block chunks, tiles crossing rows (1x1 convs run
# as one row, strided ones too: each column computes its input pixel), pieces splitting
# rows and columns. (C, M, H, W, k, stride, pad)
BIG_CONVS = [(200, 80, 9, 9, 1, 1, 0), (40, 72, 10, 11, 3, 1, 1), (48, 64, 13, 13, 3, 2, 1),
             (100, 36, 6, 20, 1, 2, 0), (33, 130, 7, 7, 3, 1, 1), (64, 48, 13, 11, 1, 2, 0),
             (40, 64, 15, 16, 1, 3, 0)]
ACT_ATTRS = {
    "HardSigmoid": {"alpha": st.sampled_from([0.2, 1 / 6, 0.5]), "beta": st.sampled_from([0.5, 0.3])},
    "LeakyRelu": {"alpha": st.sampled_from([0.01, 0.1, 0.3])},
}


def draw_softmax(d, axes13, axes_flat=(0, 1)):
    """(op, x, attrs for the step, reference output) for Softmax / LogSoftmax / Hardmax over a
    4-D tensor: opset 13 along one of axes13, or opset 11 over the dims from one of axes_flat on."""
    op = d(st.sampled_from(["Softmax", "LogSoftmax", "Hardmax"]))
    shape = (d(st.integers(1, 2)), d(st.integers(1, 40)), d(st.integers(1, 6)), d(st.integers(1, 6)))
    from refs import REFS
    x = arr(d, shape, -8.0, 8.0)
    ref = REFS[op]
    if axes_flat and d(st.booleans()):
        ax = d(st.sampled_from(axes_flat))
        flat = x.reshape(int(np.prod(shape[:ax])), -1)
        want = ref.compute([flat], {"axis": 1})[0].reshape(shape)
        return op, x, {"axis": ax, "_opset": 11}, want
    ax = d(st.sampled_from(axes13))
    axis = d(st.sampled_from([ax, ax - 4]))
    return op, x, {"axis": axis}, ref.compute([x], {"axis": axis})[0]


def draw_pool(d, op, max_c=40):
    """A MaxPool / AveragePool case: (x, attrs, reference output)."""
    shape = (d(st.integers(1, 2)), d(st.integers(1, max_c)), d(st.integers(1, 13)), d(st.integers(1, 13)))
    k = [d(st.integers(1, min(3, s))) for s in shape[2:]]
    attrs = {"kernel_shape": k}
    if d(st.booleans()):
        attrs["strides"] = [d(st.integers(1, 3)) for _ in range(2)]
    ap = d(st.sampled_from(["NOTSET", "NOTSET", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]))
    if ap != "NOTSET":
        attrs["auto_pad"] = ap
    elif d(st.booleans()):
        attrs["pads"] = [d(st.integers(0, kk - 1)) for kk in k] * 2
    if ap in ("NOTSET", "VALID") and d(st.booleans()):
        attrs["ceil_mode"] = 1
    if op == "AveragePool" and d(st.booleans()):
        attrs["count_include_pad"] = 1
    if op == "MaxPool" and ap in ("NOTSET", "VALID") and d(st.booleans()):
        attrs["dilations"] = [d(st.integers(1, 2)) for _ in range(2)]
    out, *_ = _pool_geometry(shape, attrs)
    if min(out) <= 0:
        attrs = {"kernel_shape": [1, 1]}
    x = arr(d, shape, -10, 10)
    return x, attrs, pool_ref(x, attrs, "max" if op == "MaxPool" else "avg")[0]


def draw_resize(d, max_c=40):
    """A nearest Resize of a rank-4 tensor on H and W (scales or sizes, constant): (inputs, attrs, want)
    with inputs [x, roi, scales] or [x, roi, None, sizes] as conformance/refs takes them."""
    from refs import REFS
    shape = (d(st.integers(1, 2)), d(st.integers(1, max_c)), d(st.integers(1, 9)), d(st.integers(1, 9)))
    attrs = {"mode": "nearest",
             "coordinate_transformation_mode": d(st.sampled_from(["half_pixel", "pytorch_half_pixel",
                                                                  "align_corners", "asymmetric"])),
             "nearest_mode": d(st.sampled_from(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]))}
    x = arr(d, shape, -5, 5)
    if d(st.booleans()):
        sc = np.array([1, 1] + [d(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])) for _ in range(2)], np.float32)
        inputs = [x, None, sc]
    else:
        inputs = [x, None, None, np.array(list(shape[:2]) + [d(st.integers(1, 14)) for _ in range(2)], np.int64)]
    return inputs, attrs, REFS["Resize"].compute(inputs, attrs)[0]
