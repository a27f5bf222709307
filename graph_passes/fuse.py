"""Fusions on a static, folded graph. The fused forms are the engine's own
extensions of standard ops (every Conv/Gemm/MatMul routine implements them and
the conformance references check them):

  attrs  activation="Relu"|"Clip"|"Sigmoid"|"HardSigmoid"|"HardSwish"|"LeakyRelu"|"Tanh",
         activation_params=[...]   (Clip: min,max; LeakyRelu: alpha; HardSigmoid: alpha,beta)
  Conv   optional input 3: Z, same shape as the output, added before the activation
  MatMul optional input 2: bias of length N added along the last dim

Passes: Conv+BatchNormalization folding; a BatchNormalization left over (after a
Concat or an input, as in DenseNet's pre-activation layers) becomes a depthwise
1x1 Conv, so it runs in every conv layout and takes a following activation;
Conv+Add residual; MatMul+Add bias; Conv/Gemm/MatMul + activation.
"""
import numpy as np

ACTIVATIONS = {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh"}


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
        w = g.initializers[conv.inputs[1]]
        if w.dtype != np.float32:
            continue
        s, t = affine
        b = g.initializers[conv.inputs[2]].astype(np.float64) if has_b else 0.0
        new_w = w * s.astype(np.float32).reshape((-1,) + (1,) * (w.ndim - 1))  # one rounding per weight
        new_b = (b * s + t).astype(np.float32)
        wn, bn_name = conv.outputs[0] + "__bnw", conv.outputs[0] + "__bnb"
        g.initializers[wn], g.initializers[bn_name] = new_w, new_b
        conv.inputs = [conv.inputs[0], wn, bn_name]
        conv.outputs = [bn.outputs[0]]
        dead.append(bn)
    _remove(g, dead)


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
        if act is None or act.op not in ACTIVATIONS:
            continue
        params = _activation_params(act, g)
        if params is None:
            continue
        node.attrs["activation"] = act.op
        if params:
            node.attrs["activation_params"] = [float(p) for p in params]
        node.outputs = [act.outputs[0]]
        dead.append(act)
    _remove(g, dead)


def fuse_all(g, types):
    fold_batchnorm(g)
    batchnorm_as_depthwise(g, types)
    fuse_residual_add(g, types)
    fuse_matmul_bias(g, types)
    fuse_activation(g, types)
