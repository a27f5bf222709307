"""8-bit (uint8 / int8) MaxPool "cpu:nchw/direct" without Indices: on AVX-512
CPUs it runs the vectorised kernel (cpu/pool/maxpool8_avx512.cpp). Shapes
that exercise it (widths below and above one 64-output chunk, odd widths,
pads at both ends, ceil_mode, stride 1 and 2, kernels 2, 3 and larger,
horizontal dilation, 1-D and 3-D) are checked against the numpy reference of
conformance/refs, and bit for bit against the generic loop, which a child
process runs under SNEP_MAX_ISA=plain.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from softneuro_ep.graph_passes.node_eval import run_node

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
from refs.pool_resize import _pool_geometry, pool_ref  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# (input shape, attributes)
CASES = [
    ((1, 3, 7, 9), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])),
    ((2, 5, 13, 63), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ((1, 4, 9, 64), dict(kernel_shape=[2, 2], strides=[2, 2])),
    ((1, 4, 10, 65), dict(kernel_shape=[2, 2], pads=[1, 1, 1, 1])),
    ((1, 3, 11, 130), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 2, 0, 2])),
    ((1, 2, 6, 200), dict(kernel_shape=[3, 3], pads=[2, 2, 2, 2])),
    ((1, 3, 8, 101), dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ((1, 3, 8, 127), dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 1, 0, 1], ceil_mode=1)),
    ((1, 2, 9, 150), dict(kernel_shape=[5, 7], strides=[1, 2], pads=[2, 3, 2, 3], dilations=[1, 2])),
    ((1, 3, 7, 70), dict(kernel_shape=[4, 5], pads=[1, 2, 2, 2])),
    ((1, 2, 9, 140), dict(kernel_shape=[5, 5], strides=[2, 2], pads=[2, 2, 2, 2])),
    ((1, 2, 6, 99), dict(kernel_shape=[3, 4], strides=[2, 2], pads=[0, 3, 1, 3])),
    ((1, 2, 12, 77), dict(kernel_shape=[3, 2], strides=[3, 1], dilations=[2, 3], pads=[1, 2, 2, 1])),
    ((1, 1, 3, 2501), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),  # many 64-output chunks
    ((1, 1, 2, 2100), dict(kernel_shape=[2, 3], pads=[0, 1, 1, 1])),
    ((1, 3, 5, 67), dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")),
    ((1, 3, 6, 66), dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER")),
    ((1, 2, 4, 1), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])),
    ((2, 3, 150), dict(kernel_shape=[3], strides=[2], pads=[1, 1])),  # 1-D
    ((1, 2, 4, 5, 70), dict(kernel_shape=[2, 3, 3], strides=[1, 2, 2], pads=[1, 0, 1, 0, 1, 1])),  # 3-D
    ((1, 64, 112, 112), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),  # ResNet50 stem
]
# windows with no valid tap (dilated taps stepping over a tiny input): the type's lowest value
EMPTY_WINDOWS = [((1, 2, 2, 2), dict(kernel_shape=[2, 2], dilations=[5, 5], pads=[3, 3, 3, 3]))]


def _id(case):
    shape, attrs = case
    return "x".join(map(str, shape)) + "-" + "-".join(f"{k}{v}" for k, v in attrs.items())


def _input(shape, dt, seed):
    info = np.iinfo(dt)
    rng = np.random.default_rng(seed)
    x = rng.integers(info.min, info.max + 1, size=shape).astype(dt)
    x.flat[::7] = info.min  # the pad value must never be mistaken for data
    x.flat[::11] = info.max
    return x


def _run(shape, attrs, dt, seed, threads):
    x = _input(shape, dt, seed)
    out, *_ = _pool_geometry(shape, attrs)
    y = run_node("MaxPool", [x], attrs, outputs=[(x.dtype, shape[:2] + tuple(out))],
                 descriptor="cpu:nchw/direct", num_threads=threads)[0]
    return x, y


@pytest.mark.parametrize("dt", [np.uint8, np.int8])
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_maxpool8_matches_numpy(case, dt):
    shape, attrs = case
    for threads in (1, 2):
        x, y = _run(shape, attrs, dt, 1, threads)
        want = pool_ref(x, attrs, "max")[0]
        np.testing.assert_array_equal(y, want, err_msg=f"threads={threads}")


def _all_outputs():
    return {f"{i}-{np.dtype(dt).name}": _run(shape, attrs, dt, 2, 1)[1]
            for i, (shape, attrs) in enumerate(CASES + EMPTY_WINDOWS) for dt in (np.uint8, np.int8)}


@pytest.mark.skipif(os.environ.get("SNEP_MAX_ISA") is not None, reason="already capped")
def test_maxpool8_bit_identical_to_generic_loop(child_env, tmp_path):
    got = _all_outputs()
    for dt in (np.uint8, np.int8):
        y = got[f"{len(CASES)}-{np.dtype(dt).name}"]
        assert (y == np.iinfo(dt).min).any(), "expected all-pad windows"
    dump = tmp_path / "plain.npz"
    r = subprocess.run([sys.executable, os.path.abspath(__file__), str(dump)], cwd=ROOT,
                       env=child_env(SNEP_MAX_ISA="plain"), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    want = np.load(dump)
    assert sorted(want.files) == sorted(got)
    for k in got:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


if __name__ == "__main__":  # the child of the test above: dump every output
    np.savez(sys.argv[1], **_all_outputs())
