"""Static shape inference for one specialisation of the graph (concrete input shapes).

onnx's shape inference does the work. Large initializers are declared as typed
inputs rather than embedded (inference only needs the small, value-carrying
ones such as Reshape targets), which keeps this fast on big models.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..capi.onnxruntime_pybind11_state import InvalidGraph
from .attrs import to_proto_kwargs
from .dtypes import NP_TO_ONNX
from .ir import Value

SMALL = 4096  # elements: initializers up to this size are passed with their values


ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 3  # ai.onnx.ml opset for graphs that do not say (Graph.ml_opset follows the model's import)

FUSED_ATTRS = ("activation", "activation_params")
FUSED_EXTRA_INPUT = {"Conv": 3, "MatMul": 2}  # first engine-only input position


def _contrib_stand_in(n):
    """Standard ops with the same output type and shape as a contrib/engine quantized op (for inference only)."""
    y = n.outputs[0]
    if n.op == "QLinearAdd":
        return [helper.make_node("Add", [n.inputs[0], n.inputs[3]], [y], name=n.name)]
    if n.op == "QLinearGlobalAveragePool":
        t = f"{y}__si"
        cast = [helper.make_node("Cast", [n.inputs[0]], [t + "0"], to=onnx.TensorProto.FLOAT)]
        if n.attrs.get("channels_last", 0):
            cast.append(helper.make_node("Transpose", [t + "0"], [t + "1"], perm=[0, 3, 1, 2]))
            pool = [helper.make_node("GlobalMaxPool", [t + "1"], [t + "2"]),
                    helper.make_node("Transpose", [t + "2"], [t + "3"], perm=[0, 2, 3, 1])]
        else:
            pool = [helper.make_node("GlobalMaxPool", [t + "0"], [t + "3"])]
        return cast + pool + [helper.make_node("Cast", [t + "3"], [y], to=onnx.TensorProto.UINT8)]
    if n.op == "QLinearAveragePool":  # float AveragePool of the cast input, quantized with a zero point of x's type
        t = f"{y}__si"
        ins = list(n.inputs) + [""] * (5 - len(n.inputs))
        attrs = {k: v for k, v in n.attrs.items()
                 if k in ("auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides")}
        if attrs.get("auto_pad") in ("", b""):
            attrs["auto_pad"] = "NOTSET"
        zp = ins[4] or ins[2]
        last = (helper.make_node("QuantizeLinear", [t + "1", ins[3], zp], [y]) if zp and ins[3] else
                helper.make_node("Cast", [t + "1"], [y], to=onnx.TensorProto.UINT8))  # u8; infer_static fixes s8
        return [helper.make_node("Cast", [ins[0]], [t + "0"], to=onnx.TensorProto.FLOAT),
                helper.make_node("AveragePool", [t + "0"], [t + "1"], **to_proto_kwargs(attrs)), last]
    if n.op == "QGemm":  # float Gemm of the cast operands, quantized like y_zero_point when there is one
        ins = list(n.inputs) + [""] * (9 - len(n.inputs))
        t = f"{y}__si"
        f32 = onnx.TensorProto.FLOAT
        nodes = [helper.make_node("Cast", [ins[0]], [t + "a"], to=f32),
                 helper.make_node("Cast", [ins[3]], [t + "b"], to=f32),
                 helper.make_node("Gemm", [t + "a", t + "b"], [t + "y" if ins[8] else y],
                                  transA=int(n.attrs.get("transA", 0)), transB=int(n.attrs.get("transB", 0)))]
        if ins[8]:
            nodes.append(helper.make_node("QuantizeLinear", [t + "y", ins[7], ins[8]], [y]))
        return nodes
    return None


def _standard_node(n):
    """The node as standard ONNX sees it: fused attributes and inputs (graph_passes/fuse.py) dropped."""
    attrs = {k: v for k, v in n.attrs.items() if k not in FUSED_ATTRS}
    inputs = n.inputs[:FUSED_EXTRA_INPUT[n.op]] if n.op in FUSED_EXTRA_INPUT else n.inputs
    domain = n.domain if n.domain == ML_DOMAIN else ""
    return helper.make_node(n.op, inputs, n.outputs, name=n.name, domain=domain, **to_proto_kwargs(attrs))


def _to_proto(g, input_shapes):
    ins = []
    for v in g.inputs:
        shape = input_shapes.get(v.name, v.shape)
        ins.append(helper.make_tensor_value_info(v.name, v.elem_type, shape))
    inits = []
    for name, arr in g.initializers.items():
        if arr.size <= SMALL:
            inits.append(numpy_helper.from_array(arr, name))
        else:
            ins.append(helper.make_tensor_value_info(name, NP_TO_ONNX[arr.dtype], arr.shape))
    nodes = []
    for n in g.nodes:
        nodes += _contrib_stand_in(n) or [_standard_node(n)]
    # An initializer listed as an output (a folded constant) makes onnx leave the
    # outputs after it unshaped; its type comes from the array anyway.
    outs = [helper.make_tensor_value_info(v.name, v.elem_type, None) for v in g.outputs if v.name not in g.initializers]
    graph = helper.make_graph(nodes, "g", ins, outs, inits)
    opsets = [helper.make_opsetid("", g.opset)]
    if any(n.domain == ML_DOMAIN for n in g.nodes):
        opsets.append(helper.make_opsetid(ML_DOMAIN, getattr(g, "ml_opset", None) or ML_OPSET))
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def infer_static(g, input_shapes):
    """name -> Value for every tensor onnx can type (inputs, initializers, node outputs)."""
    model = _to_proto(g, input_shapes)
    g.inference_error = None
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001 - InferenceError and friends
        # Keep what can be inferred; the error explains any shape left unknown.
        g.inference_error = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        except Exception as e2:  # noqa: BLE001
            raise InvalidGraph(f"[ONNXRuntimeError] : 10 : INVALID_GRAPH : shape inference failed: {e2}") from None
    types = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or tt.elem_type == 0:
            continue
        shape = None
        if tt.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim)
        types[vi.name] = Value(vi.name, tt.elem_type, shape)
    for name, arr in g.initializers.items():
        types[name] = Value(name, NP_TO_ONNX[arr.dtype], tuple(arr.shape))
    # Ops whose result has their first input's type, where onnx's inference
    # (function-body ops especially) gave up.
    for n in g.nodes:
        if n.op in SAME_AS_INPUT and n.outputs and n.outputs[0] and not is_static(types.get(n.outputs[0])):
            src = types.get(n.inputs[0]) if n.inputs else None
            if is_static(src):
                types[n.outputs[0]] = Value(n.outputs[0], src.elem_type, src.shape)
        elif n.op == "QLinearAveragePool" and n.outputs and is_static(types.get(n.outputs[0])):
            src = types.get(n.inputs[0])  # the stand-in (_contrib_stand_in) types the output u8; it is x's type
            if src is not None and src.elem_type != types[n.outputs[0]].elem_type:
                types[n.outputs[0]] = Value(n.outputs[0], src.elem_type, types[n.outputs[0]].shape)
        elif n.op == "ArrayFeatureExtractor" and n.domain == ML_DOMAIN and not is_static(types.get(n.outputs[0])):
            x, idx = (types.get(i) for i in n.inputs[:2])
            if is_static(x) and is_static(idx) and x.shape:  # (..., numel(indices)); 1-D x gives (1, k)
                lead = x.shape[:-1] if len(x.shape) > 1 else (1,)
                types[n.outputs[0]] = Value(n.outputs[0], x.elem_type, tuple(lead) + (int(np.prod(idx.shape)),))
        if n.op == "Attention":
            for k, v in _attention_types(n, types).items():
                if k < len(n.outputs) and n.outputs[k] and not is_static(types.get(n.outputs[k])):
                    types[n.outputs[k]] = Value(n.outputs[k], v[0], v[1])
    return types


def _attention_types(n, types):
    """Attention's present_key, present_value and qk_matmul_output, which onnx
    leaves uninferred: {output position: (elem_type, shape)}."""
    q, k, v = (types.get(n.inputs[i]) if len(n.inputs) > i and n.inputs[i] else None for i in (0, 1, 2))
    past = types.get(n.inputs[4]) if len(n.inputs) > 4 and n.inputs[4] else None
    if not (is_static(q) and is_static(k) and is_static(v)) or (past is not None and not is_static(past)):
        return {}
    a = n.attrs
    if len(q.shape) == 4 and len(k.shape) == 4 and len(v.shape) == 4:
        batch, hq, q_len = q.shape[:3]
        hkv, kv_len, d, dv = k.shape[1], k.shape[2], k.shape[3], v.shape[3]
    elif len(q.shape) == 3 and len(k.shape) == 3 and len(v.shape) == 3 and a.get("q_num_heads") and a.get("kv_num_heads"):
        batch, q_len, hq, hkv = q.shape[0], q.shape[1], a["q_num_heads"], a["kv_num_heads"]
        kv_len, d, dv = k.shape[1], k.shape[2] // hkv, v.shape[2] // hkv
    else:
        return {}
    total = kv_len + (past.shape[2] if past is not None and len(past.shape) == 4 else 0)
    return {1: (k.elem_type, (batch, hkv, total, d)), 2: (v.elem_type, (batch, hkv, total, dv)),
            3: (q.elem_type, (batch, hq, q_len, total))}


SAME_AS_INPUT = {"MeanVarianceNormalization", "LRN", "Softmax", "LogSoftmax", "Hardmax", "Relu", "Sigmoid", "Tanh",
                 "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Celu", "Gelu", "Mish", "Softplus",
                 "Softsign", "Clip", "Identity", "Dropout", "InstanceNormalization", "LpNormalization",
                 "LayerNormalization", "GroupNormalization", "BatchNormalization", "CumSum", "Erf", "Abs", "Neg",
                 "Binarizer"}


def is_static(v):
    return v is not None and v.shape is not None and all(isinstance(d, int) and not isinstance(d, bool) for d in v.shape)
