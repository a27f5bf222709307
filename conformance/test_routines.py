"""Every registered routine against its op's numpy reference, over hypothesis-drawn cases.

A new routine is covered by registering it: nothing here names routines.
HYPOTHESIS_PROFILE=deep runs many more cases (for kernel authors).
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from refs import REFS
from softneuro_ep import InvalidArgument, _engine
from softneuro_ep.graph_passes.adapt import io_layouts
from softneuro_ep.graph_passes.node_eval import run_node


def run_with_constants(op, inputs, attrs, outputs, descriptor, threads, consts):
    """run_node with inputs[i] for i in consts bound as plan constants, the others fed."""
    return run_node(op, inputs, attrs, outputs=outputs, descriptor=descriptor, num_threads=threads,
                    const_inputs=set(consts))


def _plain(r):
    """Routines on ONNX's own layout run here through run_node; blocked/NHWC
    ones (reading or writing one) are checked by tests/test_layout_routines.py,
    test_nhwc_routines.py and test_transpose_views.py between Reorder steps."""
    return io_layouts(r["descriptor"]) == ("nchw", "nchw")


ROUTINES = [r for r in _engine.routines() if r["usable"] and _plain(r)]


def _id(r):
    return f"{r['op']}[{r['descriptor']}]"


@pytest.mark.parametrize("routine", _engine.routines(), ids=_id)
def test_routine_has_reference(routine):
    assert routine["op"] in REFS, f"{_id(routine)} has no numpy reference in conformance/refs"


def assert_close(got, want, rtol, atol, what):
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("routine", [r for r in ROUTINES if r["op"] in REFS], ids=_id)
@given(data=st.data())
def test_routine_matches_reference(routine, data):
    ref = REFS[routine["op"]]
    inputs, attrs = ref.draw(data.draw, routine["descriptor"])
    with np.errstate(all="ignore"):
        want = ref.compute(inputs, attrs)
    threads = data.draw(st.sampled_from([1, 2]), label="threads")
    consts = ref.const_inputs(data.draw, routine["descriptor"])
    outputs = [(w.dtype, w.shape) for w in want]
    try:
        if consts:
            got = run_with_constants(routine["op"], inputs, attrs, outputs, routine["descriptor"], threads, consts)
        else:
            got = run_node(routine["op"], inputs, attrs, outputs=outputs,
                           descriptor=routine["descriptor"], num_threads=threads)
    except InvalidArgument as e:
        assume("does not support" not in str(e))
        raise
    for k, (g, w) in enumerate(zip(got, want)):
        rtol, atol = ref.tolerance(routine["descriptor"], w.dtype)
        assert_close(g, w, rtol, atol, f"{_id(routine)} output {k}")
