"""The dynamic runner's bounded routines (cpp/cpu/dynamic/bounded.cpp):
NonZero, Compress, Unique, NonMaxSuppression written into upper-bound-sized,
zero-padded outputs plus the real count as a last int64[1] output."""
import numpy as np
from hypothesis import strategies as st

from .base import Reference, float_arrays, reference, shapes
from .movement import any_arrays


def _pad(a, axis, n):
    width = [(0, 0)] * a.ndim
    width[axis] = (0, n - a.shape[axis])
    return np.pad(a, width)


def _count(m):
    return np.array([m], np.int64)


@reference
class NonZeroBoundedRef(Reference):
    op = "NonZeroBounded"
    n_outputs = 2

    def draw(self, draw, descriptor):
        x = any_arrays(draw, draw(shapes(0, 4, 0, 6)))
        if x.dtype.kind == "f":
            x = np.where(np.abs(x) < 5, 0, x).astype(x.dtype)
        return [x], {}

    def compute(self, inputs, attrs):
        x = inputs[0]
        idx = np.zeros((1, int(x != 0)), np.int64) if x.ndim == 0 else np.array(np.nonzero(x), np.int64).reshape(x.ndim, -1)
        return [_pad(idx, 1, x.size), _count(idx.shape[1])]


@reference
class CompressBoundedRef(Reference):
    op = "CompressBounded"
    n_outputs = 2

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 6))
        x = any_arrays(draw, shape)
        if draw(st.booleans()):
            axis = draw(st.integers(-len(shape), len(shape) - 1))
            cond = np.array(draw(st.lists(st.booleans(), min_size=0, max_size=shape[axis])), np.bool_)
            return [x, cond], {"axis": axis}
        cond = np.array(draw(st.lists(st.booleans(), min_size=0, max_size=x.size)), np.bool_)
        return [x, cond], {}

    def compute(self, inputs, attrs):
        x, cond = inputs
        axis = attrs.get("axis")
        y = np.compress(cond, x, axis=axis)
        if axis is None:
            return [_pad(y, 0, x.size), _count(y.size)]
        return [_pad(y, axis % x.ndim, x.shape[axis]), _count(y.shape[axis])]


@reference
class UniqueBoundedRef(Reference):
    op = "UniqueBounded"
    n_outputs = 5

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 3, 1, 6))
        x = any_arrays(draw, shape, [np.float32, np.int64, np.int32, np.uint8])
        x = (x // 40).astype(x.dtype) if x.dtype.kind != "f" else (np.round(x / 4) + 0.0).astype(x.dtype)  # repeats, no -0
        attrs = {"sorted": draw(st.sampled_from([0, 1]))}
        if draw(st.booleans()):
            attrs["axis"] = draw(st.integers(-len(shape), len(shape) - 1))
        return [x], attrs

    def compute(self, inputs, attrs):
        x = inputs[0]
        axis = attrs.get("axis")
        if axis is None:
            flat, ax = x.reshape(-1), 0
        else:
            ax = axis % x.ndim
            flat = x
        y, first, inverse, counts = np.unique(flat, return_index=True, return_inverse=True, return_counts=True,
                                              axis=ax)
        inverse = inverse.reshape(-1)
        if not attrs.get("sorted", 1):  # order of first occurrence
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            y, first, counts, inverse = np.take(y, order, axis=ax), first[order], counts[order], rank[inverse]
        n = flat.shape[ax]
        m = first.size
        as64 = lambda a: _pad(a.astype(np.int64), 0, n)  # noqa: E731
        return [_pad(y, ax, n), as64(first), inverse.astype(np.int64), as64(counts), _count(m)]


def _nms(boxes, scores, max_out, iou, score_th, center):
    B, S, _ = boxes.shape
    C = scores.shape[1]
    sel = []
    for b in range(B):
        bx = boxes[b].astype(np.float32)
        if center:
            x0, x1 = bx[:, 0] - bx[:, 2] / 2, bx[:, 0] + bx[:, 2] / 2
            y0, y1 = bx[:, 1] - bx[:, 3] / 2, bx[:, 1] + bx[:, 3] / 2
        else:
            x0, x1 = np.minimum(bx[:, 1], bx[:, 3]), np.maximum(bx[:, 1], bx[:, 3])
            y0, y1 = np.minimum(bx[:, 0], bx[:, 2]), np.maximum(bx[:, 0], bx[:, 2])

        def suppressed(i, j):
            iw = min(x1[i], x1[j]) - max(x0[i], x0[j])
            ih = min(y1[i], y1[j]) - max(y0[i], y0[j])
            if iw <= 0 or ih <= 0:
                return False
            inter = np.float32(iw) * np.float32(ih)
            a1 = (x1[i] - x0[i]) * (y1[i] - y0[i])
            a2 = (x1[j] - x0[j]) * (y1[j] - y0[j])
            union = a1 + a2 - inter
            if a1 <= 0 or a2 <= 0 or union <= 0:
                return False
            return inter / union > iou

        for c in range(C):
            sc = scores[b, c]
            cand = [i for i in range(S) if score_th is None or sc[i] > score_th]
            cand.sort(key=lambda i: -sc[i])  # stable: ties keep the lower index first
            kept = []
            for i in cand:
                if len(kept) >= max_out:
                    break
                if not any(suppressed(i, j) for j in kept):
                    kept.append(i)
                    sel.append((b, c, i))
    return np.array(sel, np.int64).reshape(-1, 3)


@reference
class NonMaxSuppressionBoundedRef(Reference):
    op = "NonMaxSuppressionBounded"
    n_outputs = 2

    def draw(self, draw, descriptor):
        B, C, S = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 8))
        center = draw(st.sampled_from([0, 1]))
        # coarse coordinates so boxes overlap and scores tie often
        boxes = np.round(float_arrays(draw, (B, S, 4), lo=0, hi=6)).astype(np.float32)
        scores = np.round(float_arrays(draw, (B, C, S), lo=0, hi=1), 1).astype(np.float32)
        inputs = [boxes, scores]
        if draw(st.booleans()):
            inputs.append(np.array([draw(st.integers(0, S + 1))], np.int64))
            if draw(st.booleans()):
                inputs.append(np.array([draw(st.sampled_from([0.0, 0.3, 0.5, 0.9]))], np.float32))
                if draw(st.booleans()):
                    inputs.append(np.array([draw(st.sampled_from([0.0, 0.25, 0.5]))], np.float32))
        return inputs, {"center_point_box": center}

    def compute(self, inputs, attrs):
        boxes, scores = inputs[:2]
        max_out = max(0, int(inputs[2][0])) if len(inputs) > 2 else 0
        iou = np.float32(inputs[3][0]) if len(inputs) > 3 else np.float32(0)
        score_th = np.float32(inputs[4][0]) if len(inputs) > 4 else None
        sel = _nms(boxes, scores, max_out, iou, score_th, attrs.get("center_point_box", 0))
        bound = boxes.shape[0] * scores.shape[1] * boxes.shape[1]
        return [_pad(sel, 0, bound), _count(sel.shape[0])]
