"""References for elementwise ops: unary math/activations, binary and variadic
ops with broadcasting, comparisons, logic, Where, Clip, Cast/CastLike."""
import math

import numpy as np
from hypothesis import strategies as st

from .base import Reference, broadcastable_shape, float_arrays, int_arrays, reference, shapes

FLOATS = [np.float32, np.float64, np.float16]
SINTS = [np.int8, np.int16, np.int32, np.int64]
UINTS = [np.uint8, np.uint16, np.uint32, np.uint64]
INTS = SINTS + UINTS
NUMERIC = FLOATS + INTS


def pick_dtype(draw, dtypes, descriptor):
    if ":float32" in descriptor:
        return np.dtype(np.float32)
    # float32 half the time: it is what models use
    if draw(st.booleans()):
        return np.dtype(dtypes[0])
    return np.dtype(draw(st.sampled_from(dtypes)))


def values(draw, shape, dtype, lo=-10.0, hi=10.0, special=False):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return float_arrays(draw, shape, dtype, lo, hi, special=special)
    if dtype.kind == "b":
        return int_arrays(draw, shape, np.int64, 0, 1).astype(np.bool_)
    info = np.iinfo(dtype)
    return int_arrays(draw, shape, np.int64, max(int(lo), info.min), min(int(hi), info.max)).astype(dtype)


def two_shapes(draw, max_rank=4, max_side=7):
    out = draw(shapes(0, max_rank, 1, max_side))
    other = broadcastable_shape(draw, out)
    return (out, other) if draw(st.booleans()) else (other, out)


@reference
class ReluRef(Reference):
    op = "Relu"

    def draw(self, draw, descriptor):
        dt = pick_dtype(draw, FLOATS, descriptor)
        return [float_arrays(draw, draw(shapes(0, 4, 0, 40)), dt, special=True)], {}

    def compute(self, inputs, attrs):
        return [np.maximum(inputs[0], 0).astype(inputs[0].dtype)]


# ---- unary float ops ------------------------------------------------------------

def _softplus(x):
    return np.where(x > 0, x + np.log1p(np.exp(-np.abs(x))), np.log1p(np.exp(np.minimum(x, 0))))


_erf = np.vectorize(math.erf, otypes=[np.float64])

# op -> (fn(x64, attrs), lo, hi, attrs strategy or None)
UNARY = {
    "Exp": (np.exp, -10, 10, None),
    "Log": (np.log, 0.01, 10, None),
    "Sqrt": (np.sqrt, 0, 10, None),
    "Reciprocal": (lambda x, a: 1.0 / x, 0.1, 10, None),
    "Floor": (np.floor, -10, 10, None),
    "Ceil": (np.ceil, -10, 10, None),
    "Round": (np.round, -10, 10, None),
    "Erf": (_erf, -4, 4, None),
    "Tanh": (np.tanh, -6, 6, None),
    "Sigmoid": (lambda x, a: 1.0 / (1.0 + np.exp(-x)), -10, 10, None),
    "Sin": (np.sin, -6, 6, None),
    "Cos": (np.cos, -6, 6, None),
    "Tan": (np.tan, -1.4, 1.4, None),
    "Asin": (np.arcsin, -0.99, 0.99, None),
    "Acos": (np.arccos, -0.99, 0.99, None),
    "Atan": (np.arctan, -10, 10, None),
    "Sinh": (np.sinh, -5, 5, None),
    "Cosh": (np.cosh, -5, 5, None),
    "Asinh": (np.arcsinh, -10, 10, None),
    "Acosh": (np.arccosh, 1.01, 10, None),
    "Atanh": (np.arctanh, -0.99, 0.99, None),
    "Softplus": (lambda x, a: _softplus(x), -10, 10, None),
    "Softsign": (lambda x, a: x / (1 + np.abs(x)), -10, 10, None),
    "Mish": (lambda x, a: x * np.tanh(_softplus(x)), -10, 10, None),
    "HardSwish": (lambda x, a: x * np.clip(x / 6 + 0.5, 0, 1), -6, 6, None),
    "Elu": (lambda x, a: np.where(x >= 0, x, a.get("alpha", 1.0) * (np.exp(x) - 1)), -5, 5,
            {"alpha": st.floats(0.1, 2.0)}),
    "Selu": (lambda x, a: np.where(x > 0, a.get("gamma", 1.05070102214813232421875) * x,
                                   a.get("gamma", 1.05070102214813232421875) * a.get("alpha", 1.67326319217681884765625)
                                   * (np.exp(x) - 1)), -5, 5,
             {"alpha": st.floats(0.5, 2.0), "gamma": st.floats(0.5, 2.0)}),
    "Celu": (lambda x, a: np.maximum(0, x) + np.minimum(0, a.get("alpha", 1.0) * (np.exp(x / a.get("alpha", 1.0)) - 1)),
             -5, 5, {"alpha": st.floats(0.5, 2.0)}),
    "LeakyRelu": (lambda x, a: np.where(x >= 0, x, a.get("alpha", 0.01) * x), -10, 10, {"alpha": st.floats(0.01, 0.5)}),
    "HardSigmoid": (lambda x, a: np.clip(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0, 1), -10, 10,
                    {"alpha": st.floats(0.1, 0.5), "beta": st.floats(0.2, 0.8)}),
    "ThresholdedRelu": (lambda x, a: np.where(x > a.get("alpha", 1.0), x, 0), -5, 5, {"alpha": st.floats(0.0, 2.0)}),
    "Swish": (lambda x, a: x / (1.0 + np.exp(-a.get("alpha", 1.0) * x)), -10, 10, {"alpha": st.floats(0.1, 2.0)}),
}
ONE_ARG = {k for k, v in UNARY.items() if v[0] in (np.exp, np.log, np.sqrt, np.floor, np.ceil, np.round, np.tanh, np.sin,
                                                    np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.sinh, np.cosh,
                                                    np.arcsinh, np.arccosh, np.arctanh) or k == "Erf"}


def _f32(v):
    return float(np.float32(v))


def _make_unary(op):
    fn, lo, hi, attr_st = UNARY[op]

    class R(Reference):
        def draw(self, draw, descriptor):
            dt = pick_dtype(draw, FLOATS, descriptor)
            x = float_arrays(draw, draw(shapes(0, 4, 0, 12)), dt, lo, hi)
            attrs = {}
            if attr_st:
                for k, s in attr_st.items():
                    if draw(st.booleans()):
                        attrs[k] = _f32(draw(s))
            return [x], attrs

        def compute(self, inputs, attrs):
            x = inputs[0]
            x64 = x.astype(np.float64)
            y = fn(x64) if op in ONE_ARG else fn(x64, attrs)
            return [np.asarray(y).astype(x.dtype)]

        def tolerance(self, descriptor, dtype):
            if np.dtype(dtype) == np.float32:
                return 2e-5, 2e-5
            return super().tolerance(descriptor, dtype)

    R.__name__ = op + "Ref"
    R.op = op
    reference(R)


for _op in UNARY:
    _make_unary(_op)


@reference
class GeluRef(Reference):
    op = "Gelu"

    def draw(self, draw, descriptor):
        dt = pick_dtype(draw, FLOATS, descriptor)
        attrs = {}
        if draw(st.booleans()):
            attrs["approximate"] = draw(st.sampled_from(["none", "tanh"]))
        return [float_arrays(draw, draw(shapes(0, 4, 0, 12)), dt, -6, 6)], attrs

    def compute(self, inputs, attrs):
        x = inputs[0].astype(np.float64)
        if attrs.get("approximate", "none") == "tanh":
            y = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
        else:
            y = 0.5 * x * (1 + _erf(x / math.sqrt(2)))
        return [y.astype(inputs[0].dtype)]

    def tolerance(self, descriptor, dtype):
        return (2e-5, 2e-5) if np.dtype(dtype) == np.float32 else super().tolerance(descriptor, dtype)


# Abs/Neg/Sign need the op name; give each its own instance.
def _make_ans(op, fn):
    class R(Reference):
        def draw(self, draw, descriptor):
            dt = pick_dtype(draw, NUMERIC, descriptor)
            lo = -100 if dt.kind != "u" else 0
            return [values(draw, draw(shapes(0, 4, 0, 12)), dt, lo, 100)], {}

        def compute(self, inputs, attrs):
            x = inputs[0]
            return [np.asarray(fn(x)).astype(x.dtype)]

    R.op = op
    reference(R)


_make_ans("Abs", np.abs)
_make_ans("Neg", np.negative)
_make_ans("Sign", np.sign)


@reference
class ClipRef(Reference):
    op = "Clip"

    def draw(self, draw, descriptor):
        dt = pick_dtype(draw, NUMERIC, descriptor)
        lo = -100 if dt.kind != "u" else 0
        x = values(draw, draw(shapes(0, 4, 0, 12)), dt, lo, 100, special=True)
        mn = np.array(draw(st.integers(lo, 0)), dtype=dt) if draw(st.booleans()) else None
        mx = np.array(draw(st.integers(0, 100)), dtype=dt) if draw(st.booleans()) else None
        inputs = [x, mn, mx]
        while inputs[-1] is None and len(inputs) > 1:
            inputs.pop()
        return inputs, {}

    def compute(self, inputs, attrs):
        x = inputs[0]
        y = x
        if len(inputs) > 1 and inputs[1] is not None:
            y = np.where(y < inputs[1], inputs[1], y)
        if len(inputs) > 2 and inputs[2] is not None:
            y = np.where(y > inputs[2], inputs[2], y)
        return [y.astype(x.dtype)]


@reference
class NotRef(Reference):
    op = "Not"

    def draw(self, draw, descriptor):
        return [values(draw, draw(shapes(0, 4, 0, 12)), np.bool_)], {}

    def compute(self, inputs, attrs):
        return [np.logical_not(inputs[0])]


@reference
class IsNaNRef(Reference):
    op = "IsNaN"

    def draw(self, draw, descriptor):
        dt = pick_dtype(draw, FLOATS, descriptor)
        x = float_arrays(draw, draw(shapes(1, 4, 1, 12)), dt)
        x.reshape(-1)[:: max(1, x.size // 3)] = np.nan
        return [x], {}

    def compute(self, inputs, attrs):
        return [np.isnan(inputs[0])]


@reference
class IsInfRef(Reference):
    op = "IsInf"

    def draw(self, draw, descriptor):
        dt = pick_dtype(draw, FLOATS, descriptor)
        x = float_arrays(draw, draw(shapes(1, 4, 1, 12)), dt)
        flat = x.reshape(-1)
        flat[:: max(1, x.size // 3)] = np.inf
        flat[1:: max(1, x.size // 3)] = -np.inf
        attrs = {}
        if draw(st.booleans()):
            attrs["detect_negative"] = draw(st.integers(0, 1))
        if draw(st.booleans()):
            attrs["detect_positive"] = draw(st.integers(0, 1))
        return [x], attrs

    def compute(self, inputs, attrs):
        x = inputs[0]
        return [((x == np.inf) & bool(attrs.get("detect_positive", 1))) |
                ((x == -np.inf) & bool(attrs.get("detect_negative", 1)))]


# ---- binary / variadic ops --------------------------------------------------------

def _trunc_div(a, b):
    q = a // b
    fix = (a % b != 0) & ((a < 0) != (b < 0))
    return np.where(fix, q + 1, q).astype(a.dtype)


BINARY = {
    # op: (dtypes, fn, avoid_zero_rhs)
    "Add": (NUMERIC, lambda a, b, at: a + b, False),
    "Sub": (NUMERIC, lambda a, b, at: a - b, False),
    "Mul": (NUMERIC, lambda a, b, at: a * b, False),
    "Div": (NUMERIC, lambda a, b, at: (a / b) if a.dtype.kind == "f" else _trunc_div(a, b), True),
    "Mod": (NUMERIC, lambda a, b, at: np.fmod(a, b) if at.get("fmod", 0) else np.mod(a, b), True),
    "Equal": (NUMERIC + [np.bool_], lambda a, b, at: a == b, False),
    "Less": (NUMERIC, lambda a, b, at: a < b, False),
    "Greater": (NUMERIC, lambda a, b, at: a > b, False),
    "LessOrEqual": (NUMERIC, lambda a, b, at: a <= b, False),
    "GreaterOrEqual": (NUMERIC, lambda a, b, at: a >= b, False),
    "And": ([np.bool_], lambda a, b, at: a & b, False),
    "Or": ([np.bool_], lambda a, b, at: a | b, False),
    "Xor": ([np.bool_], lambda a, b, at: a ^ b, False),
    "BitShift": (UINTS + SINTS, lambda a, b, at: (np.left_shift(a, b) if at["direction"] == "LEFT" else np.right_shift(a, b)),
                 False),
    "PRelu": (FLOATS + [np.int32, np.int64], lambda a, b, at: np.where(a < 0, a * b, a), False),
}


def _make_binary(op):
    dtypes, fn, nonzero = BINARY[op]

    class R(Reference):
        def draw(self, draw, descriptor):
            dt = pick_dtype(draw, dtypes, descriptor)
            sa, sb = two_shapes(draw)
            if op == "PRelu":  # slope broadcasts to X
                sa = draw(shapes(0, 4, 1, 7))
                sb = broadcastable_shape(draw, sa)
            attrs = {}
            lo = -100 if dt.kind in "fi" else 0
            a = values(draw, sa, dt, lo, 100)
            b = values(draw, sb, dt, lo, 100)
            if op == "BitShift":
                attrs["direction"] = draw(st.sampled_from(["LEFT", "RIGHT"]))
                b = values(draw, sb, dt, 0 if dt.kind == "u" else -2, 8 * dt.itemsize + 1)
            if op == "Mod":
                attrs["fmod"] = draw(st.integers(0, 1))
            if nonzero:
                b = np.where(b == 0, np.ones_like(b), b)
                if dt.kind == "i":
                    b = np.where(b == -1, np.full_like(b, 3), b)
            if op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual") and b.size and a.size:
                # make some elements equal
                bb = np.broadcast_to(b, np.broadcast_shapes(a.shape, b.shape))
                if a.shape == bb.shape:
                    a = a.copy()
                    a.reshape(-1)[::2] = bb.reshape(-1)[::2]
            return [a, b], attrs

        def compute(self, inputs, attrs):
            a, b = inputs
            y = np.asarray(fn(a, b, attrs))
            if y.dtype != np.bool_:
                y = y.astype(a.dtype)
            return [y]

    R.op = op
    R.__name__ = op + "Ref"
    reference(R)


for _op in BINARY:
    _make_binary(_op)


@reference
class PowRef(Reference):
    op = "Pow"

    def draw(self, draw, descriptor):
        bt = pick_dtype(draw, [np.float32, np.float64, np.float16, np.int32, np.int64], descriptor)
        et = np.dtype(draw(st.sampled_from([bt.type, np.float32, np.float64, np.int32, np.int64, np.int8, np.uint8])))
        sa, sb = two_shapes(draw)
        if bt.kind == "f":
            a = float_arrays(draw, sa, bt, 0.1, 3)
            b = values(draw, sb, et, -3, 3)
        else:
            a = values(draw, sa, bt, -5, 5)
            a = np.where(a == 0, np.ones_like(a), a)
            b = values(draw, sb, et, 0, 4) if et.kind != "f" else float_arrays(draw, sb, et, 0, 4)
        if draw(st.booleans()):
            b = np.array(draw(st.sampled_from([2, 3, 1])), dtype=et)
        return [a, b], {}

    def compute(self, inputs, attrs):
        a, b = inputs
        y = np.power(a.astype(np.float64), b.astype(np.float64))
        return [np.trunc(y).astype(a.dtype) if a.dtype.kind != "f" else y.astype(a.dtype)]

    def tolerance(self, descriptor, dtype):
        return (2e-5, 2e-5) if np.dtype(dtype) == np.float32 else super().tolerance(descriptor, dtype)


class VariadicRef(Reference):
    ops = ["Max", "Min", "Sum", "Mean"]

    def __init__(self, op=None):
        self.op_ = op

    def draw(self, draw, descriptor):
        floats_only = self.op_ in ("Sum", "Mean")
        dt = pick_dtype(draw, FLOATS if floats_only else NUMERIC, descriptor)
        out = draw(shapes(0, 4, 1, 6))
        n = draw(st.integers(1, 3))
        ins = []
        for k in range(n):
            s = out if k == 0 and draw(st.booleans()) else broadcastable_shape(draw, out)
            ins.append(values(draw, s, dt, -100 if dt.kind != "u" else 0, 100))
        if self.op_ in ("Max", "Min") and dt.kind == "f" and ins[0].size and draw(st.booleans()):
            ins[0] = ins[0].copy()
            ins[0].reshape(-1)[0] = np.nan
        return ins, {}

    def compute(self, inputs, attrs):
        fn = {"Max": np.maximum, "Min": np.minimum, "Sum": np.add, "Mean": np.add}[self.op_]
        y = inputs[0]
        for x in inputs[1:]:
            y = fn(y, x)
        if self.op_ == "Mean":
            y = y / np.array(len(inputs), dtype=y.dtype)
        shape = np.broadcast_shapes(*[x.shape for x in inputs])
        return [np.broadcast_to(y, shape).astype(inputs[0].dtype)]


for _op in VariadicRef.ops:
    reference(type(_op + "Ref", (VariadicRef,), {"op": _op, "ops": [_op], "__init__": lambda self, o=_op: VariadicRef.__init__(self, o)}))


@reference
class WhereRef(Reference):
    op = "Where"

    def draw(self, draw, descriptor):
        dt = pick_dtype(draw, NUMERIC + [np.bool_], descriptor)
        out = draw(shapes(0, 4, 1, 6))
        ss = [out if draw(st.booleans()) else broadcastable_shape(draw, out) for _ in range(3)]
        c = values(draw, ss[0], np.bool_)
        lo = -100 if dt.kind in "fi" else 0
        return [c, values(draw, ss[1], dt, lo, 100), values(draw, ss[2], dt, lo, 100)], {}

    def compute(self, inputs, attrs):
        return [np.where(*inputs).astype(inputs[1].dtype)]


# ---- Cast ---------------------------------------------------------------------------

CAST_TYPES = FLOATS + INTS + [np.bool_]


def _f_to_i32(x):
    x = x.astype(np.float64)
    ok = (x >= -2.0 ** 31) & (x < 2.0 ** 31)
    return np.where(ok, np.trunc(np.where(ok, x, 0)), -2.0 ** 31).astype(np.int64)


def _f_to_i64(x):
    x = x.astype(np.float64)
    ok = (x >= -2.0 ** 63) & (x < 2.0 ** 63)
    return np.where(ok, np.trunc(np.where(ok, x, 0)), 0).astype(np.int64) | np.where(ok, 0, np.int64(-2 ** 63))


def cast_ref(x, to):
    to = np.dtype(to)
    if to == x.dtype:
        return x.copy()
    if to == np.bool_:
        return x != 0
    if x.dtype.kind == "f" and to.kind in "iu":
        x = x.astype(np.float32) if x.dtype == np.float16 else x
        if to == np.int64:
            return _f_to_i64(x)
        if to == np.uint64:
            big = x >= 2.0 ** 63
            lo = _f_to_i64(np.where(big, 0, x)).astype(np.uint64)
            hi = _f_to_i64(np.where(big, x - np.array(2.0 ** 63, x.dtype), 0)).astype(np.uint64) ^ np.uint64(1 << 63)
            return np.where(big, hi, lo)
        if to == np.uint32:
            big = x >= 2.0 ** 31
            lo = _f_to_i32(np.where(big, 0, x)).astype(np.uint32)
            hi = _f_to_i32(np.where(big, x - np.array(2.0 ** 31, x.dtype), 0)).astype(np.uint32) ^ np.uint32(1 << 31)
            return np.where(big, hi, lo)
        return _f_to_i32(x).astype(np.int32).astype(to)
    if to == np.float16 and x.dtype.kind in "iub":
        return x.astype(np.float32).astype(np.float16)
    if to == np.float16 and x.dtype == np.float64:
        return x.astype(np.float32).astype(np.float16)
    return x.astype(to)


def _cast_values(draw, shape, src):
    src = np.dtype(src)
    if src.kind == "f":
        x = float_arrays(draw, shape, src, -300, 300)
        if x.size and draw(st.booleans()):
            sp = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 5e9, 70000.5, -2.7, 2.5], dtype=np.float64)
            with np.errstate(over="ignore"):
                sp = sp.astype(src)
            rng = np.random.default_rng(x.size)
            idx = rng.integers(0, x.size, size=max(1, x.size // 4))
            x.reshape(-1)[idx] = rng.choice(sp, size=idx.size)
        return x
    if src.kind == "b":
        return values(draw, shape, np.bool_)
    info = np.iinfo(src)
    return int_arrays(draw, shape, np.int64, max(info.min, -100000), min(info.max, 100000)).astype(src)


@reference
class CastRef(Reference):
    op = "Cast"

    def draw(self, draw, descriptor):
        src = np.dtype(draw(st.sampled_from(CAST_TYPES)))
        dst = np.dtype(draw(st.sampled_from(CAST_TYPES)))
        from softneuro_ep.graph_passes.dtypes import NP_TO_ONNX
        return [_cast_values(draw, draw(shapes(0, 3, 0, 9)), src)], {"to": int(NP_TO_ONNX[dst])}

    def compute(self, inputs, attrs):
        from softneuro_ep.graph_passes.dtypes import ONNX_TO_NP
        with np.errstate(all="ignore"):
            return [np.asarray(cast_ref(inputs[0], ONNX_TO_NP[attrs["to"]]))]


@reference
class CastLikeRef(Reference):
    op = "CastLike"

    def draw(self, draw, descriptor):
        src = np.dtype(draw(st.sampled_from(CAST_TYPES)))
        dst = np.dtype(draw(st.sampled_from(CAST_TYPES)))
        return [_cast_values(draw, draw(shapes(0, 3, 0, 9)), src), np.zeros((1,), dtype=dst)], {}

    def compute(self, inputs, attrs):
        with np.errstate(all="ignore"):
            return [np.asarray(cast_ref(inputs[0], inputs[1].dtype))]
