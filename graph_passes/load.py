"""Load and check a model from a path, bytes or a ModelProto, and turn it into the IR.

Errors are onnxruntime's classes: NoSuchFile, InvalidProtobuf, InvalidGraph, NotImplemented.
"""
import os

import onnx
from onnx import numpy_helper

from ..capi.onnxruntime_pybind11_state import InvalidArgument, InvalidGraph, InvalidProtobuf, NoSuchFile, NotImplemented as NotImpl
from .attrs import node_attrs
from .export import FUSED_DOMAIN
from .ir import Graph, Node, Value


def load_model(path_or_bytes):
    raw = None  # what the checker can read without re-serialising the model
    if isinstance(path_or_bytes, onnx.ModelProto):
        model = path_or_bytes
    elif isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(path_or_bytes)
            model = onnx.load_from_string(raw)
        except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise InvalidProtobuf(f"[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from bytes failed: {e}") from None
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        path = os.fspath(path_or_bytes)
        if not os.path.isfile(path):
            raise NoSuchFile(f"[ONNXRuntimeError] : 3 : NO_SUCHFILE : Load model from {path} failed: File doesn't exist")
        try:
            model = onnx.load(path, load_external_data=True)
            raw = path
        except FileNotFoundError as e:
            raise NoSuchFile(f"Load model from {path} failed: external data missing: {e}") from None
        except Exception as e:  # noqa: BLE001
            raise InvalidProtobuf(f"[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from {path} failed: {e}") from None
    else:
        raise TypeError(f"Unable to load from type '{type(path_or_bytes)}'")
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise InvalidArgument("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : No graph was found in the protobuf.")
    if any(vi.type.WhichOneof("value") is None or
           (vi.type.HasField("tensor_type") and not vi.type.tensor_type.HasField("shape"))
           for vi in model.graph.output):
        # onnxruntime accepts outputs declared without a type or shape; take them from inference
        try:
            model = onnx.shape_inference.infer_shapes(model)
            raw = None
        except Exception:  # noqa: BLE001 - the checker below reports what is wrong
            pass
    try:
        onnx.checker.check_model(raw if raw is not None else model)
    except onnx.checker.ValidationError as e:
        raise InvalidGraph(f"[ONNXRuntimeError] : 10 : INVALID_GRAPH : This is an invalid model. {e}") from None
    except Exception as e:  # noqa: BLE001 - e.g. a model over 2 GB given as a proto
        raise InvalidGraph(f"[ONNXRuntimeError] : 10 : INVALID_GRAPH : {e}") from None
    return model


def _value(vi):
    t, container = vi.type, ()
    while t.WhichOneof("value") in ("sequence_type", "optional_type"):
        kind = t.WhichOneof("value")
        container += ({"sequence_type": "seq", "optional_type": "optional"}[kind],)
        t = getattr(t, kind).elem_type
    if container and t.WhichOneof("value") is None:
        return Value(vi.name, 0, None, container)  # element type left out
    if t.WhichOneof("value") != "tensor_type":
        raise NotImpl(f"input/output '{vi.name}' is not a tensor, sequence or optional (maps and sparse tensors "
                      "are not supported)")
    tt = t.tensor_type
    shape = None
    if tt.HasField("shape"):
        shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim)
    return Value(vi.name, tt.elem_type, shape, container)


def default_opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return 1


# onnxruntime contrib ops that QOperator-format quantized models use and the engine runs
CONTRIB_OPS = {("com.microsoft", "QLinearAdd"), ("com.microsoft", "QLinearGlobalAveragePool"),
               ("com.microsoft", "QLinearAveragePool"), ("com.microsoft", "QGemm")}  # QGemm: native, else expanded to standard ops (graph_passes/qdq.py)
FOLDED_ONLY = {"Constant", "Shape", "Size"}  # evaluated by graph_passes/fold.py, never a step
ML_DOMAIN = "ai.onnx.ml"
ML_OPS = {"Binarizer", "ArrayFeatureExtractor",  # the ai.onnx.ml ops with routines (numeric tensors only)
          "TreeEnsemble", "TreeEnsembleRegressor", "TreeEnsembleClassifier"}


def ml_opset(model):
    """The model's ai.onnx.ml opset import (3 when it imports none)."""
    for o in model.opset_import:
        if o.domain == ML_DOMAIN:
            return o.version
    return 3


def check_ops_supported(graph):
    """NotImplemented naming the first node whose op has no routine at all."""
    from .. import _engine
    from .dynamic import DYNAMIC_ONLY, SUBGRAPH_OPS, check_control_flow
    ops = set(_engine.supported_ops()) | FOLDED_ONLY | DYNAMIC_ONLY
    for n in graph.nodes:
        if n.op in SUBGRAPH_OPS:
            check_control_flow(n, graph.opset, ops)
        if n.op not in ops:
            raise NotImpl(f"[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for "
                          f"{n.op}({graph.opset}) node with name '{n.name}'")


def to_ir(model):
    g = model.graph
    inits = {}
    for t in g.initializer:
        inits[t.name] = numpy_helper.to_array(t)
    for t in g.sparse_initializer:
        raise NotImpl(f"sparse initializer '{t.values.name}' is not supported")
    inputs, overridable = [], []
    for vi in g.input:
        (overridable if vi.name in inits else inputs).append(_value(vi))
    nodes = []
    for k, n in enumerate(g.node):
        ml = n.domain == ML_DOMAIN and n.op_type in ML_OPS
        if n.domain not in ("", "ai.onnx", FUSED_DOMAIN) and not ml and (n.domain, n.op_type) not in CONTRIB_OPS:
            raise NotImpl(f"[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for "
                          f"{n.op_type} node with name '{n.name}' (domain '{n.domain}' is not supported)")
        nodes.append(Node(n.op_type, list(n.input), list(n.output), node_attrs(n), n.name or f"{n.op_type}_{k}",
                          n.domain if n.domain in (ML_DOMAIN, "com.microsoft") else ""))
    outputs = [_value(vi) for vi in g.output]
    graph = Graph(nodes=nodes, initializers=inits, inputs=inputs, outputs=outputs,
                  opset=default_opset(model), overridable=overridable, ml_opset=ml_opset(model))
    if any(n.domain == "com.microsoft" for n in nodes):
        from .qdq import expand_contrib
        expand_contrib(graph)
    check_ops_supported(graph)
    return graph

