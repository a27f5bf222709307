"""References for the data-movement ops: Transpose, Concat, Split, Slice,
Gather*, Scatter*, Expand, Tile, Range, ConstantOfShape, Shape, Size, Pad,
DepthToSpace, SpaceToDepth, Trilu, OneHot, Compress, NonZero, TopK, EyeLike,
ReverseSequence."""
import numpy as np
from hypothesis import strategies as st

from .base import Reference, float_arrays, int_arrays, reference, shapes

def _c(a):
    """A C-contiguous copy that keeps 0-d arrays 0-d (np.ascontiguousarray does not)."""
    return np.array(a, copy=True, order="C")


DTYPES = [np.float32, np.float32, np.float32, np.int64, np.int32, np.uint8, np.float64, np.int16, np.bool_]


def any_arrays(draw, shape, dtypes=DTYPES):
    dt = np.dtype(draw(st.sampled_from(dtypes)))
    if dt.kind == "f":
        return float_arrays(draw, shape, dt)
    if dt == np.bool_:
        return int_arrays(draw, shape, np.int64, 0, 1).astype(np.bool_)
    info = np.iinfo(dt)
    return int_arrays(draw, shape, np.int64, max(info.min, -100), min(info.max, 100)).astype(dt)


@reference
class TransposeRef(Reference):
    op = "Transpose"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 5, 1, 20))
        x = any_arrays(draw, shape)
        if draw(st.booleans()) or not shape:
            return [x], {}
        perm = draw(st.permutations(range(len(shape))))
        return [x], {"perm": list(perm)}

    def compute(self, inputs, attrs):
        return [_c(np.transpose(inputs[0], attrs.get("perm")))]


@reference
class ConcatRef(Reference):
    op = "Concat"

    def draw(self, draw, descriptor):
        shape = list(draw(shapes(1, 4, 1, 7)))
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        n = draw(st.integers(1, 4))
        dt = draw(st.sampled_from(DTYPES))
        xs = []
        for _ in range(n):
            s = list(shape)
            s[axis] = draw(st.integers(0, 6))
            xs.append(any_arrays(draw, tuple(s), [dt]))
        return xs, {"axis": axis}

    def compute(self, inputs, attrs):
        return [np.concatenate(inputs, axis=attrs["axis"])]


@reference
class SplitRef(Reference):
    op = "Split"

    def draw(self, draw, descriptor):
        shape = list(draw(shapes(1, 4, 1, 9)))
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        x = any_arrays(draw, tuple(shape))
        n = shape[axis]
        form = draw(st.sampled_from(["input", "num_outputs", "equal"]))
        if form == "input":
            cuts = sorted(draw(st.lists(st.integers(0, n), min_size=0, max_size=3)))
            sizes = np.diff([0] + cuts + [n]).astype(np.int64)
            return [x, sizes], {"axis": axis}
        if form == "num_outputs":
            k = draw(st.integers(1, max(1, n)))
            c = -(-n // k)
            k = n // c + (1 if n % c else 0)
            return [x], {"axis": axis, "num_outputs": k}
        return [x], {"axis": axis}

    def compute(self, inputs, attrs):
        x, axis = inputs[0], attrs["axis"]
        n = x.shape[axis]
        if len(inputs) > 1:
            sizes = list(inputs[1])
        elif "num_outputs" in attrs:
            k = attrs["num_outputs"]
            c = -(-n // k)
            sizes = [c] * (n // c) + ([n % c] if n % c else [])
        else:
            sizes = [n]
        idx = np.cumsum(sizes)[:-1]
        return [_c(p) for p in np.split(x, idx, axis=axis)]


@reference
class SliceRef(Reference):
    op = "Slice"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 9))
        x = any_arrays(draw, shape)
        r = len(shape)
        axes = draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True))
        big = st.sampled_from([2**63 - 1, -2**63, 2**31 - 1, -2**31])
        starts, ends, steps = [], [], []
        for a in axes:
            d = shape[a]
            starts.append(draw(st.one_of(st.integers(-d - 2, d + 2), big)))
            ends.append(draw(st.one_of(st.integers(-d - 2, d + 2), big)))
            steps.append(draw(st.sampled_from([1, 1, 2, 3, -1, -2])))
        neg = draw(st.booleans())
        axes_in = [a - r if neg and draw(st.booleans()) else a for a in axes]
        idt = draw(st.sampled_from([np.int64, np.int32]))
        if idt == np.int32:
            starts = [max(min(s, 2**31 - 1), -2**31) for s in starts]
            ends = [max(min(s, 2**31 - 1), -2**31) for s in ends]
        ins = [x, np.array(starts, idt), np.array(ends, idt)]
        form = draw(st.integers(0, 2))
        if form >= 1:
            ins.append(np.array(axes_in, idt))
        if form == 2:
            ins.append(np.array(steps, idt))
        if form == 0:
            ins[1] = ins[1][: r][: len(axes)]
        return ins, {}

    def compute(self, inputs, attrs):
        x = inputs[0]
        starts, ends = inputs[1], inputs[2]
        axes = inputs[3] if len(inputs) > 3 else np.arange(len(starts))
        steps = inputs[4] if len(inputs) > 4 else np.ones(len(starts), np.int64)
        sl = [slice(None)] * x.ndim
        for s, e, a, p in zip(starts, ends, axes, steps):
            s, e, p = int(s), int(e), int(p)
            d = x.shape[a]
            if s < 0:
                s += d
            if e < 0:
                e += d
            if p > 0:
                s, e = min(max(s, 0), d), min(max(e, 0), d)
            else:
                s, e = min(max(s, 0), d - 1), min(max(e, -1), d - 1)
            sl[a] = slice(s, e if e >= 0 else None, p)
        return [_c(x[tuple(sl)])]


@reference
class GatherRef(Reference):
    op = "Gather"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 9))
        x = any_arrays(draw, shape)
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        n = shape[axis]
        ishape = draw(shapes(0, 3, 0, 5))
        ind = int_arrays(draw, ishape, np.int64, -n, n - 1).astype(draw(st.sampled_from([np.int64, np.int32])))
        return [x, ind], {"axis": axis}

    def compute(self, inputs, attrs):
        x, ind = inputs
        axis = attrs["axis"]
        ind = np.where(ind < 0, ind + x.shape[axis], ind)
        return [_c(np.take(x, ind, axis=axis))]


@reference
class GatherElementsRef(Reference):
    op = "GatherElements"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 7))
        x = any_arrays(draw, shape)
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        ishape = list(shape)
        ishape[axis] = draw(st.integers(0, 7))
        n = shape[axis]
        ind = int_arrays(draw, tuple(ishape), np.int64, -n, n - 1).astype(draw(st.sampled_from([np.int64, np.int32])))
        return [x, ind], {"axis": axis}

    def compute(self, inputs, attrs):
        x, ind = inputs
        axis = attrs["axis"]
        ind = np.where(ind < 0, ind + x.shape[axis], ind)
        return [np.take_along_axis(x, ind, axis=axis)]


@reference
class GatherNDRef(Reference):
    op = "GatherND"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 6))
        x = any_arrays(draw, shape)
        r = len(shape)
        b = draw(st.integers(0, r - 1))
        k = draw(st.integers(1, r - b))
        mid = draw(shapes(0, 2, 1, 4))
        ishape = tuple(shape[:b]) + mid + (k,)
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        ind = np.empty(ishape, np.int64)
        for j in range(k):
            d = shape[b + j]
            ind[..., j] = rng.integers(-d, d, size=ishape[:-1])
        return [x, ind], {"batch_dims": b}

    def compute(self, inputs, attrs):
        x, ind = inputs
        b = attrs.get("batch_dims", 0)
        k = ind.shape[-1]
        bshape = x.shape[:b]
        B = int(np.prod(bshape)) if b else 1
        xb = x.reshape((B,) + x.shape[b:])
        ib = ind.reshape((B, -1, k))
        out = []
        for i in range(B):
            for t in ib[i]:
                idx = tuple(int(v) if v >= 0 else int(v) + x.shape[b + j] for j, v in enumerate(t))
                out.append(xb[i][idx])
        res = np.array(out, dtype=x.dtype).reshape(ind.shape[:-1] + x.shape[b + k:])
        return [res]


@reference
class ExpandRef(Reference):
    op = "Expand"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 4, 1, 6))
        x = any_arrays(draw, shape)
        out = [draw(st.integers(1, 4)) if d == 1 else (d if draw(st.booleans()) else 1) for d in shape]
        lead = draw(st.lists(st.integers(1, 3), max_size=2))
        return [x, np.array(lead + out, np.int64)], {}

    def compute(self, inputs, attrs):
        x, s = inputs
        return [_c(np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int(v) for v in s))))]


@reference
class TileRef(Reference):
    op = "Tile"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 0, 6))
        x = any_arrays(draw, shape)
        reps = [draw(st.integers(0 if draw(st.booleans()) else 1, 3)) for _ in shape]
        return [x, np.array(reps, np.int64)], {}

    def compute(self, inputs, attrs):
        return [np.tile(inputs[0], tuple(int(v) for v in inputs[1]))]


@reference
class RangeRef(Reference):
    op = "Range"

    def draw(self, draw, descriptor):
        dt = np.dtype(draw(st.sampled_from([np.float32, np.int64, np.int32, np.float64, np.int16, np.float16])))
        if dt == np.float16:
            start = float(np.float16(draw(st.integers(-40, 40)) / 2))
            delta = draw(st.sampled_from([0.5, 1.0, -0.75, 2.5, -3.0]))
            limit = float(np.float16(start + delta * draw(st.integers(-2, 30)) + draw(st.sampled_from([-0.125, 0, 0.125]))))
        elif dt.kind == "f":
            start = draw(st.floats(-20, 20, width=32))
            delta = draw(st.sampled_from([0.5, 1.0, -0.75, 2.5, -3.0, 0.3]))
            limit = start + delta * draw(st.integers(-2, 30)) + draw(st.floats(-0.2, 0.2))
        else:
            start = draw(st.integers(-50, 50))
            delta = draw(st.sampled_from([1, 2, -1, -3, 7]))
            limit = start + delta * draw(st.integers(-2, 30)) + draw(st.integers(-1, 1))
        return [np.array(start, dt), np.array(limit, dt), np.array(delta, dt)], {}

    def compute(self, inputs, attrs):
        s, l, d = inputs
        n = max(int(np.ceil((float(l) - float(s)) / float(d))), 0)
        if s.dtype == np.float16:
            return [(np.float32(s) + np.arange(n, dtype=np.float32) * np.float32(d)).astype(np.float16)]
        return [(s + np.arange(n).astype(s.dtype) * d).astype(s.dtype)]

    def tolerance(self, descriptor, dtype):
        return (1e-5, 1e-4) if np.dtype(dtype) == np.float32 else super().tolerance(descriptor, dtype)


@reference
class ConstantOfShapeRef(Reference):
    op = "ConstantOfShape"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 4, 0, 6))
        attrs = {}
        if draw(st.booleans()):
            dt = np.dtype(draw(st.sampled_from([np.float32, np.int64, np.int32, np.float64, np.uint8, np.bool_])))
            v = draw(st.integers(0, 1)) if dt == np.bool_ else draw(st.integers(0, 100))
            attrs["value"] = np.array([v], dt)
        return [np.array(shape, np.int64)], attrs

    def compute(self, inputs, attrs):
        v = attrs.get("value", np.array([0], np.float32))
        return [np.full(tuple(int(d) for d in inputs[0]), v[0], v.dtype)]


@reference
class ShapeRef(Reference):
    op = "Shape"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 5, 0, 5))
        attrs = {}
        r = len(shape)
        if draw(st.booleans()):
            attrs["start"] = draw(st.integers(-r - 1, r + 1))
        if draw(st.booleans()):
            attrs["end"] = draw(st.integers(-r - 1, r + 1))
        return [any_arrays(draw, shape)], attrs

    def compute(self, inputs, attrs):
        s = inputs[0].shape
        r = len(s)
        a, b = attrs.get("start", 0), attrs.get("end", r)
        a = min(max(a + r if a < 0 else a, 0), r)
        b = min(max(b + r if b < 0 else b, 0), r)
        return [np.array(s[a:b], np.int64)]


@reference
class SizeRef(Reference):
    op = "Size"

    def draw(self, draw, descriptor):
        return [any_arrays(draw, draw(shapes(0, 4, 0, 5)))], {}

    def compute(self, inputs, attrs):
        return [np.array(inputs[0].size, np.int64)]


@reference
class EyeLikeRef(Reference):
    op = "EyeLike"

    def draw(self, draw, descriptor):
        shape = draw(shapes(2, 2, 1, 8))
        attrs = {"k": draw(st.integers(-8, 8))}
        if draw(st.booleans()):
            attrs["dtype"] = draw(st.sampled_from([1, 6, 7, 11]))
        return [float_arrays(draw, shape)], attrs

    def compute(self, inputs, attrs):
        dt = {1: np.float32, 6: np.int32, 7: np.int64, 11: np.float64}[attrs.get("dtype", 1)]
        n, m = inputs[0].shape
        return [np.eye(n, m, k=attrs["k"], dtype=dt)]


@reference
class OneHotRef(Reference):
    op = "OneHot"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 3, 1, 5))
        depth = draw(st.integers(1, 6))
        ind = int_arrays(draw, shape, np.int64, -depth - 1, depth).astype(draw(st.sampled_from([np.int64, np.int32, np.float32])))
        vdt = draw(st.sampled_from([np.float32, np.int64, np.int32]))
        vals = np.array([draw(st.integers(-5, 5)), draw(st.integers(6, 9))], vdt)
        r = len(shape) + 1
        attrs = {"axis": draw(st.integers(-r, r - 1))} if draw(st.booleans()) else {}
        return [ind, np.array([depth], np.int64), vals], attrs

    def compute(self, inputs, attrs):
        ind, depth, vals = inputs
        depth = int(depth.reshape(-1)[0])
        ind = ind.astype(np.int64)
        ind = np.where(ind < 0, ind + depth, ind)
        r = ind.ndim + 1
        axis = attrs.get("axis", -1)
        axis = axis + r if axis < 0 else axis
        hot = (np.expand_dims(ind, axis) == np.arange(depth).reshape([-1 if i == axis else 1 for i in range(r)]))
        return [np.where(hot, vals[1], vals[0]).astype(vals.dtype)]


@reference
class PadRef(Reference):
    op = "Pad"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 6))
        x = any_arrays(draw, shape)
        r = len(shape)
        mode = draw(st.sampled_from(["constant", "constant", "reflect", "edge", "wrap"]))
        use_axes = draw(st.booleans())
        axes = sorted(draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True))) if use_axes else list(range(r))
        pads = []
        for side in range(2):
            for a in axes:
                d = shape[a]
                if mode == "reflect":
                    pads.append(draw(st.integers(0, d - 1)))
                elif mode == "constant":
                    pads.append(draw(st.integers(-(d // 2), 4)))
                else:
                    pads.append(draw(st.integers(0, 4)))
        ins = [x, np.array(pads, np.int64)]
        if mode == "constant" and draw(st.booleans()):
            ins.append(np.array(draw(st.integers(-5, 5)), x.dtype) if x.dtype != np.bool_ else np.array(True))
        elif use_axes:
            ins.append(None)
        if use_axes:
            neg = draw(st.booleans())
            ins.append(np.array([a - r if neg else a for a in axes], np.int64))
        return ins, {"mode": mode}

    def compute(self, inputs, attrs):
        x, pads = inputs[0], [int(p) for p in inputs[1]]
        r = x.ndim
        axes = [int(a) % r for a in inputs[3]] if len(inputs) > 3 else list(range(r))
        na = len(axes)
        pb, pe = [0] * r, [0] * r
        for i, a in enumerate(axes):
            pb[a], pe[a] = pads[i], pads[i + na]
        mode = attrs.get("mode", "constant")
        val = inputs[2] if len(inputs) > 2 and inputs[2] is not None else np.zeros((), x.dtype)
        # crop negative pads first
        sl = tuple(slice(max(0, -b), x.shape[i] - max(0, -e)) for i, (b, e) in enumerate(zip(pb, pe)))
        x = x[sl]
        width = [(max(0, b), max(0, e)) for b, e in zip(pb, pe)]
        if mode == "constant":
            return [np.pad(x, width, mode="constant", constant_values=val)]
        return [np.pad(x, width, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode])]


def _scatter_apply(dst, idx, upd, red):
    if red == "none":
        dst[idx] = upd
    elif red == "add":
        dst[idx] = dst[idx] + upd
    elif red == "mul":
        dst[idx] = dst[idx] * upd
    elif red == "max":
        dst[idx] = max(dst[idx], upd) if np.ndim(upd) == 0 else np.maximum(dst[idx], upd)
    else:
        dst[idx] = min(dst[idx], upd) if np.ndim(upd) == 0 else np.minimum(dst[idx], upd)


@reference
class ScatterElementsRef(Reference):
    ops = ["ScatterElements", "Scatter"]

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 6))
        r = len(shape)
        axis = draw(st.integers(-r, r - 1))
        ishape = [draw(st.integers(0, d)) for d in shape]
        ishape[axis] = draw(st.integers(0, 6))
        n = shape[axis]
        dt = draw(st.sampled_from([np.float32, np.int64, np.int32, np.float64]))
        x = any_arrays(draw, shape, [dt])
        ind = int_arrays(draw, tuple(ishape), np.int64, -n, n - 1).astype(draw(st.sampled_from([np.int64, np.int32])))
        upd = any_arrays(draw, tuple(ishape), [dt])
        attrs = {"axis": axis}
        if descriptor != "Scatter" and draw(st.booleans()):
            attrs["reduction"] = draw(st.sampled_from(["none", "add", "mul", "max", "min"]))
        return [x, ind, upd], attrs

    def compute(self, inputs, attrs):
        x, ind, upd = inputs
        y = x.copy()
        axis = attrs.get("axis", 0) % x.ndim
        red = attrs.get("reduction", "none")
        for pos in np.ndindex(*ind.shape):
            i = int(ind[pos])
            i = i + x.shape[axis] if i < 0 else i
            tgt = tuple(i if d == axis else pos[d] for d in range(x.ndim))
            _scatter_apply(y, tgt, upd[pos], red)
        return [y]


@reference
class ScatterNDRef(Reference):
    op = "ScatterND"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 5))
        r = len(shape)
        k = draw(st.integers(1, r))
        mid = draw(shapes(0, 2, 1, 4))
        dt = draw(st.sampled_from([np.float32, np.int64, np.float64]))
        x = any_arrays(draw, shape, [dt])
        red = draw(st.sampled_from(["none", "none", "add", "mul", "max", "min"]))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        ind = np.empty(mid + (k,), np.int64)
        for j in range(k):
            ind[..., j] = rng.integers(-shape[j], shape[j], size=mid)
        if red == "none" and ind.size:  # duplicates make 'none' order-dependent: keep unique
            flat = ind.reshape(-1, k)
            norm = [tuple(int(v) % shape[j] for j, v in enumerate(t)) for t in flat]
            seen = {}
            for t_i, t in enumerate(norm):
                seen.setdefault(t, t_i)
            keep = sorted(seen.values())
            ind = flat[keep].reshape(len(keep), k) if keep else flat[:0]
            mid = (len(keep),)
        upd = any_arrays(draw, tuple(ind.shape[:-1]) + tuple(shape[k:]), [dt])
        attrs = {"reduction": red} if red != "none" or draw(st.booleans()) else {}
        return [x, ind, upd], attrs

    def compute(self, inputs, attrs):
        x, ind, upd = inputs
        y = x.copy()
        k = ind.shape[-1]
        red = attrs.get("reduction", "none")
        for pos in np.ndindex(*ind.shape[:-1]):
            tgt = tuple(int(v) % x.shape[j] for j, v in enumerate(ind[pos]))
            _scatter_apply(y, tgt, upd[pos], red)
        return [y]


@reference
class DepthToSpaceRef(Reference):
    op = "DepthToSpace"

    def draw(self, draw, descriptor):
        b = draw(st.integers(1, 3))
        shape = (draw(st.integers(1, 2)), b * b * draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5)))
        attrs = {"blocksize": b}
        if draw(st.booleans()):
            attrs["mode"] = draw(st.sampled_from(["DCR", "CRD"]))
        return [any_arrays(draw, shape)], attrs

    def compute(self, inputs, attrs):
        x = inputs[0]
        b = attrs["blocksize"]
        n, c, h, w = x.shape
        if attrs.get("mode", "DCR") == "DCR":
            t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return [_c(t.reshape(n, c // (b * b), h * b, w * b))]


@reference
class SpaceToDepthRef(Reference):
    op = "SpaceToDepth"

    def draw(self, draw, descriptor):
        b = draw(st.integers(1, 3))
        shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), b * draw(st.integers(1, 4)), b * draw(st.integers(1, 4)))
        attrs = {"blocksize": b}
        mode = draw(st.sampled_from([None, "DCR", "CRD"]))
        if mode:
            attrs["mode"] = mode
        return [any_arrays(draw, shape)], attrs

    def compute(self, inputs, attrs):
        x = inputs[0]
        b = attrs["blocksize"]
        n, c, h, w = x.shape
        perm = (0, 1, 3, 5, 2, 4) if attrs.get("mode", "DCR") == "CRD" else (0, 3, 5, 1, 2, 4)
        t = x.reshape(n, c, h // b, b, w // b, b).transpose(*perm)
        return [_c(t.reshape(n, c * b * b, h // b, w // b))]


@reference
class TriluRef(Reference):
    op = "Trilu"

    def draw(self, draw, descriptor):
        shape = draw(shapes(2, 4, 1, 7))
        x = any_arrays(draw, shape)
        attrs = {"upper": draw(st.integers(0, 1))} if draw(st.booleans()) else {}
        if draw(st.booleans()):
            return [x, np.array(draw(st.integers(-8, 8)), np.int64)], attrs
        return [x], attrs

    def compute(self, inputs, attrs):
        x = inputs[0]
        k = int(inputs[1]) if len(inputs) > 1 else 0
        if attrs.get("upper", 1):
            return [np.triu(x, k)]
        return [np.tril(x, k)]


@reference
class CompressRef(Reference):
    op = "Compress"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 6))
        x = any_arrays(draw, shape)
        if draw(st.booleans()):
            axis = draw(st.integers(-len(shape), len(shape) - 1))
            n = shape[axis]
            cond = np.array(draw(st.lists(st.booleans(), min_size=0, max_size=n)), np.bool_)
            return [x, cond], {"axis": axis}
        cond = np.array(draw(st.lists(st.booleans(), min_size=0, max_size=x.size)), np.bool_)
        return [x, cond], {}

    def compute(self, inputs, attrs):
        return [np.compress(inputs[1], inputs[0], axis=attrs.get("axis"))]


@reference
class NonZeroRef(Reference):
    op = "NonZero"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 4, 0, 6))
        x = any_arrays(draw, shape)
        if x.dtype.kind == "f":
            x = np.where(np.abs(x) < 5, 0, x).astype(x.dtype)
        return [x], {}

    def compute(self, inputs, attrs):
        x = inputs[0]
        if x.ndim == 0:
            return [np.zeros((1, int(x != 0)), np.int64)]
        return [np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)]


@reference
class TopKRef(Reference):
    op = "TopK"
    n_outputs = 2

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 8))
        dt = draw(st.sampled_from([np.float32, np.float32, np.int64, np.int32, np.float64]))
        x = any_arrays(draw, shape, [dt])
        if dt != np.float32 or draw(st.booleans()):  # ties
            x = (x // 3).astype(dt) if dt != np.float32 else np.round(x / 3).astype(dt)
        r = len(shape)
        axis = draw(st.integers(-r, r - 1))
        k = draw(st.integers(0, shape[axis]))
        attrs = {"axis": axis}
        if draw(st.booleans()):
            attrs["largest"] = draw(st.integers(0, 1))
        return [x, np.array([k], np.int64)], attrs

    def compute(self, inputs, attrs):
        x, k = inputs[0], int(inputs[1][0])
        axis = attrs.get("axis", -1) % x.ndim
        key = -x.astype(np.float64) if attrs.get("largest", 1) else x.astype(np.float64)
        order = np.argsort(key, axis=axis, kind="stable")
        idx = np.take(order, np.arange(k), axis=axis)
        return [np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)]


@reference
class ReverseSequenceRef(Reference):
    op = "ReverseSequence"

    def draw(self, draw, descriptor):
        shape = draw(shapes(2, 4, 1, 6))
        x = any_arrays(draw, shape)
        ba = draw(st.integers(0, 1))
        ta = 1 - ba
        lens = np.array([draw(st.integers(0, shape[ta])) for _ in range(shape[ba])], np.int64)
        attrs = {"batch_axis": ba, "time_axis": ta} if ba == 0 or draw(st.booleans()) else {}
        return [x, lens], attrs

    def compute(self, inputs, attrs):
        x, lens = inputs
        ba, ta = attrs.get("batch_axis", 1), attrs.get("time_axis", 0)
        y = x.copy()
        for b in range(x.shape[ba]):
            n = int(lens[b])
            sl = [slice(None)] * x.ndim
            sl[ba] = b
            sl[ta] = slice(0, n)
            y[tuple(sl)] = np.flip(x[tuple(sl)], axis=ta - (1 if ta > ba else 0)) if n else y[tuple(sl)]
        return [y]
