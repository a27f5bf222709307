"""Mirror of onnxruntime.capi, so `from <pkg>.capi.onnxruntime_pybind11_state import Fail` keeps working."""
