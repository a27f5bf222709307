"""One specialisation of a model: bind concrete input shapes, fold, fuse, lower.

    specialize(graph, input_shapes, num_threads, optimize=True) -> Specialized
"""
from dataclasses import dataclass
from typing import List

import numpy as np

from ..capi.onnxruntime_pybind11_state import Fail, InvalidArgument, NotImplemented as NotImpl
from .dtypes import NP_TO_ONNX
from .fold import fold_constants
from .ir import Value
from .fuse import fuse_all
from .qdq import fuse_qconv_residual, fuse_qdq, fuse_qdq_add
from .lower import lower
from .shapes import is_static
from .tune import QPREFIX, choose_routines


@dataclass
class Specialized:
    plan: object               # _engine.Plan
    output_names: List[str]    # plan output order (graph outputs)
    graph: object              # the lowered graph, for inspection
    tuned: object = None       # graph_passes.tune.TuneResult when tuning ran
    types: dict = None         # tensor name -> ir.Value with its static shape


def prune(g):
    """Drops nodes no graph output depends on."""
    needed = {v.name for v in g.outputs}
    kept = []
    for n in reversed(g.nodes):
        if any(o in needed for o in n.outputs if o):
            kept.append(n)
            needed.update(i for i in n.inputs if i)
    g.nodes = kept[::-1]


def drop_unused_outputs(g):
    """Outputs nobody reads (Dropout's mask, MaxPool's indices...) become omitted ones."""
    used = {i for n in g.nodes for i in n.inputs if i} | g.output_names()
    for n in g.nodes:
        n.outputs = [o if o in used else "" for o in n.outputs]
        if not any(n.outputs):  # keep the first so the node still has a result
            n.outputs[0] = n.outputs[0] or f"{n.name}__unused0"


def name_skipped_outputs(g):
    """An omitted optional output followed by a used one gets a name, so
    kernels see outputs at their ONNX positions."""
    for n in g.nodes:
        last = max((k for k, o in enumerate(n.outputs) if o), default=-1)
        n.outputs = [o or f"{n.name}__unused{k}" for k, o in enumerate(n.outputs[:last + 1])]


class DataDependentShape(NotImpl):
    """A shape only the data decides: graph_passes/dynamic.py runs such graphs."""


def check_static(g, types):
    for n in g.nodes:
        for o in n.outputs:
            if o and not is_static(types.get(o)) and g.inference_error:
                raise Fail(f"[ONNXRuntimeError] : 1 : FAIL : {n.where()}: these input shapes are not valid "
                           f"for the model: {g.inference_error}")
            if o and not is_static(types.get(o)):
                raise DataDependentShape(f"{n.where()}: the shape of output '{o}' cannot be determined statically "
                                         "(data-dependent shapes are not supported yet)")


# Op -> input positions whose *values* decide output shapes. (NonZero's and
# Compress's data run through graph_passes/dynamic.py's bounded routines
# instead: specialising on values that change every run would rebuild plans.)
SHAPE_OPERANDS = {
    "Reshape": {1}, "Expand": {1}, "Tile": {1}, "Slice": {1, 2, 3, 4}, "Pad": {1, 2, 3}, "Resize": {1, 2, 3},
    "Upsample": {1}, "Split": {1}, "Unsqueeze": {1}, "Squeeze": {1}, "TopK": {1}, "OneHot": {1},
    "Range": {0, 1, 2}, "ConstantOfShape": {0}, "CenterCropPad": {1},
    "Col2Im": {1, 2}, "AffineGrid": {1}, "HannWindow": {0}, "HammingWindow": {0}, "BlackmanWindow": {0},
    "MelWeightMatrix": {0, 1, 2, 3, 4},
    "ReduceMean": {1}, "ReduceSum": {1}, "ReduceMax": {1}, "ReduceMin": {1}, "ReduceProd": {1},
    "ReduceL1": {1}, "ReduceL2": {1}, "ReduceLogSum": {1}, "ReduceLogSumExp": {1}, "ReduceSumSquare": {1},
}
MAX_VALUE_INPUT = 64  # elements


def shape_operand_inputs(graph):
    """Graph inputs fed directly into a shape operand: plans specialise on their values."""
    names = set()
    feedable = {v.name: v for v in graph.inputs}
    for n in graph.nodes:
        for k in SHAPE_OPERANDS.get(n.op, ()):
            if k < len(n.inputs) and n.inputs[k] in feedable:
                v = feedable[n.inputs[k]]
                static = v.shape is not None and all(isinstance(d, int) for d in v.shape)
                if not static or int(np.prod(v.shape, dtype=np.int64)) <= MAX_VALUE_INPUT:
                    names.add(v.name)
    return names


def _saved_quant_choice(g, types, opts, choice):
    """A saved choice with qint8 variants (plan_file): rebuilt from the session's calibration."""
    from .budget import apply_choice
    from .quant_tune import QuantPlanner
    from .tune import TuneResult
    cal = getattr(opts, "calibration", None)
    if cal is None:
        raise InvalidArgument("plan_file: the saved plan uses qint8 routines; give the session its calibration")
    planner = QuantPlanner(g, types, cal.ranges)
    nodes = {n.name: n for n in g.nodes}
    for name, d in choice.items():
        if d.startswith(QPREFIX) and (name not in nodes or planner.variant(nodes[name]) is None):
            raise InvalidArgument(f"plan_file: the saved plan's qint8 layer '{name}' does not match the calibration")
    t = TuneResult(dict(choice), {}, 0.0)
    t.planner = planner
    return apply_choice(g, types, t)


def specialize(graph, input_shapes, num_threads, optimize=True, routine_choice=None, export_path=None,
               tune_options=None, cache=None, input_values=None):
    """routine_choice (node name -> descriptor) skips tuning; else tune_options
    (graph_passes.tune.TuneOptions, None: defaults only) decide."""
    g = graph.copy()
    for name, value in (input_values or {}).items():  # value-specialised inputs become constants
        g.initializers[name] = np.array(value)
        g.inputs = [v for v in g.inputs if v.name != name]
    for v in graph.overridable:  # an overridden initializer is fed like an input
        if v.name in input_shapes:
            g.initializers.pop(v.name)
            g.inputs.append(v)
    if optimize:
        fuse_qdq(g)  # before folding, which would dequantize the weights
    prune(g)
    types = fold_constants(g, input_shapes)
    prune(g)
    drop_unused_outputs(g)
    name_skipped_outputs(g)
    if any(o not in types for n in g.nodes for o in n.outputs):
        types = fold_constants(g, input_shapes)
    check_static(g, types)
    if optimize:
        fuse_qdq_add(g, types)
        prune(g)  # the DQs the adds read through: gone, so a conv's add is its only consumer
        fuse_qconv_residual(g, types)
        prune(g)
        fuse_all(g, types)
    feed_names = [v.name for v in g.inputs]
    tuned = None
    if routine_choice is None and tune_options is not None and tune_options.tuning != "none":
        tuned = choose_routines(g, types, num_threads, tune_options, cache)
        routine_choice = tuned.choice
    elif routine_choice is None and tune_options is not None and tune_options.pins:
        tuned = choose_routines(g, types, num_threads, tune_options, None)
        routine_choice = tuned.choice
    if tuned is not None:
        from .budget import finish
        routine_choice = finish(g, types, feed_names, num_threads, tune_options, tuned)
    elif routine_choice and any(d.startswith(QPREFIX) for d in routine_choice.values()):
        routine_choice = _saved_quant_choice(g, types, tune_options, routine_choice)
    if tuned is not None and tune_options.tuning == "dprs":
        from .thread_check import lower_checked
        budgeted = tune_options.accuracy_budget is not None or tune_options.memory_limit_mb is not None
        plan, out_names, g, types, routine_choice = lower_checked(g, types, feed_names, num_threads, routine_choice,
                                                                  tuned, cache, budgeted)
    else:
        plan, out_names = lower(g, types, feed_names, num_threads, routine_choice)
    if export_path:
        from .export import save_graph
        save_graph(g, export_path)
    for k, v in g.initializers.items():  # the plan holds the values now; keep their types for inspection
        types.setdefault(k, Value(k, NP_TO_ONNX[v.dtype], tuple(v.shape)))
    g.initializers = {k: None for k in g.initializers}
    return Specialized(plan, out_names, g, tuned, types)
