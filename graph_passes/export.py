"""Writes the optimized graph as ONNX (SessionOptions.optimized_model_filepath).
Nodes carrying fused attributes go to the domain com.softneuro."""
import onnx
from onnx import helper, numpy_helper

from .attrs import to_proto_kwargs

FUSED_DOMAIN = "com.softneuro"


def save_graph(g, path):
    nodes = []
    for n in g.nodes:
        fused = "activation" in n.attrs or (n.op == "Conv" and len(n.inputs) > 3) or (n.op == "MatMul" and len(n.inputs) > 2)
        nodes.append(helper.make_node(n.op, n.inputs, n.outputs, name=n.name,
                                      domain=FUSED_DOMAIN if fused else n.domain, **to_proto_kwargs(n.attrs)))
    ins = [helper.make_tensor_value_info(v.name, v.elem_type, v.shape) for v in g.inputs]
    outs = [helper.make_tensor_value_info(v.name, v.elem_type, v.shape) for v in g.outputs]
    inits = [numpy_helper.from_array(a, k) for k, a in g.initializers.items()]
    graph = helper.make_graph(nodes, "optimized", ins, outs, inits)
    opsets = [helper.make_opsetid("", g.opset), helper.make_opsetid(FUSED_DOMAIN, 1)]
    if any(n.domain == "com.microsoft" for n in g.nodes):  # QLinearAdd, QGemm... as onnxruntime names them
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    if any(n.domain == "ai.onnx.ml" for n in g.nodes):
        opsets.append(helper.make_opsetid("ai.onnx.ml", getattr(g, "ml_opset", 3)))
    model = helper.make_model(graph, opset_imports=opsets)
    onnx.save(model, path)
