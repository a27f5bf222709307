"""ONNX AttributeProto <-> plain Python values, and the engine's attribute form."""
import numpy as np
from onnx import AttributeProto, helper, numpy_helper


def from_proto(attr):
    """Plain Python value of one attribute (tensors as numpy arrays, strings as str)."""
    if attr.type == AttributeProto.TENSOR:
        return numpy_helper.to_array(attr.t)
    if attr.type == AttributeProto.TENSORS:
        return [numpy_helper.to_array(t) for t in attr.tensors]
    if attr.type == AttributeProto.GRAPH:
        return attr.g
    if attr.type == AttributeProto.GRAPHS:
        return list(attr.graphs)
    v = helper.get_attribute_value(attr)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, list):
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
    return v


def node_attrs(node):
    return {a.name: from_proto(a) for a in node.attribute}


def to_engine(attrs):
    """Attributes as the C++ engine takes them: int, float, str, or flat lists.
    A tensor attribute becomes the flat list of its values (ConstantOfShape's value)."""
    out = {}
    for k, v in attrs.items():
        if isinstance(v, np.ndarray):
            flat = v.reshape(-1)
            out[k] = [float(x) for x in flat] if flat.dtype.kind == "f" else [int(x) for x in flat]
            if flat.size == 0:
                out[k] = []
        elif isinstance(v, (bool, np.bool_)):
            out[k] = int(v)
        elif isinstance(v, (int, float, str, np.integer, np.floating)):
            out[k] = v.item() if isinstance(v, np.generic) else v
        elif isinstance(v, (list, tuple)):
            if all(isinstance(x, (int, float, str, np.integer, np.floating)) for x in v):
                out[k] = list(v)
        # graph attributes (If/Loop bodies) are not passed to kernels
    return out


def to_proto_kwargs(attrs):
    """Attributes in the form onnx.helper.make_node accepts."""
    out = {}
    for k, v in attrs.items():
        if isinstance(v, (list, tuple)) and not v:
            continue  # an empty list has no attribute type; every op treats it as absent
        out[k] = numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v
    return out
