"""Winograd Conv routines (cpu:float32:nchw/winograd_f23, winograd_f43, and
their _tr variants: the GEMM transposed, tiles as rows, for layers with few
tiles; AVX-512 only).

conformance/test_routines.py draws small random cases for them (through the
Conv reference's draw_winograd); here fixed cases at network-like sizes:
channel counts past the GEMM's K block, widths past the 64-tile transform
segment, partial tiles at every border, auto_pad, Z + activation, batch > 1,
constant (packed at prepare) and runtime weights, 1 and 2 threads. Errors are
measured against S = conv(|x|, |w|) (see conformance/refs/linalg.py).
"""
import os
import sys

import numpy as np
import pytest

from softneuro_ep import InvalidArgument, _engine
from softneuro_ep.graph_passes.node_eval import run_node

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
from refs import REFS  # noqa: E402
from refs.linalg import conv_ref  # noqa: E402

DESCS = {"f23": "cpu:float32:nchw/winograd_f23", "f43": "cpu:float32:nchw/winograd_f43",
         "f23_tr": "cpu:float32:nchw/winograd_f23_tr", "f43_tr": "cpu:float32:nchw/winograd_f43_tr"}
# max |err| / max S: measured ~1e-7 (F(2,3)) and ~2e-6 (F(4,3)); ~10x margin.
BOUND = {"f23": 1e-6, "f43": 2e-5, "f23_tr": 1e-6, "f43_tr": 2e-5}

CASES = [
    # n, c, m, h, w, attrs, z, const
    (1, 3, 5, 7, 9, {"pads": [1, 1, 1, 1], "activation": "Relu"}, True, False),
    (2, 16, 8, 13, 6, {"pads": [0, 2, 1, 0]}, False, True),
    (1, 64, 64, 28, 28, {"pads": [1, 1, 1, 1]}, True, True),
    (1, 96, 40, 14, 15, {"auto_pad": "SAME_UPPER"}, False, False),
    (1, 600, 24, 6, 5, {"auto_pad": "SAME_LOWER", "activation": "LeakyRelu", "activation_params": [0.1]}, True, True),
    (1, 4, 4, 11, 300, {"pads": [2, 0, 0, 2]}, False, True),
    (1, 5, 3, 3, 3, {}, False, False),
    (1, 8, 33, 10, 10, {"auto_pad": "VALID", "activation": "Clip", "activation_params": [0.0, 6.0]}, True, True),
]


def _routine(desc):
    return [r for r in _engine.routines("Conv") if r["descriptor"] == desc]


@pytest.mark.parametrize("kind", sorted(DESCS))
def test_registered(kind):
    assert len(_routine(DESCS[kind])) == 1


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("kind", sorted(DESCS))
def test_winograd_matches_reference(kind, case, threads):
    if not _routine(DESCS[kind])[0]["usable"]:
        pytest.skip(f"{DESCS[kind]} is not usable on this CPU")
    n, c, m, h, w, attrs, z, const = CASES[case]
    rng = np.random.default_rng(case * 7 + threads)
    attrs = dict(attrs, kernel_shape=[3, 3])
    x = rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32)
    wt = rng.uniform(-1, 1, (m, c, 3, 3)).astype(np.float32)
    inputs = [x, wt, rng.uniform(-1, 1, (m,)).astype(np.float32)]
    if z:
        out = REFS["Conv"].compute([x, wt], {k: v for k, v in attrs.items() if not k.startswith("activation")})[0]
        inputs.append(rng.uniform(-1, 1, out.shape).astype(np.float32))
    want = REFS["Conv"].compute(inputs, attrs)[0]
    got = run_node("Conv", inputs, attrs, outputs=[(want.dtype, want.shape)], descriptor=DESCS[kind],
                   num_threads=threads, const_inputs=const)[0]
    scale = conv_ref(np.abs(x), np.abs(wt), attrs).max()
    err = np.abs(got.astype(np.float64) - want).max()
    assert err <= BOUND[kind] * scale, f"{kind} case {case}: max err {err:.3g}, S {scale:.3g}"


@pytest.mark.parametrize("kind", sorted(DESCS))
@pytest.mark.parametrize("attrs,wshape", [
    ({"strides": [2, 2]}, (4, 4, 3, 3)),
    ({"dilations": [2, 2]}, (4, 4, 3, 3)),
    ({"group": 2}, (4, 2, 3, 3)),
    ({}, (4, 4, 5, 5)),
    ({}, (4, 4, 3, 1)),
])
def test_unsupported_rejected(kind, attrs, wshape):
    if not _routine(DESCS[kind])[0]["usable"]:
        pytest.skip(f"{DESCS[kind]} is not usable on this CPU")
    x = np.zeros((1, 4, 12, 12), np.float32)
    w = np.zeros(wshape, np.float32)
    want = REFS["Conv"].compute([x, w], attrs)[0]
    with pytest.raises(InvalidArgument, match="does not support"):
        run_node("Conv", [x, w], attrs, outputs=[(want.dtype, want.shape)], descriptor=DESCS[kind])
