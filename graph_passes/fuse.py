"""Fusions on a static, folded graph. The fused forms are the engine's own
extensions of standard ops (every Conv/Gemm/MatMul routine implements them and
the conformance references check them):

  attrs  activation="Relu"|"Clip"|"Sigmoid"|"HardSigmoid"|"HardSwish"|"LeakyRelu"|"Tanh",
         activation_params=[...]   (Clip: min,max; LeakyRelu: alpha; HardSigmoid: alpha,beta)
  Conv   optional input 3: Z, same shape as the output, added before the activation
  MatMul optional input 2: bias of length N added along the last dim

  Gemm, MatMul only: activation="Gelu"|"GeluTanh" (ONNX Gelu, approximate "none" / "tanh")

Passes: Conv+BatchNormalization folding; a constant per-channel Mul after a Conv or
MatMul folded into its weights (layer scale); a BatchNormalization left over (after a
Concat or an input, as in DenseNet's pre-activation layers) becomes a depthwise
1x1 Conv, so it runs in every conv layout and takes a following activation;
Conv+Add residual; MatMul+Add bias; the erf form of GELU that exporters before
opset 20 write (x * 0.5 * (1 + erf(x / sqrt 2)), in its usual arrangements) becomes
one Gelu node; Conv/Gemm/MatMul + activation (Gelu into Gemm / MatMul only).
SNEP_FUSE_GELU=0 leaves GELU unfused (A/B runs).
"""
import os

import numpy as np

ACTIVATIONS = {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh"}
GEMM_ONLY_ACTIVATIONS = {"Gelu"}  # the conv kernels have their own activation code without it


def _single_consumer(g, name, consumers):
    if name in g.output_names():
        return None
    c = consumers.get(name, [])
    return c[0] if len(c) == 1 else None


def _remove(g, dead):
    ids = {id(n) for n in dead}
    g.nodes = [n for n in g.nodes if id(n) not in ids]


def _bn_scale_shift(g, bn):
    """An inference BatchNormalization with constant statistics as y = x * s + t per
    channel (float64 arrays), or None."""
    if bn.op != "BatchNormalization" or len(bn.inputs) != 5 or len([o for o in bn.outputs if o]) != 1:
        return None
    if bn.attrs.get("training_mode", 0) or not bn.attrs.get("spatial", 1):
        return None
    if not all(i in g.initializers for i in bn.inputs[1:5]):
        return None
    scale, bias, mean, var = (g.initializers[i].astype(np.float64) for i in bn.inputs[1:5])  # per channel: small
    s = scale / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
    return s, bias - mean * s


def fold_batchnorm(g):
    consumers = g.consumers()
    dead = []
    for conv in g.nodes:
        if conv.op != "Conv" or conv.inputs[1] not in g.initializers:
            continue
        bn = _single_consumer(g, conv.outputs[0], consumers)
        affine = _bn_scale_shift(g, bn) if bn is not None else None
        if affine is None:
            continue
        has_b = len(conv.inputs) > 2 and conv.inputs[2]
        if has_b and conv.inputs[2] not in g.initializers:
            continue
        if g.initializers[conv.inputs[1]].dtype != np.float32:
            continue
        _scale_outputs(g, conv, *affine, bn.outputs[0], "bn")
        dead.append(bn)
    _remove(g, dead)


def _scale_outputs(g, node, s, t, out, tag):
    """Rewrites a Conv (output channels along W's axis 0) or MatMul (W's last axis) with
    constant W and bias to write `out` = its output * s + t per output channel (t may be
    None): W and b scaled, one rounding per weight."""
    w = g.initializers[node.inputs[1]]
    b = g.initializers[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
    s = np.asarray(s, np.float64)
    wn, bname = f"{out}__{tag}w", f"{out}__{tag}b"
    g.initializers[wn] = w * s.astype(np.float32).reshape((-1,) + (1,) * (w.ndim - 1) if node.op == "Conv" else -1)
    node.inputs = [node.inputs[0], wn]
    if b is not None or t is not None:
        b64 = b.astype(np.float64).reshape(-1) if b is not None else 0.0
        g.initializers[bname] = (b64 * s + (0.0 if t is None else t)).astype(np.float32)
        node.inputs.append(bname)
    node.outputs = [out]


def batchnorm_as_depthwise(g, types):
    """BatchNormalization (inference, constant statistics, float32, NCHW) ->
    Conv(x, W[C,1,1,1], B) with group C: y = x * s + t, as the BatchNormalization
    kernel computes it."""
    for i, bn in enumerate(g.nodes):
        affine = _bn_scale_shift(g, bn)
        x = types.get(bn.inputs[0]) if affine is not None else None
        if x is None or x.elem_type != 1 or len(x.shape) != 4 or not all(isinstance(d, int) for d in x.shape):
            continue
        c = x.shape[1]
        s, t = affine
        if s.shape != (c,) or t.shape != (c,):
            continue
        wn, bname = bn.outputs[0] + "__dww", bn.outputs[0] + "__dwb"
        g.initializers[wn] = s.astype(np.float32).reshape(c, 1, 1, 1)
        g.initializers[bname] = t.astype(np.float32)
        g.nodes[i] = type(bn)("Conv", [bn.inputs[0], wn, bname], [bn.outputs[0]],
                              {"group": c, "kernel_shape": [1, 1], "strides": [1, 1], "pads": [0, 0, 0, 0],
                               "dilations": [1, 1]}, bn.name, bn.domain)


def fuse_residual_add(g, types):
    """Add(Conv(x), z) -> Conv(x, ..., Z=z) when z has the output's shape; the
    fused Conv takes the Add's place so z is ready when it runs."""
    consumers = g.consumers()
    replace = {}
    for conv in g.nodes:
        if conv.op != "Conv" or conv.attrs.get("activation") or len(conv.inputs) > 3:
            continue
        add = _single_consumer(g, conv.outputs[0], consumers)
        if add is None or add.op != "Add" or id(add) in replace:
            continue
        other = add.inputs[1] if add.inputs[0] == conv.outputs[0] else add.inputs[0]
        if other == conv.outputs[0]:
            continue
        ov, cv = types.get(other), types.get(conv.outputs[0])
        if ov is None or cv is None or ov.shape != cv.shape or ov.elem_type != cv.elem_type:
            continue
        ins = list(conv.inputs) + [""] * (3 - len(conv.inputs))
        fused = type(conv)("Conv", ins[:3] + [other], [add.outputs[0]], dict(conv.attrs), conv.name, conv.domain)
        replace[id(add)] = fused
        replace[id(conv)] = None
    if replace:
        g.nodes = [replace.get(id(n), n) for n in g.nodes if replace.get(id(n), n) is not None]


def fuse_matmul_bias(g, types):
    consumers = g.consumers()
    dead = []
    for mm in g.nodes:
        if mm.op != "MatMul" or len(mm.inputs) != 2:
            continue
        add = _single_consumer(g, mm.outputs[0], consumers)
        if add is None or add.op != "Add":
            continue
        other = add.inputs[1] if add.inputs[0] == mm.outputs[0] else add.inputs[0]
        bias = g.initializers.get(other)
        out = types.get(mm.outputs[0])
        if bias is None or out is None or not out.shape or bias.dtype != np.float32:
            continue
        n = out.shape[-1]
        if bias.size != n or any(d != 1 for d in bias.shape[:-1]) or (bias.ndim and bias.shape[-1] != n):
            continue
        if bias.ndim > len(out.shape):
            continue
        name = other + "__flat"
        g.initializers[name] = bias.reshape(n)
        mm.inputs = [mm.inputs[0], mm.inputs[1], name]
        mm.outputs = [add.outputs[0]]
        dead.append(add)
    _remove(g, dead)


def _channel_scale(g, mul, y, n, rank, leading):
    """The per-output-channel factors (float32, length n) when `mul` multiplies y (of rank
    `rank`) by a constant that varies at most along y's channel axis and does not widen
    y, else None. leading: the channel axis is dim 1 (Conv), else the last (MatMul)."""
    if mul is None or mul.op != "Mul" or len(mul.inputs) != 2 or mul.inputs[0] == mul.inputs[1]:
        return None
    c = g.initializers.get(_other(mul, y))
    if c is None or c.dtype != np.float32 or c.ndim > rank:
        return None
    if c.size == 1:
        return np.full(n, c.reshape(()), np.float32)
    if leading:  # [C, 1, 1], [1, C, 1, 1] ...: channel axis 1 of the output
        if c.ndim > leading or c.ndim < leading - 1 or c.shape[c.ndim - (leading - 1)] != n:
            return None
        if c.size != n:
            return None
    elif c.shape[-1] != n or c.size != n:
        return None
    return c.reshape(n)


def fold_channel_scale(g, types):
    """Mul(Conv(x, W, b), s) and Mul(MatMul(x, W, b), s), s a constant per output channel
    or a scalar (ConvNeXt's and CaiT's layer scale, a normalisation's folded scale) ->
    the Conv / MatMul with W and b scaled: one step fewer, the same product up to one
    rounding per weight. Before the activation and residual fusions, so the scaled
    layer has neither."""
    consumers = g.consumers()
    dead = []
    for node in g.nodes:
        if node.op not in ("Conv", "MatMul") or node.attrs.get("activation") or len(node.inputs) > 3:
            continue
        if len(node.outputs) != 1 or node.inputs[1] not in g.initializers:
            continue
        w = g.initializers[node.inputs[1]]
        has_b = len(node.inputs) > 2 and node.inputs[2]
        if w.dtype != np.float32 or (has_b and node.inputs[2] not in g.initializers):
            continue
        y = node.outputs[0]
        out = types.get(y)
        if out is None or not out.shape:
            continue
        rank = len(out.shape)
        if node.op == "Conv":
            n, leading = w.shape[0], rank
            if rank < 3 or out.shape[1] != n:
                continue
        else:
            if w.ndim != 2:
                continue
            n, leading = w.shape[1], 0
        mul = _single_consumer(g, y, consumers)
        s = _channel_scale(g, mul, y, n, rank, leading)
        if s is None:
            continue
        _scale_outputs(g, node, s, None, mul.outputs[0], "s")
        dead.append(mul)
    _remove(g, dead)


def _scalar(g, name, value, rel=1e-3):
    """Whether `name` is a constant holding one value close to `value`."""
    v = g.initializers.get(name)
    return v is not None and v.size == 1 and v.dtype.kind == "f" and abs(float(v.reshape(())) - value) <= rel * abs(value)


def _other(node, name):
    """The input of a two-input node that is not `name` (None when both or neither are)."""
    a, b = node.inputs[0], node.inputs[1]
    return b if a == name and b != name else a if b == name and a != name else None


def _gelu_fusion_on():
    return os.environ.get("SNEP_FUSE_GELU", "1") != "0"


def fuse_gelu_subgraph(g, types):
    """x * 0.5 * (1 + erf(x / sqrt 2)) -> Gelu(x): the erf may read x / 1.4142 or
    x * 0.7071; the halving may scale the product, x, or the (1 + erf) factor."""
    if not _gelu_fusion_on():
        return
    consumers = g.consumers()
    producer = {o: n for n in g.nodes for o in n.outputs}
    dead, new = [], []
    for erf in g.nodes:
        if erf.op != "Erf" or len(erf.inputs) != 1:
            continue
        scale = producer.get(erf.inputs[0])
        if scale is None or len(scale.inputs) != 2 or _single_consumer(g, scale.outputs[0], consumers) is not erf:
            continue
        if scale.op == "Div" and _scalar(g, scale.inputs[1], 2 ** 0.5):
            x = scale.inputs[0]
        elif scale.op == "Mul" and _other(scale, scale.inputs[0]) is not None and \
                any(_scalar(g, i, 2 ** -0.5) for i in scale.inputs):
            x = scale.inputs[1] if _scalar(g, scale.inputs[0], 2 ** -0.5) else scale.inputs[0]
        else:
            continue
        t = types.get(x)
        if t is None or t.elem_type != 1:  # float32
            continue
        add = _single_consumer(g, erf.outputs[0], consumers)
        if add is None or add.op != "Add" or not _scalar(g, _other(add, erf.outputs[0]) or "", 1.0):
            continue
        m1 = _single_consumer(g, add.outputs[0], consumers)
        if m1 is None or m1.op != "Mul":
            continue
        f = _other(m1, add.outputs[0])  # the factor beside (1 + erf)
        chain = [scale, erf, add, m1]
        if f == x:  # (x * (1 + erf)) * 0.5
            m2 = _single_consumer(g, m1.outputs[0], consumers)
            if m2 is None or m2.op != "Mul" or not _scalar(g, _other(m2, m1.outputs[0]) or "", 0.5):
                continue
            chain.append(m2)
        else:  # (x * 0.5) * (1 + erf)
            half = producer.get(f)
            if half is None or half.op != "Mul" or _single_consumer(g, f, consumers) is not m1 or \
                    _other(half, x) is None or not _scalar(g, _other(half, x), 0.5):
                continue
            chain.append(half)
        out = chain[-1].outputs[0] if f == x else m1.outputs[0]
        dead += chain
        new.append((m1, x, out))
    if not new:
        return
    ids = {id(n) for n in dead}
    rebuilt = []
    for n in g.nodes:  # each Gelu takes the place of its product node (topological order kept)
        for m1, x, out in new:
            if n is m1:
                rebuilt.append(type(n)(name=n.name + "_gelu", op="Gelu", inputs=[x], outputs=[out], attrs={}))
        if id(n) not in ids:
            rebuilt.append(n)
    g.nodes = rebuilt


def _activation_params(node, g):
    a = node.attrs
    if node.op == "Clip":
        if g.opset < 11:
            return [a.get("min", -3.4028234663852886e38), a.get("max", 3.4028234663852886e38)]
        lo = node.inputs[1] if len(node.inputs) > 1 else ""
        hi = node.inputs[2] if len(node.inputs) > 2 else ""
        if (lo and lo not in g.initializers) or (hi and hi not in g.initializers):
            return None
        return [float(g.initializers[lo]) if lo else -np.inf, float(g.initializers[hi]) if hi else np.inf]
    if node.op == "LeakyRelu":
        return [a.get("alpha", 0.01)]
    if node.op == "HardSigmoid":
        return [a.get("alpha", 0.2), a.get("beta", 0.5)]
    return []


def fuse_activation(g, types):
    consumers = g.consumers()
    dead = []
    for node in g.nodes:
        if node.op not in ("Conv", "Gemm", "MatMul") or node.attrs.get("activation"):
            continue
        out = types.get(node.outputs[0])
        if out is None or out.elem_type != 1:  # float32 only
            continue
        act = _single_consumer(g, node.outputs[0], consumers)
        if act is None or (act.op not in ACTIVATIONS and
                           (act.op not in GEMM_ONLY_ACTIVATIONS or node.op not in ("Gemm", "MatMul") or
                            not _gelu_fusion_on())):
            continue
        params = _activation_params(act, g)
        if params is None:
            continue
        kind = act.op
        if act.op == "Gelu":
            approx = act.attrs.get("approximate", "none")
            approx = approx.decode() if isinstance(approx, bytes) else approx
            if approx not in ("none", "tanh"):
                continue
            kind = "GeluTanh" if approx == "tanh" else "Gelu"
        node.attrs["activation"] = kind
        if params:
            node.attrs["activation_params"] = [float(p) for p in params]
        node.outputs = [act.outputs[0]]
        dead.append(act)
    _remove(g, dead)


def fuse_all(g, types):
    fold_batchnorm(g)
    batchnorm_as_depthwise(g, types)
    fuse_matmul_bias(g, types)
    fold_channel_scale(g, types)
    fuse_residual_add(g, types)
    fuse_gelu_subgraph(g, types)
    fuse_activation(g, types)
