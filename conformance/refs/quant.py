"""References for the quantization ops: QuantizeLinear, DequantizeLinear,
DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv.

Quantization divides in float32 (x / scale), rounds half to even (np.rint),
adds the zero point and saturates. Requantization of an int32 accumulator
multiplies float32(acc) by float32(s_a * s_b / s_y) (as onnxruntime does).
Integer outputs compare exactly. Values are drawn so that no quotient lies
within float32 rounding of a .5 tie except by construction (exact ties are
drawn on purpose: x = (k + 0.5) * scale with scale a power of two).
"""
import numpy as np
from hypothesis import strategies as st

from .base import Reference, float_arrays, int_arrays, reference, shapes

QT = {np.int8: (-128, 127), np.uint8: (0, 255), np.int16: (-32768, 32767), np.uint16: (0, 65535)}


def qrange(dt):
    return QT[np.dtype(dt).type]


def sat_round(v, zp, dt):
    lo, hi = qrange(dt)
    return np.clip(np.rint(v).astype(np.float64) + zp, lo, hi).astype(dt)


def bcast_param(p, xshape, axis, block):
    """Scale / zero point broadcast to x's shape (per-tensor, per-axis, blocked)."""
    p = np.asarray(p)
    if p.size == 1 and p.ndim <= 1 and not block:
        return p.reshape(())
    r = len(xshape)
    axis = axis % r
    if not block:
        sh = [1] * r
        sh[axis] = -1
        return p.reshape(sh)
    return np.repeat(p, block, axis=axis).take(np.arange(xshape[axis]), axis=axis)


def draw_qparams(draw, xshape, qdt):
    """(scale, zero_point, attrs) per-tensor, per-axis or blocked."""
    r = len(xshape)
    mode = draw(st.sampled_from(["tensor", "axis", "block"] if r else ["tensor"]))
    attrs = {}
    if mode == "tensor":
        pshape = ()
    else:
        axis = draw(st.integers(-r, r - 1))
        attrs["axis"] = axis
        if mode == "axis":
            pshape = (xshape[axis],)
        else:
            b = draw(st.integers(1, 4))
            attrs["block_size"] = b
            pshape = list(xshape)
            pshape[axis] = -(-xshape[axis] // b)
            pshape = tuple(pshape)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = (2.0 ** rng.integers(-4, 3, size=pshape)).astype(np.float32)
    if draw(st.booleans()):
        scale = (scale * rng.choice([1.0, 0.3, 1.7], size=pshape)).astype(np.float32)
    lo, hi = qrange(qdt)
    zp = rng.integers(lo, hi, size=pshape, endpoint=True).astype(qdt) if draw(st.booleans()) else None
    return scale, zp, attrs


@reference
class QuantizeLinearRef(Reference):
    op = "QuantizeLinear"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 4, 1, 6))
        qdt = draw(st.sampled_from([np.int8, np.uint8, np.int16, np.uint16]))
        scale, zp, attrs = draw_qparams(draw, shape, qdt)
        x = float_arrays(draw, shape, lo=-300.0, hi=300.0)
        if draw(st.booleans()):  # exact ties
            seed = draw(st.integers(0, 2**32 - 1))
            k = np.random.default_rng(seed).integers(-200, 200, size=shape)
            x = ((k + 0.5) * bcast_param(scale, shape, attrs.get("axis", 1), attrs.get("block_size", 0))
                 ).astype(np.float32)
        if zp is None:
            attrs["output_dtype"] = {np.int8: 3, np.uint8: 2, np.int16: 5, np.uint16: 4}[qdt]
            if qdt == np.uint8 and draw(st.booleans()):
                del attrs["output_dtype"]
        return [x, scale, zp], attrs

    def compute(self, inputs, attrs):
        x, scale, zp = inputs
        if zp is not None:
            dt = zp.dtype
        else:
            dt = {3: np.int8, 2: np.uint8, 5: np.int16, 4: np.uint16}[attrs.get("output_dtype", 2)]
        axis, block = attrs.get("axis", 1), attrs.get("block_size", 0)
        s = bcast_param(scale, x.shape, axis, block)
        z = bcast_param(zp, x.shape, axis, block).astype(np.float64) if zp is not None else 0.0
        q = (x / s).astype(np.float32)
        return [sat_round(q, z, dt)]


@reference
class DequantizeLinearRef(Reference):
    op = "DequantizeLinear"

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 4, 1, 6))
        qdt = draw(st.sampled_from([np.int8, np.uint8, np.int16, np.uint16, np.int32]))
        if qdt == np.int32:
            scale, _, attrs = draw_qparams(draw, shape, np.int8)
            zp = None
            x = int_arrays(draw, shape, np.int32, -(2**31), 2**31 - 1)
        else:
            scale, zp, attrs = draw_qparams(draw, shape, qdt)
            lo, hi = qrange(qdt)
            x = int_arrays(draw, shape, qdt, lo, hi)
        return [x, scale, zp], attrs

    def compute(self, inputs, attrs):
        x, scale, zp = inputs
        axis, block = attrs.get("axis", 1), attrs.get("block_size", 0)
        s = bcast_param(scale, x.shape, axis, block)
        z = bcast_param(zp, x.shape, axis, block).astype(np.int64) if zp is not None else 0
        return [((x.astype(np.int64) - z).astype(np.float32) * s).astype(np.float32)]


@reference
class DynamicQuantizeLinearRef(Reference):
    op = "DynamicQuantizeLinear"
    n_outputs = 3

    def draw(self, draw, descriptor):
        shape = draw(shapes(0, 4, 1, 8))
        lo = draw(st.sampled_from([-10.0, 0.0, 1.0]))
        return [float_arrays(draw, shape, lo=lo, hi=lo + draw(st.sampled_from([0.0, 5.0, 20.0])))], {}

    def compute(self, inputs, attrs):
        x = inputs[0]
        mn = np.float32(min(0.0, x.min())) if x.size else np.float32(0)
        mx = np.float32(max(0.0, x.max())) if x.size else np.float32(0)
        scale = np.float32(1.0) if mx == mn else np.float32((mx - mn) / np.float32(255.0))
        zpf = np.float32(np.float32(0.0) - mn / scale)
        zp = np.uint8(np.rint(np.clip(zpf, 0, 255)))
        y = sat_round((x / scale).astype(np.float32), float(zp), np.uint8)
        return [y, np.array(scale, np.float32), np.array(zp, np.uint8)]


def q8(draw, shape, dt):
    lo, hi = qrange(dt)
    return int_arrays(draw, shape, dt, lo, hi)


def imatmul(a, b, az, bz):
    a = a.astype(np.int64) - az
    b = b.astype(np.int64) - bz
    return np.matmul(a, b)


@reference
class MatMulIntegerRef(Reference):
    op = "MatMulInteger"

    def draw(self, draw, descriptor):
        m, k, n = (draw(st.integers(1, 9)) for _ in range(3))
        batch = draw(st.sampled_from([(), (2,), (1, 3)]))
        bbatch = draw(st.sampled_from([(), batch]))
        a1 = draw(st.booleans()) and not batch
        adt, bdt = (draw(st.sampled_from([np.int8, np.uint8])) for _ in range(2))
        if "qint8" in descriptor:  # u8 activations, one 2-D weight matrix, scalar a zero point
            m, k, n = (draw(st.integers(1, 40)) for _ in range(3))
            adt, bbatch, a1 = np.uint8, (), False
        ash = (k,) if a1 else batch + (m, k)
        a = q8(draw, ash, adt)
        b = q8(draw, bbatch + (k, n), bdt)
        az = bz = None
        if draw(st.booleans()):
            az = q8(draw, draw(st.sampled_from([(), (1,)] + ([(m,)] if not a1 and not batch and "qint8" not in descriptor
                                                               else []))), adt)
        if draw(st.booleans()):
            bz = q8(draw, draw(st.sampled_from([(), (1,), (n,)])), bdt)
        return [a, b, az, bz], {}

    def compute(self, inputs, attrs):
        a, b, az, bz = inputs
        azv = 0 if az is None else (az.astype(np.int64).reshape(-1, 1) if az.size > 1 else int(az.reshape(-1)[0]))
        bzv = 0 if bz is None else bz.astype(np.int64).reshape(-1)
        return [imatmul(a, b, azv, bzv).astype(np.int32)]


def requant(acc, mult, zp, dt):
    v = (acc.astype(np.float32) * np.asarray(mult, np.float32)).astype(np.float32)
    return sat_round(v, np.asarray(zp, np.float64), dt)


@reference
class QLinearMatMulRef(Reference):
    op = "QLinearMatMul"

    def draw(self, draw, descriptor):
        m, k, n = (draw(st.integers(1, 9)) for _ in range(3))
        batch = draw(st.sampled_from([(), (2,)]))
        adt, bdt, ydt = (draw(st.sampled_from([np.int8, np.uint8])) for _ in range(3))
        if "qint8" in descriptor:  # u8 activations, per-tensor a, per-tensor or per-column b
            m, k, n = (draw(st.integers(1, 40)) for _ in range(3))
            adt = np.uint8
        a, b = q8(draw, batch + (m, k), adt), q8(draw, (k, n), bdt)
        vec = not batch and draw(st.booleans())
        veca = vec and "qint8" not in descriptor
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        sa = rng.uniform(0.01, 0.1, size=(m,) if veca else ()).astype(np.float32)
        sb = rng.uniform(0.01, 0.1, size=(n,) if vec else ()).astype(np.float32)
        sy = np.float32(rng.uniform(0.01, 0.5))
        lo, hi = qrange(adt)
        za = rng.integers(lo, hi, size=(m,) if veca else (), endpoint=True).astype(adt)
        lo, hi = qrange(bdt)
        zb = rng.integers(lo, hi, size=(n,) if vec else (), endpoint=True).astype(bdt)
        lo, hi = qrange(ydt)
        zy = np.asarray(rng.integers(lo, hi, endpoint=True), dtype=ydt)
        return [a, sa, za, b, sb, zb, np.asarray(sy), zy], {}

    def compute(self, inputs, attrs):
        a, sa, za, b, sb, zb, sy, zy = inputs
        azv = za.astype(np.int64).reshape(-1, 1) if za.ndim else int(za)
        acc = imatmul(a, b, azv, zb.astype(np.int64))
        mult = (sa.reshape(-1, 1) if sa.ndim else sa) * sb.astype(np.float32)
        mult = (mult.astype(np.float32) / np.float32(sy)).astype(np.float32)
        return [requant(acc, mult, int(zy), zy.dtype)]


def iconv(x, w, xz, wz, group, strides, pads, dil):
    """x [N, C, H, W] int64, w [M, C/g, kh, kw] int64 (zero points subtracted here)."""
    x = x.astype(np.int64) - xz
    w = w.astype(np.int64) - wz
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - (kh - 1) * dil[0] - 1) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - (kw - 1) * dil[1] - 1) // strides[1] + 1
    y = np.zeros((n, m, oh, ow), np.int64)
    mg = m // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dil[0]: i * dil[0] + (oh - 1) * strides[0] + 1: strides[0],
                           j * dil[1]: j * dil[1] + (ow - 1) * strides[1] + 1: strides[1]]
                y[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, w[g * mg:(g + 1) * mg, :, i, j])
    return y


def draw_conv(draw, xdt, wdt, descriptor=""):
    """x, w and attrs; shaped for the routine: depthwise (group == channels,
    3x3 or 5x5), 1x1 (unit kernel and stride, no padding), or any."""
    group = draw(st.sampled_from([1, 1, 2]))
    cg, mg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    dil = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    if "qint8" in descriptor:  # wider, so that K and N cross the vector widths
        cg, mg = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    if "/depthwise" in descriptor:
        group, cg, mg = draw(st.integers(1, 20)), 1, 1
        kh = kw = draw(st.sampled_from([3, 5]))
        dil = [1, 1]
        pads = [draw(st.integers(0, kh // 2)) for _ in range(4)]
    elif "/qgemm_1x1" in descriptor:
        kh = kw = 1
        strides, dil, pads = [1, 1], [1, 1], [0, 0, 0, 0]
    hmax = 20 if "qint8" in descriptor else 8
    h = draw(st.integers((kh - 1) * dil[0] + 1, hmax))
    wd = draw(st.integers((kw - 1) * dil[1] + 1, hmax))
    x = q8(draw, (draw(st.integers(1, 2)), cg * group, h, wd), xdt)
    w = q8(draw, (mg * group, cg, kh, kw), wdt)
    attrs = {"group": group, "strides": strides, "dilations": dil, "pads": pads, "kernel_shape": [kh, kw]}
    return x, w, attrs


@reference
class ConvIntegerRef(Reference):
    op = "ConvInteger"

    def draw(self, draw, descriptor):
        xdt, wdt = (draw(st.sampled_from([np.int8, np.uint8])) for _ in range(2))
        if "qint8" in descriptor:
            xdt = np.uint8
        x, w, attrs = draw_conv(draw, xdt, wdt, descriptor)
        xz = q8(draw, (), xdt) if draw(st.booleans()) else None
        wz = q8(draw, draw(st.sampled_from([(), (w.shape[0],)])), wdt) if draw(st.booleans()) else None
        return [x, w, xz, wz], attrs

    def compute(self, inputs, attrs):
        x, w, xz, wz = inputs
        xzv = 0 if xz is None else int(xz)
        wzv = 0 if wz is None else wz.astype(np.int64).reshape(-1, 1, 1, 1)
        return [iconv(x, w, xzv, wzv, attrs["group"], attrs["strides"], attrs["pads"],
                      attrs["dilations"]).astype(np.int32)]


@reference
class QLinearConvRef(Reference):
    op = "QLinearConv"

    def draw(self, draw, descriptor):
        xdt, wdt, ydt = (draw(st.sampled_from([np.int8, np.uint8])) for _ in range(3))
        if "qint8" in descriptor:
            xdt = np.uint8
        x, w, attrs = draw_conv(draw, xdt, wdt, descriptor)
        m = w.shape[0]
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        sx = np.float32(rng.uniform(0.01, 0.1))
        sw = rng.uniform(0.01, 0.1, size=draw(st.sampled_from([(), (m,)]))).astype(np.float32)
        sy = np.float32(rng.uniform(0.05, 0.5))
        zx, zy = q8(draw, (), xdt), q8(draw, (), ydt)
        zw = q8(draw, sw.shape, wdt) if wdt == np.uint8 else np.zeros(sw.shape, wdt)
        bias = rng.integers(-1000, 1000, size=(m,)).astype(np.int32) if draw(st.booleans()) else None
        inputs = [x, np.asarray(sx), zx, w, sw, zw, np.asarray(sy), zy, bias]
        # engine-internal fused extensions (cpu/quant/qlinear_fused.h)
        act = draw(st.sampled_from(["", "", "Relu", "Clip"]))
        if act:
            attrs["activation"] = act
        if act == "Clip":
            lo = float(rng.uniform(-3, 1))
            attrs["activation_params"] = [lo, lo + float(rng.uniform(0, 4))]
        if draw(st.booleans()):
            zdt = draw(st.sampled_from([np.uint8, np.int8]))
            oshape = iconv_shape(x.shape, w.shape, attrs)
            inputs += [q8(draw, oshape, zdt), np.asarray(np.float32(rng.uniform(0.01, 0.5))), q8(draw, (), zdt)]
        return inputs, attrs

    def compute(self, inputs, attrs):
        x, sx, zx, w, sw, zw, sy, zy, bias = inputs[:9]
        wzv = zw.astype(np.int64).reshape(-1, 1, 1, 1) if zw.ndim else int(zw)
        acc = iconv(x, w, int(zx), wzv, attrs["group"], attrs["strides"], attrs["pads"], attrs["dilations"])
        if bias is not None:
            acc = acc + bias.astype(np.int64).reshape(1, -1, 1, 1)
        mult = ((np.float32(sx) * sw.astype(np.float32)).astype(np.float32) / np.float32(sy)).astype(np.float32)
        mult = mult.reshape(1, -1, 1, 1) if mult.ndim else mult
        return [qlinear_fused(acc, mult, inputs[9:], sy, zy, attrs)]


def iconv_shape(xshape, wshape, attrs):
    n, _, h, wd = xshape
    m, _, kh, kw = wshape
    s, p, d = attrs["strides"], attrs["pads"], attrs["dilations"]
    return (n, m, (h + p[0] + p[2] - (kh - 1) * d[0] - 1) // s[0] + 1, (wd + p[1] + p[3] - (kw - 1) * d[1] - 1) // s[1] + 1)


def qlinear_fused(acc, mult, residual, sy, zy, attrs):
    """Requantization with the fused residual and activation of QLinearConv:
    v = float32(acc) * mult [+ float32(z - z_zp) * float32(z_scale / y_scale)] in float32,
    q = sat(rint(v) + y_zp), then q clamped to the activation's quantized bounds
    (Relu: [y_zp, ...]; Clip(a, b): [Q(a), max(Q(a), Q(b))], Q = QuantizeLinear)."""
    v = (acc.astype(np.float32) * np.asarray(mult, np.float32)).astype(np.float32)
    if residual and residual[0] is not None:
        z, zs, zz = residual
        zmult = np.float32(np.float32(zs) / np.float32(sy))
        v = (v + ((z.astype(np.int64) - int(zz)).astype(np.float32) * zmult).astype(np.float32)).astype(np.float32)
    dt = zy.dtype
    q = sat_round(v, int(zy), dt)
    lo, hi = qrange(dt)
    act = attrs.get("activation", "")

    def qb(t):
        with np.errstate(all="ignore"):
            return int(np.clip(np.rint(np.float64(np.float32(t) / np.float32(sy))) + int(zy), lo, hi))
    if act == "Relu":
        q = np.maximum(q, np.asarray(zy, dt))
    elif act == "Clip":
        p = attrs.get("activation_params", [])
        a = qb(p[0] if len(p) > 0 else -np.inf)
        b = max(a, qb(p[1] if len(p) > 1 else np.inf))
        q = np.clip(q.astype(np.int64), a, b).astype(dt)
    return q


def qgemm_mult(alpha, a_scale, b_scale, y_scale):
    """onnxruntime's QGemm output scale, in float32 and this order: (alpha * a_scale) * b_scale[n] [/ y_scale]."""
    m = (np.float32(np.float32(alpha) * np.float32(a_scale)) * np.asarray(b_scale, np.float32).reshape(-1)
         ).astype(np.float32)
    if y_scale is not None:
        m = (m / np.float32(y_scale)).astype(np.float32)
    return m


@reference
class QGemmRef(Reference):
    """com.microsoft QGemm: acc = C + (A' - a_zp)(B' - b_zp[n]) in int32 (A' = A^T with transA, B' likewise),
    float32 output y = float32(acc) * mult[n], or, with y_zero_point, y = sat(rint(float32(acc) * mult[n]) + y_zp)
    (mult: qgemm_mult). Both are computed exactly as the routine does: compared exactly."""
    op = "QGemm"

    def draw(self, draw, descriptor):
        m = draw(st.sampled_from([1, 1, 2, 3, 4, 5, 7]) | st.integers(1, 24))
        k, n = draw(st.integers(1, 80)), draw(st.integers(1, 80))
        ta, tb = draw(st.sampled_from([0, 0, 1])), draw(st.integers(0, 1))
        adt = draw(st.sampled_from([np.uint8, np.uint8, np.int8]))
        bdt = draw(st.sampled_from([np.int8, np.int8, np.uint8]))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        lo, hi = qrange(adt)
        a = rng.integers(lo, hi, size=(k, m) if ta else (m, k), endpoint=True).astype(adt)
        lo, hi = qrange(bdt)
        b = rng.integers(lo, hi, size=(n, k) if tb else (k, n), endpoint=True).astype(bdt)
        per_col = draw(st.booleans())
        a_scale = np.asarray(np.float32(rng.uniform(0.01, 0.1)))
        a_zp = None if draw(st.integers(0, 4)) == 0 else np.asarray(rng.integers(*qrange(adt), endpoint=True), adt)
        b_scale = rng.uniform(0.001, 0.05, size=(n,) if per_col else ()).astype(np.float32)
        zmode = draw(st.sampled_from(["zero", "zero", "none", "any"]))
        b_zp = None
        if zmode == "zero":
            b_zp = np.full(b_scale.shape, 0 if bdt == np.int8 else 128, bdt)
        elif zmode == "any":
            b_zp = rng.integers(lo, hi, size=b_scale.shape, endpoint=True).astype(bdt)
        c = None
        cshape = draw(st.sampled_from([None, None, (n,), (1, n), (m, n), (m, 1), (), (1,)]))
        if cshape is not None:
            c = rng.integers(-20000, 20000, size=cshape).astype(np.int32)
        out = draw(st.sampled_from(["float", "float_ys", "u8", "s8"]))
        y_scale = y_zp = None
        if out != "float":
            y_scale = np.asarray(np.float32(rng.uniform(0.05, 0.5)))
        if out in ("u8", "s8"):
            ydt = np.uint8 if out == "u8" else np.int8
            y_zp = np.asarray(rng.integers(*qrange(ydt), endpoint=True), ydt)
        attrs = {}
        if ta:
            attrs["transA"] = 1
        if tb:
            attrs["transB"] = 1
        if draw(st.booleans()):
            attrs["alpha"] = float(draw(st.sampled_from([0.5, 2.0, 0.3])))
        return [a, a_scale, a_zp, b, b_scale, b_zp, c, y_scale, y_zp], attrs

    def const_inputs(self, draw, descriptor):
        return (3,) if draw(st.booleans()) else ()

    def compute(self, inputs, attrs):
        a, a_scale, a_zp, b, b_scale, b_zp, c, y_scale, y_zp = (list(inputs) + [None] * 9)[:9]
        a = a.T if attrs.get("transA", 0) else a
        b = b.T if attrs.get("transB", 0) else b
        az = 0 if a_zp is None else int(a_zp)
        bz = 0 if b_zp is None else b_zp.astype(np.int64).reshape(-1)
        acc = imatmul(a, b, az, bz)
        if c is not None:
            acc = acc + c.astype(np.int64)
        acc = ((acc + 2**31) % 2**32 - 2**31).astype(np.int32)  # int32, wrapping
        mult = qgemm_mult(attrs.get("alpha", 1.0), a_scale, b_scale, y_scale)
        v = (acc.astype(np.float32) * mult).astype(np.float32)
        if y_zp is None:
            return [v]
        return [sat_round(v, int(y_zp), y_zp.dtype)]

    def tolerance(self, descriptor, dtype):
        return 0, 0
