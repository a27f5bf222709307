"""Feed validation with onnxruntime's error classes and messages.

Built once per session (FeedChecker), then called on every run(): it must stay
cheap, so the common case (a contiguous array of the right dtype and shape)
takes a few attribute reads per input.
"""
import numpy as np

from .capi.onnxruntime_pybind11_state import InvalidArgument
from .graph_passes.dtypes import ONNX_TYPE_STR, np_dtype


class _Input:
    __slots__ = ("name", "dtype", "type_str", "shape", "rank", "container")

    def __init__(self, v, free_dims):
        self.name = v.name
        self.container = v.container
        self.dtype = np_dtype(v.elem_type) if v.elem_type or not v.container else None  # 0: a sequence of any type
        self.type_str = ONNX_TYPE_STR.get(v.elem_type)
        shape = None
        if v.shape is not None:
            shape = tuple(free_dims.get(d, None) if isinstance(d, str) else d for d in v.shape)
        self.shape = shape
        # onnxruntime checks no shape for an input declared as a scalar (rank 0):
        # a [1] or any other shape is accepted there, so here too
        self.rank = None if not shape else len(shape)
        if v.container:
            self.shape = self.rank = None  # checked per element (see _container)


def _type_str(dtype):
    from .graph_passes.dtypes import NP_TO_ONNX
    dtype = np.dtype(dtype)
    if dtype.kind in "USO":
        return "tensor(string)"
    code = NP_TO_ONNX.get(dtype)
    return ONNX_TYPE_STR.get(code, f"numpy {dtype}")


_PY_SCALARS = (list, tuple, int, float, bool)


class FeedChecker:
    def __init__(self, inputs, overridable, free_dims):
        self.inputs = [_Input(v, free_dims) for v in inputs]
        self.overridable = {v.name: _Input(v, free_dims) for v in overridable}
        self.names = [i.name for i in self.inputs]
        self.known = set(self.names) | set(self.overridable)

    def _convert(self, spec, x):
        """A feed that is not an ndarray: Python lists and scalars take the
        input's dtype (as onnxruntime does for lists), numpy scalars and
        array-likes keep their own."""
        if isinstance(x, np.generic):  # before the Python types: np.float64 is a float
            return np.asarray(x)
        if isinstance(x, _PY_SCALARS):
            try:
                return np.asarray(x, dtype=spec.dtype)
            except (ValueError, TypeError) as e:
                raise RuntimeError(f"Could not create tensor from given input list for input '{spec.name}': {e}") from None
        if hasattr(x, "__array__"):
            return np.asarray(x)
        raise RuntimeError(f"Input must be a list of dictionaries or a single numpy array for input '{spec.name}'. "
                           f"Got {type(x).__name__}.")

    def _container(self, spec, x, container):
        """A sequence feed: a list of arrays (the runner's form); an optional: None or its value."""
        if container[0] == "optional":
            return None if x is None else self._container(spec, x, container[1:]) if container[1:] else self._array(spec, x, ())
        if not isinstance(x, list):  # onnxruntime takes lists only
            raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : input with name: '{spec.name}' "
                                  f"expected to be a sequence (a list of arrays) but received {type(x).__name__}")
        out = []
        for k, e in enumerate(x):
            if not isinstance(e, np.ndarray):
                raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : input '{spec.name}': sequence "
                                      f"element {k} is a {type(e).__name__}, not a numpy array")
            if spec.dtype is not None and e.dtype != spec.dtype:
                raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : input '{spec.name}': sequence "
                                      f"element {k} has type {_type_str(e.dtype)}, expected {spec.type_str}")
            if out and e.dtype != out[0].dtype:
                raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : input '{spec.name}': sequence "
                                      "elements have different data types")
            out.append(np.require(e, requirements="C"))
        return out

    def _array(self, spec, x, container=None):
        if container is None and spec.container:
            return self._container(spec, x, spec.container)
        if type(x) is not np.ndarray:
            x = x if isinstance(x, np.ndarray) else self._convert(spec, x)
        if x.dtype != spec.dtype:
            if x.dtype.newbyteorder("=") == spec.dtype and x.dtype.byteorder not in "=|":
                x = x.astype(spec.dtype)  # big-endian data: same values in native order
            else:
                raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Unexpected input data type. "
                                      f"Actual: ({_type_str(x.dtype)}) , expected: ({spec.type_str})")
        if spec.rank is not None:
            if x.ndim != spec.rank:
                raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Invalid rank for input: "
                                      f"{spec.name} Got: {x.ndim} Expected: {spec.rank} "
                                      "Please fix either the inputs/outputs or the model.")
            bad = [(k, g, e) for k, (g, e) in enumerate(zip(x.shape, spec.shape)) if e is not None and g != e]
            if bad:
                lines = "".join(f" index: {k} Got: {g} Expected: {e}\n" for k, g, e in bad)
                raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for "
                                      f"input: {spec.name} for the following indices\n{lines} "
                                      "Please fix either the inputs/outputs or the model.")
        if not x.flags.c_contiguous:
            x = np.require(x, requirements="C")
        return x

    def check(self, feed):
        """Arrays in plan order, plus the names of fed overridable initializers."""
        if not isinstance(feed, dict):
            raise TypeError("input_feed must be a dict of input name -> array")
        if len(feed) != len(self.inputs) or not all(n in feed for n in self.names):
            missing = [n for n in self.names if n not in feed]
            if missing:
                raise ValueError(f"Required inputs ({missing}) are missing from input feed ({list(feed)}).")
            for n in feed:
                if n not in self.known:
                    raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Invalid input name: {n}")
        arrays = [self._array(spec, feed[spec.name]) for spec in self.inputs]
        overrides = ()
        if len(feed) != len(self.inputs):
            overrides = tuple(sorted(n for n in feed if n in self.overridable))
            arrays += [self._array(self.overridable[n], feed[n]) for n in overrides]
        return arrays, overrides
