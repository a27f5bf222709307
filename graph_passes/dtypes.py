"""ONNX element types <-> numpy dtypes <-> the engine's DType codes (ONNX numbering)."""
import numpy as np
from onnx import TensorProto

ONNX_TO_NP = {
    TensorProto.FLOAT: np.dtype(np.float32),
    TensorProto.DOUBLE: np.dtype(np.float64),
    TensorProto.FLOAT16: np.dtype(np.float16),
    TensorProto.INT64: np.dtype(np.int64),
    TensorProto.INT32: np.dtype(np.int32),
    TensorProto.INT16: np.dtype(np.int16),
    TensorProto.INT8: np.dtype(np.int8),
    TensorProto.UINT8: np.dtype(np.uint8),
    TensorProto.UINT16: np.dtype(np.uint16),
    TensorProto.UINT32: np.dtype(np.uint32),
    TensorProto.UINT64: np.dtype(np.uint64),
    TensorProto.BOOL: np.dtype(np.bool_),
}
NP_TO_ONNX = {v: k for k, v in ONNX_TO_NP.items()}

ONNX_TYPE_STR = {
    TensorProto.FLOAT: "tensor(float)", TensorProto.DOUBLE: "tensor(double)",
    TensorProto.FLOAT16: "tensor(float16)", TensorProto.BFLOAT16: "tensor(bfloat16)",
    TensorProto.INT64: "tensor(int64)", TensorProto.INT32: "tensor(int32)",
    TensorProto.INT16: "tensor(int16)", TensorProto.INT8: "tensor(int8)",
    TensorProto.UINT8: "tensor(uint8)", TensorProto.UINT16: "tensor(uint16)",
    TensorProto.UINT32: "tensor(uint32)", TensorProto.UINT64: "tensor(uint64)",
    TensorProto.BOOL: "tensor(bool)", TensorProto.STRING: "tensor(string)",
}


def np_dtype(elem_type):
    try:
        return ONNX_TO_NP[elem_type]
    except KeyError:
        from ..capi.onnxruntime_pybind11_state import NotImplemented as NotImpl
        raise NotImpl(f"element type {TensorProto.DataType.Name(elem_type)} is not supported") from None


def onnx_type(dtype):
    return NP_TO_ONNX[np.dtype(dtype)]
