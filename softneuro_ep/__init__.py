"""softneuro-ep: a drop-in replacement for onnxruntime that tunes routines per layer.

    import softneuro_ep as ort
    sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
    outputs = sess.run(None, {sess.get_inputs()[0].name: x})
"""
from .capi.onnxruntime_pybind11_state import (  # noqa: F401
    EngineError, EPFail, Fail, InvalidArgument, InvalidGraph, InvalidProtobuf, ModelLoaded,
    NoModel, NoSuchFile, NotFound, NotImplemented, RuntimeException,
)
from . import _engine  # noqa: F401
from .metadata import ModelMetadata, NodeArg  # noqa: F401
from .options import ExecutionMode, GraphOptimizationLevel, RunOptions, SessionOptions  # noqa: F401
from .providers import get_all_providers, get_available_providers, get_device  # noqa: F401
from .session import InferenceSession  # noqa: F401
from .calibrate import calibrate  # noqa: F401

__version__ = "0.1.0"
