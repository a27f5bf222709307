"""qint8 candidates for float32 layers, from a calibration (mixed precision).

With a calibration (ranges of activations), a float32 Conv whose input(s) and
output have ranges gets a *quantized variant*: the same layer as the engine's
QLinearConv (u8 activations, per-output-channel symmetric s8 weights, int32
bias, the fused activation and residual kept). A float32 Gemm with constant
weights (a classifier's fully-connected layer) whose input has a range gets
com.microsoft QGemm: u8 input, per-output-feature symmetric s8 weights, int32
bias, float32 output (so its output stays in format "nchw": Variant.qout is
False). Its activations are in format
"qint8" (uint8 NCHW with the tensor's scale and zero point); the adapts
between "nchw" and "qint8" are QuantizeLinear / DequantizeLinear with those
parameters. GlobalAveragePool and AveragePool become com.microsoft
QLinearGlobalAveragePool / QLinearAveragePool (u8 in with the input's parameters, u8 out with the
output's), so a classifier's chain conv -> pool -> Flatten -> QGemm stays u8. MaxPool, nearest Resize,
Concat, Flatten and Reshape run on u8 unchanged (they keep one set of parameters, see
QuantPlanner.__init__). The tuner profiles variants like any routine and DPRS weighs the
adapts; apply() rewrites the chosen layers and inserts the adapts.

Tensor parameters: asymmetric u8 over [min(lo, 0), max(hi, 0)].
"""
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Dict, List, Tuple

import numpy as np
from onnx import TensorProto

from .ir import Node, Value
from .qdq_head import POOL_ATTRS

QFORMAT = "qint8"
PASSTHROUGH_1 = ("MaxPool", "Resize", "Flatten", "Reshape")  # u8 in, u8 out with the input's parameters


def qparams(lo, hi):
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
    zp = int(np.clip(np.round(-lo / float(scale)), 0, 255))
    return scale, np.uint8(zp)


def quantize_np(x, scale, zp):
    """numpy glue for tuning-time error estimates (QuantizeLinear's rounding: half to even)."""
    return np.clip(np.rint(x / np.float32(scale)) + int(zp), 0, 255).astype(np.uint8)


def dequantize_np(q, scale, zp):
    return ((q.astype(np.int32) - int(zp)).astype(np.float32) * np.float32(scale))


@dataclass
class Variant:
    node: Node                         # the quantized node (same name as the float32 one)
    initializers: Dict[str, np.ndarray]
    acts: List[str]                    # its activation inputs in qint8 format, in node input order
    outputs: List[str]
    qout: bool = True                  # outputs in format "qint8" (False: float32 in "nchw", QGemm's)


def _activation_ok(node):
    act = node.attrs.get("activation")
    return act in (None, "Relu", "Clip")


class QuantPlanner:
    def __init__(self, g, types, ranges):
        self.g, self.types = g, types
        self.params: Dict[str, Tuple[np.float32, np.uint8]] = {}
        for name, (lo, hi) in ranges.items():
            self.params[name] = qparams(lo, hi)
        # Ops that move u8 values without arithmetic keep one set of parameters: MaxPool, nearest Resize,
        # Flatten and Reshape outputs take their input's; a Concat's inputs take its output's (the union of their ranges) when
        # the Concat is their only reader. A variant is offered only where these agree (see _passthrough).
        consumers = g.consumers()
        outputs = g.output_names()
        for n in g.nodes:
            if n.op in PASSTHROUGH_1 and n.inputs[0] in self.params and n.outputs[0]:
                self.params[n.outputs[0]] = self.params[n.inputs[0]]
            elif n.op == "Concat" and n.outputs[0] in self.params:
                for t in n.inputs:
                    if t in self.params and len(consumers.get(t, [])) == 1 and t not in outputs:
                        self.params[t] = self.params[n.outputs[0]]
        self.variants: Dict[str, Variant] = {}

    def _u8(self, name):
        v = self.types[name]
        return Value(name, TensorProto.UINT8, v.shape)

    def variant(self, node):
        """The node's qint8 variant, or None when it has none."""
        if node.name in self.variants:
            return self.variants[node.name]
        v = None
        if node.op == "Conv":
            v = self._conv(node)
        elif node.op == "Gemm":
            v = self._gemm(node)
        elif node.op in ("GlobalAveragePool", "AveragePool"):
            v = self._avgpool(node)
        elif node.op in PASSTHROUGH_1 + ("Concat",):
            v = self._passthrough(node)
        if v is not None:
            self.variants[node.name] = v
        return v

    def _fp32(self, name):
        t = self.types.get(name)
        return t is not None and t.elem_type == TensorProto.FLOAT

    def _conv(self, n):
        g, p = self.g, self.params
        x, w = n.inputs[0], n.inputs[1]
        b = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else None
        z = n.inputs[3] if len(n.inputs) > 3 and n.inputs[3] else None
        y = n.outputs[0]
        if w not in g.initializers or (b and b not in g.initializers) or not _activation_ok(n):
            return None
        if len([o for o in n.outputs if o]) != 1 or not self._fp32(x) or not self._fp32(y):
            return None
        if len(self.types[x].shape) != 4 or x not in p or y not in p or (z and z not in p):
            return None
        wf = g.initializers[w]
        if wf.dtype != np.float32:
            return None
        xs, xz = p[x]
        ys, yz = p[y]
        M = wf.shape[0]
        amax = np.abs(wf.reshape(M, -1)).max(axis=1)
        ws = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        wq = np.clip(np.rint(wf / ws.reshape((M,) + (1,) * (wf.ndim - 1))), -127, 127).astype(np.int8)
        pre = f"{n.name}__q"
        inits = {f"{pre}_xs": np.array(xs, np.float32), f"{pre}_xz": np.array(xz, np.uint8),
                 f"{pre}_w": wq, f"{pre}_ws": ws, f"{pre}_wz": np.zeros(M, np.int8),
                 f"{pre}_ys": np.array(ys, np.float32), f"{pre}_yz": np.array(yz, np.uint8)}
        ins = [x, f"{pre}_xs", f"{pre}_xz", f"{pre}_w", f"{pre}_ws", f"{pre}_wz", f"{pre}_ys", f"{pre}_yz"]
        bias = g.initializers[b].astype(np.float64) if b else np.zeros(M)
        if b or z:
            inits[f"{pre}_b"] = np.clip(np.rint(bias / (float(xs) * ws.astype(np.float64))),
                                        -2**31, 2**31 - 1).astype(np.int32)
            ins.append(f"{pre}_b")
        acts = [x]
        if z:
            zs, zz = p[z]
            inits[f"{pre}_zs"], inits[f"{pre}_zz"] = np.array(zs, np.float32), np.array(zz, np.uint8)
            ins += [z, f"{pre}_zs", f"{pre}_zz"]
            acts.append(z)
        q = Node("QLinearConv", ins, [y], dict(n.attrs), n.name)
        return Variant(q, inits, acts, [y])

    def _gemm(self, n):
        """Y = X W [+ C] (transA 0, alpha 1, beta 1, constant float32 W and C) as QGemm with a float32 output:
        y = float32(acc) * (x_scale * w_scale[n]), acc the int32 product plus the bias in those units."""
        g, p, a = self.g, self.params, n.attrs
        x, w = n.inputs[0], n.inputs[1]
        c = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else None
        y = n.outputs[0]
        if "activation" in a or int(a.get("transA", 0)) or float(a.get("alpha", 1.0)) != 1.0:
            return None
        if c and float(a.get("beta", 1.0)) != 1.0:
            return None
        if w not in g.initializers or (c and c not in g.initializers):
            return None
        if len([o for o in n.outputs if o]) != 1 or not self._fp32(x) or not self._fp32(y) or x not in p:
            return None
        if len(self.types[x].shape or ()) != 2:
            return None
        wf = g.initializers[w]
        if wf.dtype != np.float32 or wf.ndim != 2:
            return None
        tb = int(a.get("transB", 0))
        N = wf.shape[0] if tb else wf.shape[1]
        amax = np.abs(wf).max(axis=1 if tb else 0) if wf.size else np.zeros(N, np.float32)
        ws = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        wq = np.clip(np.rint(wf / (ws[:, None] if tb else ws[None, :])), -127, 127).astype(np.int8)
        xs, xz = p[x]
        pre = f"{n.name}__q"
        inits = {f"{pre}_xs": np.array(xs, np.float32), f"{pre}_xz": np.array(xz, np.uint8),
                 f"{pre}_w": wq, f"{pre}_ws": ws, f"{pre}_wz": np.zeros(N, np.int8)}
        ins = [x, f"{pre}_xs", f"{pre}_xz", f"{pre}_w", f"{pre}_ws", f"{pre}_wz"]
        if c:
            cf = g.initializers[c]
            if cf.dtype != np.float32 or cf.ndim > 2 or cf.size not in (1, N) or (cf.ndim == 2 and cf.shape[0] != 1):
                return None
            bias = np.broadcast_to(cf.reshape(-1).astype(np.float64), (N,))
            inits[f"{pre}_b"] = np.clip(np.rint(bias / (float(xs) * ws.astype(np.float64))),
                                        -2**31, 2**31 - 1).astype(np.int32)
            ins.append(f"{pre}_b")
        q = Node("QGemm", ins, [y], {"transB": tb} if tb else {}, n.name, "com.microsoft")
        return Variant(q, inits, [x], [y], qout=False)

    def _avgpool(self, n):
        """(Global)AveragePool as com.microsoft QLinear(Global)AveragePool: u8 x with x's parameters, u8 y
        with y's. Not with ceil_mode and count_include_pad together (onnxruntime's QLinearAveragePool
        divides by the kernel size where ONNX counts the taps inside the pads) nor dilations."""
        p = self.params
        x, y = n.inputs[0], n.outputs[0]
        if len(n.inputs) != 1 or len([o for o in n.outputs if o]) != 1 or not self._fp32(x) or not self._fp32(y):
            return None
        if x not in p or y not in p or len(self.types[x].shape or ()) < 3:
            return None
        attrs = {}
        if n.op == "AveragePool":
            if any(k not in POOL_ATTRS + ("dilations",) for k in n.attrs) or \
                    any(d != 1 for d in n.attrs.get("dilations", [])) or \
                    (n.attrs.get("ceil_mode", 0) and n.attrs.get("count_include_pad", 0)):
                return None
            attrs = {k: v for k, v in n.attrs.items() if k in POOL_ATTRS}
        elif n.attrs:
            return None
        xs, xz = p[x]
        ys, yz = p[y]
        pre = f"{n.name}__q"
        inits = {f"{pre}_xs": np.array(xs, np.float32), f"{pre}_xz": np.array(xz, np.uint8),
                 f"{pre}_ys": np.array(ys, np.float32), f"{pre}_yz": np.array(yz, np.uint8)}
        q = Node("QLinear" + n.op, [x, f"{pre}_xs", f"{pre}_xz", f"{pre}_ys", f"{pre}_yz"], [y], attrs, n.name,
                 "com.microsoft")
        return Variant(q, inits, [x], [y])

    def _same(self, a, b):
        pa, pb = self.params.get(a), self.params.get(b)
        return pa is not None and pb is not None and float(pa[0]) == float(pb[0]) and int(pa[1]) == int(pb[1])

    def _passthrough(self, n):
        """MaxPool, nearest Resize, Concat, Flatten, Reshape (constant shape) on u8: exact when input and
        output parameters agree."""
        y = n.outputs[0]
        if len([o for o in n.outputs if o]) != 1 or y not in self.params:
            return None
        if n.op == "Concat":
            acts = [t for t in n.inputs if t]
            if not acts or any(t in self.g.initializers or not self._fp32(t) or not self._same(t, y) for t in acts):
                return None
            return Variant(Node("Concat", list(n.inputs), [y], dict(n.attrs), n.name), {}, acts, [y])
        x = n.inputs[0]
        if not self._fp32(x) or not self._same(x, y):
            return None
        if n.op in ("MaxPool", "Resize") and len(self.types[x].shape) != 4:
            return None
        if n.op == "Reshape" and (len(n.inputs) < 2 or n.inputs[1] not in self.g.initializers):
            return None
        if n.op == "Resize" and (n.attrs.get("mode", "nearest") != "nearest" or
                                 any(i and i not in self.g.initializers for i in n.inputs[1:])):
            return None
        return Variant(Node(n.op, list(n.inputs), [y], dict(n.attrs), n.name), {}, [x], [y])

    # ---- profiling helpers ------------------------------------------------
    def probe_view(self, variant):
        """(graph-like object with initializers, types) in which the variant's tensors are u8."""
        gq = SimpleNamespace(initializers={**self.g.initializers, **variant.initializers})
        types = dict(self.types)
        for t in variant.acts + (variant.outputs if variant.qout else []):
            types[t] = self._u8(t)
        return gq, types

    def formats(self, node, variant):
        """(in formats, out formats) of the variant over the node's activation inputs/outputs."""
        acts = set(variant.acts)
        ins = tuple(QFORMAT if i in acts else "nchw" for i in node.inputs if i and i not in self.g.initializers)
        return ins, tuple(QFORMAT if variant.qout else "nchw" for _ in node.outputs)

    # ---- rewriting ----------------------------------------------------------
    def apply(self, g, types, chosen):
        """Replaces the nodes named in `chosen` by their variants and inserts the
        QuantizeLinear/DequantizeLinear adapts. Returns {adapt node name: (tensor, direction)}."""
        fmt = {}   # tensor -> QFORMAT when a chosen variant writes it
        for name in chosen:
            if self.variants[name].qout:
                for o in self.variants[name].outputs:
                    fmt[o] = QFORMAT
        converted = {}  # (tensor, to) -> name
        out, added = [], {}

        def adapt(t, to):
            key = (t, to)
            if key not in converted:
                s, z = self.params[t]
                sn, zn = f"{t}__qs", f"{t}__qz"
                g.initializers.setdefault(sn, np.array(s, np.float32))
                g.initializers.setdefault(zn, np.array(z, np.uint8))
                if to == QFORMAT:
                    name = f"{t}__q8"
                    node = Node("QuantizeLinear", [t, sn, zn], [name], {}, f"quantize_{t}")
                    types[name] = self._u8(t)
                else:
                    name = f"{t}__f32"
                    node = Node("DequantizeLinear", [t, sn, zn], [name], {}, f"dequantize_{t}")
                    types[name] = Value(name, TensorProto.FLOAT, types[t].shape)
                out.append(node)
                added[node.name] = (t, to)
                converted[key] = name
            return converted[key]

        for n in g.nodes:
            if n.name in chosen:
                v = self.variants[n.name]
                g.initializers.update(v.initializers)
                acts = set(v.acts)
                n.op, n.attrs, n.domain = v.node.op, dict(v.node.attrs), v.node.domain
                n.inputs = [(adapt(i, QFORMAT) if fmt.get(i) != QFORMAT else i) if i in acts else i
                            for i in v.node.inputs]
                for o in (v.outputs if v.qout else []):
                    types[o] = self._u8(o)
            else:
                n.inputs = [adapt(i, "nchw") if fmt.get(i) == QFORMAT else i for i in n.inputs]
            out.append(n)
        # Graph outputs leave in float32.
        for v in g.outputs:
            if fmt.get(v.name) == QFORMAT:
                private = f"{v.name}__u8"
                for n in out:
                    n.outputs = [private if o == v.name else o for o in n.outputs]
                    n.inputs = [private if i == v.name else i for i in n.inputs]
                types[private] = self._u8(v.name)
                types[v.name] = Value(v.name, TensorProto.FLOAT, types[v.name].shape)
                s, z = self.params[v.name]
                sn, zn = f"{v.name}__qs", f"{v.name}__qz"
                g.initializers.setdefault(sn, np.array(s, np.float32))
                g.initializers.setdefault(zn, np.array(z, np.uint8))
                out.append(Node("DequantizeLinear", [private, sn, zn], [v.name], {}, f"dequantize_{v.name}_out"))
                added[f"dequantize_{v.name}_out"] = (v.name, "nchw")
        g.nodes = out
        return added
