"""softneuro-ep: a drop-in replacement for onnxruntime that tunes routines per layer."""
from .capi.onnxruntime_pybind11_state import (  # noqa: F401
    EngineError, EPFail, Fail, InvalidArgument, InvalidGraph, InvalidProtobuf, ModelLoaded,
    NoModel, NoSuchFile, NotFound, NotImplemented, RuntimeException,
)
from . import _engine  # noqa: F401

__version__ = "0.1.0"
