"""References for pooling (MaxPool, AveragePool, LpPool, Global*) and
Resize / Upsample. Resize follows onnxruntime: coordinates in float32
arithmetic, an axis with scale 1 left untouched."""
import itertools

import numpy as np
from hypothesis import strategies as st

from .base import Reference, float_arrays, reference, shapes


# ---- pooling -------------------------------------------------------------------

def _pool_geometry(xshape, attrs):
    nsp = len(xshape) - 2
    k = attrs["kernel_shape"]
    s = attrs.get("strides", [1] * nsp)
    d = attrs.get("dilations", [1] * nsp)
    p = list(attrs.get("pads", [0] * (2 * nsp)))
    ap = attrs.get("auto_pad", "NOTSET")
    ceil = attrs.get("ceil_mode", 0)
    out, pb, pe = [], [], []
    for i in range(nsp):
        n = xshape[2 + i]
        ek = (k[i] - 1) * d[i] + 1
        if ap in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-n // s[i])
            total = max(0, (o - 1) * s[i] + ek - n)
            b = total // 2 if ap == "SAME_UPPER" else total - total // 2
            pb.append(b)
            pe.append(total - b)
        else:
            b, e = (0, 0) if ap == "VALID" else (p[i], p[i + nsp])
            span = n + b + e - ek
            o = (-(-span // s[i]) if ceil else span // s[i]) + 1
            if ceil and o > 0 and (o - 1) * s[i] >= n + b:
                o -= 1
            pb.append(b)
            pe.append(e)
        out.append(max(o, 0))
    return out, pb, pe, k, s, d


def pool_ref(x, attrs, kind, p=2):
    out, pb, pe, k, s, d = _pool_geometry(x.shape, attrs)
    nsp = len(out)
    N, C = x.shape[:2]
    y = np.zeros((N, C) + tuple(out), x.dtype)
    ind = np.zeros((N, C) + tuple(out), np.int64)
    spatial = x.shape[2:]
    col = attrs.get("storage_order", 0) == 1
    for o in itertools.product(*[range(v) for v in out]):
        taps, npad = [], 1
        per_dim = []
        for i in range(nsp):
            st0 = o[i] * s[i] - pb[i]
            pos = [st0 + m * d[i] for m in range(k[i])]
            per_dim.append([q for q in pos if 0 <= q < spatial[i]])
            npad *= sum(1 for q in pos if -pb[i] <= q < spatial[i] + pe[i])
        taps = list(itertools.product(*per_dim))
        if not taps:
            continue
        idx = tuple(np.array(t) for t in zip(*taps))
        vals = x[(slice(None), slice(None)) + idx]  # N, C, T
        if kind == "max":
            am = np.argmax(vals, axis=-1)
            y[(slice(None), slice(None)) + o] = np.take_along_axis(vals, am[..., None], -1)[..., 0]
            flat = np.ravel_multi_index(idx, spatial)
            if col:
                flat = idx[0] + idx[1] * spatial[0]
            plane = (np.arange(N)[:, None] * C + np.arange(C)[None, :]) * int(np.prod(spatial))
            ind[(slice(None), slice(None)) + o] = plane + flat[am]
        elif kind == "avg":
            cnt = npad if attrs.get("count_include_pad", 0) else len(taps)
            y[(slice(None), slice(None)) + o] = (vals.astype(np.float64).sum(-1) / cnt).astype(x.dtype)
        else:
            y[(slice(None), slice(None)) + o] = (np.abs(vals.astype(np.float64)) ** p).sum(-1) ** (1.0 / p)
    return y, ind


def draw_pool(draw, with_dilation=True, lp=False):
    nsp = draw(st.integers(1, 3))
    sides = (1, 12) if nsp == 1 else ((1, 9) if nsp == 2 else (1, 5))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + tuple(draw(st.integers(*sides)) for _ in range(nsp))
    dt = draw(st.sampled_from([np.float32, np.float32, np.float64]))
    x = float_arrays(draw, shape, dt)
    k = [draw(st.integers(1, min(3, n))) for n in shape[2:]]
    attrs = {"kernel_shape": k}
    if draw(st.booleans()):
        attrs["strides"] = [draw(st.integers(1, 3)) for _ in range(nsp)]
    dil = with_dilation and draw(st.booleans())
    if dil:
        attrs["dilations"] = [draw(st.integers(1, 2)) for _ in range(nsp)]
    ap = draw(st.sampled_from(["NOTSET", "NOTSET", "VALID"] + ([] if dil else ["SAME_UPPER", "SAME_LOWER"])))
    if ap != "NOTSET":
        attrs["auto_pad"] = ap
    elif draw(st.booleans()):
        attrs["pads"] = [draw(st.integers(0, kk - 1)) for kk in k] + [draw(st.integers(0, kk - 1)) for kk in k]
    if ap in ("NOTSET", "VALID") and draw(st.booleans()):
        attrs["ceil_mode"] = 1
    out, *_ = _pool_geometry(shape, attrs)
    if min(out) <= 0:
        attrs.pop("ceil_mode", None)
        attrs.pop("pads", None)
        attrs.pop("auto_pad", None)
        attrs["kernel_shape"] = [1] * nsp
    return x, attrs


@reference
class MaxPoolRef(Reference):
    op = "MaxPool"

    def draw(self, draw, descriptor):
        x, attrs = draw_pool(draw)
        if draw(st.booleans()):
            attrs["_n_out"] = 2
            if x.ndim == 4 and draw(st.booleans()):
                attrs["storage_order"] = 1
        if draw(st.booleans()):
            x = (x * 10).astype(draw(st.sampled_from([np.int8, np.uint8])))
        return [x], attrs

    def compute(self, inputs, attrs):
        y, ind = pool_ref(inputs[0], attrs, "max")
        return [y, ind] if attrs.get("_n_out") == 2 else [y]


@reference
class AveragePoolRef(Reference):
    op = "AveragePool"

    def draw(self, draw, descriptor):
        x, attrs = draw_pool(draw)
        if draw(st.booleans()):
            attrs["count_include_pad"] = 1
        return [x], attrs

    def compute(self, inputs, attrs):
        return [pool_ref(inputs[0], attrs, "avg")[0]]


@reference
class LpPoolRef(Reference):
    op = "LpPool"

    def draw(self, draw, descriptor):
        x, attrs = draw_pool(draw)
        attrs["p"] = draw(st.sampled_from([1, 2, 3]))
        return [x], attrs

    def compute(self, inputs, attrs):
        return [pool_ref(inputs[0], attrs, "lp", attrs.get("p", 2))[0]]

    def tolerance(self, descriptor, dtype):
        return (1e-4, 1e-4) if np.dtype(dtype) == np.float32 else super().tolerance(descriptor, dtype)


@reference
class GlobalPoolRef(Reference):
    ops = ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"]

    def draw(self, draw, descriptor):
        shape = draw(shapes(3, 5, 1, 9))
        dt = draw(st.sampled_from([np.float32, np.float32, np.float64]))
        attrs = {"p": draw(st.sampled_from([1, 2, 3]))} if draw(st.booleans()) else {}
        return [float_arrays(draw, shape, dt)], attrs

    def compute(self, inputs, attrs):  # op is not passed: decided by the routine's op via _op below
        raise NotImplementedError


class _GlobalOne(GlobalPoolRef):
    def __init__(self, op):
        self.op = op

    def compute(self, inputs, attrs):
        x = inputs[0]
        ax = tuple(range(2, x.ndim))
        if self.op == "GlobalAveragePool":
            y = x.astype(np.float64).mean(axis=ax, keepdims=True)
        elif self.op == "GlobalMaxPool":
            y = x.max(axis=ax, keepdims=True)
        else:
            p = attrs.get("p", 2)
            y = (np.abs(x.astype(np.float64)) ** p).sum(axis=ax, keepdims=True) ** (1.0 / p)
        return [y.astype(x.dtype)]

    def tolerance(self, descriptor, dtype):
        return (1e-4, 1e-4) if np.dtype(dtype) == np.float32 else super().tolerance(descriptor, dtype)


from .base import REFS  # noqa: E402

for _op in GlobalPoolRef.ops:
    REFS[_op] = _GlobalOne(_op)


# ---- resize --------------------------------------------------------------------

def _nearest(x, mode, scale):
    f = np.float32
    if mode == "round_prefer_floor":
        return int(np.floor(x)) if x == f(int(x)) + f(0.5) else int(np.round(x))
    if mode == "round_prefer_ceil":
        return int(np.floor(x + f(0.5))) if x >= 0 else int(np.round(x))
    if mode == "floor":
        return int(np.floor(x))
    if mode == "ceil":
        return int(np.ceil(x))
    return int(np.ceil(x)) if scale < 1 else int(x)  # opset < 11


def antialias_taps(n, o, scale, attrs):
    """Antialiased (opset 18) taps of a shrinking axis, as onnx's reference
    computes them: coordinates in double, the filter widened by 1/scale."""
    from onnx.reference.ops.op_resize import _cubic_coeffs_antialias, _linear_coeffs_antialias
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    a = float(np.float32(attrs.get("cubic_coeff_a", -0.75)))
    taps = []
    for j in range(o):
        ow = scale * n
        if ctm == "pytorch_half_pixel":
            x = (j + 0.5) / scale - 0.5 if o > 1 else -0.5
        elif ctm == "align_corners":
            x = 0.0 if o == 1 else j * (n - 1) / (ow - 1)
        elif ctm == "asymmetric":
            x = j / scale
        elif ctm == "half_pixel_symmetric":
            x = n / 2 * (1 - o / ow) + (j + 0.5) / scale - 0.5
        else:
            x = (j + 0.5) / scale - 0.5
        fl = np.floor(x)
        ratio = 1.0 if x == fl else x - fl
        if attrs["mode"] == "linear":
            cs = _linear_coeffs_antialias(ratio, scale)
        else:
            cs = _cubic_coeffs_antialias(ratio, scale, A=a)
        k = len(cs)
        first = int(fl) - (1 if x == fl else 0) - k // 2 + 1  # tap i covers pixel first + i
        idx = [first + i for i in range(k)]
        if attrs.get("exclude_outside", 0):
            cs = [c if 0 <= q < n else 0.0 for c, q in zip(cs, idx)]
            tot = sum(cs)
            cs = [c / tot for c in cs] if tot else cs
        taps.append([(min(max(q, 0), n - 1), float(c)) for q, c in zip(idx, cs)])
    return taps


def resize_taps(n, o, scale, attrs, roi, legacy):
    """Per output index: list of (input index, weight), or None for extrapolation."""
    if attrs.get("antialias", 0) and attrs.get("mode") in ("linear", "cubic") and scale < 1 and not legacy:
        return antialias_taps(n, o, scale, attrs)
    f = np.float32
    mode = attrs.get("mode", "nearest")
    ctm = "asymmetric" if legacy else attrs.get("coordinate_transformation_mode", "half_pixel")
    nm = "simple" if legacy else attrs.get("nearest_mode", "round_prefer_floor")
    A = f(attrs.get("cubic_coeff_a", -0.75))
    excl = attrs.get("exclude_outside", 0)
    s, fn, fo = f(scale), f(n), f(o)
    r0, r1 = f(roi[0]), f(roi[1])
    taps = []
    for j in range(o):
        fj = f(j)
        if ctm == "half_pixel":
            x = (fj + f(0.5)) / s - f(0.5)
        elif ctm == "pytorch_half_pixel":
            x = (fj + f(0.5)) / s - f(0.5) if o > 1 else f(0)
        elif ctm == "align_corners":
            x = f(0) if o == 1 else fj * (fn - f(1)) / (fo - f(1))
        elif ctm == "asymmetric":
            x = fj / s
        elif ctm == "tf_crop_and_resize":
            x = (r0 * (fn - 1) + (fj * (r1 - r0) * (fn - 1)) / (fo - 1)) if o > 1 else f(0.5) * (r0 + r1) * (fn - 1)
        else:  # half_pixel_symmetric
            adj = fo / (s * fn)
            x = fn / f(2) * (f(1) - adj) + (fj + f(0.5)) / s - f(0.5)
        x = f(x)
        if s == 1 and n == o:
            x = fj
        if ctm == "tf_crop_and_resize" and (x < 0 or x > fn - 1):
            taps.append(None)
            continue
        if mode == "nearest":
            taps.append([(min(max(_nearest(x, nm, scale), 0), n - 1), 1.0)])
        elif mode == "linear":
            xc = max(f(0), min(x, fn - 1))
            i0 = min(int(xc), n - 1)
            i1 = min(i0 + 1, n - 1)
            w = 0.0 if i0 == i1 else float(xc - f(i0))
            taps.append([(i0, 1 - w), (i1, w)])
        else:
            i0 = int(np.floor(x))
            t = float(x - f(i0))
            a = float(A)
            cs = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                  ((a + 2) * t - (a + 3)) * t * t + 1,
                  ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                  ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
            idx = [i0 - 1 + k for k in range(4)]
            if excl:
                cs = [c if 0 <= q < n else 0.0 for c, q in zip(cs, idx)]
                tot = sum(cs)
                cs = [c / tot for c in cs]
            taps.append([(min(max(q, 0), n - 1), c) for q, c in zip(idx, cs)])
    return taps


def resize_ref(x, out_shape, scales, rois, attrs, legacy):
    y = x.astype(np.float64)
    ext = attrs.get("extrapolation_value", 0.0)
    for d in range(x.ndim):
        n, o = y.shape[d], out_shape[d]
        taps = resize_taps(n, o, scales[d], attrs, rois[d], legacy)
        moved = np.moveaxis(y, d, 0)
        res = np.empty((o,) + moved.shape[1:])
        for j, t in enumerate(taps):
            res[j] = ext if t is None else sum(w * moved[i] for i, w in t)
        y = np.moveaxis(res, 0, d)
    if x.dtype.kind in "iub":
        return y.astype(x.dtype)
    return y.astype(x.dtype)


@reference
class ResizeRef(Reference):
    op = "Resize"

    def draw(self, draw, descriptor):
        r = draw(st.integers(1, 4))
        shape = tuple(draw(st.integers(1, 6)) for _ in range(r))
        mode = draw(st.sampled_from(["nearest", "linear", "cubic"]))
        ctm = draw(st.sampled_from(["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                    "tf_crop_and_resize", "half_pixel_symmetric"]))
        attrs = {"mode": mode, "coordinate_transformation_mode": ctm}
        if mode == "nearest":
            attrs["nearest_mode"] = draw(st.sampled_from(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]))
            dt = draw(st.sampled_from([np.float32, np.float32, np.int64, np.uint8]))
        else:
            dt = draw(st.sampled_from([np.float32, np.float32, np.float64]))
        if mode == "cubic":
            attrs["cubic_coeff_a"] = draw(st.sampled_from([-0.75, -0.5]))
            attrs["exclude_outside"] = draw(st.integers(0, 1))
        if mode != "nearest" and ctm != "tf_crop_and_resize" and draw(st.booleans()):
            attrs["antialias"] = 1
            shape = tuple(d + draw(st.integers(0, 8)) for d in shape)  # room to shrink
        x = float_arrays(draw, shape, np.float32, 0, 50).astype(dt)
        axes = list(range(r))
        if r > 1 and draw(st.booleans()):
            axes = sorted(draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True)))
            attrs["axes"] = axes
        roi = None
        if ctm == "tf_crop_and_resize":
            st_ = [draw(st.sampled_from([-0.2, 0.0, 0.1, 0.25, 0.5])) for _ in axes]
            en_ = [draw(st.sampled_from([0.5, 0.8, 1.0, 1.2])) for _ in axes]
            roi = np.array(st_ + en_, np.float32)
            attrs["extrapolation_value"] = draw(st.sampled_from([0.0, 7.0]))
        if draw(st.booleans()):
            sc = np.array([draw(st.sampled_from([0.5, 0.6, 1.0, 1.5, 2.0, 3.0, 0.75, 1.7])) for _ in axes], np.float32)
            return [x, roi, sc], attrs
        sizes = np.array([draw(st.integers(1, 12)) for _ in axes], np.int64)
        if len(axes) > 1 and draw(st.booleans()):
            attrs["keep_aspect_ratio_policy"] = draw(st.sampled_from(["not_larger", "not_smaller"]))
        return [x, roi, None, sizes], attrs

    def compute(self, inputs, attrs):
        x = inputs[0]
        r = x.ndim
        axes = [a % r for a in attrs.get("axes", range(r))]
        roi = inputs[1] if len(inputs) > 1 and inputs[1] is not None else None
        scales = [1.0] * r
        out = list(x.shape)
        f = np.float32
        if len(inputs) > 2 and inputs[2] is not None:
            for i, a in enumerate(axes):
                scales[a] = float(inputs[2][i])
                out[a] = int(np.floor(x.shape[a] * f(inputs[2][i])))
        else:
            sizes = inputs[3]
            pol = attrs.get("keep_aspect_ratio_policy", "stretch")
            ratios = [f(f(sizes[i]) / f(x.shape[a])) for i, a in enumerate(axes)]
            if pol != "stretch":
                s = min(ratios) if pol == "not_larger" else max(ratios)
                ratios = [s] * len(axes)
            for i, a in enumerate(axes):
                scales[a] = float(ratios[i])
                out[a] = int(sizes[i]) if pol == "stretch" else int(np.round(float(ratios[i]) * x.shape[a]))
        rois = [(0.0, 1.0)] * r
        if roi is not None:
            for i, a in enumerate(axes):
                rois[a] = (roi[i], roi[i + len(axes)])
        return [resize_ref(x, out, scales, rois, attrs, legacy=False)]

    def tolerance(self, descriptor, dtype):
        return (1e-4, 1e-4) if np.dtype(dtype) == np.float32 else super().tolerance(descriptor, dtype)


@reference
class UpsampleRef(Reference):
    op = "Upsample"

    def draw(self, draw, descriptor):
        r = draw(st.integers(1, 4))
        shape = tuple(draw(st.integers(1, 5)) for _ in range(r))
        mode = draw(st.sampled_from(["nearest", "linear"]))
        x = float_arrays(draw, shape)
        sc = np.array([draw(st.sampled_from([1.0, 1.5, 2.0, 3.0])) for _ in shape], np.float32)
        return [x, sc], {"mode": mode}

    def compute(self, inputs, attrs):
        x, sc = inputs
        out = [int(np.floor(n * f)) for n, f in zip(x.shape, sc)]
        return [resize_ref(x, out, [float(v) for v in sc], [(0.0, 1.0)] * x.ndim, attrs, legacy=True)]

    def tolerance(self, descriptor, dtype):
        return (1e-4, 1e-4)
