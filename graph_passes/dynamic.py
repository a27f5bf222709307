"""Graphs that one static plan cannot run: shapes that depend on data, and
control flow (If, Loop, Scan).

    specialize_any(graph, input_shapes, num_threads, ...) -> Specialized

A static graph gets pipeline.specialize's one plan. Otherwise a Runner walks
the graph in *stages*. From position ``pos`` (in topological order), with the
concrete arrays of every tensor live there, onnx shape inference over the
remaining nodes says how far shapes are static: that maximal run of nodes is
compiled by pipeline.specialize into an ordinary plan (folded, fused, lowered)
and run. A node that stops the run is run on its own: control flow iterates
its bodies (each body is a Runner too, so a Scan body's plan is compiled once
per shape and reused every iteration), NonZero/Compress/Unique/
NonMaxSuppression run their C++ "bounded" routines (an upper-bound-sized
output plus the real count, which is sliced here), any other op gets a
one-node plan whose output shapes onnx infers from the concrete inputs.
Sequence/optional ops, and nodes that read a sequence or optional (Identity),
also run alone: see graph_passes/sequences.py.

Stages are cached by (pos, dtype and shape of every live tensor, values of
the small live tensors that decide shapes); a cache hit costs a dict lookup,
so repeated runs (and loop iterations) do no inference and no compiling.
All compute is in the engine's routines; numpy here only slices, stacks and
reads loop conditions.
"""
import threading
from collections import OrderedDict

import numpy as np
import onnx
from onnx import numpy_helper

from ..capi.onnxruntime_pybind11_state import Fail, InvalidArgument, InvalidGraph, NotImplemented as NotImpl
from .attrs import node_attrs
from .dtypes import NP_TO_ONNX, np_dtype
from .ir import Graph, Node, Value
from .node_eval import build_node_plan, infer_outputs
from .pipeline import SHAPE_OPERANDS, DataDependentShape, Specialized, specialize
from .sequences import ABSENT, SEQUENCE_OPS, is_tensor
from .sequences import stage as sequence_stage
from .shapes import infer_static, is_static

CONTROL_FLOW = {"If", "Loop", "Scan"}
SUBGRAPH_OPS = CONTROL_FLOW | {"SequenceMap"}
BOUNDED = {"NonZero": "NonZeroBounded", "Compress": "CompressBounded", "Unique": "UniqueBounded",
           "NonMaxSuppression": "NonMaxSuppressionBounded"}
DYNAMIC_ONLY = CONTROL_FLOW | {"Unique", "NonMaxSuppression"} | SEQUENCE_OPS  # always run here
MAX_VALUE = 64  # elements: live tensors up to this size that decide shapes are specialised on
STAGE_CACHE = 256
# Ops through which a tensor's value flows into a shape operand (Shape/Size
# only need their input's shape, which stages always know).
VALUE_FLOW = {"Cast", "CastLike", "Add", "Sub", "Mul", "Div", "Mod", "Neg", "Abs", "Floor", "Ceil", "Round",
              "Max", "Min", "Concat", "Gather", "Unsqueeze", "Squeeze", "Slice", "Reshape", "Identity", "Where",
              "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Sign", "Clip",
              "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "Sqrt", "Pow", "Expand", "Flatten",
              "Transpose", "Tile", "ConstantOfShape", "Range", "Sum", "Mean", "Reciprocal"}


def _range_output(inputs):
    start, limit, delta = (float(_scalar(x, "Range operand")) for x in inputs)
    n = max(int(np.ceil((limit - start) / delta)), 0) if delta != 0 else 0
    return [(inputs[0].dtype, (n,))]


# Output shapes of ops onnx's inference does not resolve for every dtype (Range on float16).
OUTPUT_SHAPES = {"Range": _range_output}


# ---- subgraphs ------------------------------------------------------------------

def subgraph_attrs(attrs):
    out = []
    for v in attrs.values():
        if isinstance(v, onnx.GraphProto):
            out.append(v)
        elif isinstance(v, list):
            out.extend(x for x in v if isinstance(x, onnx.GraphProto))
    return out


def free_vars(gp):
    """Names a GraphProto (and graphs nested in it) reads from enclosing scopes."""
    defined = {v.name for v in gp.input} | {t.name for t in gp.initializer}
    defined |= {t.values.name for t in gp.sparse_initializer}
    used = set()
    for n in gp.node:
        used.update(i for i in n.input if i)
        for a in n.attribute:
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                used |= free_vars(g)
        defined.update(o for o in n.output if o)
    return used - defined


def implicit_inputs(node):
    names = set()
    for gp in subgraph_attrs(node.attrs):
        names |= free_vars(gp)
    return names


def _body_value(vi):
    """Subgraph inputs/outputs may leave their type out (function-expanded bodies do)."""
    from .load import _value
    if vi.type.WhichOneof("value") is None:
        return Value(vi.name, 0, None)
    return _value(vi)


def body_graph(gp, opset):
    """A subgraph as an ir.Graph: its formal inputs are the graph inputs;
    outer-scope names it reads are supplied by the caller at run time."""
    if gp.sparse_initializer:
        raise NotImpl(f"subgraph '{gp.name}': sparse initializers are not supported")
    nodes = []
    for k, n in enumerate(gp.node):
        if n.domain not in ("", "ai.onnx"):
            raise NotImpl(f"[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for "
                          f"{n.op_type} node with name '{n.name}' (domain '{n.domain}' is not supported)")
        nodes.append(Node(n.op_type, list(n.input), list(n.output), node_attrs(n),
                          n.name or f"{gp.name}/{n.op_type}_{k}"))
    inits = {t.name: numpy_helper.to_array(t) for t in gp.initializer}
    return Graph(nodes=nodes, initializers=inits, inputs=[_body_value(v) for v in gp.input],
                 outputs=[_body_value(v) for v in gp.output], opset=opset)


def check_control_flow(node, opset, supported):
    """Load-time checks of a control-flow node: body signatures (Fail, as
    onnxruntime's graph resolution reports them) and the ops inside
    (NotImplemented), recursively."""
    a = node.attrs
    where = node.where()

    def need(cond, msg):
        if not cond:
            raise Fail(f"[ONNXRuntimeError] : 1 : FAIL : {where}: {msg}")

    if node.op == "If":
        for key in ("then_branch", "else_branch"):
            need(isinstance(a.get(key), onnx.GraphProto), f"attribute '{key}' is missing")
            need(len(a[key].output) == len(node.outputs),
                 f"{key} has {len(a[key].output)} outputs, the node has {len(node.outputs)}")
    elif node.op == "Loop":
        body = a.get("body")
        need(isinstance(body, onnx.GraphProto), "attribute 'body' is missing")
        n_carried = max(0, len(node.inputs) - 2)
        need(len(body.input) == 2 + n_carried,
             f"body has {len(body.input)} inputs, expected {2 + n_carried} (iteration, condition, carried)")
        need(len(body.output) >= 1 + n_carried and len(body.output) - 1 == len(node.outputs),
             f"body has {len(body.output)} outputs, expected 1 + {len(node.outputs)} (condition, carried, scans)")
    elif node.op == "Scan":
        body = a.get("body")
        need(isinstance(body, onnx.GraphProto), "attribute 'body' is missing")
        m = a.get("num_scan_inputs")
        need(isinstance(m, int) and m >= 1, "attribute 'num_scan_inputs' must be at least 1")
        n_in = len(node.inputs) - (1 if opset < 9 else 0)
        n_state = n_in - m
        need(n_state >= 0, "fewer inputs than num_scan_inputs")
        need(len(body.input) == n_in, f"body has {len(body.input)} inputs, expected {n_in}")
        need(len(body.output) == len(node.outputs) and len(body.output) >= n_state,
             f"body has {len(body.output)} outputs, the node has {len(node.outputs)}")
    for gp in subgraph_attrs(a):
        for n in gp.node:
            sub = Node(n.op_type, list(n.input), list(n.output), node_attrs(n), n.name)
            if n.op_type not in supported:
                raise NotImpl(f"[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for "
                              f"{n.op_type}({opset}) node with name '{n.name}'")
            if n.op_type in SUBGRAPH_OPS:
                check_control_flow(sub, opset, supported)


# ---- the runner -------------------------------------------------------------------

def _scalar(a, what):
    a = np.asarray(a)
    if a.size != 1:
        raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : {what} must have one element, "
                              f"got shape {a.shape}")
    return a.reshape(-1)[0]


def _contig(a):
    # np.require keeps 0-d arrays 0-d (np.ascontiguousarray does not); most arrays need nothing
    if not is_tensor(a):  # a sequence or optional (Loop-carried, say)
        return a
    return a if a.flags.c_contiguous else np.require(a, requirements="C")


class _Segment:
    """A stage that runs nodes [pos, end) as one compiled plan."""
    __slots__ = ("runner", "end", "plan", "feed_names", "names")

    def __init__(self, runner, end, plan, feed_names, names):
        self.runner, self.end, self.plan, self.feed_names, self.names = runner, end, plan, feed_names, names

    def __call__(self, env):
        feeds = []
        for k in self.feed_names:
            a = env.get(k)
            feeds.append(_contig(a if a is not None else self.runner.lookup(env, k)))
        env.update(zip(self.names, self.plan.run(feeds)))
        return self.end


class _Direct:
    """A loop body that one compiled plan runs whole: iterations call the plan
    directly (no stage key, no env), for as long as the formal inputs keep the
    dtypes and shapes it was built for."""

    def __init__(self, body, seg, env, formal):
        self.plan = seg.plan
        self.sig = [(env[f].dtype, env[f].shape) for f in formal]
        fidx = {f: k for k, f in enumerate(formal)}
        self.feeds = [(fidx[k], None) if k in fidx else (-1, _contig(body.lookup(env, k))) for k in seg.feed_names]
        opos = {n: k for k, n in enumerate(seg.names)}
        # each output: (0, plan output index) | (1, formal input index) | (2, fixed array)
        self.outs = [(0, opos[o]) if o in opos else (1, fidx[o]) if o in fidx else (2, body.lookup(env, o))
                     for o in body.out_names]

    def matches(self, vals):
        return all(a.dtype == d and a.shape == s for a, (d, s) in zip(vals, self.sig))

    def run(self, vals):
        res = self.plan.run([_contig(vals[i]) if i >= 0 else c for i, c in self.feeds])
        return [res[k] if kind == 0 else vals[k] if kind == 1 else k for kind, k in self.outs]


def _run_body(body, outer, formal, vals, direct):
    """One iteration: (outputs, the _Direct to use next time or None)."""
    if direct is not None and direct.matches(vals):
        return direct.run(vals), direct
    benv = dict(outer)
    benv.update(zip(formal, vals))
    outs = body.run(benv)
    return outs, body.direct(benv)


class Runner:
    """Runs one graph (the model's, or a body) on concrete arrays."""

    def __init__(self, graph, num_threads, optimize=True, tune_options=None, cache=None):
        """tune_options/cache: tuning for this graph's segments (bodies run default routines:
        a loop may compile a plan per iteration)."""
        self.g = graph
        self.threads = num_threads
        self.optimize = optimize
        self.tune = (tune_options, cache)
        self.inits = graph.initializers
        self.out_names = [v.name for v in graph.outputs]
        self.uses = [[i for i in n.inputs if i] + sorted(implicit_inputs(n) if n.op in SUBGRAPH_OPS else ())
                     for n in graph.nodes]
        self._prune()
        nodes = self.nodes
        needed = set(self.out_names)
        live = [None] * (len(nodes) + 1)
        live[len(nodes)] = sorted(needed - set(self.inits))
        for pos in range(len(nodes) - 1, -1, -1):
            needed = (needed - set(nodes[pos].outputs)) | set(self.uses[pos])
            live[pos] = sorted(needed - set(self.inits))
        self.live = live
        self.value_needed = self._value_needed()
        self.used_names = {i for u in self.uses for i in u} | set(self.out_names)
        self.stages = OrderedDict()
        self.bodies = {}
        self.lock = threading.Lock()

    def _prune(self):
        needed = set(self.out_names)
        keep = []
        for k in range(len(self.g.nodes) - 1, -1, -1):
            n = self.g.nodes[k]
            if any(o in needed for o in n.outputs if o):
                keep.append(k)
                needed.update(self.uses[k])
        keep.reverse()
        self.nodes = [self.g.nodes[k] for k in keep]
        self.uses = [self.uses[k] for k in keep]

    def _value_needed(self):
        names = set()
        for n in self.nodes:
            for k in SHAPE_OPERANDS.get(n.op, ()):
                if k < len(n.inputs) and n.inputs[k]:
                    names.add(n.inputs[k])
        producer = {o: n for n in self.nodes for o in n.outputs if o}
        todo = list(names)
        while todo:
            n = producer.get(todo.pop())
            if n is not None and n.op in VALUE_FLOW:
                for i in n.inputs:
                    if i and i not in names:
                        names.add(i)
                        todo.append(i)
        return names

    def lookup(self, env, name):
        v = env.get(name)
        if v is None:
            v = self.inits.get(name)
        if v is None:
            raise Fail(f"[ONNXRuntimeError] : 1 : FAIL : tensor '{name}' is not available")
        return v

    def _key(self, pos, env):
        parts = [pos]
        needed = self.value_needed
        for name in self.live[pos]:
            a = env.get(name)
            if a is None:
                a = self.lookup(env, name)
            if not is_tensor(a):  # sequence/optional stages read them at run time, whatever their contents
                parts.append("S" if isinstance(a, list) else "O")
                continue
            parts.append(a.dtype.char)
            parts.append(a.shape)
            if name in needed and a.size <= MAX_VALUE:
                parts.append(a.tobytes())
        return tuple(parts)

    def run(self, env):
        """env: name -> array for the graph inputs and outer-scope names; returns the outputs."""
        pos = 0
        n = len(self.nodes)
        while pos < n:
            key = self._key(pos, env)
            stage = self.stages.get(key)
            if stage is None:
                with self.lock:
                    stage = self.stages.get(key) or self._build(pos, env)
                    self.stages[key] = stage
                    if len(self.stages) > STAGE_CACHE:
                        self.stages.popitem(last=False)
            pos = stage(env)
        return [self.lookup(env, name) for name in self.out_names]

    # ---- building stages ----------------------------------------------------------
    def _build(self, pos, env):
        node = self.nodes[pos]
        if node.op in CONTROL_FLOW:
            return getattr(self, f"_stage_{node.op.lower()}")(pos)
        if node.op in SEQUENCE_OPS or self._reads_container(pos, env):
            return sequence_stage(self, pos)
        if node.op in BOUNDED:
            return self._stage_bounded(pos)
        end = self._static_end(pos, env)
        if end == pos:
            return self._stage_single(pos)
        return self._stage_segment(pos, end, env)

    def _split_live(self, pos, env, used):
        """Live tensors the nodes use, split into (fed arrays by name, value-specialised constants)."""
        feeds, consts = {}, {}
        for name in self.live[pos]:
            if name not in used:
                continue
            a = self.lookup(env, name)
            if name in self.value_needed and a.size <= MAX_VALUE:
                consts[name] = np.array(a)
            else:
                feeds[name] = a
        return feeds, consts

    def _subgraph(self, pos, end, env, outputs=()):
        nodes = self.nodes[pos:end]
        used = {i for k in range(pos, end) for i in self.uses[k]}
        feeds, consts = self._split_live(pos, env, used)
        inits = {k: v for k, v in self.inits.items() if k in used}
        inits.update(consts)
        inputs = [Value(k, NP_TO_ONNX[a.dtype], tuple(a.shape)) for k, a in feeds.items()]
        g = Graph(nodes=[Node(n.op, list(n.inputs), list(n.outputs), dict(n.attrs), n.name, n.domain)
                         for n in nodes],
                  initializers=inits, inputs=inputs, outputs=list(outputs), opset=self.g.opset)
        return g, feeds

    def _reads_container(self, pos, env):
        return any(i in env and not is_tensor(env[i]) for i in self.uses[pos])

    def _static_end(self, pos, env):
        limit = pos
        stop = CONTROL_FLOW | set(BOUNDED) | SEQUENCE_OPS
        while limit < len(self.nodes) and self.nodes[limit].op not in stop and not self._reads_container(limit, env):
            limit += 1
        if limit == pos:
            return pos
        g, _ = self._subgraph(pos, limit, env)
        try:
            types = infer_static(g, {})
        except InvalidGraph:
            return pos
        used = self.used_names
        end = pos
        # outputs nobody reads are dropped by specialize (all but the first), so their shapes do not matter
        while end < limit and all(is_static(types.get(o)) for k, o in enumerate(self.nodes[end].outputs)
                                  if o and (k == 0 or o in used)):
            end += 1
        return end

    def _stage_segment(self, pos, end, env):
        produced = {o for n in self.nodes[pos:end] for o in n.outputs if o}
        later = set(self.live[end]) | set(self.out_names)
        out_names = sorted(produced & later)
        g, feeds = self._subgraph(pos, end, env)
        types = infer_static(g, {})
        g.outputs = [Value(o, types[o].elem_type, types[o].shape) for o in out_names]
        if not g.outputs:
            return lambda env: end
        spec = specialize(g, {k: tuple(a.shape) for k, a in feeds.items()}, self.threads, optimize=self.optimize,
                          tune_options=self.tune[0], cache=self.tune[1])
        # plan outputs keep g.outputs' order (lower may rename them)
        return _Segment(self, end, spec.plan, [v.name for v in spec.graph.inputs], out_names)

    def direct(self, env):
        """A _Direct for this body when, for the tensors in env, one compiled
        segment runs all of it and no formal input's value is specialised on."""
        formal = [v.name for v in self.g.inputs]
        if not self.nodes or any(f in self.value_needed or not is_tensor(env.get(f)) for f in formal):
            return None
        stage = self.stages.get(self._key(0, env))
        if not isinstance(stage, _Segment) or stage.end != len(self.nodes):
            return None
        return _Direct(self, stage, env, formal)

    def _node_plan(self, node, inputs, outputs, op=None):
        plan, _ = build_node_plan(op or node.op, inputs, node.attrs, outputs, num_threads=self.threads,
                                  name=node.name, const_inputs=False, opset=self.g.opset)
        return plan

    def _stage_single(self, pos):
        """Any op whose output shapes onnx infers from its concrete inputs; plans
        are cached by those shapes."""
        node = self.nodes[pos]
        plans = {}

        def run(env):
            inputs = [self.lookup(env, i) if i else None for i in node.inputs]
            try:
                if node.op in OUTPUT_SHAPES:
                    outputs = OUTPUT_SHAPES[node.op](inputs)
                else:
                    outputs = infer_outputs(node.op, inputs, node.attrs, len(node.outputs), opset=self.g.opset)
            except Fail:
                raise NotImpl(f"{node.where()}: the shape of its outputs cannot be determined even from "
                              "concrete inputs") from None
            key = (tuple((x.dtype.char, x.shape) if x is not None else None for x in inputs), tuple(outputs))
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = self._node_plan(node, inputs, outputs)
            outs = plan.run([_contig(x) for x in inputs if x is not None])
            env.update((o, v) for o, v in zip(node.outputs, outs) if o)
            return pos + 1
        return run

    # ---- data-dependent output sizes -------------------------------------------------------
    def _stage_bounded(self, pos):
        node = self.nodes[pos]
        op = node.op
        a = node.attrs
        plans = {}

        def specs(inputs):
            x = inputs[0]
            cnt = (np.int64, (1,))
            if op == "NonZero":
                return [(np.int64, (max(1, x.ndim), x.size)), cnt]
            if op == "Compress":
                return [(x.dtype, x.shape if "axis" in a else (x.size,)), cnt]
            if op == "Unique":
                n = x.shape[a["axis"]] if "axis" in a else x.size
                y = x.shape if "axis" in a else (x.size,)
                return [(x.dtype, y), (np.int64, (n,)), (np.int64, (n,)), (np.int64, (n,)), cnt]
            b, s, c = x.shape[0], x.shape[1], inputs[1].shape[1]
            return [(np.int64, (b * c * s, 3)), cnt]

        def run(env):
            inputs = [self.lookup(env, i) if i else None for i in node.inputs]
            while inputs and inputs[-1] is None:
                inputs.pop()
            outputs = specs(inputs)
            key = tuple((x.dtype.char, x.shape) if x is not None else None for x in inputs)
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = self._node_plan(node, inputs, outputs, op=BOUNDED[op])
            outs = plan.run([_contig(x) for x in inputs if x is not None])
            m = int(outs[-1][0])
            if op == "NonZero":
                res = [outs[0][:, :m]]
            elif op == "Compress":
                ax = a.get("axis")
                res = [outs[0][:m] if ax is None else outs[0][(slice(None),) * (ax % inputs[0].ndim) + (slice(0, m),)]]
            elif op == "Unique":
                ax = a.get("axis")
                y = outs[0][:m] if ax is None else outs[0][(slice(None),) * (ax % inputs[0].ndim) + (slice(0, m),)]
                res = [y, outs[1][:m], outs[2], outs[3][:m]]
            else:
                res = [outs[0][:m]]
            env.update((o, _contig(v)) for o, v in zip(node.outputs, res) if o)
            return pos + 1
        return run

    # ---- control flow ------------------------------------------------------------------
    def _body(self, node, attr):
        key = (node.name, attr)
        r = self.bodies.get(key)
        if r is None:
            r = self.bodies[key] = Runner(body_graph(node.attrs[attr], self.g.opset), self.threads, self.optimize)
        return r

    def _outer(self, body, env):
        """The outer-scope values a body reads (its live inputs that are not its formal inputs)."""
        formal = {v.name for v in body.g.inputs}
        return {k: self.lookup(env, k) for k in body.live[0] if k not in formal}

    def _stage_if(self, pos):
        node = self.nodes[pos]

        def run(env):
            cond = bool(_scalar(self.lookup(env, node.inputs[0]), f"{node.where()}: cond"))
            body = self._body(node, "then_branch" if cond else "else_branch")
            outs = body.run(self._outer(body, env))
            env.update((o, v) for o, v in zip(node.outputs, outs) if o)
            return pos + 1
        return run

    def _stage_loop(self, pos):
        node = self.nodes[pos]
        ins = node.inputs + [""] * (2 - len(node.inputs))
        n_carried = len(node.inputs) - 2

        def run(env):
            body = self._body(node, "body")
            formal = [v.name for v in body.g.inputs]
            trip = int(_scalar(self.lookup(env, ins[0]), f"{node.where()}: M")) if ins[0] else None
            cond = bool(_scalar(self.lookup(env, ins[1]), f"{node.where()}: cond")) if ins[1] else None
            if trip is None and cond is None:
                raise Fail(f"[ONNXRuntimeError] : 1 : FAIL : {node.where()}: neither a trip count nor a "
                           "condition: the loop would never end")
            carried = [self.lookup(env, i) for i in node.inputs[2:]]
            outer = self._outer(body, env)
            scans = None
            i = 0
            direct = None
            while (trip is None or i < trip) and (cond is None or cond):
                vals = [np.array(i, np.int64), np.array(True if cond is None else cond)] + list(carried)
                outs, direct = _run_body(body, outer, formal, vals, direct)
                if ins[1]:
                    cond = bool(_scalar(outs[0], f"{node.where()}: body condition"))
                carried = outs[1:1 + n_carried]
                if scans is None:
                    scans = [[] for _ in outs[1 + n_carried:]]
                for k, v in enumerate(outs[1 + n_carried:]):
                    if k < len(scans):
                        if scans[k] and v.shape != scans[k][0].shape:
                            raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : {node.where()}: "
                                                  f"scan output {k} changes shape between iterations")
                        scans[k].append(v)
                i += 1
            res = list(carried)
            for k, v in enumerate(body.g.outputs[1 + n_carried:]):
                if scans and scans[k]:
                    res.append(np.stack(scans[k]))
                else:
                    shape = v.shape if v.shape is not None and all(isinstance(d, int) for d in v.shape) else ()
                    res.append(np.zeros((0,) + tuple(shape), np_dtype(v.elem_type)))
            env.update((o, _contig(v)) for o, v in zip(node.outputs, res) if o)
            return pos + 1
        return run

    def _stage_scan(self, pos):
        node = self.nodes[pos]
        a = node.attrs
        m = a["num_scan_inputs"]
        v8 = self.g.opset < 9
        inputs = node.inputs[1:] if v8 else node.inputs
        n_state = len(inputs) - m

        def scan_once(body, outer, states, xs, in_axes, in_dirs, out_axes, out_dirs):
            formal = [v.name for v in body.g.inputs]
            lengths = {x.shape[ax] for x, ax in zip(xs, in_axes)}
            if len(lengths) != 1:
                raise InvalidArgument(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : {node.where()}: scan inputs "
                                      f"have different sequence lengths {sorted(lengths)}")
            T = lengths.pop()
            ys = [[] for _ in range(len(body.out_names) - n_state)]
            lead = [(slice(None),) * ax for ax in in_axes]
            direct = None
            for t in range(T):
                vals = list(states) + [_contig(x[lead[k] + (T - 1 - t if in_dirs[k] else t,)]) for k, x in enumerate(xs)]
                outs, direct = _run_body(body, outer, formal, vals, direct)
                states = outs[:n_state]
                for k, y in enumerate(outs[n_state:]):
                    ys[k].append(y)
            res = list(states)
            for k, y in enumerate(ys):
                v = body.g.outputs[n_state + k]
                if not y:
                    shape = v.shape if v.shape is not None and all(isinstance(d, int) for d in v.shape) else ()
                    res.append(np.zeros((0,) + tuple(shape), np_dtype(v.elem_type)))
                    continue
                if out_dirs[k]:
                    y = y[::-1]
                ax = out_axes[k] % (y[0].ndim + 1)
                res.append(np.stack(y, axis=ax))
            return res

        def axes(name, n, rank_of):
            vals = list(a.get(name, [0] * n))
            if len(vals) != n:
                raise InvalidGraph(f"[ONNXRuntimeError] : 10 : INVALID_GRAPH : {node.where()}: '{name}' needs "
                                   f"{n} values")
            return [v % rank_of(k) if rank_of else v for k, v in enumerate(vals)]

        def run(env):
            body = self._body(node, "body")
            outer = self._outer(body, env)
            states = [self.lookup(env, i) for i in inputs[:n_state]]
            xs = [self.lookup(env, i) for i in inputs[n_state:]]
            k_out = len(body.out_names) - n_state
            if not v8:
                in_axes = axes("scan_input_axes", m, lambda k: xs[k].ndim)
                in_dirs = axes("scan_input_directions", m, None)
                out_axes = axes("scan_output_axes", k_out, None)
                out_dirs = axes("scan_output_directions", k_out, None)
                res = scan_once(body, outer, states, xs, in_axes, in_dirs, out_axes, out_dirs)
            else:
                dirs = axes("directions", m, None)
                lens = self.lookup(env, node.inputs[0]) if node.inputs and node.inputs[0] else None
                batch = xs[0].shape[0]
                if lens is not None and np.any(np.asarray(lens) != xs[0].shape[1]):
                    raise NotImpl(f"{node.where()}: sequence_lens shorter than the sequence are not supported")
                per = [scan_once(body, outer, [s[b] for s in states], [x[b] for x in xs], [0] * m, dirs,
                                 [0] * k_out, [0] * k_out) for b in range(batch)]
                res = [np.stack([p[k] for p in per]) for k in range(n_state + k_out)]
            env.update((o, _contig(v)) for o, v in zip(node.outputs, res) if o)
            return pos + 1
        return run


# ---- the session's hook -------------------------------------------------------------

class DynamicPlan:
    """What the session calls in place of a static plan (run / run_profiled / step_routines)."""

    def __init__(self, runner, feed_names):
        self.runner = runner
        self.feed_names = feed_names
        produced = {o for n in runner.nodes for o in n.outputs if o}
        # outputs that are feeds or constants are copied, as a static plan's Identity step does
        self.copied = [k for k, name in enumerate(runner.out_names) if name not in produced]
        # sequence glue (and bodies) pass arrays through: outputs may be feeds or initializers
        self.pass_through = any(n.op in SEQUENCE_OPS or n.op in SUBGRAPH_OPS for n in runner.nodes) or \
            any(v.container for v in runner.g.inputs)
        self.init_ids = {id(a) for a in runner.inits.values()}

    def run(self, arrays):
        outs = self.runner.run({n: ABSENT if a is None else a for n, a in zip(self.feed_names, arrays)})
        for k in self.copied:
            if is_tensor(outs[k]):
                outs[k] = np.array(outs[k])
        if not self.pass_through:
            return outs
        # copy any output array that is a feed or an initializer: the caller may write to it
        shared = self.init_ids | {id(a) for a in arrays if is_tensor(a)}
        shared |= {id(e) for a in arrays if isinstance(a, list) for e in a}
        for k, v in enumerate(outs):
            if v is ABSENT:
                outs[k] = None
            elif isinstance(v, list):
                outs[k] = [np.array(e) if id(e) in shared else e for e in v]
            elif id(v) in shared:
                outs[k] = np.array(v)
        return outs

    def run_profiled(self, arrays):
        import time
        t0 = time.perf_counter()
        outs = self.run(arrays)
        return outs, [(time.perf_counter() - t0) * 1e6]

    def step_routines(self):
        return [("dynamic", "dynamic", "python/dynamic")]


def needs_dynamic(graph):
    return any(n.op in DYNAMIC_ONLY for n in graph.nodes) or any(v.container for v in graph.inputs + graph.outputs)


def specialize_dynamic(graph, input_shapes, num_threads, optimize=True, input_values=None, tune_options=None,
                       cache=None):
    g = graph.copy()
    for name, value in (input_values or {}).items():
        g.initializers[name] = np.array(value)
        g.inputs = [v for v in g.inputs if v.name != name]
    for v in graph.overridable:
        if v.name in input_shapes:
            g.initializers.pop(v.name)
            g.inputs.append(v)
    runner = Runner(g, num_threads, optimize, tune_options, cache)
    return Specialized(DynamicPlan(runner, [v.name for v in g.inputs]), list(runner.out_names), g, None, {})


def specialize_any(graph, input_shapes, num_threads, optimize=True, input_values=None, **kwargs):
    """pipeline.specialize when the graph is static for these shapes, else a dynamic runner."""
    if not needs_dynamic(graph):
        try:
            return specialize(graph, input_shapes, num_threads, optimize=optimize, input_values=input_values,
                              **kwargs)
        except DataDependentShape:
            pass
    return specialize_dynamic(graph, input_shapes, num_threads, optimize, input_values,
                              kwargs.get("tune_options"), kwargs.get("cache"))
