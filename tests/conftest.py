"""Shared tiny-model fixtures for the API tests.

Importing helpers from a conftest does not work under --import-mode=importlib,
so the builders are handed out through the ``models`` fixture (a namespace).
Models are built from ops the engine has routines for (see
``softneuro_ep._engine.supported_ops()``); ``models.has(op, ...)`` tells which.
"""
import os as _os
import tempfile as _tempfile

# One profile cache per test run: shared by the tests (profiles reused), never the user's.
_os.environ.setdefault("SOFTNEURO_EP_CACHE", _os.path.join(_tempfile.mkdtemp(prefix="snep-test-"), "profile.sqlite"))

import types

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def make_model(nodes, inputs, outputs, initializers=(), opset=17, ir_version=8, props=None, **fields):
    graph = helper.make_graph(nodes, fields.pop("graph_name", "g"), inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **fields)
    model.ir_version = ir_version
    if props:
        helper.set_model_props(model, props)
    return model


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def relu(shape=("N", 3), name="relu"):
    """X -> Relu -> Y, one node named ``name``."""
    return make_model([helper.make_node("Relu", ["X"], ["Y"], name=name)], [vi("X", list(shape))],
                      [vi("Y", list(shape))])


def two_outputs():
    """X[N,4] -> Relu -> A (rank 2); A -> Reshape[-1] -> B; X -> Identity -> C."""
    return make_model(
        [helper.make_node("Relu", ["X"], ["A"], name="r"),
         helper.make_node("Reshape", ["A", "shape"], ["B"], name="flat"),
         helper.make_node("Identity", ["X"], ["C"], name="id")],
        [vi("X", ["N", 4])], [vi("A", ["N", 4]), vi("B", [None]), vi("C", ["N", 4])],
        [init("shape", np.array([-1], np.int64))])


def supported():
    from softneuro_ep import _engine
    return set(_engine.supported_ops())


def has(*ops):
    return set(ops) <= supported()


def chain(n=8, matmul=True):
    """A several-op model over X[N, n] and its numpy reference.

    Uses MatMul (else Gemm, else Mul) when the engine has it, then Add; Relu, Reshape and
    Transpose when present; matmul=False keeps to cheap elementwise ops.
    Returns (model, reference(x) -> list of outputs)."""
    rng = np.random.default_rng(0)
    ops = supported()
    nodes, inits = [], []
    steps = []  # numpy reference, applied in order
    cur = "X"

    def node(op, ins, **attrs):
        nonlocal cur
        out = f"t{len(nodes)}"
        nodes.append(helper.make_node(op, ins, [out], name=f"{op.lower()}{len(nodes)}", **attrs))
        cur = out

    if matmul and "MatMul" in ops:
        w = rng.standard_normal((n, n)).astype(np.float32)
        inits.append(init("W", w))
        node("MatMul", [cur, "W"])
        steps.append(lambda a, w=w: a @ w)
    elif matmul and "Gemm" in ops:
        w = rng.standard_normal((n, n)).astype(np.float32)
        g = rng.standard_normal((n,)).astype(np.float32)
        inits += [init("W", w.T.copy()), init("G", g)]
        node("Gemm", [cur, "W", "G"], transB=1, alpha=0.5)
        steps.append(lambda a, w=w, g=g: 0.5 * (a @ w) + g)
    elif "Mul" in ops:
        w = rng.standard_normal((n,)).astype(np.float32)
        inits.append(init("W", w))
        node("Mul", [cur, "W"])
        steps.append(lambda a, w=w: a * w)
    if "Add" in ops:
        b = rng.standard_normal((n,)).astype(np.float32)
        inits.append(init("B", b))
        node("Add", [cur, "B"])
        steps.append(lambda a, b=b: a + b)
    node("Relu", [cur])
    steps.append(lambda a: np.maximum(a, 0))
    inits.append(init("shape3", np.array([0, 2, n // 2], np.int64)))
    node("Reshape", [cur, "shape3"])
    steps.append(lambda a: a.reshape(a.shape[0], 2, n // 2))
    if "Transpose" in ops:
        node("Transpose", [cur], perm=[0, 2, 1])
        steps.append(lambda a: a.transpose(0, 2, 1))
    if "Sub" in ops:
        c = rng.standard_normal((1,)).astype(np.float32)
        inits.append(init("C", c))
        node("Sub", [cur, "C"])
        steps.append(lambda a, c=c: a - c)
    node("Relu", [cur])
    steps.append(lambda a: np.maximum(a, 0))
    model = make_model(nodes, [vi("X", ["N", n])], [vi(cur, [None, None, None])], inits)

    def reference(x):
        a = x
        for s in steps:
            a = s(a)
        return [a.astype(np.float32)]

    return model, reference


@pytest.fixture(scope="session")
def models():
    return types.SimpleNamespace(make=make_model, vi=vi, init=init, relu=relu, two_outputs=two_outputs,
                                 chain=chain, has=has, supported=supported, F=F, helper=helper)


@pytest.fixture(scope="session")
def sn():
    import softneuro_ep
    return softneuro_ep


@pytest.fixture
def child_env():
    """env(**overrides) for a child Python that imports the same softneuro_ep as this process: in a clean
    checkout the source tree in the cwd has no built engine, so the cwd must not shadow the installed one."""
    def make(**overrides):
        import softneuro_ep
        env = dict(_os.environ, PYTHONSAFEPATH="1", **overrides)
        parent = _os.path.dirname(_os.path.dirname(_os.path.abspath(softneuro_ep.__file__)))
        env["PYTHONPATH"] = _os.pathsep.join([parent] + [p for p in env.get("PYTHONPATH", "").split(_os.pathsep) if p])
        return env
    return make
