"""Run one node on the engine: constant folding, backend.run_node and the
routine conformance tests all go through here.

    run_node(op, inputs, attrs, outputs=None, descriptor="", num_threads=1) -> list[np.ndarray]

``inputs`` is a list of numpy arrays (None for an omitted optional input);
``outputs`` a list of (numpy dtype, shape) when known, else onnx shape
inference on the one-node model supplies them (inputs bound as constants, so
value-dependent shapes such as Reshape's resolve).

Every step's attributes carry ``_opset``: the model's default-domain opset, so a
kernel can follow the op version (Softmax before/after 13, Split's inputs...).
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import _engine
from ..capi.onnxruntime_pybind11_state import Fail, InvalidArgument
from .attrs import to_engine, to_proto_kwargs
from .dtypes import NP_TO_ONNX, np_dtype


def infer_outputs(op, inputs, attrs, n_outputs, domain="", opset=None):
    """(dtype, shape) of each output by onnx shape inference on a one-node model."""
    in_names = [f"i{k}" if x is not None else "" for k, x in enumerate(inputs)]
    out_names = [f"o{k}" for k in range(n_outputs)]
    node = helper.make_node(op, in_names, out_names, domain=domain, **to_proto_kwargs(attrs))
    inits = [numpy_helper.from_array(np.asarray(x), n) for n, x in zip(in_names, inputs) if x is not None]
    graph = helper.make_graph([node], "one", [], [helper.make_tensor_value_info(n, 0, None) for n in out_names], inits)
    opsets = [helper.make_opsetid("", opset or onnx.defs.onnx_opset_version())]
    model = helper.make_model(graph, opset_imports=opsets)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001 - onnx raises several classes
        raise InvalidArgument(f"{op}: {e}") from None
    result = []
    for vi in inferred.graph.output:
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if not tt.HasField("shape") or any(d is None for d in dims):
            raise Fail(f"{op}: output shape cannot be determined statically")
        result.append((np_dtype(tt.elem_type), tuple(dims)))
    return result


def build_node_plan(op, inputs, attrs, outputs, descriptor="", num_threads=1, name=None, const_inputs=True,
                    opset=None):
    """A Plan holding one step. const_inputs: True makes every input a plan
    constant (what folding wants), False feeds them all in input order, a set
    of input indices makes those constants (as a model's weights) and feeds the rest."""
    plan = _engine.Plan(num_threads)
    ids, feeds = [], []
    for i, x in enumerate(inputs):
        if x is None:
            ids.append(-1)
            continue
        x = np.require(x, requirements="C")
        code = NP_TO_ONNX[x.dtype]
        if const_inputs is True or (not isinstance(const_inputs, bool) and i in const_inputs):
            ids.append(plan.add_constant(code, x))
        else:
            ids.append(plan.add_input(code, list(x.shape), len(feeds)))
            feeds.append(x)
    out_ids = [plan.add_output(NP_TO_ONNX[np.dtype(dt)], list(shape), k) for k, (dt, shape) in enumerate(outputs)]
    engine_attrs = to_engine(attrs)
    engine_attrs["_opset"] = opset or onnx.defs.onnx_opset_version()
    plan.add_step(name or op, op, engine_attrs, ids, out_ids, descriptor)
    plan.finalize()
    return plan, feeds


def run_node(op, inputs, attrs=None, outputs=None, descriptor="", num_threads=1, n_outputs=1,
             const_inputs=False, opset=None):
    attrs = attrs or {}
    if outputs is None:
        outputs = infer_outputs(op, inputs, attrs, n_outputs, opset=opset)
    plan, feeds = build_node_plan(op, inputs, attrs, outputs, descriptor, num_threads,
                                  const_inputs=const_inputs, opset=opset)
    return list(plan.run(feeds))
