"""Model builders for the benchmark set.

``build(name, **kw)`` returns an ``onnx.ModelProto`` (checked, seeded random
weights, symbolic batch dim ``batch``). ``MODEL_NAMES`` lists the builders;
``build`` also accepts ``light_<name>`` for the onnx package's light model zoo
(see :mod:`.zoo`; keyword arguments go to :func:`.zoo.load_light`).
"""
from __future__ import annotations

from .bert import bert
from .convnext import convnext
from .cnn import (densenet121, inception_v1, mobilenet_v2, mobilenet_v3, resnet50,
                  squeezenet, vgg16, vgg19)
from .graph import GraphBuilder
from .paddleocr import paddleocr
from .yolo import yolo
from .zoo import light_model_names, load_light

BUILDERS = {
    "resnet50": resnet50,
    "vgg16": vgg16,
    "vgg19": vgg19,
    "squeezenet": squeezenet,
    "densenet121": densenet121,
    "inception_v1": inception_v1,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3": mobilenet_v3,
    "yolo": yolo,
    "paddleocr": paddleocr,
    "bert": bert,
    "convnext": convnext,
}
MODEL_NAMES = tuple(BUILDERS)


def build(name: str, **kw):
    """Build model ``name`` (one of MODEL_NAMES, or ``light_<zoo name>``)."""
    if name in BUILDERS:
        return BUILDERS[name](**kw)
    if name.startswith("light_") and name[6:] in light_model_names():
        return load_light(name[6:], **kw)
    raise KeyError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)} "
                   f"and light_<{'|'.join(light_model_names())}>")


__all__ = ["build", "MODEL_NAMES", "BUILDERS", "GraphBuilder", "light_model_names",
           "load_light", *MODEL_NAMES]
