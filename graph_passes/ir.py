"""A small mutable graph the passes work on (ONNX protos are awkward to edit).

Graph.nodes are in topological order; tensors are named by strings;
constants live in Graph.initializers as numpy arrays.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

Dim = Union[int, str, None]


@dataclass
class Value:
    name: str
    elem_type: int
    shape: Optional[Tuple[Dim, ...]]  # None: rank unknown
    # wrappers around the tensor, outermost first: () a tensor, ("seq",), ("optional",), ("optional", "seq")
    container: Tuple[str, ...] = ()


@dataclass
class Node:
    op: str
    inputs: List[str]
    outputs: List[str]
    attrs: dict
    name: str
    domain: str = ""

    def where(self):
        return f"{self.op} node '{self.name}'"


@dataclass
class Graph:
    nodes: List[Node]
    initializers: Dict[str, np.ndarray]
    inputs: List[Value]            # feedable inputs (initializers excluded)
    outputs: List[Value]
    opset: int
    overridable: List[Value] = field(default_factory=list)  # initializers listed as inputs too
    value_types: Dict[str, Value] = field(default_factory=dict)  # shapes known so far
    inference_error: Optional[str] = None  # onnx shape inference's complaint for the current input shapes
    ml_opset: int = 3  # the model's ai.onnx.ml opset import (TreeEnsemble needs 5)

    def copy(self):
        return Graph(
            nodes=[Node(n.op, list(n.inputs), list(n.outputs), dict(n.attrs), n.name, n.domain) for n in self.nodes],
            initializers=dict(self.initializers), inputs=list(self.inputs), outputs=list(self.outputs),
            opset=self.opset, overridable=list(self.overridable), value_types=dict(self.value_types),
            ml_opset=self.ml_opset)

    def consumers(self):
        """tensor name -> list of nodes reading it."""
        c = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    c.setdefault(i, []).append(n)
        return c

    def producers(self):
        return {o: n for n in self.nodes for o in n.outputs if o}

    def output_names(self):
        return {v.name for v in self.outputs}
