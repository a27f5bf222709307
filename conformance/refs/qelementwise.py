"""References for quantized elementwise ops: QLinearAdd (u8, per-tensor scales).

y = saturate(rint((a - za) * float32(sa / sc) + (b - zb) * float32(sb / sc)) + zc),
the products (exact) and their sum in float64 as the routine computes them; a fused
activation="Relu" clamps from below at zc. Integer outputs compare exactly;
scales are drawn as powers of two times small odd numbers so no sum lands within
float32 rounding of a .5 tie except exactly.
"""
import numpy as np
from hypothesis import strategies as st

from .base import Reference, reference, shapes


def _u8(draw, shape):
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype(np.uint8)


@reference
class QLinearAddRef(Reference):
    op = "QLinearAdd"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 9))
        b_shape = shape if draw(st.booleans()) else ()
        scale = st.sampled_from([0.5, 0.25, 0.125, 0.75, 1.5, 0.0625])
        a, b = _u8(draw, shape), _u8(draw, b_shape)
        params = [np.array(draw(scale), np.float32), np.array(draw(st.integers(0, 255)), np.uint8)]
        bp = [np.array(draw(scale), np.float32), np.array(draw(st.integers(0, 255)), np.uint8)]
        cp = [np.array(draw(scale), np.float32), np.array(draw(st.integers(0, 255)), np.uint8)]
        attrs = {"activation": "Relu"} if draw(st.booleans()) else {}
        return [a, *params, b, *bp, *cp], attrs

    def compute(self, inputs, attrs):
        a, sa, za, b, sb, zb, sc, zc = inputs
        ra, rb = np.float32(sa / sc), np.float32(sb / sc)
        v = ((a.astype(np.int32) - int(za)).astype(np.float64) * np.float64(ra) +
             (b.astype(np.int32) - int(zb)).astype(np.float64) * np.float64(rb))
        q = np.rint(v).astype(np.int64) + int(zc)
        lo = int(zc) if attrs.get("activation") == "Relu" else 0
        return [np.clip(q, lo, 255).astype(np.uint8)]


@reference
class QLinearGlobalAveragePoolRef(Reference):
    """y = saturate(rint(float32(sum(x - zx)) * float32(sx / (sy * HW))) + zy), as MLAS computes it."""
    op = "QLinearGlobalAveragePool"

    def draw(self, draw, descriptor):
        shape = draw(shapes(3, 4, 1, 7))
        x = _u8(draw, shape)
        scale = st.sampled_from([0.5, 0.25, 0.1, 0.03, 1.5])
        attrs = {"channels_last": 1} if draw(st.booleans()) else {}
        return [x, np.array(draw(scale), np.float32), np.array(draw(st.integers(0, 255)), np.uint8),
                np.array(draw(scale), np.float32), np.array(draw(st.integers(0, 255)), np.uint8)], attrs

    def compute(self, inputs, attrs):
        x, sx, zx, sy, zy = inputs
        cl = attrs.get("channels_last", 0)
        axes = tuple(range(1, x.ndim - 1)) if cl else tuple(range(2, x.ndim))
        hw = int(np.prod([x.shape[a] for a in axes]))
        acc = x.astype(np.int64).sum(axis=axes, keepdims=True) - int(zx) * hw
        scale = np.float32(sx / np.float32(sy * np.float32(hw)))
        v = (acc.astype(np.float32) * scale).astype(np.float32)
        return [np.clip(np.rint(v).astype(np.int64) + int(zy), 0, 255).astype(np.uint8)]
