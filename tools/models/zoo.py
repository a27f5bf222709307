"""The light model-zoo models shipped inside the onnx package.

``onnx/backend/test/data/light/light_<name>.onnx`` are real zoo topologies
(opset 9, IR 3, fixed input [1, 3, 224, 224]) whose weights were replaced by
``ConstantOfShape(<name>__SHAPE)`` nodes filling every tensor with 0.02. With
``randomize=True`` each such placeholder becomes a seeded random initializer of
the same name and shape, scaled by the role of the tensor (found from its
consumers, looking through Unsqueeze/Reshape)
(all drawn from uniform distributions with the stated mean and std):

* Conv / Gemm weights: He, std sqrt(2 / fan-in) (fan-in from the weight
  layout, transB aware);
* Conv / Gemm biases: std 0.01;
* BatchNormalization scale ~1 +- 10% (x0.25 on a BN ending a residual branch
  beside an identity shortcut, x0.5 beside a projection shortcut, so the
  residual stream stays O(1)), bias and mean std 0.05, var ~1 +- 10%; the same
  for Caffe-style Mul/Add affine pairs fed by Unsqueeze.

The few trained tensors the files still hold (some BN statistics, biases) get
the same treatment, so weights and statistics match. The placeholder nodes and their ``__SHAPE`` initializers are dropped, and the
model is lifted to IR 4 with initializers no longer listed as graph inputs (so
the only input is the image). ``randomize=False`` returns the file as shipped.
"""
from __future__ import annotations

import math
import os
from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_MODELS = ("resnet50", "vgg19", "inception_v1", "inception_v2", "densenet121",
                "squeezenet", "shufflenet", "bvlc_alexnet", "zfnet512")


def light_dir() -> str:
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def light_path(name: str) -> str:
    return os.path.join(light_dir(), f"light_{name}.onnx")


def light_model_names() -> list[str]:
    """The light zoo models present in the installed onnx package."""
    return [n for n in LIGHT_MODELS if os.path.exists(light_path(n))]


def _role(value, consumers):
    """(op_type, input index, consumer node) of a placeholder, through Unsqueeze/Reshape."""
    for _ in range(4):
        uses = consumers.get(value, [])
        if not uses:
            return None
        node, idx = uses[0]
        if node.op_type in ("Unsqueeze", "Reshape") and idx == 0:
            value = node.output[0]
            continue
        return node.op_type, idx, node
    return None


def _residual_gamma(node, consumers, producers):
    """Scale for a BN whose output (through a Caffe-style Mul/Add affine) feeds a
    residual Sum: 0.25 beside an identity shortcut, 0.5 beside a projection
    (another BN branch), 1 when it is not a residual branch end."""
    out = node.output[0]
    for _ in range(3):
        uses = consumers.get(out, [])
        for u, _ in uses:
            if u.op_type == "Sum":
                others = [producers.get(v) for v in u.input if v != out]
                projection = any(p is not None and p.op_type in ("BatchNormalization", "Add")
                                 for p in others)
                return 0.5 if projection else 0.25
        nxt = [u for u, _ in uses if u.op_type in ("Mul", "Add")]
        if len(nxt) != 1:
            return 1.0
        out = nxt[0].output[0]
    return 1.0


def load_light(name: str, randomize: bool = True, seed: int = 0) -> onnx.ModelProto:
    if name.startswith("light_"):
        name = name[6:]
    if name not in LIGHT_MODELS:
        raise KeyError(f"unknown light model {name!r}; known: {', '.join(LIGHT_MODELS)}")
    model = onnx.load(light_path(name))
    if not randomize:
        return model
    g = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in g.initializer}
    consumers = defaultdict(list)
    producers = {o: n for n in g.node for o in n.output}
    for node in g.node:
        for i, v in enumerate(node.input):
            consumers[v].append((node, i))

    def uniform(shape, std, mean=0.0):
        """Uniform with the given mean and standard deviation (fast to draw)."""
        a = rng.random(size=shape, dtype=np.float32)
        a -= np.float32(0.5)
        a *= np.float32(std * math.sqrt(12.0))
        a += np.float32(mean)
        return a

    def fresh(value, shape):
        """A random tensor for parameter ``value``, scaled by its role."""
        role = _role(value, consumers)
        op, idx, user = role if role else (None, None, None)
        if op == "Conv" and idx == 1:
            return uniform(shape, math.sqrt(2.0 / max(1, int(np.prod(shape[1:])))))
        if op == "Gemm" and idx == 1:
            trans_b = any(a.name == "transB" and a.i for a in user.attribute)
            fan_in = shape[-1] if trans_b else int(np.prod(shape)) // shape[-1]
            return uniform(shape, math.sqrt(2.0 / fan_in))
        if op in ("BatchNormalization", "Mul") and idx == 1:
            gamma = _residual_gamma(user, consumers, producers)
            return uniform(shape, 0.1 * gamma, mean=gamma)
        if op == "BatchNormalization" and idx == 4:
            return uniform(shape, 0.1, mean=1.0)
        if op in ("BatchNormalization", "Add"):
            return uniform(shape, 0.05)
        return uniform(shape, 0.01)  # biases

    new, dropped = [], set()
    for node in g.node:  # ConstantOfShape placeholders -> initializers
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
            new.append((node.output[0], fresh(node.output[0], shape)))
            dropped.add(node.output[0])
    for t in g.initializer:  # the few trained tensors left in the files: same treatment
        r = _role(t.name, consumers) if t.data_type == onnx.TensorProto.FLOAT else None
        if r and r[0] in ("Conv", "Gemm", "BatchNormalization", "Mul", "Add") and r[1] >= 1:
            t.raw_data = fresh(t.name, tuple(t.dims)).tobytes()
            del t.float_data[:]

    keep_nodes = [n for n in g.node if n.output[0] not in dropped]
    del g.node[:]
    g.node.extend(keep_nodes)
    used = {v for n in g.node for v in n.input}
    keep = [t for t in g.initializer if t.name in used]  # drops __SHAPE and unused tensors
    del g.initializer[:]
    g.initializer.extend(keep)
    for name, arr in new:  # added in place: no copies of big tensors
        t = g.initializer.add()
        t.name, t.data_type, t.raw_data = name, onnx.TensorProto.FLOAT, arr.tobytes()
        t.dims.extend(arr.shape)
    keep_inputs = [i for i in g.input if i.name not in inits]  # the image only
    del g.input[:]
    g.input.extend(keep_inputs)
    model.ir_version = max(model.ir_version, 4)
    return model
