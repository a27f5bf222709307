"""Lowering: a static, folded, fused graph -> the engine's Plan.

Feeds and graph outputs are bound to caller buffers (outputs are written in
place, no copy); every other produced tensor gets an arena slot from
memory_plan. A graph output that is a feed, a constant, or listed twice is
produced by an Identity copy step so each output buffer has one writer.
Concats whose inputs can be written in place become views (concat_alias); a
Reshape-like step's output, or a view Transpose's, shares its input's bytes
(byte_views); a conv's output may take its dying residual's slot (inplace_residual).
"""
import os

import numpy as np

from .. import _engine
from ..capi.onnxruntime_pybind11_state import NotImplemented as NotImpl
from .attrs import to_engine
from .dtypes import NP_TO_ONNX
from .adapt import PLAIN, insert_adapts
from .ir import Node
from .concat_alias import alias_concats, contiguous_parts
from .inplace_residual import residual_aliases
from .byte_views import byte_views
from .memory_plan import plan_memory
from .shapes import is_static

VIEW = "view"  # the executor's descriptor for a Concat already in place (Plan::kViewDescriptor)


def _copy_duplicate_outputs(g):
    produced = {o for n in g.nodes for o in n.outputs if o}
    seen = set()
    for k, v in enumerate(g.outputs):
        if v.name in produced and v.name not in seen:
            seen.add(v.name)
            continue
        alias = f"{v.name}__out{k}"
        g.nodes.append(Node("Identity", [v.name], [alias], {}, f"output_copy_{k}"))
        g.outputs[k] = type(v)(alias, v.elem_type, v.shape)
        seen.add(alias)


def _concat_views(g, types, layout_of, first, sizes):
    """The Concats whose inputs can be written in place (concat_alias), unless
    SNEP_CONCAT_VIEWS=0."""
    if os.environ.get("SNEP_CONCAT_VIEWS", "1") == "0":
        return {}, set()
    concats = []
    for n in g.nodes:
        if n.op != "Concat" or len(n.outputs) != 1 or not n.inputs:
            continue
        names = [n.outputs[0], *n.inputs]
        if not all(t in first for t in names):  # feeds, constants and graph outputs keep their own buffers
            continue
        lays = {layout_of.get(t, PLAIN) for t in names}
        dts = {types[t].elem_type for t in names}
        if len(lays) == 1 and len(dts) == 1 and contiguous_parts(n, {t: types[t].shape for t in names}, lays.pop()):
            concats.append(n)
    return alias_concats(concats, sizes)


def lower(g, types, feed_names, num_threads, routine_choice=None, shareable=False, share_from=None):
    """Returns (plan, output_names_in_plan_order). routine_choice: node name -> descriptor.
    shareable: the plan can lend its kernels (and take them) by Plan.share_kernels_from;
    share_from: such a plan of the same model, whose kernels this one takes where its
    steps match (two plans alive at once hold one copy of their common packed weights)."""
    routine_choice = routine_choice or {}
    _copy_duplicate_outputs(g)
    layout_of = insert_adapts(g, routine_choice)
    changed = True
    while changed:  # an adapt's input and output share one logical type (to a fixed point: a graph
        changed = False  # output held in another layout is known only by its last Reorder's output)
        for n in g.nodes:
            if n.op == "Reorder":
                src, dst = n.inputs[0], n.outputs[0]
                if src in types and dst not in types:
                    types[dst] = types[src]
                    changed = True
                elif dst in types and src not in types:
                    types[src] = types[dst]
                    changed = True
    for n in g.nodes:
        for o in n.outputs:
            if o and o not in types and n.op == "Identity":
                types[o] = types[n.inputs[0]]
    plan = _engine.Plan(num_threads)
    if shareable or share_from is not None:
        plan.enable_kernel_sharing()
    ids = {}
    for k, name in enumerate(feed_names):
        v = types[name]
        ids[name] = plan.add_input(v.elem_type, list(v.shape), k)
    out_index = {v.name: k for k, v in enumerate(g.outputs)}
    for name, k in out_index.items():
        v = types.get(name)
        if not is_static(v):
            raise NotImpl(f"the shape of output '{name}' cannot be determined statically")
        ids[name] = plan.add_output(v.elem_type, list(v.shape), k)

    # Liveness of intermediate tensors over step indices.
    first, last = {}, {}
    for s, n in enumerate(g.nodes):
        for i in n.inputs:
            if i in first:
                last[i] = s
        for o in n.outputs:
            if o and o not in ids and o not in g.initializers:
                first[o], last[o] = s, s
    sizes = {}
    for name in first:
        v = types.get(name)
        if not is_static(v):
            node = next(n for n in g.nodes if name in n.outputs)
            raise NotImpl(f"{node.where()}: the shape of '{name}' depends on data (not supported yet)")
        sizes[name] = _engine.physical_bytes(v.elem_type, list(v.shape), layout_of.get(name, PLAIN))
    placement, views = _concat_views(g, types, layout_of, first, sizes)
    for y, x in byte_views(g.nodes, routine_choice, first, layout_of, placement).items():
        if sizes[y] != sizes[x]:
            continue
        root, off = placement.get(x, (x, 0))  # steps in order: x is placed before y
        placement.setdefault(x, (root, off))
        placement[y] = (root, off)
    aliases = residual_aliases(g.nodes, routine_choice, first, last, sizes, layout_of, set(placement))
    for y in aliases:  # a chain (a block's output is the next block's residual) shares one root
        root = aliases[y]
        while root in aliases:
            root = aliases[root]
        placement[y] = placement[root] = (root, 0)
    spans = {k: (first[k], last[k], sizes[k]) for k in first if k not in placement}
    for name, (root, off) in placement.items():  # a root spans its members' lifetimes and bytes
        s0, e0, n0 = spans.get(root, (first[name], last[name], 0))
        spans[root] = (min(s0, first[name]), max(e0, last[name]), max(n0, off + sizes[name]))
    offsets, arena = plan_memory(spans)
    for name, (root, off) in placement.items():
        offsets[name] = offsets[root] + off
    for name, off in offsets.items():
        v = types[name]
        ids[name] = plan.add_arena_tensor(v.elem_type, list(v.shape), off, layout_of.get(name, PLAIN))
    plan.set_arena_bytes(arena)

    for n in g.nodes:
        ins = []
        for i in n.inputs:
            if not i:
                ins.append(-1)
            elif i in ids:
                ins.append(ids[i])
            elif i in g.initializers:
                arr = np.require(g.initializers[i], requirements="C")
                ids[i] = plan.add_constant(NP_TO_ONNX[arr.dtype], arr)
                ins.append(ids[i])
            else:
                raise NotImpl(f"{n.where()}: input '{i}' is not available")
        outs = [ids[o] for o in n.outputs if o]  # pipeline.name_skipped_outputs keeps positions
        attrs = to_engine(n.attrs)
        attrs["_opset"] = g.opset
        desc = VIEW if id(n) in views else routine_choice.get(n.name, "")
        plan.add_step(n.name, n.op, attrs, ins, outs, desc)
    if share_from is not None:
        plan.share_kernels_from(share_from)
    plan.finalize()
    return plan, [v.name for v in g.outputs]

