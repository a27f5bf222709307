"""Mutated model bytes and protos never crash or hang the loader: each either
loads and runs, or raises one of the onnxruntime-named error classes."""
import numpy as np
import onnx
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

import softneuro_ep as ort

ERRORS = (ort.Fail, ort.InvalidArgument, ort.InvalidGraph, ort.InvalidProtobuf, ort.NotImplemented,
          ort.NoSuchFile, ort.RuntimeException)


def _model():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "s"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, ["N", 4])],
                          [helper.make_tensor_value_info("y", 1, None)],
                          [helper.make_tensor("s", onnx.TensorProto.INT64, [2], [-1, 2])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


BASE = _model().SerializeToString()


def _try(model):
    try:
        s = ort.InferenceSession(model)
    except ERRORS:
        return
    x = np.ones((2, 4), np.float32)
    try:
        s.run(None, {i.name: x for i in s.get_inputs()})
    except ERRORS + (ValueError,):
        pass


@settings(max_examples=60)
@given(st.data())
def test_mutated_bytes(data):
    b = bytearray(BASE)
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(0, len(b) - 1)))
        if op == "flip" and b:
            b[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del b[pos:pos + data.draw(st.integers(1, 16))]
        else:
            b[pos:pos] = bytes(data.draw(st.lists(st.integers(0, 255), min_size=1, max_size=8)))
    _try(bytes(b))


@settings(max_examples=40)
@given(st.data())
def test_mutated_protos(data):
    m = _model()
    g = m.graph
    what = data.draw(st.sampled_from(["op", "input", "output", "opset", "attr", "init_dims", "elem"]))
    if what == "op":
        g.node[data.draw(st.integers(0, 1))].op_type = data.draw(st.sampled_from(["Conv", "Nope", "", "Relu", "Add"]))
    elif what == "input":
        g.node[1].input[data.draw(st.integers(0, 1))] = data.draw(st.sampled_from(["", "zz", "y", "x"]))
    elif what == "output":
        g.output[0].name = data.draw(st.sampled_from(["", "r", "x", "missing"]))
    elif what == "opset":
        m.opset_import[0].version = data.draw(st.integers(-1, 40))
    elif what == "attr":
        g.node[0].attribute.append(helper.make_attribute("alpha", 1.0))
    elif what == "init_dims":
        g.initializer[0].dims[0] = data.draw(st.integers(0, 5))
    else:
        g.input[0].type.tensor_type.elem_type = data.draw(st.integers(0, 20))
    _try(m.SerializeToString())
