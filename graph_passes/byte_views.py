"""Steps that keep their input's bytes: Reshape, Flatten, Squeeze, Unsqueeze,
Identity and Dropout (inference) on plain tensors, and the Transposes whose
routine is a view (a channels-last Transpose of a tensor held in NHWC, and back:
cpp/cpu/layout/transpose_layout.cpp). Their output is placed on their input's
bytes, so the step copies nothing (its kernel copies only when the two
pointers differ: feeds, graph outputs, concat members keep their own buffers).

    byte_views(nodes, routine_choice, first, layout_of, placement)
        -> {output: input} for each step whose output may share its input's bytes

Off with SNEP_BYTE_VIEWS=0 (A/B runs).
"""
import os

from .adapt import PLAIN

SAME_BYTES_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")
VIEW_SUFFIX = "/view"


def _is_view(n, desc):
    if n.op in SAME_BYTES_OPS:
        return desc in ("", "cpu/copy")
    return desc.endswith(VIEW_SUFFIX)


def byte_views(nodes, routine_choice, first, layout_of, placement):
    """nodes in step order; first: step of each arena tensor's write (feeds, constants and
    graph outputs are absent); placement: tensors already placed (concat views), whose
    outputs keep their places. Returns {output: input}; the caller resolves chains."""
    if os.environ.get("SNEP_BYTE_VIEWS", "1") == "0":
        return {}
    out = {}
    for n in nodes:
        if not n.inputs or not n.inputs[0] or not n.outputs or not n.outputs[0]:
            continue
        if any(o for o in n.outputs[1:]):
            continue  # Dropout's mask is written
        x, y = n.inputs[0], n.outputs[0]
        if not _is_view(n, routine_choice.get(n.name, "")):
            continue
        if x not in first or y not in first or y in placement:
            continue
        if n.op in SAME_BYTES_OPS and (layout_of.get(x, PLAIN) != PLAIN or layout_of.get(y, PLAIN) != PLAIN):
            continue
        out[y] = x
    return out
