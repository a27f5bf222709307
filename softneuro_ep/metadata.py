"""NodeArg and ModelMetadata, as onnxruntime exposes them."""
from .graph_passes.dtypes import ONNX_TYPE_STR


class NodeArg:
    def __init__(self, name, elem_type, shape, free_dims=None, container=()):
        self.name = name
        self.type = ONNX_TYPE_STR.get(elem_type, "tensor(undefined)")
        for c in reversed(container):  # "optional(seq(tensor(float)))", as onnxruntime writes it
            self.type = f"{c}({self.type})"
        if "seq" in container:
            shape = None  # onnxruntime shows [] for sequences
        # ints for fixed dims, strings for symbolic ones, None for unknown;
        # a symbolic dim pinned by add_free_dimension_override_by_name shows its value
        fd = free_dims or {}
        self.shape = [] if shape is None else [fd.get(d, d) if isinstance(d, str) else d if isinstance(d, int) else None
                                               for d in shape]

    def __repr__(self):
        return f"NodeArg(name='{self.name}', type='{self.type}', shape={self.shape})"


class ModelMetadata:
    def __init__(self, model):
        self.producer_name = model.producer_name
        self.graph_name = model.graph.name
        self.domain = model.domain
        self.description = model.doc_string
        self.graph_description = model.graph.doc_string
        self.version = model.model_version
        self.custom_metadata_map = {p.key: p.value for p in model.metadata_props}
