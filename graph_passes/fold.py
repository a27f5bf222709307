"""Constant folding for one specialisation: every node whose inputs are all
known at plan time is evaluated once by the engine's own routines (never a
Python fallback), and Shape/Size of statically shaped tensors become
constants, so shape subgraphs (Shape->Gather->Unsqueeze->Concat->Reshape)
disappear before lowering."""
import numpy as np

from ..capi.onnxruntime_pybind11_state import NotImplemented as NotImpl
from .dtypes import np_dtype
from .node_eval import run_node
from .shapes import infer_static, is_static

NEVER_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
              "Bernoulli", "If", "Loop", "Scan"}
MAX_PASSES = 16


def _constant_value(node):
    a = node.attrs
    if "value" in a:
        return np.asarray(a["value"])
    if "value_float" in a:
        return np.array(a["value_float"], dtype=np.float32)
    if "value_floats" in a:
        return np.array(a["value_floats"], dtype=np.float32)
    if "value_int" in a:
        return np.array(a["value_int"], dtype=np.int64)
    if "value_ints" in a:
        return np.array(a["value_ints"], dtype=np.int64)
    raise NotImpl(f"{node.where()}: this Constant form (sparse or string) is not supported")


def _shape_of(node, types):
    v = types.get(node.inputs[0])
    if not is_static(v):
        return None
    shape = list(v.shape)
    if node.op == "Size":
        return np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    start, end = node.attrs.get("start", 0), node.attrs.get("end", None)
    return np.array(shape[slice(start, end)], dtype=np.int64)


def _evaluate(node, g, types):
    """Outputs of a foldable node, or None when it cannot be folded now."""
    if node.op == "Constant":
        return [_constant_value(node)]
    if node.op in ("Shape", "Size"):
        v = _shape_of(node, types)
        return None if v is None else [v]
    if node.op in NEVER_FOLD or not node.inputs:
        return None
    if not all((not i) or i in g.initializers for i in node.inputs):
        return None
    outs = []
    for o in node.outputs:
        v = types.get(o)
        if not o or not is_static(v):
            return None
        outs.append((np_dtype(v.elem_type), v.shape))
    inputs = [g.initializers[i] if i else None for i in node.inputs]
    return run_node(node.op, inputs, node.attrs, outputs=outs, const_inputs=True, opset=g.opset)


def fold_constants(g, input_shapes):
    """Folds in place; returns the final static types of all tensors."""
    for _ in range(MAX_PASSES):
        types = infer_static(g, input_shapes)
        kept, changed = [], False
        for node in g.nodes:
            vals = _evaluate(node, g, types)
            if vals is None:
                kept.append(node)
                continue
            for name, v in zip(node.outputs, vals):
                if name:
                    g.initializers[name] = np.asarray(v)
            changed = True
        g.nodes = kept
        if not changed:
            return types
    return infer_static(g, input_shapes)
