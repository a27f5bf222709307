"""References for the byte-copy ops: Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze."""
import numpy as np
from hypothesis import strategies as st

from .base import Reference, float_arrays, reference, shapes


@reference
class IdentityRef(Reference):
    ops = ["Identity", "Dropout"]

    def draw(self, draw, descriptor):
        return [float_arrays(draw, draw(shapes(0, 4, 0, 6)))], {}

    def compute(self, inputs, attrs):
        return [inputs[0].copy()]


@reference
class ReshapeRef(Reference):
    op = "Reshape"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4))
        x = float_arrays(draw, shape)
        target = list(np.random.default_rng(x.size).permutation(list(shape)))
        if draw(st.booleans()):
            target[draw(st.integers(0, len(target) - 1))] = -1
        return [x, np.array(target, dtype=np.int64)], {}

    def compute(self, inputs, attrs):
        return [inputs[0].reshape(inputs[1])]


@reference
class FlattenRef(Reference):
    op = "Flatten"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4))
        return [float_arrays(draw, shape)], {"axis": draw(st.integers(-len(shape), len(shape)))}

    def compute(self, inputs, attrs):
        x, axis = inputs[0], attrs.get("axis", 1)
        axis = axis + x.ndim if axis < 0 else axis
        return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


@reference
class SqueezeRef(Reference):
    op = "Squeeze"

    def draw(self, draw, descriptor):
        shape = list(draw(shapes(1, 4)))
        shape[draw(st.integers(0, len(shape) - 1))] = 1
        axes = [i for i, d in enumerate(shape) if d == 1]
        return [float_arrays(draw, tuple(shape)), np.array(axes, dtype=np.int64)], {}

    def compute(self, inputs, attrs):
        return [np.squeeze(inputs[0], axis=tuple(int(a) for a in inputs[1]))]


@reference
class UnsqueezeRef(Reference):
    op = "Unsqueeze"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 3))
        axis = draw(st.integers(-(len(shape) + 1), len(shape)))
        return [float_arrays(draw, shape), np.array([axis], dtype=np.int64)], {}

    def compute(self, inputs, attrs):
        return [np.expand_dims(inputs[0], int(inputs[1][0]))]
