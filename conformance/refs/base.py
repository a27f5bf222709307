"""The Reference contract used by conformance/test_routines.py.

A Reference knows, for one op:
  draw(draw, descriptor) -> (inputs, attrs)   hypothesis-drawn case; `draw` is
      the draw function of st.data(); `descriptor` lets a reference draw cases
      a specialised routine supports (e.g. group == channels for depthwise).
  compute(inputs, attrs) -> list[np.ndarray]  the numpy answer.
  tolerance(descriptor, dtype) -> (rtol, atol)
  const_inputs(draw, descriptor) -> indices of inputs bound as plan constants
      (as a model's weights are); the others are fed at run time.
A case the routine does not support is rejected (assume), not failed; a
reference should draw mostly supported cases so rejections stay rare.
"""
import numpy as np
from hypothesis import strategies as st

REFS = {}


def reference(cls):
    inst = cls()
    for op in (cls.ops if hasattr(cls, "ops") else [cls.op]):
        REFS[op] = inst
    return cls


class Reference:
    op = None
    n_outputs = 1

    def draw(self, draw, descriptor):
        raise NotImplementedError

    def compute(self, inputs, attrs):
        raise NotImplementedError

    def const_inputs(self, draw, descriptor):
        return ()

    def tolerance(self, descriptor, dtype):
        dtype = np.dtype(dtype)
        if dtype == np.float16:
            return 1e-2, 1e-3
        if dtype == np.float32:
            return 1e-5, 1e-5
        if dtype == np.float64:
            return 1e-10, 1e-12
        return 0, 0


# ---- shared strategies -------------------------------------------------------

def shapes(min_rank=0, max_rank=4, min_side=1, max_side=9):
    """Shapes with size-1 dims and sizes that are not multiples of a vector width."""
    return st.lists(st.integers(min_side, max_side), min_size=min_rank, max_size=max_rank).map(tuple)


def float_arrays(draw, shape, dtype=np.float32, lo=-10.0, hi=10.0, special=False):
    """Random values from a seed drawn by hypothesis (fast for big arrays);
    with special, some entries are replaced by 0, -0, huge, tiny (denormal) values."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, size=shape).astype(dtype)
    if special and x.size and draw(st.booleans()):
        vals = np.array([0.0, -0.0, 1e-40, -1e-40, hi * 100, lo * 100], dtype=dtype)
        idx = rng.integers(0, x.size, size=max(1, x.size // 8))
        x.reshape(-1)[idx] = rng.choice(vals, size=idx.size)
    return x


def int_arrays(draw, shape, dtype=np.int64, lo=-100, hi=100):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)


def broadcastable_shape(draw, shape):
    """A shape that broadcasts to `shape` (dims dropped from the left or set to 1)."""
    k = draw(st.integers(0, len(shape)))
    tail = list(shape[len(shape) - k:])
    return tuple(1 if draw(st.booleans()) else d for d in tail)
