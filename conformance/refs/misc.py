"""References for assorted small ops: CumProd, BitwiseAnd/Or/Xor/Not, BitCast,
Shrink, Det, RotaryEmbedding."""
import numpy as np
from hypothesis import strategies as st
from onnx import helper

from .base import Reference, broadcastable_shape, float_arrays, int_arrays, reference, shapes

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def _ints(draw, shape, dt):
    dt = np.dtype(dt)
    info = np.iinfo(dt)
    lo, hi = max(int(info.min), -(2**62)), min(int(info.max), 2**62)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64 if dt.kind == "i" else np.uint64).astype(dt)


@reference
class CumProdRef(Reference):
    op = "CumProd"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 6))
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.float16])))
        if dt.kind == "f":
            x = float_arrays(draw, shape, dt, -1.5, 1.5)
        else:
            x = int_arrays(draw, shape, np.int64, -3, 3).astype(dt)
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        adt = draw(st.sampled_from([np.int64, np.int32]))
        attrs = {}
        if draw(st.booleans()):
            attrs["exclusive"] = 1
        if draw(st.booleans()):
            attrs["reverse"] = 1
        return [x, np.array(axis, dtype=adt)], attrs

    def compute(self, inputs, attrs):
        x, axis = inputs
        axis = int(axis)
        dt = x.dtype
        calc = x.astype(np.float32) if dt == np.float16 else x
        if attrs.get("reverse"):
            calc = np.flip(calc, axis)
        out = np.cumprod(calc, axis=axis, dtype=calc.dtype)
        if attrs.get("exclusive"):
            out = np.concatenate([np.ones_like(np.take(out, [0], axis=axis)),
                                  np.take(out, range(out.shape[axis] - 1), axis=axis)], axis=axis)
        if attrs.get("reverse"):
            out = np.flip(out, axis)
        return [np.array(out.astype(dt), copy=True, order="C")]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float16:
            return 2e-2, 2e-3
        return super().tolerance(descriptor, dtype)


class BitwiseRef(Reference):
    ops = ["BitwiseAnd", "BitwiseOr", "BitwiseXor"]

    def draw(self, draw, descriptor):
        op = draw(st.sampled_from(self.ops))
        shape = draw(shapes(0, 4, 1, 7))
        other = broadcastable_shape(draw, shape)
        if draw(st.booleans()):
            shape, other = other, shape
        dt = draw(st.sampled_from(INT_DTYPES))
        return [_ints(draw, shape, dt), _ints(draw, other, dt)], {"_op": op}

    def compute(self, inputs, attrs):
        raise NotImplementedError


def _bw(fn):
    class R(BitwiseRef):
        def draw(self, draw, descriptor):
            ins, _ = BitwiseRef.draw(self, draw, descriptor)
            return ins, {}

        def compute(self, inputs, attrs):
            return [np.array(fn(inputs[0], inputs[1]), copy=True, order="C")]
    return R


for _op, _fn in (("BitwiseAnd", np.bitwise_and), ("BitwiseOr", np.bitwise_or), ("BitwiseXor", np.bitwise_xor)):
    _cls = _bw(_fn)
    _cls.op = _op
    _cls.ops = [_op]
    reference(_cls)


@reference
class BitwiseNotRef(Reference):
    op = "BitwiseNot"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 4, 1, 9))
        return [_ints(draw, shape, draw(st.sampled_from(INT_DTYPES)))], {}

    def compute(self, inputs, attrs):
        return [np.array(np.invert(inputs[0]), copy=True, order="C")]


@reference
class BitCastRef(Reference):
    op = "BitCast"
    GROUPS = [[np.int8, np.uint8], [np.int16, np.uint16, np.float16],
              [np.int32, np.uint32, np.float32], [np.int64, np.uint64, np.float64]]

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 4, 1, 9))
        g = draw(st.sampled_from(self.GROUPS))
        src = np.dtype(draw(st.sampled_from(g)))
        dst = np.dtype(draw(st.sampled_from(g)))
        uint = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[src.itemsize]
        x = _ints(draw, shape, uint).view(src)
        if src.kind == "f":  # keep NaN payloads out of float round trips
            x = np.where(np.isfinite(x), x, src.type(1.5))
        return [np.array(x, copy=True, order="C")], {"to": helper.np_dtype_to_tensor_dtype(dst)}

    def compute(self, inputs, attrs):
        dst = helper.tensor_dtype_to_np_dtype(attrs["to"])
        return [np.array(inputs[0], copy=True, order="C").view(dst)]

    def tolerance(self, descriptor, dtype):
        return 0, 0


@reference
class ShrinkRef(Reference):
    op = "Shrink"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 4, 1, 9))
        dt = draw(st.sampled_from([np.float32, np.float64, np.float16]))
        x = float_arrays(draw, shape, dt, -3, 3)
        attrs = {}
        if draw(st.booleans()):
            attrs["bias"] = draw(st.sampled_from([0.0, 0.5, 1.5]))
        if draw(st.booleans()):
            attrs["lambd"] = draw(st.sampled_from([0.0, 0.5, 1.5]))
        return [x], attrs

    def compute(self, inputs, attrs):
        x = inputs[0]
        bias, lambd = attrs.get("bias", 0.0), attrs.get("lambd", 0.5)
        c = x.astype(np.float64)
        y = np.where(c < -lambd, c + bias, np.where(c > lambd, c - bias, 0.0))
        return [np.array(y.astype(x.dtype), copy=True, order="C")]


@reference
class DetRef(Reference):
    op = "Det"

    def draw(self, draw, descriptor):
        batch = draw(shapes(0, 2, 1, 3))
        m = draw(st.integers(1, 6))
        dt = draw(st.sampled_from([np.float32, np.float64]))
        return [float_arrays(draw, batch + (m, m), dt, -2, 2)], {}

    def compute(self, inputs, attrs):
        x = inputs[0]
        return [np.array(np.linalg.det(x.astype(np.float64)).astype(x.dtype), copy=True, order="C")]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float32:
            return 1e-4, 1e-4
        return 1e-9, 1e-9


@reference
class RotaryEmbeddingRef(Reference):
    op = "RotaryEmbedding"

    def draw(self, draw, descriptor):
        b = draw(st.integers(1, 3))
        s = draw(st.integers(1, 5))
        h = draw(st.integers(1, 3))
        d = 2 * draw(st.integers(1, 5))
        rd = 2 * draw(st.integers(1, d // 2))
        dt = draw(st.sampled_from([np.float32, np.float32, np.float16]))
        four = draw(st.booleans())
        attrs = {}
        if draw(st.booleans()):
            attrs["interleaved"] = 1
        if rd != d or draw(st.booleans()):
            attrs["rotary_embedding_dim"] = rd
        if four:
            x = float_arrays(draw, (b, h, s, d), dt, -2, 2)
        else:
            x = float_arrays(draw, (b, s, h * d), dt, -2, 2)
            attrs["num_heads"] = h
        if draw(st.booleans()):
            maxpos = draw(st.integers(1, 8))
            cos = float_arrays(draw, (maxpos, rd // 2), dt, -1, 1)
            sin = float_arrays(draw, (maxpos, rd // 2), dt, -1, 1)
            pos = int_arrays(draw, (b, s), np.int64, 0, maxpos - 1)
            return [x, cos, sin, pos], attrs
        cos = float_arrays(draw, (b, s, rd // 2), dt, -1, 1)
        sin = float_arrays(draw, (b, s, rd // 2), dt, -1, 1)
        return [x, cos, sin], attrs

    def compute(self, inputs, attrs):
        x, cos, sin = inputs[:3]
        pos = inputs[3] if len(inputs) > 3 else None
        dt = x.dtype
        x, cos, sin = (v.astype(np.float32) for v in (x, cos, sin))
        shape = x.shape
        if x.ndim == 4:
            x = np.transpose(x, (0, 2, 1, 3))
        else:
            n = attrs["num_heads"]
            x = x.reshape(shape[0], shape[1], n, shape[2] // n)
        d = x.shape[3]
        rd = attrs.get("rotary_embedding_dim", 0) or d
        xr, xn = x[..., :rd], x[..., rd:]
        if pos is not None:
            cos, sin = cos[pos], sin[pos]
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]
        if attrs.get("interleaved"):
            x1, x2 = xr[..., 0::2], xr[..., 1::2]
        else:
            x1, x2 = np.split(xr, 2, axis=-1)
        real = cos * x1 - sin * x2
        imag = sin * x1 + cos * x2
        if attrs.get("interleaved"):
            xr = np.stack([real, imag], axis=-1).reshape(xr.shape)
        else:
            xr = np.concatenate([real, imag], axis=-1)
        out = np.concatenate([xr, xn], axis=-1)
        out = out.reshape(shape) if len(shape) == 3 else np.transpose(out, (0, 2, 1, 3))
        return [np.array(out.astype(dt), copy=True, order="C")]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float16:
            return 1e-2, 2e-3
        return 1e-5, 1e-5


# ---- shape-valued small ops (cpp/cpu/misc/misc2.cpp) ----------------------------------

@reference
class CenterCropPadRef(Reference):
    op = "CenterCropPad"

    def draw(self, draw, descriptor):
        shape = draw(shapes(1, 4, 1, 7))
        r = len(shape)
        x = float_arrays(draw, shape, np.dtype(draw(st.sampled_from([np.float32, np.int64, np.uint8, np.float16]))))
        attrs = {}
        if draw(st.booleans()):
            axes = draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True))
            attrs["axes"] = [a - r if draw(st.booleans()) else a for a in axes]
        else:
            axes = list(range(r))
        target = [draw(st.integers(1, 9)) for _ in axes]
        return [x, np.array(target, dtype=draw(st.sampled_from([np.int64, np.int32])))], attrs

    def compute(self, inputs, attrs):
        x, target = inputs
        r = x.ndim
        axes = [a % r for a in attrs.get("axes", range(r))]
        out_shape = list(x.shape)
        src = [slice(None)] * r
        dst = [slice(None)] * r
        for a, sz in zip(axes, target.tolist()):
            dim = x.shape[a]
            out_shape[a] = sz
            if sz < dim:
                s = (dim - sz) // 2
                src[a] = slice(s, s + sz)
            elif sz > dim:
                s = (sz - dim) // 2
                dst[a] = slice(s, s + dim)
        y = np.zeros(out_shape, dtype=x.dtype)
        y[tuple(dst)] = x[tuple(src)]
        return [y]


class _WindowRef(Reference):
    def draw(self, draw, descriptor):
        size = draw(st.integers(2, 40))
        attrs = {}
        if draw(st.booleans()):
            attrs["periodic"] = draw(st.sampled_from([0, 1]))
        dt = draw(st.sampled_from([None, np.float32, np.float64, np.float16]))
        if dt is not None:
            attrs["output_datatype"] = helper.np_dtype_to_tensor_dtype(np.dtype(dt))
        return [np.array(size, dtype=draw(st.sampled_from([np.int64, np.int32])))], attrs

    def compute(self, inputs, attrs):
        size = int(inputs[0])
        dt = helper.tensor_dtype_to_np_dtype(attrs.get("output_datatype", 1))
        n = np.arange(size, dtype=np.float64)
        N = size if attrs.get("periodic", 1) else size - 1
        return [self.window(n, N).astype(dt)]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float16:
            return 1e-3, 1e-3
        return 1e-6, 1e-6


@reference
class HannWindowRef(_WindowRef):
    op = "HannWindow"

    def window(self, n, N):
        return np.sin(n * np.pi / N) ** 2


@reference
class HammingWindowRef(_WindowRef):
    op = "HammingWindow"

    def window(self, n, N):
        a = 25.0 / 46.0
        return a - np.cos(n * 2 * np.pi / N) * (1 - a)


@reference
class BlackmanWindowRef(_WindowRef):
    op = "BlackmanWindow"

    def window(self, n, N):
        return 0.42 - 0.5 * np.cos(n * 2 * np.pi / N) + 0.08 * np.cos(n * 4 * np.pi / N)


@reference
class AffineGridRef(Reference):
    op = "AffineGrid"

    def draw(self, draw, descriptor):
        nd = draw(st.sampled_from([2, 3]))
        n = draw(st.integers(1, 3))
        sp = [draw(st.integers(1, 6)) for _ in range(nd)]
        dt = draw(st.sampled_from([np.float32, np.float64]))
        theta = float_arrays(draw, (n, nd, nd + 1), dt, -2, 2)
        size = np.array([n, draw(st.integers(1, 3))] + sp, dtype=np.int64)
        attrs = {}
        if draw(st.booleans()):
            attrs["align_corners"] = draw(st.sampled_from([0, 1]))
        return [theta, size], attrs

    def compute(self, inputs, attrs):
        theta, size = inputs
        sp = [int(s) for s in size[2:]]
        ac = attrs.get("align_corners", 0)

        def coords(m):
            i = np.arange(m, dtype=np.float64)
            if ac:
                return -1.0 + 2.0 * i / (m - 1) if m > 1 else np.full(m, -1.0)
            return -1.0 + (2.0 * i + 1.0) / m

        axes = [coords(m) for m in sp]
        mesh = np.meshgrid(*axes, indexing="ij")  # (D,) H, W
        base = [mesh[-1], mesh[-2]] + ([mesh[0]] if len(sp) == 3 else []) + [np.ones(sp)]
        base = np.stack(base, axis=-1)  # (..., nd+1)
        out = np.einsum("...k,njk->n...j", base, theta.astype(np.float64))
        return [np.array(out.astype(theta.dtype), copy=True, order="C")]


@reference
class TensorScatterRef(Reference):
    op = "TensorScatter"

    def draw(self, draw, descriptor):
        shape = list(draw(shapes(2, 4, 1, 6)))
        r = len(shape)
        axis = draw(st.integers(1, r - 1))
        mode = draw(st.sampled_from(["linear", "circular"]))
        seq = draw(st.integers(1, shape[axis]))
        ushape = list(shape)
        ushape[axis] = seq
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float16, np.int64, np.uint8])))
        past = float_arrays(draw, tuple(shape), dt)
        upd = float_arrays(draw, tuple(ushape), dt)
        attrs = {"mode": mode}
        attrs["axis"] = axis - r if draw(st.booleans()) else axis
        hi = shape[axis] - 1 if mode == "circular" else shape[axis] - seq
        if draw(st.booleans()):
            idx = int_arrays(draw, (shape[0],), np.int64, 0, hi)
            return [past, upd, idx], attrs
        return [past, upd], attrs

    def compute(self, inputs, attrs):
        past, upd = inputs[:2]
        idx = inputs[2] if len(inputs) > 2 else np.zeros(past.shape[0], dtype=np.int64)
        axis = attrs.get("axis", -2) % past.ndim
        circ = attrs.get("mode", "linear") == "circular"
        out = past.copy()
        for pre in np.ndindex(past.shape[:axis]):
            for s in range(upd.shape[axis]):
                c = int(idx[pre[0]]) + s
                if circ:
                    c %= past.shape[axis]
                out[pre + (c,)] = upd[pre + (s,)]
        return [out]


@reference
class Col2ImRef(Reference):
    op = "Col2Im"

    def draw(self, draw, descriptor):
        nd = draw(st.sampled_from([2, 2, 1, 3]))
        blk = [draw(st.integers(1, 3)) for _ in range(nd)]
        dil = [draw(st.integers(1, 2)) for _ in range(nd)]
        strd = [draw(st.integers(1, 2)) for _ in range(nd)]
        pads = [draw(st.integers(0, 1)) for _ in range(2 * nd)]
        img, nb = [], []
        for d in range(nd):
            lo = max(1, dil[d] * (blk[d] - 1) + 1 - pads[d] - pads[d + nd])
            m = draw(st.integers(lo, lo + 4))
            img.append(m)
            nb.append((m + pads[d] + pads[d + nd] - dil[d] * (blk[d] - 1) - 1) // strd[d] + 1)
        n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
        dt = draw(st.sampled_from([np.float32, np.float64]))
        x = float_arrays(draw, (n, c * int(np.prod(blk)), int(np.prod(nb))), dt)
        attrs = {}
        if draw(st.booleans()) or any(v != 1 for v in dil):
            attrs["dilations"] = dil
        if draw(st.booleans()) or any(v != 1 for v in strd):
            attrs["strides"] = strd
        if draw(st.booleans()) or any(pads):
            attrs["pads"] = pads
        return [x, np.array(img, dtype=np.int64), np.array(blk, dtype=np.int64)], attrs

    def compute(self, inputs, attrs):
        x, img, blk = inputs
        img, blk = [int(v) for v in img], [int(v) for v in blk]
        nd = len(img)
        dil = attrs.get("dilations", [1] * nd)
        strd = attrs.get("strides", [1] * nd)
        pads = attrs.get("pads", [0] * 2 * nd)
        nb = [(img[d] + pads[d] + pads[d + nd] - dil[d] * (blk[d] - 1) - 1) // strd[d] + 1 for d in range(nd)]
        K = int(np.prod(blk))
        n, ck, _ = x.shape
        c = ck // K
        acc = np.zeros((n, c) + tuple(img), dtype=np.float64)
        xr = x.astype(np.float64).reshape((n, c) + tuple(blk) + tuple(nb))
        for k in np.ndindex(*blk):
            for p in np.ndindex(*nb):
                q = [p[d] * strd[d] - pads[d] + k[d] * dil[d] for d in range(nd)]
                if all(0 <= q[d] < img[d] for d in range(nd)):
                    acc[(slice(None), slice(None)) + tuple(q)] += xr[(slice(None), slice(None)) + k + p]
        return [acc.astype(x.dtype)]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float32:
            return 1e-5, 1e-4
        return super().tolerance(descriptor, dtype)
