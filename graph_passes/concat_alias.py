"""Concat without copies: the producers of a Concat's inputs write straight
into their places in its output, and the Concat becomes a "view" step that
does nothing (the executor checks the placement when the plan is built).

An input's bytes are one contiguous range of the output when nothing outside
the concat axis varies faster in memory than it: in NCHW, every dimension
before the axis is 1; in a channel-blocked layout (batch 1), every input but
the last fills whole blocks. Chains are merged: DenseNet's Concat([x, y1]),
Concat([x, y1, y2]), ... all become prefixes of the block's last Concat, so
each feature map is written once and never copied.

    alias_concats(concats, nbytes) -> ({tensor: (root, byte offset)}, ids of view Concats)
"""
from .adapt import PLAIN
from .memory_plan import ALIGN

BLOCK = {"nchw8c": 8, "nchw16c": 16}


def contiguous_parts(node, shapes, layout):
    """Whether each input of this Concat is one contiguous byte range of its output."""
    out = shapes[node.outputs[0]]
    r = len(out)
    axis = node.attrs.get("axis", 0)
    axis = axis + r if axis < 0 else axis
    if not 0 <= axis < r:
        return False
    if layout == PLAIN:
        outer = 1
        for d in out[:axis]:
            outer *= d
        return outer == 1
    if layout in BLOCK:
        if r < 2 or out[0] != 1 or axis != 1:
            return axis == 0
        return all(shapes[i][1] % BLOCK[layout] == 0 for i in node.inputs[:-1])
    return False  # nhwc: channels interleave per pixel


class _Placement:
    """Union-find with offsets: each tensor lies at (root, byte offset)."""

    def __init__(self):
        self.parent = {}

    def find(self, t):
        path, off = [], 0
        while t in self.parent:
            p, o = self.parent[t]
            path.append((t, off))
            off += o
            t = p
        for u, before in path:  # compress: u lies at (root, off - before)
            self.parent[u] = (t, off - before)
        return t, off

    def copy(self):
        c = _Placement()
        c.parent = dict(self.parent)
        return c


def alias_concats(concats, nbytes):
    """concats: eligible Concat nodes in step order; nbytes: tensor -> physical
    bytes (every input and output of these concats is written by a step into the
    arena). Returns the placement of every aliased tensor and the ids of
    the Concat nodes that became views. A Concat is left as a copy when its
    placement contradicts an earlier one or would overlap two written tensors."""
    place = _Placement()
    views = set()
    for node in concats:
        trial = place.copy()
        ok = _merge(trial, node, nbytes)
        if ok and _leaves_disjoint(trial, node, nbytes, views | {id(node)}, concats):
            place = trial
            views.add(id(node))
    members = {t for n in concats if id(n) in views for t in [n.outputs[0], *n.inputs]}
    return {t: place.find(t) for t in members}, views


def _merge(pl, node, nbytes):
    out = node.outputs[0]
    off = 0
    for t in node.inputs:
        if off % ALIGN:  # every tensor starts 64-byte aligned, as memory_plan places them
            return False
        ro, oo = pl.find(out)
        rt, ot = pl.find(t)
        want = oo + off  # t must lie at (ro, want)
        if ro == rt:
            if ot != want:
                return False
        elif want >= ot:
            pl.parent[rt] = (ro, want - ot)
        else:
            pl.parent[ro] = (rt, ot - want)
        off += nbytes[t]
    return off == nbytes[out]


def _leaves_disjoint(pl, node, nbytes, views, concats):
    """No two tensors that steps write (the inputs of view Concats that are not
    themselves view outputs) overlap within the root this node joined."""
    view_outs = {n.outputs[0] for n in concats if id(n) in views}
    root = pl.find(node.outputs[0])[0]
    spans = []
    for n in concats:
        if id(n) not in views:
            continue
        for t in n.inputs:
            if t in view_outs:
                continue
            r, o = pl.find(t)
            if r == root:
                spans.append((o, o + nbytes[t], t))
    spans = sorted(set(spans))
    return all(a[1] <= b[0] or a[2] == b[2] for a, b in zip(spans, spans[1:]))
