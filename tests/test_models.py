"""Whole models against onnxruntime: fp32 outputs within relative L2 1e-4,
with the dynamic batch at 1 and 3 (and other free dims where models have them)."""
import numpy as np
import onnxruntime
import pytest

import softneuro_ep as ort
from softneuro_ep.tools.bench import random_feed, rel_l2
from softneuro_ep.tools.models import build
from softneuro_ep.tools.models.zoo import light_model_names, load_light

TOL = 1e-4

# name -> (builder kwargs, list of free-dim bindings to run)
BUILT = {
    "resnet50": ({}, [{"batch": 1}, {"batch": 3}]),
    "mobilenet_v2": ({}, [{"batch": 1}, {"batch": 3}]),
    "mobilenet_v3": ({}, [{"batch": 1}, {"batch": 3}]),
    "squeezenet": ({}, [{"batch": 1}, {"batch": 3}]),
    "inception_v1": ({"size": 160}, [{"batch": 1}, {"batch": 3}]),
    "densenet121": ({"size": 128}, [{"batch": 1}, {"batch": 3}]),
    "vgg16": ({"size": 64}, [{"batch": 1}, {"batch": 3}]),
    "yolo": ({"size": 320}, [{"batch": 1}, {"batch": 3}]),
    "paddleocr": ({}, [{"batch": 1, "height": 160, "width": 224}, {"batch": 3, "height": 96, "width": 128}]),
    "bert": ({}, [{"batch": 1, "seq": 16}, {"batch": 3, "seq": 37}]),
    "convnext": ({"size": 64, "depths": (1, 1, 2, 1), "dims": (32, 48, 64, 96)}, [{"batch": 1}, {"batch": 3}]),
}


def _compare(model_bytes, bindings, threads=2):
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = threads
    ref = onnxruntime.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    so2 = ort.SessionOptions()
    so2.intra_op_num_threads = threads
    ours = ort.InferenceSession(model_bytes, so2)
    for k, dims in enumerate(bindings):
        feed = random_feed(ours, dims.get("batch", 1), seed=k, dims=dims)
        want = ref.run(None, feed)
        got = ours.run(None, feed)
        assert len(got) == len(want)
        for o, g, w in zip(ours.get_outputs(), got, want):
            assert g.shape == w.shape and g.dtype == w.dtype, o.name
            assert np.isfinite(g).all(), o.name
            err = rel_l2(g, w)
            assert err <= TOL, f"{o.name} with {dims}: rel L2 {err:.2e}"


@pytest.mark.parametrize("name", sorted(BUILT))
def test_built_model_matches_onnxruntime(name):
    kwargs, bindings = BUILT[name]
    _compare(build(name, **kwargs).SerializeToString(), bindings)


@pytest.mark.parametrize("name", light_model_names())
def test_light_zoo_model_random_weights(name):
    _compare(load_light(name, randomize=True).SerializeToString(), [{"batch": 1}])


@pytest.mark.parametrize("name", light_model_names())
def test_light_zoo_model_as_shipped(name):
    _compare(load_light(name, randomize=False).SerializeToString(), [{"batch": 1}])
