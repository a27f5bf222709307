"""Sequences and optionals in the dynamic runner (graph_passes/dynamic.py).

In the runner's env a sequence is a Python list of arrays and an optional is
its value, or ABSENT when empty (None already means "not in env" there;
DynamicPlan turns ABSENT into None at the session's boundary). Container glue
(construct, insert, erase, at, length, the optional ops) is list work here;
the tensor compute of SplitToSequence and ConcatFromSequence runs the engine's
Split and Concat routines as one-node plans, cached per stage by shapes.
SequenceMap runs its body as a Runner per element.
"""
import numpy as np

from ..capi.onnxruntime_pybind11_state import InvalidArgument
from .dtypes import np_dtype
from .node_eval import build_node_plan


class _Absent:
    __slots__ = ()

    def __repr__(self):
        return "ABSENT"


ABSENT = _Absent()


def is_tensor(v):
    return isinstance(v, (np.ndarray, np.generic))  # indexing a 1-D array (Scan) gives a numpy scalar


def _err(node, msg):
    return InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : {node.where()}: {msg}")


def _kind(v):
    return "a sequence" if isinstance(v, list) else "an empty optional" if v is ABSENT else "a tensor"


def _seq(node, v, what="input 0"):
    if not isinstance(v, list):
        raise _err(node, f"{what} must be a sequence, got {_kind(v)}")
    return v


def _tensor(node, v, what):
    if not is_tensor(v):
        raise _err(node, f"{what} must be a tensor, got {_kind(v)}")
    return v


def _index(node, p, n, insert=False):
    p = _tensor(node, p, "position")
    if p.size != 1 or p.dtype.kind not in "iu":
        raise _err(node, f"position must be an integer scalar, got {p.dtype} of shape {p.shape}")
    k = int(p.reshape(-1)[0])
    hi = n if insert else n - 1
    if not -n <= k <= hi:
        raise _err(node, f"position {k} is out of range for a sequence of {n} tensors")
    return k + n if k < 0 else k


def _same_dtype(node, seq, t):
    if seq and seq[0].dtype != t.dtype:
        raise _err(node, f"tensor of type {t.dtype} does not match the sequence's element type {seq[0].dtype}")


# ---- the ops: f(runner, node, inputs, env, plans) -> outputs ------------------------

def _sequence_empty(runner, node, ins, env, plans):
    np_dtype(node.attrs.get("dtype", 1))  # NotImplemented for element types the engine lacks
    return [[]]


def _sequence_construct(runner, node, ins, env, plans):
    seq = []
    for k, x in enumerate(ins):
        _same_dtype(node, seq, _tensor(node, x, f"input {k}"))
        seq.append(x)
    return [seq]


def _sequence_insert(runner, node, ins, env, plans):
    seq = _seq(node, ins[0])
    t = _tensor(node, ins[1], "input 1")
    _same_dtype(node, seq, t)
    k = _index(node, ins[2], len(seq), insert=True) if len(ins) > 2 and ins[2] is not None else len(seq)
    return [seq[:k] + [t] + seq[k:]]


def _sequence_erase(runner, node, ins, env, plans):
    seq = _seq(node, ins[0])
    if not seq:
        raise _err(node, "cannot erase from an empty sequence")
    k = _index(node, ins[1], len(seq)) if len(ins) > 1 and ins[1] is not None else len(seq) - 1
    return [seq[:k] + seq[k + 1:]]


def _sequence_at(runner, node, ins, env, plans):
    seq = _seq(node, ins[0])
    return [seq[_index(node, ins[1], len(seq))]]


def _sequence_length(runner, node, ins, env, plans):
    return [np.array(len(_seq(node, ins[0])), np.int64)]


def _split_to_sequence(runner, node, ins, env, plans):
    x = _tensor(node, ins[0], "input 0")
    r = x.ndim
    axis = node.attrs.get("axis", 0)
    if r == 0 or not -r <= axis < r:
        raise _err(node, f"axis {axis} is out of range for an input of rank {r}")
    axis %= r
    n = x.shape[axis]
    split = ins[1] if len(ins) > 1 else None
    squeeze = False
    if split is None:
        sizes = [1] * n
        squeeze = not node.attrs.get("keepdims", 1)
    else:
        split = _tensor(node, split, "split")
        if split.dtype.kind not in "iu" or split.ndim > 1:
            raise _err(node, f"split must be an integer scalar or 1-D tensor, got {split.dtype} {split.shape}")
        if split.ndim == 0:
            s = int(split)
            if s <= 0:
                raise _err(node, f"split {s} must be positive")
            sizes = [s] * (n // s) + ([n % s] if n % s else [])
        else:
            sizes = [int(v) for v in split]
            if any(v < 0 for v in sizes) or sum(sizes) != n:
                raise _err(node, f"split {sizes} does not add up to the axis length {n}")
    if not sizes:
        return [[]]
    key = (x.dtype.char, x.shape, axis, tuple(sizes))
    plan = plans.get(key)
    if plan is None:
        outs = [(x.dtype, x.shape[:axis] + (s,) + x.shape[axis + 1:]) for s in sizes]
        plan = plans[key] = build_node_plan("Split", [x], {"axis": axis}, outs, num_threads=runner.threads,
                                            name=node.name, const_inputs=False, opset=13)[0]
    parts = list(plan.run([x]))
    if squeeze:
        parts = [p.reshape(p.shape[:axis] + p.shape[axis + 1:]) for p in parts]
    return [parts]


def _concat_from_sequence(runner, node, ins, env, plans):
    seq = _seq(node, ins[0])
    if not seq:
        raise _err(node, "cannot concatenate an empty sequence")
    new_axis = node.attrs.get("new_axis", 0)
    axis = node.attrs.get("axis")
    if axis is None:
        raise _err(node, "attribute 'axis' is required")
    r = seq[0].ndim + (1 if new_axis else 0)
    if not -r <= axis < r:
        raise _err(node, f"axis {axis} is out of range for rank {r}")
    axis %= r
    if new_axis:  # a view with a 1 inserted: no copy, the Concat routine does the work
        seq = [x.reshape(x.shape[:axis] + (1,) + x.shape[axis:]) for x in seq]
    first = seq[0]
    for k, x in enumerate(seq):
        if x.dtype != first.dtype or x.ndim != first.ndim or \
                any(a != b for d, (a, b) in enumerate(zip(x.shape, first.shape)) if d != axis):
            raise _err(node, f"element {k} ({x.dtype} {x.shape}) cannot be concatenated with element 0 "
                             f"({first.dtype} {first.shape}) along axis {axis}")
    shape = first.shape[:axis] + (sum(x.shape[axis] for x in seq),) + first.shape[axis + 1:]
    key = (first.dtype.char, axis, tuple(x.shape for x in seq))
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = build_node_plan("Concat", seq, {"axis": axis}, [(first.dtype, shape)],
                                            num_threads=runner.threads, name=node.name, const_inputs=False,
                                            opset=13)[0]
        if len(plans) > 64:  # shapes can differ every run (a growing sequence): keep the cache small
            plans.pop(next(iter(plans)))
    return [plan.run([np.require(x, requirements="C") for x in seq])[0]]


def _sequence_map(runner, node, ins, env, plans):
    body = runner._body(node, "body")
    formal = [v.name for v in body.g.inputs]
    if len(formal) != len(ins):
        raise _err(node, f"body has {len(formal)} inputs, the node has {len(ins)}")
    seq = _seq(node, ins[0])
    n = len(seq)
    for k, x in enumerate(ins):
        if x is ABSENT or x is None:
            raise _err(node, f"input {k} is missing or empty")
        if isinstance(x, list) and len(x) != n:
            raise _err(node, f"input sequences have different lengths ({n} and {len(x)})")
    outer = runner._outer(body, env)
    res = [[] for _ in node.outputs]
    for i in range(n):
        benv = dict(outer)
        benv.update(zip(formal, (x[i] if isinstance(x, list) else x for x in ins)))
        for acc, v in zip(res, body.run(benv)):
            acc.append(v)
    return res


def _optional(runner, node, ins, env, plans):
    if ins and ins[0] is not None:
        return [ins[0]]
    if "type" not in node.attrs:
        raise _err(node, "an Optional without an input needs the 'type' attribute")
    return [ABSENT]


def _optional_has_element(runner, node, ins, env, plans):
    return [np.array(bool(ins) and ins[0] is not None and ins[0] is not ABSENT)]


def _optional_get_element(runner, node, ins, env, plans):
    if not ins or ins[0] is None or ins[0] is ABSENT:
        raise _err(node, "the optional is empty")
    return [ins[0]]


def _identity(runner, node, ins, env, plans):
    return [ins[0]]


OPS = {"SequenceEmpty": _sequence_empty, "SequenceConstruct": _sequence_construct,
       "SequenceInsert": _sequence_insert, "SequenceErase": _sequence_erase, "SequenceAt": _sequence_at,
       "SequenceLength": _sequence_length, "SplitToSequence": _split_to_sequence,
       "ConcatFromSequence": _concat_from_sequence, "SequenceMap": _sequence_map, "Optional": _optional,
       "OptionalHasElement": _optional_has_element, "OptionalGetElement": _optional_get_element}
SEQUENCE_OPS = frozenset(OPS)


def stage(runner, pos):
    """The runner's stage for a sequence/optional op, or for Identity of a sequence or optional."""
    node = runner.nodes[pos]
    fn = OPS.get(node.op)
    if fn is None:
        if node.op != "Identity":
            raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : {node.where()}: its inputs must "
                                  "be tensors, not sequences or optionals")
        fn = _identity
    plans = {}

    def run(env):
        ins = [runner.lookup(env, i) if i else None for i in node.inputs]
        outs = fn(runner, node, ins, env, plans)
        env.update((o, v) for o, v in zip(node.outputs, outs) if o)
        return pos + 1
    return run
