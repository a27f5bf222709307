"""The benchmark model builders (softneuro_ep.tools.models) at small sizes:
each model checks, has a symbolic batch dim, and onnxruntime runs it at batch 1
and 3 with finite, non-constant outputs. Also the light model-zoo loader."""
import numpy as np
import onnx
import pytest

ort = pytest.importorskip("onnxruntime")

from softneuro_ep.tools.models import MODEL_NAMES, build  # noqa: E402
from softneuro_ep.tools.models.check_models import QUICK, make_feeds  # noqa: E402
from softneuro_ep.tools.models.zoo import light_model_names, load_light  # noqa: E402

CNNS = ["resnet50", "vgg16", "vgg19", "squeezenet", "densenet121", "inception_v1",
        "mobilenet_v2", "mobilenet_v3"]


def _session(model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _assert_ok(y):
    y = np.asarray(y, dtype=np.float64)
    assert np.isfinite(y).all()
    assert y.std() > 1e-3 * (np.abs(y).mean() + 1e-12), "output is constant"


def _dims(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


def _run(model, specs):
    sess = _session(model)
    results = []
    for spec in specs:
        outs = sess.run(None, make_feeds(model, spec))
        for o in outs:
            _assert_ok(o)
        results.append(outs)
    return results


def test_model_names():
    assert set(CNNS + ["yolo", "paddleocr", "bert", "convnext"]) <= set(MODEL_NAMES)
    with pytest.raises(KeyError):
        build("no_such_model")


@pytest.mark.parametrize("name", CNNS)
def test_cnn(name):
    kw = QUICK[name][0]
    m = build(name, **kw)
    onnx.checker.check_model(m)
    size = kw["size"]
    assert _dims(m.graph.input[0]) == ["batch", 3, size, size]
    assert _dims(m.graph.output[0]) == ["batch", 1000]
    (y1,), (y3,) = _run(m, [dict(b=1), dict(b=3)])
    assert y1.shape == (1, 1000) and y3.shape == (3, 1000)
    assert not np.allclose(y3[0], y3[1])  # depends on the input


def test_convnext_as_torchvision_exports_it():
    kw = QUICK["convnext"][0]
    m = build("convnext", **kw)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    assert {"LayerNormalization", "Erf", "MatMul", "Transpose"} <= set(ops)
    # per block two Transposes; LayerNorm2d (stem, 3 downsamples, head) two each
    assert ops.count("Transpose") == 2 * sum(kw["depths"]) + 2 * 5
    (y1,), (y3,) = _run(m, [dict(b=1), dict(b=3)])
    assert y1.shape == (1, 1000) and y3.shape == (3, 1000)


def test_builders_are_seeded():
    a, b, c = build("squeezenet", size=32), build("squeezenet", size=32), build("squeezenet", size=32, seed=1)
    assert a.SerializeToString() == b.SerializeToString()
    assert a.SerializeToString() != c.SerializeToString()


def test_mobilenet_v3_small():
    m = build("mobilenet_v3", size=64, variant="small")
    ops = {n.op_type for n in m.graph.node}
    assert {"HardSwish", "HardSigmoid", "GlobalAveragePool", "Mul"} <= ops
    _run(m, [dict(b=1), dict(b=3)])


def test_op_coverage():
    ops = lambda m: {n.op_type for n in m.graph.node}  # noqa: E731
    assert {"Clip", "Add"} <= ops(build("mobilenet_v2", size=32))
    assert any(n.op_type == "Conv" and any(a.name == "group" for a in n.attribute)
               for n in build("mobilenet_v2", size=32).graph.node)
    assert {"Concat", "AveragePool", "BatchNormalization"} <= ops(build("densenet121", size=32))
    assert {"Concat", "LRN", "MaxPool"} <= ops(build("inception_v1", size=32))


def test_yolo():
    m = build("yolo", size=128)
    onnx.checker.check_model(m)
    assert _dims(m.graph.input[0]) == ["batch", 3, 128, 128]
    ops = {n.op_type for n in m.graph.node}
    assert {"Split", "Concat", "Resize", "Shape", "Gather", "Unsqueeze", "Reshape", "Transpose",
            "Softmax", "Range", "Expand", "Cast", "Slice", "Sub", "Div", "Mul", "Sigmoid",
            "MaxPool"} <= ops
    modes = {a.s for n in m.graph.node if n.op_type == "Resize" for a in n.attribute if a.name == "mode"}
    assert modes == {b"nearest", b"linear"}
    n = (128 // 8) ** 2 + (128 // 16) ** 2 + (128 // 32) ** 2
    (y1,), (y3,) = _run(m, [dict(b=1), dict(b=3)])
    assert y1.shape == (1, n, 84) and y3.shape == (3, n, 84)
    scores = y3[..., 4:]
    assert ((scores >= 0) & (scores <= 1)).all()


def test_paddleocr():
    m = build("paddleocr")
    onnx.checker.check_model(m)
    assert _dims(m.graph.input[0]) == ["batch", 3, "height", "width"]
    ops = {n.op_type for n in m.graph.node}
    assert {"HardSwish", "HardSigmoid", "ConvTranspose", "BatchNormalization", "Resize", "Sigmoid"} <= ops
    bn_after_convt = any(n.op_type == "BatchNormalization" and p.op_type == "ConvTranspose"
                         for p in m.graph.node for n in m.graph.node if p.output[0] in n.input)
    assert bn_after_convt
    (a,), (b,) = _run(m, [dict(b=1, h=128, w=128), dict(b=3, h=64, w=96)])
    assert a.shape == (1, 1, 128, 128) and b.shape == (3, 1, 64, 96)
    assert ((a > 0) & (a < 1)).all()


def test_bert():
    m = build("bert")
    onnx.checker.check_model(m)
    assert [_dims(i) for i in m.graph.input] == [["batch", "seq"], ["batch", "seq"]]
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.INT64 for i in m.graph.input)
    ops = {n.op_type for n in m.graph.node}
    assert {"Gather", "Range", "LayerNormalization", "ReduceMean", "Pow", "Sqrt", "Erf", "MatMul",
            "Softmax", "Where", "Equal", "Tanh", "Gemm", "Reshape", "Transpose"} <= ops
    (h1, p1), (h3, p3) = _run(m, [dict(b=1, s=16), dict(b=3, s=9)])
    assert h1.shape == (1, 16, 128) and p1.shape == (1, 128)
    assert h3.shape == (3, 9, 128) and p3.shape == (3, 128)
    # the attention mask matters: padding changes the unpadded tokens' outputs
    sess = _session(m)
    ids = np.arange(1, 9, dtype=np.int64)[None]
    full = sess.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
    mask = np.ones_like(ids)
    mask[0, 4:] = 0
    part = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    assert not np.allclose(full[0, :4], part[0, :4])


@pytest.mark.parametrize("name", light_model_names())
def test_light_zoo(name):
    raw = load_light(name, randomize=False)
    assert any(n.op_type == "ConstantOfShape" for n in raw.graph.node)
    m = load_light(name, seed=0)
    onnx.checker.check_model(m)
    assert not any(n.op_type == "ConstantOfShape" for n in m.graph.node)
    assert len(m.graph.input) == 1
    sess = _session(m)
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    y = sess.run(None, {inp.name: x})[0]
    _assert_ok(y)
    assert y.shape[:2] == (1, 1000)
