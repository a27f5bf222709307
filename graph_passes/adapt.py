"""Adapt insertion: after tuning, every tensor lives in the layout its
producer's routine writes; a consumer whose routine reads another layout gets
a Reorder step (the engine's adapt op), inserted once per (tensor, layout) just
before the first consumer that needs it, and shared by every consumer needing
that layout. Graph inputs arrive and graph outputs leave in ONNX's own layout.

    insert_adapts(g, routine_choice) -> {tensor name: layout}
"""
from .ir import Node

PLAIN = "nchw"


LAYOUT_NAMES = frozenset({"nchw", "nhwc", "nchw8c", "nchw16c"})


def descriptor_head(desc):
    """'cpu:float32:nchw/winograd_f43/t2' -> (device, dtype, layout), None where absent. A
    dtype-generic routine names its layout in the dtype's place ('cpu:nchw/direct')."""
    head = (desc or "").split("/", 1)[0].split(":")
    device = head[0]
    dtype = head[1] if len(head) > 1 else None
    layout = head[2] if len(head) > 2 else None
    if layout is None and dtype is not None and all(x in LAYOUT_NAMES for x in dtype.split(">")):
        dtype, layout = None, dtype
    return device, dtype, layout


def io_layouts(desc):
    """(layout read, layout written) by a routine, from its descriptor
    (DEVICE[:DTYPE][:LAYOUT]/...); LAYOUT is one layout for both, or IN>OUT
    (cpu:float32:nchw>nchw16c/direct reads NCHW and writes NCHW16c)."""
    return split_layout(descriptor_head(desc)[2])


def split_layout(field):
    """A descriptor's LAYOUT field ('nchw16c', 'nchw>nchw16c', None) -> (read, written)."""
    lin, _, lout = (field or PLAIN).partition(">")
    return lin, lout or lin


def insert_adapts(g, routine_choice):
    constants = set(g.initializers)
    layout_of = {v.name: PLAIN for v in g.inputs}
    renamed = {}     # (tensor, layout) -> name of the converted copy
    out = []
    for n in g.nodes:
        want, writes = io_layouts(routine_choice.get(n.name, ""))
        new_inputs = []
        for t in n.inputs:
            if not t or t in constants or layout_of.get(t, PLAIN) == want:
                new_inputs.append(t)
                continue
            key = (t, want)
            if key not in renamed:
                name = f"{t}__{want}"
                out.append(Node("Reorder", [t], [name], {}, f"reorder_{t}_{want}"))
                renamed[key] = name
                layout_of[name] = want
            new_inputs.append(renamed[key])
        n.inputs = new_inputs
        out.append(n)
        for o in n.outputs:
            if o:
                layout_of[o] = writes
    # Graph outputs leave in ONNX's layout: the producer writes a private name, a Reorder writes the output.
    for v in g.outputs:
        lay = layout_of.get(v.name, PLAIN)
        if lay == PLAIN:
            continue
        private = f"{v.name}__{lay}"
        for n in out:
            n.outputs = [private if o == v.name else o for o in n.outputs]
            n.inputs = [private if i == v.name else i for i in n.inputs]
        out.append(Node("Reorder", [private], [v.name], {}, f"reorder_{v.name}_out"))
        layout_of[private] = lay
        layout_of[v.name] = PLAIN
    g.nodes = out
    return layout_of
