"""Reference for com.microsoft QLinearAveragePool (u8/s8, NCHW, per-tensor scales), as onnxruntime's CPU
kernel computes it:

  - kernel_shape equal to the spatial dims and no padding: its global-average-pool path (MLAS),
    y = saturate(rint(float32(sum(x) - zx * HW) * float32(sx / (sy * HW))) + zy);
  - otherwise x is dequantized in float32 (sx * float32(x - zx)), summed in float32 over each window's
    valid taps in row-major order, divided in float32 by the count and quantized:
    y = saturate(rint(avg / sy + zy)). The count is the kernel size with count_include_pad (onnxruntime's
    rule; ONNX's AveragePool counts only taps inside the pads, which differs with ceil_mode), else the
    number of valid taps.

Every operation is a float32 operation in the order the routine does it, so outputs compare exactly.
"""
import itertools

import numpy as np
from hypothesis import strategies as st

from .base import Reference, reference
from .pool_resize import _pool_geometry, draw_pool


def qavgpool_ref(x, sx, zx, sy, zy, attrs):
    f = np.float32
    info = np.iinfo(x.dtype)
    zx = int(zx) if zx is not None else 0
    zy = int(zy) if zy is not None else 0
    sx, sy = f(np.asarray(sx).reshape(-1)[0]), f(np.asarray(sy).reshape(-1)[0])
    out, pb, pe, k, s, _ = _pool_geometry(x.shape, attrs)
    spatial = x.shape[2:]
    axes = tuple(range(2, x.ndim))
    if list(k) == list(spatial) and not any(pb) and not any(pe):
        hw = int(np.prod(spatial))
        acc = x.astype(np.int64).sum(axis=axes, keepdims=True) - zx * hw
        scale = sx / (sy * f(hw))
        q = np.rint(acc.astype(f) * scale).astype(np.int64) + zy
        return np.clip(q, info.min, info.max).astype(x.dtype)
    xf = sx * (x.astype(np.int32) - zx).astype(f)
    N, C = x.shape[:2]
    acc = np.zeros((N, C) + tuple(out), f)
    grids = np.meshgrid(*[np.arange(o) for o in out], indexing="ij")
    for taps in itertools.product(*[range(kk) for kk in k]):
        pos = [g * s[i] - pb[i] + taps[i] for i, g in enumerate(grids)]
        valid = np.ones(tuple(out), bool)
        for i, p in enumerate(pos):
            valid &= (p >= 0) & (p < spatial[i])
        idx = tuple(np.clip(p, 0, spatial[i] - 1) for i, p in enumerate(pos))
        vals = xf[(slice(None), slice(None)) + idx]
        acc = acc + np.where(valid, vals, f(0))
    if attrs.get("count_include_pad", 0):
        cnt = np.full(tuple(out), f(np.prod(k)))
    else:
        cnt = np.ones(tuple(out), np.int64)
        for i, g in enumerate(grids):
            st0 = g * s[i] - pb[i]
            cnt = cnt * (np.minimum(st0 + k[i], spatial[i]) - np.maximum(st0, 0))
        cnt = cnt.astype(f)
    avg = (acc / cnt).astype(f)
    q = np.rint((avg / sy + f(zy)).astype(f)).astype(np.int64)
    return np.clip(q, info.min, info.max).astype(x.dtype)


@reference
class QLinearAveragePoolRef(Reference):
    op = "QLinearAveragePool"

    def draw(self, draw, descriptor):
        x, attrs = draw_pool(draw, with_dilation=False)
        if draw(st.integers(0, 4)) == 0:  # onnxruntime's global-average-pool path
            attrs = {"kernel_shape": list(x.shape[2:])}
        if draw(st.booleans()):
            attrs["count_include_pad"] = 1
        dt = draw(st.sampled_from([np.uint8, np.int8]))
        info = np.iinfo(dt)
        seed = draw(st.integers(0, 2**32 - 1))
        xq = np.random.default_rng(seed).integers(info.min, info.max, size=x.shape, endpoint=True).astype(dt)
        scale = st.sampled_from([0.5, 0.25, 0.1, 0.03, 1.5, 0.0123])
        zp = st.integers(int(info.min), int(info.max))
        zx = np.array(draw(zp), dt) if draw(st.integers(0, 4)) else None
        zy = np.array(draw(zp), dt) if draw(st.integers(0, 4)) else None
        return [xq, np.array(draw(scale), np.float32), zx, np.array(draw(scale), np.float32), zy], attrs

    def compute(self, inputs, attrs):
        return [qavgpool_ref(*inputs, attrs)]
