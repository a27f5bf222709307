"""The onnx.backend interface (prepare, run_model, run_node, supports_device),
as onnxruntime.backend implements it, so onnx's backend test suite can drive
this engine."""
import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from .graph_passes.attrs import node_attrs
from .graph_passes.node_eval import run_node as _run_node
from .options import SessionOptions
from .session import InferenceSession


class SoftNeuroBackendRep(BackendRep):
    def __init__(self, session):
        self.session = session

    def run(self, inputs, **kwargs):
        names = [i.name for i in self.session.get_inputs()]
        if isinstance(inputs, dict):
            feed = inputs
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            feed = dict(zip(names, inputs))
        return self.session.run(None, feed)


class SoftNeuroBackend(Backend):
    @classmethod
    def is_compatible(cls, model, device="CPU", **kwargs):
        return cls.supports_device(device)

    @classmethod
    def supports_device(cls, device):
        return device.upper().startswith("CPU")

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        if device is not None and not cls.supports_device(device):
            raise RuntimeError(f"Incompatible device expected '{device}', got 'CPU'")
        if isinstance(model, SoftNeuroBackendRep):
            return model
        if isinstance(model, InferenceSession):
            return SoftNeuroBackendRep(model)
        so = SessionOptions()
        for k, v in kwargs.items():
            if hasattr(so, k):
                setattr(so, k, v)
        if isinstance(model, onnx.ModelProto):
            model = model.SerializeToString()
        return SoftNeuroBackendRep(InferenceSession(model, sess_options=so))

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        ins = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
        outs = None
        if outputs_info:
            outs = [(onnx.helper.tensor_dtype_to_np_dtype(dt), tuple(shape)) for dt, shape in outputs_info]
        n_out = len([o for o in node.output])
        return _run_node(node.op_type, [np.asarray(x) if x is not None else None for x in ins], node_attrs(node),
                         outputs=outs, n_outputs=n_out)


prepare = SoftNeuroBackend.prepare
run_model = SoftNeuroBackend.run_model
run = run_model  # onnxruntime.backend's name for it
run_node = SoftNeuroBackend.run_node
supports_device = SoftNeuroBackend.supports_device
is_compatible = SoftNeuroBackend.is_compatible
