"""Kernel sharing between two plans of one model (Plan.enable_kernel_sharing /
share_kernels_from), as the whole-plan checks build them: matching steps take the
donor's prepared kernel (a "/t1" variant its base's), the rest are prepared; the
taker runs right after the donor is gone; constants are hashed, so equal shapes with
other values are not matched."""
import gc

import numpy as np
import pytest

from softneuro_ep import _engine
from softneuro_ep.graph_passes.attrs import to_engine

F = 1
GEMM = "cpu:float32:nchw/im2col_gemm"


def _plan(weights, descs, share_from=None, sharing=True, threads=2):
    """x [1,4,9,9] -> Conv(w0)+Relu -> Conv(w1) -> y, on routines descs."""
    p = _engine.Plan(threads)
    if sharing:
        p.enable_kernel_sharing()
    x = p.add_input(F, [1, 4, 9, 9], 0)
    a = p.add_arena_tensor(F, [1, 8, 9, 9], 0)
    y = p.add_output(F, [1, 8, 9, 9], 0)
    # temporaries: the plan must hold them until finalize (they are not copied up front)
    w0 = p.add_constant(F, np.array(weights[0], np.float32, copy=True))
    w1 = p.add_constant(F, np.array(weights[1], np.float32, copy=True))
    gc.collect()
    attrs = to_engine({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "activation": "Relu"})
    p.add_step("c0", "Conv", attrs, [x, w0], [a], descs[0])
    p.add_step("c1", "Conv", to_engine({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}), [a, w1], [y], descs[1])
    p.set_arena_bytes(8 * 81 * 4)
    if share_from is not None:
        p.share_kernels_from(share_from)
    p.finalize()
    return p


def _weights(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 4, 3, 3)).astype(np.float32), rng.standard_normal((8, 8, 3, 3)).astype(np.float32)


def test_matching_steps_share_and_the_taker_outlives_the_donor():
    w = _weights(0)
    x = np.random.default_rng(1).standard_normal((1, 4, 9, 9)).astype(np.float32)
    want = _plan(w, [GEMM, GEMM], sharing=False).run([x])[0]
    donor = _plan(w, [GEMM, GEMM])
    assert donor.shared_steps() == 0
    np.testing.assert_array_equal(donor.run([x])[0], want)
    taker = _plan(w, [GEMM, "cpu:float32:nchw/winograd_f23"], share_from=donor)
    assert taker.shared_steps() == 1  # c0 matches; c1 runs another routine
    del donor
    gc.collect()
    np.testing.assert_allclose(taker.run([x])[0], want, rtol=1e-4, atol=1e-4)


def test_a_single_thread_variant_shares_its_base_kernel():
    w = _weights(2)
    x = np.random.default_rng(3).standard_normal((1, 4, 9, 9)).astype(np.float32)
    donor = _plan(w, [GEMM + "/t1", GEMM])
    want = donor.run([x])[0]
    taker = _plan(w, [GEMM, GEMM + "/t1"], share_from=donor)
    assert taker.shared_steps() == 2
    del donor
    np.testing.assert_array_equal(taker.run([x])[0], want)
    assert [r[2] for r in taker.step_routines()] == [GEMM, GEMM + "/t1"]


def test_other_constant_values_are_not_shared():
    w, v = _weights(4), _weights(5)
    x = np.random.default_rng(6).standard_normal((1, 4, 9, 9)).astype(np.float32)
    donor = _plan(w, [GEMM, GEMM])
    taker = _plan((w[0], v[1]), [GEMM, GEMM], share_from=donor)
    assert taker.shared_steps() == 1
    want = _plan((w[0], v[1]), [GEMM, GEMM], sharing=False).run([x])[0]
    np.testing.assert_array_equal(taker.run([x])[0], want)


def test_sharing_needs_both_plans_enabled_and_a_finalized_donor():
    w = _weights(7)
    plain = _plan(w, [GEMM, GEMM], sharing=False)
    with pytest.raises(Exception, match="enable_kernel_sharing"):
        _plan(w, [GEMM, GEMM], share_from=plain)
    p = _engine.Plan(1)
    p.enable_kernel_sharing()
    unfinished = _engine.Plan(1)
    unfinished.enable_kernel_sharing()
    with pytest.raises(Exception, match="finalized"):
        p.share_kernels_from(unfinished)
