"""Reference for the engine-internal layout op Reorder (an adapt routine).

Through run_node every tensor is Plain, so Reorder is Plain -> Plain there: a
copy. The blocked layouts (NCHW16c / NCHW8c / NHWC) and the routines that read
and write them are checked by tests/test_layout_routines.py, which builds
Plain -> Reorder -> routine -> Reorder -> Plain plans by hand.
"""
import numpy as np
from hypothesis import strategies as st

from .base import Reference, float_arrays, int_arrays, reference, shapes


def to_blocked(x, b):
    """Plain [N, C, S...] -> [N, ceil(C/b), S..., b] with zero pad lanes (numpy view of the layout)."""
    n, c = x.shape[:2]
    cb = -(-c // b)
    xp = np.zeros((n, cb * b) + x.shape[2:], x.dtype)
    xp[:, :c] = x
    xp = xp.reshape((n, cb, b) + x.shape[2:])
    return np.ascontiguousarray(np.moveaxis(xp, 2, -1))


def from_blocked(y, c):
    """Inverse of to_blocked: [N, CB, S..., b] -> Plain [N, C, S...]."""
    n, cb, b = y.shape[0], y.shape[1], y.shape[-1]
    x = np.moveaxis(y, -1, 2).reshape((n, cb * b) + y.shape[2:-1])
    return np.ascontiguousarray(x[:, :c])


def to_nhwc(x):
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


@reference
class ReorderRef(Reference):
    op = "Reorder"

    def draw(self, draw, descriptor):
        shape = draw(shapes(3, 5, 1, 20))
        if ":qint8/" in descriptor:  # the one-byte Reorder (u8 / s8 activations)
            dt = draw(st.sampled_from([np.uint8, np.int8]))
            return [int_arrays(draw, shape, dt, np.iinfo(dt).min, np.iinfo(dt).max)], {}
        return [float_arrays(draw, shape)], {}

    def compute(self, inputs, attrs):
        return [inputs[0].copy()]
