"""A tiny DSL for building ONNX graphs with seeded random weights.

Every builder in this package goes through :class:`GraphBuilder`: it names
values, adds nodes and initializers, tracks the channel count of 4-D (NCHW)
tensors so layer helpers need not be told their input width, and draws weights
from ``numpy.random.default_rng(seed)``.

Scaling: the builder also tracks an estimate of each value's mean and second
moment (``self.mom[value] = (E[x], E[x^2])``) through the ops it emits
(activations and MaxPool by quadrature under a Gaussian assumption for their
input, Add/Mul of independent operands, Concat averaged by channels, other
pooling/reshaping passing through). Conv, Gemm and
ConvTranspose weights are drawn with variance ``var / (fan_in * E[x^2])`` so
their outputs have variance ``var`` (1 by default): He initialisation with the
gain worked out for the actual input, which keeps activations O(1) through deep
nets whatever the activation function (a data-free LSUV).
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper

_NP2ONNX = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.bool_): TensorProto.BOOL,
}


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)
_GH_W = _GH_W / _GH_W.sum()


_MAX_Z = np.linspace(-9.0, 9.0, 3601)
_PHI = np.exp(-0.5 * _MAX_Z ** 2) / math.sqrt(2 * math.pi)
_CDF = 0.5 * (1 + np.vectorize(math.erf)(_MAX_Z / math.sqrt(2)))


def _sigma(m, q):
    return math.sqrt(max(q - m * m, 1e-12))


def act_moments(f, m, q):
    """(E[f(x)], E[f(x)^2]) for x ~ N(m, q - m^2) (Gauss-Hermite quadrature)."""
    y = f(m + _GH_X * _sigma(m, q))
    return float(np.dot(_GH_W, y)), float(np.dot(_GH_W, y * y))


def max_moments(n, m, q):
    """(E[M], E[M^2]) for M the max of n iid N(m, q - m^2) (a MaxPool window)."""
    dens = n * _PHI * _CDF ** (n - 1)
    dens /= dens.sum()
    x = m + _MAX_Z * _sigma(m, q)
    return float(np.dot(dens, x)), float(np.dot(dens, x * x))


_ACTS = {
    "Relu": lambda x: np.maximum(x, 0),
    "Clip": lambda x: np.clip(x, 0, 6),  # as used here: ReLU6
    "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "Tanh": np.tanh,
    "HardSwish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "HardSigmoid": None,  # alpha/beta from the node's attributes
}


def _pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


class GraphBuilder:
    """Accumulates nodes/initializers; ``finish()`` returns a checked ModelProto."""

    def __init__(self, name: str, seed: int = 0, opset: int = 17):
        self.name = name
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        # weights go straight into the final proto: no copies of big tensors
        self.model = onnx.ModelProto()
        self.graph = self.model.graph
        self.graph.name = name
        self.model.ir_version = 8
        self.model.opset_import.append(helper.make_opsetid("", opset))
        self.ch: dict[str, int] = {}  # channel count of NCHW values
        self.mom: dict[str, tuple] = {}  # estimated (E[x], E[x^2]) of values
        self._count: dict[str, int] = {}
        self._consts: dict[tuple, str] = {}
        self._big: list[tuple] = []  # large initializers: (name, dtype, shape)

    # ------------------------------------------------------------------ names
    def uniq(self, prefix: str) -> str:
        n = self._count.get(prefix, 0)
        self._count[prefix] = n + 1
        return f"{prefix}_{n}"

    # ------------------------------------------------------------ graph I/O
    def input(self, name, shape, dtype=np.float32, channels=None):
        self.graph.input.append(helper.make_tensor_value_info(name, _NP2ONNX[np.dtype(dtype)], shape))
        if channels is not None:
            self.ch[name] = channels
        self.mom[name] = (0.0, 1.0)
        return name

    def output(self, value, name=None, dtype=np.float32, shape=None):
        """Mark ``value`` as a graph output named ``name``: its producer's output
        is renamed when nothing consumes it yet (else an Identity is added).
        Returns the output's name (use it for any later consumers)."""
        if name is not None and name != value:
            producer = next((n for n in reversed(self.graph.node) if value in n.output), None)
            used = any(value in n.input for n in self.graph.node) or producer is None
            if used:
                value = self.op("Identity", [value], name=name)
            else:
                producer.output[list(producer.output).index(value)] = name
                for d in (self.ch, self.mom):
                    if value in d:
                        d[name] = d[value]
                value = name
        self.graph.output.append(helper.make_tensor_value_info(value, _NP2ONNX[np.dtype(dtype)], shape))
        return value

    # ------------------------------------------------------------ constants
    def init(self, arr, prefix="w"):
        """Add an initializer (always a fresh name)."""
        name = self.uniq(prefix)
        arr = np.asarray(arr, order="C")  # (ascontiguousarray would make 0-d 1-d)
        t = self.graph.initializer.add()
        t.name, t.data_type = name, _NP2ONNX[arr.dtype]
        t.dims.extend(arr.shape)
        t.raw_data = arr.tobytes()
        if arr.size > 65536:
            self._big.append((name, t.data_type, list(arr.shape)))
        return name

    def const(self, value, dtype=np.float32):
        """A small shared constant (deduplicated by value)."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.init(arr, "c")
        return self._consts[key]

    def i64(self, value):
        return self.const(value, np.int64)

    def randn(self, shape, std, prefix="w"):
        """Zero-mean random tensor with standard deviation ``std`` (uniform
        distribution: several times faster to draw than a normal one)."""
        a = self.rng.random(size=shape, dtype=np.float32)
        a -= np.float32(0.5)
        a *= np.float32(std * math.sqrt(12.0))
        return self.init(a, prefix)

    def uniform(self, shape, lo, hi, prefix="w"):
        a = self.rng.random(size=shape, dtype=np.float32)
        a *= np.float32(hi - lo)
        a += np.float32(lo)
        return self.init(a, prefix)

    # ---------------------------------------------------------------- nodes
    def op(self, op_type, inputs, n_out=1, name=None, ch=None, **attrs):
        """Add a node; returns its output name (or list of names if n_out > 1).

        The channel count of the first input carries over to the output
        unless ``ch`` says otherwise.
        """
        base = name or self.uniq(op_type.lower())
        outs = [base] if n_out == 1 else [f"{base}:{i}" for i in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.graph.node.append(helper.make_node(op_type, list(inputs), outs, name=base, **attrs))
        c = ch if ch is not None else (self.ch.get(inputs[0]) if inputs else None)
        if c is not None:
            for o in outs:
                self.ch[o] = c
        mom = self._propagate(op_type, list(inputs), attrs)
        if mom is not None:
            for o in outs:
                self.mom[o] = mom
        return outs[0] if n_out == 1 else outs

    def _propagate(self, op_type, inputs, attrs):
        """Second moment of an op's output from its inputs' (None: unknown)."""
        ms = [self.mom[v] for v in inputs if v in self.mom]
        if not ms:
            return None
        if op_type in _ACTS:
            f = _ACTS[op_type]
            if op_type == "HardSigmoid":
                a_, b_ = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
                f = lambda x: np.clip(a_ * x + b_, 0, 1)  # noqa: E731
            return act_moments(f, *ms[0])
        if op_type == "MaxPool":
            return max_moments(int(np.prod(attrs["kernel_shape"])), *ms[0])
        if op_type in ("Add", "Sum"):  # independent fluctuations
            m = sum(a for a, _ in ms)
            return m, m * m + sum(q - a * a for a, q in ms)
        if op_type == "Mul":
            return float(np.prod([a for a, _ in ms])), float(np.prod([q for _, q in ms]))
        if op_type == "Concat" and attrs.get("axis") == 1:
            chs = [self.ch.get(v, 1) for v in inputs]
            ws = np.array(chs, dtype=float) / sum(chs)
            mm = [self.mom.get(v, (0.0, 1.0)) for v in inputs]
            return float(np.dot(ws, [a for a, _ in mm])), float(np.dot(ws, [q for _, q in mm]))
        return ms[0]

    def __getattr__(self, op_type):
        # gb.Relu(x), gb.Add(a, b), gb.Transpose(x, perm=[...]) ...
        if op_type[:1].isupper():
            return lambda *inputs, **attrs: self.op(op_type, inputs, **attrs)
        raise AttributeError(op_type)

    # ------------------------------------------------------------ layers
    def _std(self, x, fan_in, var):
        """Weight std giving outputs of variance ``var`` for input ``x``."""
        return math.sqrt(var / (fan_in * self.mom.get(x, (0.0, 1.0))[1]))

    def conv(self, x, cout, k=1, s=1, p=None, g=1, d=1, bias=True, var=1.0, name=None):
        """Conv whose output has variance ~``var`` (see the module docstring)."""
        cin = self.ch[x]
        kh, kw = _pair(k)
        dh, dw = _pair(d)
        if p is None:
            p = [dh * (kh - 1) // 2, dw * (kw - 1) // 2]
        p = _pair(p)
        pads = p if len(p) == 4 else p + p
        fan_in = cin // g * kh * kw
        w = self.randn((cout, cin // g, kh, kw), self._std(x, fan_in, var), "conv_w")
        ins = [x, w] + ([self.randn((cout,), 0.01, "conv_b")] if bias else [])
        y = self.op("Conv", ins, name=name, ch=cout, kernel_shape=[kh, kw], strides=_pair(s),
                    pads=pads, group=g if g != 1 else None, dilations=[dh, dw] if d != 1 else None)
        self.mom[y] = (0.0, var)
        return y

    def conv_transpose(self, x, cout, k=2, s=2, bias=True, var=1.0):
        cin = self.ch[x]
        kh, kw = _pair(k)
        sh, sw = _pair(s)
        # each output pixel sees cin * (kh/sh) * (kw/sw) inputs
        fan_in = max(1, cin * kh * kw // (sh * sw))
        w = self.randn((cin, cout, kh, kw), self._std(x, fan_in, var), "convT_w")
        ins = [x, w] + ([self.randn((cout,), 0.01, "convT_b")] if bias else [])
        y = self.op("ConvTranspose", ins, ch=cout, kernel_shape=[kh, kw], strides=[sh, sw])
        self.mom[y] = (0.0, var)
        return y

    def bn(self, x, gamma=1.0, eps=1e-5):
        """BatchNormalization whose running stats match the input's estimated
        moments (mean ~0, var ~E[x^2]); output scale ~``gamma``."""
        c, q = self.ch[x], self.mom.get(x, (0.0, 1.0))[1]
        scale = self.uniform((c,), 0.8 * gamma, 1.2 * gamma, "bn_scale")
        bias = self.randn((c,), 0.05, "bn_bias")
        mean = self.randn((c,), 0.05 * math.sqrt(q), "bn_mean")
        var = self.uniform((c,), 0.8 * q, 1.2 * q, "bn_var")
        y = self.op("BatchNormalization", [x, scale, bias, mean, var], epsilon=eps)
        self.mom[y] = (0.0, gamma * gamma)
        return y

    def gemm(self, x, cin, cout, var=1.0, trans_b=True):
        shape = (cout, cin) if trans_b else (cin, cout)
        w = self.randn(shape, self._std(x, cin, var), "fc_w")
        b = self.randn((cout,), 0.01, "fc_b")
        y = self.op("Gemm", [x, w, b], transB=1 if trans_b else None)
        self.mom[y] = (0.0, var)
        return y

    def linear(self, x, cin, cout, gain=1.0):
        """MatMul + Add (transformer-style projection; inputs assumed unit-scale)."""
        w = self.randn((cin, cout), math.sqrt(gain / cin), "proj_w")
        return self.Add(self.MatMul(x, w), self.randn((cout,), 0.02, "proj_b"))

    def act(self, x, kind):
        if kind in (None, "none", "linear"):
            return x
        if kind == "relu":
            return self.Relu(x)
        if kind == "relu6":
            return self.Clip(x, self.const(0.0), self.const(6.0))
        if kind == "silu":
            y = self.Mul(x, self.Sigmoid(x))
            self.mom[y] = act_moments(lambda v: v / (1 + np.exp(-v)), *self.mom.get(x, (0.0, 1.0)))
            return y
        if kind in ("hswish", "hardswish"):
            return self.HardSwish(x)
        if kind == "hsigmoid":
            return self.HardSigmoid(x, alpha=1.0 / 6, beta=0.5)
        if kind == "sigmoid":
            return self.Sigmoid(x)
        raise ValueError(kind)

    def conv_bn_act(self, x, cout, k=1, s=1, g=1, act="relu", gamma=1.0, p=None):
        return self.act(self.bn(self.conv(x, cout, k, s, p=p, g=g, bias=False), gamma), act)

    def maxpool(self, x, k, s, p=0, ceil=False):
        pads = list(p) if isinstance(p, (list, tuple)) else [p] * 4
        return self.op("MaxPool", [x], kernel_shape=_pair(k), strides=_pair(s), pads=pads,
                       ceil_mode=1 if ceil else None)

    def avgpool(self, x, k, s, p=0):
        return self.op("AveragePool", [x], kernel_shape=_pair(k), strides=_pair(s), pads=[p] * 4)

    def concat(self, xs, axis=1):
        if len(xs) == 1:
            return xs[0]
        chs = [self.ch.get(v) for v in xs]
        c = sum(chs) if axis == 1 and None not in chs else None
        return self.op("Concat", xs, axis=axis, ch=c)

    def split(self, x, sizes, axis=1):
        outs = self.op("Split", [x, self.i64(sizes)], n_out=len(sizes), axis=axis)
        if axis == 1:
            for o, c in zip(outs, sizes):
                self.ch[o] = c
        return outs

    def resize(self, x, scale, mode="nearest", **attrs):
        scales = self.const([1.0, 1.0, float(scale), float(scale)])
        if mode == "nearest":
            attrs.setdefault("nearest_mode", "floor")
            attrs.setdefault("coordinate_transformation_mode", "asymmetric")
        return self.op("Resize", [x, "", scales], mode=mode, **attrs)

    def head(self, x, cin, classes):
        """GlobalAveragePool -> Flatten -> Gemm (classifier)."""
        return self.gemm(self.Flatten(self.GlobalAveragePool(x), axis=1), cin, classes)

    def se(self, x, squeeze, hsig_alpha=1.0 / 6, bias=True):
        """Squeeze-excite: GAP -> Conv -> Relu -> Conv -> HardSigmoid -> Mul."""
        c = self.ch[x]
        s = self.Relu(self.conv(self.GlobalAveragePool(x), squeeze, 1, bias=bias))
        s = self.conv(s, c, 1, bias=bias)
        return self.Mul(x, self.HardSigmoid(s, alpha=hsig_alpha, beta=0.5))

    # ---------------------------------------------------------- shape ops
    def dim(self, x, axis):
        """Scalar int64 dim of ``x`` (Shape -> Gather)."""
        return self.Gather(self.Shape(x), self.i64(axis), axis=0)

    def dim1(self, x, axis):
        """1-D [dim] of ``x`` (Shape -> Gather -> Unsqueeze)."""
        return self.Unsqueeze(self.dim(x, axis), self.i64([0]))

    def shape_of(self, *parts):
        """Concat of 1-D int64 pieces; ints become constants."""
        vals = [self.i64([p]) if isinstance(p, (int, np.integer)) else p for p in parts]
        return self.op("Concat", vals, axis=0)

    # ------------------------------------------------------------- finish
    def finish(self, check=True, doc=""):
        model = self.model
        model.producer_name = "softneuro_ep.tools.models"
        model.doc_string = doc
        if check:
            onnx.checker.check_model(self._skeleton(), full_check=True)
        return model

    def _skeleton(self):
        """The model with its large initializers turned into graph inputs of
        the same type and shape: the checker (with shape inference) sees the
        same graph without serializing hundreds of MB of weights."""
        sk = onnx.ModelProto()
        sk.ir_version = self.model.ir_version
        sk.opset_import.extend(self.model.opset_import)
        g, src = sk.graph, self.graph
        g.name = src.name
        g.node.extend(src.node)
        g.input.extend(src.input)
        g.output.extend(src.output)
        big = {n for n, _, _ in self._big}
        g.input.extend(helper.make_tensor_value_info(n, dt, shp) for n, dt, shp in self._big)
        for t in src.initializer:
            if t.name not in big:
                g.initializer.append(t)
        return sk
