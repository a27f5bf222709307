"""References for the linear-algebra ops: Conv, ConvTranspose, Gemm, MatMul,
with the engine's fused extensions (graph_passes/fuse.py):
  attrs "activation" / "activation_params" applied last (all four ops);
  Conv's optional input 3, Z, same shape as the output, added before the activation;
  MatMul's optional input 2, a bias of length N added along the last dim.

Tolerance: the engine accumulates in float32 in a blocked order (K split into
blocks, FMA), the reference in float64; the difference of a K-term dot product
of values in [-1, 1] grows like sqrt(K) * eps32 * |terms| in the typical case
and K * eps32 in the worst. With inputs drawn in [-1, 1] we allow
rtol 1e-4 and atol 2e-6 * sqrt(K) + 1e-6 (K = reduction length of the case,
recorded by compute()), which is ~10x the typical error and well below the
error of a wrong index (O(1)).

Winograd routines (descriptors containing "winograd"; 2-D 3x3 stride-1 Conv
only, so draw() gives them such cases) are not bit-exact: the input/output
transforms B^T d B and A^T M A are evaluated in float32 and their
coefficients amplify its rounding. The error of an output is bounded by a
multiple of eps32 * sum |w||x| over its receptive field (S below, computed by
compute() as conv(|x|, |w|)), not by |y|, since y may cancel to ~0:
  F(2,3): coefficients 0/+-1 (B, A) and 1/2 (G): measured max |err| / max S
          ~1e-7, like the direct sum; tolerance atol = 1e-5 * max S.
  F(4,3): A^T has entries up to 8, B^T up to 5, G down to 1/24, so the
          transformed values and their rounding grow by ~|A^T|*|B^T| ~ 100:
          measured max |err| / max S ~1.5e-6 (C = 64..256, 14x14..150x150);
          tolerance atol = 1e-4 * max S: ~60x the measured error, well inside
          the rtol ~1e-3-of-S bound, and still far below a wrong index or a
          dropped tap (an error of one |w||x| term, O(0.1..1) with inputs in
          [-1, 1], while 1e-4 * S <= 1e-4 * 9 * 40 = 0.036 for the drawn C <= 40).
rtol stays 1e-4 (relative to |y|).

Reduced-precision routines on float32 tensors (descriptor dtype "bfloat16" or
"float16") are bounded the same way, by S = |alpha| * sum |a||b| of an output
(compute() records max S as _abs_scale):
  bfloat16: both operands rounded to 8 significant bits (unit roundoff
          u = 2^-9), so each product is off by at most (1+u)^2 - 1 ~ 2^-8 of
          |a||b|; summed over K that is 2^-8 * S (the fp32 accumulation adds
          at most K * 2^-24 * S, below 2^-8 * S for any K < 2^16).
  float16: only the weights are rounded, to 11 significant bits: 2^-11 * S
          (weights below fp16's normal range lose at most 2^-25 absolute
          each, far inside the float32 atol).
A fused activation can stretch an error by its slope (HardSwish: 1.5), hence
atol = 2 * 2^-8 * S (bfloat16), 2 * 2^-11 * S (float16). For large K this
bound could hide one dropped term (~S/K), so
tests/test_reduced_precision_routines.py also runs the routines on inputs
exactly representable in bf16 / fp16, where they must match to fp32 accuracy.
"""
import numpy as np
from hypothesis import strategies as st

from .base import Reference, float_arrays, reference

ACTS = ["", "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh"]
GEMM_ACTS = ["Gelu", "GeluTanh"]  # fused into Gemm / MatMul only (graph_passes/fuse.py)


def draw_activation(draw, attrs, gemm=False):
    kind = draw(st.sampled_from(ACTS + (GEMM_ACTS if gemm else []) + [""] * 3))
    if not kind:
        return attrs
    attrs["activation"] = kind
    if kind == "Clip":
        lo = draw(st.sampled_from([-0.5, 0.0, -1.0]))
        attrs["activation_params"] = [lo, lo + draw(st.sampled_from([0.5, 1.0, 6.0]))]
    elif kind == "HardSigmoid":
        attrs["activation_params"] = [draw(st.sampled_from([0.2, 0.5, 1 / 6])), 0.5]
    elif kind == "LeakyRelu":
        attrs["activation_params"] = [draw(st.sampled_from([0.01, 0.1, 0.3]))]
    return attrs


def apply_activation(y, attrs):
    kind = attrs.get("activation", "")
    p = list(attrs.get("activation_params", []))

    def param(i, d):
        return p[i] if i < len(p) else d

    if not kind:
        return y
    if kind == "Relu":
        return np.maximum(y, 0)
    if kind == "Clip":
        return np.minimum(np.maximum(y, param(0, -np.inf)), param(1, np.inf))
    if kind == "Sigmoid":
        return 1.0 / (1.0 + np.exp(-y))
    if kind == "HardSigmoid":
        return np.clip(param(0, 0.2) * y + param(1, 0.5), 0, 1)
    if kind == "HardSwish":
        return y * np.clip(y / 6.0 + 0.5, 0, 1)
    if kind == "LeakyRelu":
        return np.where(y >= 0, y, param(0, 0.01) * y)
    if kind == "Tanh":
        return np.tanh(y)
    if kind == "Gelu":
        from math import erf
        return 0.5 * y * (1.0 + np.vectorize(erf, otypes=[np.float64])(np.asarray(y, np.float64) / np.sqrt(2.0)))
    if kind == "GeluTanh":
        return 0.5 * y * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (y + 0.044715 * y ** 3)))
    raise ValueError(kind)


def unit(draw, shape):
    return float_arrays(draw, shape, lo=-1.0, hi=1.0)


def _descriptor_dtype(descriptor):
    """Tensor dtype: float16 / float64 for routines of float16 / float64 layers (cpu:float16/direct...),
    else float32 (float32 layers, including their reduced-precision routines such as cpu:float16/gemv)."""
    if compute_dtype(descriptor) == "float16" and is_reduced_routine(descriptor):
        return np.dtype(np.float32)
    for name in ("float16", "float64"):
        if descriptor.startswith("cpu:" + name):
            return np.dtype(name)
    return np.dtype(np.float32)


REDUCED_EPS = {"bfloat16": 2.0 ** -8, "float16": 2.0 ** -11}  # per-product relative error (docstring)
REDUCED_ALGOS = ("/gemv",)  # float16 routines of float32 layers (weights stored as float16)


def compute_dtype(descriptor):
    head = descriptor.split("/", 1)[0].split(":")
    return head[1] if len(head) > 1 else "float32"


def is_reduced_routine(descriptor):
    """A routine of float32 layers computing with fewer bits (bfloat16, float16 weights)."""
    dt = compute_dtype(descriptor)
    return dt == "bfloat16" or (dt == "float16" and any(a in descriptor for a in REDUCED_ALGOS))


def _fp16_weights(descriptor):
    return is_reduced_routine(descriptor) and compute_dtype(descriptor) == "float16"


class LinalgRef(Reference):
    _k = 1

    def const_inputs(self, draw, descriptor):
        """The weights (input 1) as a plan constant, as in a model; float16
        weight routines support nothing else."""
        if _fp16_weights(descriptor) or draw(st.booleans(), label="const_weights"):
            return (1,)
        return ()

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float16:
            # float16 inputs are exact in float32; the engine rounds once at the end
            return 2e-3, 1e-3 * np.sqrt(max(self._k, 1))
        if np.dtype(dtype) == np.float64:
            return 1e-10, 1e-12 * max(self._k, 1)
        atol = 2e-6 * np.sqrt(max(self._k, 1)) + 1e-6
        if "winograd" in descriptor:
            # see the module docstring; _abs_scale = max sum |w||x| of the case
            atol = max(atol, (1e-4 if "f43" in descriptor else 1e-5) * getattr(self, "_abs_scale", 1.0))
        eps = REDUCED_EPS.get(compute_dtype(descriptor)) if is_reduced_routine(descriptor) else None
        if eps:
            atol = max(atol, 2 * eps * getattr(self, "_abs_scale", 1.0))
        return 1e-4, atol


# ---- Conv -------------------------------------------------------------------

def same_pads(in_size, k, s, d, upper):
    out = -(-in_size // s)
    total = max(0, (out - 1) * s + (k - 1) * d + 1 - in_size)
    b = total // 2 if upper else total - total // 2
    return b, total - b


def conv_geometry(xs, ks, attrs):
    r = len(xs)
    strides = attrs.get("strides", [1] * r)
    dil = attrs.get("dilations", [1] * r)
    ap = attrs.get("auto_pad", "NOTSET")
    pads = attrs.get("pads", [0] * (2 * r))
    pb, pe = [], []
    for i in range(r):
        if ap == "VALID":
            b, e = 0, 0
        elif ap in ("SAME_UPPER", "SAME_LOWER"):
            b, e = same_pads(xs[i], ks[i], strides[i], dil[i], ap == "SAME_UPPER")
        else:
            b, e = pads[i], pads[i + r]
        pb.append(b)
        pe.append(e)
    out = [(xs[i] + pb[i] + pe[i] - (ks[i] - 1) * dil[i] - 1) // strides[i] + 1 for i in range(r)]
    return strides, dil, pb, pe, out


def conv_ref(x, w, attrs):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, c = x.shape[:2]
    m = w.shape[0]
    g = attrs.get("group", 1)
    r = x.ndim - 2
    ks = w.shape[2:]
    strides, dil, pb, pe, out = conv_geometry(x.shape[2:], ks, attrs)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pb[i], pe[i]) for i in range(r)])
    y = np.zeros((n, m) + tuple(out))
    cg, mg = c // g, m // g
    for kidx in np.ndindex(*ks):
        sl = tuple(slice(kidx[i] * dil[i], kidx[i] * dil[i] + strides[i] * (out[i] - 1) + 1, strides[i])
                   for i in range(r))
        patch = xp[(slice(None), slice(None)) + sl]  # n, c, out...
        for gi in range(g):
            wk = w[(slice(gi * mg, (gi + 1) * mg), slice(None)) + kidx]  # mg, cg
            y[:, gi * mg:(gi + 1) * mg] += np.einsum("mc,nc...->nm...", wk, patch[:, gi * cg:(gi + 1) * cg])
    return y


@reference
class ConvRef(LinalgRef):
    op = "Conv"

    def draw(self, draw, descriptor):
        depthwise = "depthwise" in descriptor
        one = "gemm_1x1" in descriptor
        if "winograd" in descriptor:
            return self.draw_winograd(draw)
        if "direct_smallc" in descriptor:
            return self.draw_smallc(draw)
        r = draw(st.sampled_from([2, 2, 2, 1, 3])) if not depthwise else draw(st.sampled_from([2, 2, 1]))
        big = draw(st.integers(0, 5)) == 0
        n = draw(st.integers(1, 2))
        if depthwise:
            g = draw(st.integers(1, 20 if big else 5))
            cg = mg = 1
        else:
            g = draw(st.sampled_from([1, 1, 1, 2, 3]))
            cg = draw(st.integers(1, 40 if big else 5))
            mg = draw(st.integers(1, 30 if big else 7))
        attrs = {}
        ks, strides, dil, pads = [], [], [], []
        for _ in range(r):
            k = 1 if one else draw(st.integers(1, 3 if r < 3 else 2))
            ks.append(k)
            strides.append(1 if one else draw(st.integers(1, 3)))
            dil.append(1 if one else draw(st.integers(1, 2)))
        for _ in range(2 * r):
            pads.append(0 if one else draw(st.integers(0, 2)))
        ap = "NOTSET" if one else draw(st.sampled_from(["NOTSET"] * 5 + ["VALID", "SAME_UPPER", "SAME_LOWER"]))
        xs = []
        maxside = {1: 40, 2: 20, 3: 6}[r] if big else {1: 12, 2: 9, 3: 4}[r]
        for i in range(r):
            ext = (ks[i] - 1) * dil[i] + 1
            lo = max(1, ext - (pads[i] + pads[i + r] if ap == "NOTSET" else 0))
            xs.append(draw(st.integers(lo, max(lo, maxside))))
        attrs["group"] = g
        if draw(st.booleans()):
            attrs["kernel_shape"] = ks
        if any(s != 1 for s in strides) or draw(st.booleans()):
            attrs["strides"] = strides
        if any(d != 1 for d in dil) or draw(st.booleans()):
            attrs["dilations"] = dil
        if ap == "NOTSET":
            if any(pads) or draw(st.booleans()):
                attrs["pads"] = pads
        else:
            attrs["auto_pad"] = ap
        x = unit(draw, (n, g * cg) + tuple(xs))
        w = unit(draw, (g * mg, cg) + tuple(ks))
        inputs = [x, w]
        bias = draw(st.booleans())
        z = draw(st.booleans())
        if bias or z:
            inputs.append(unit(draw, (g * mg,)) if bias else None)
        if z:
            out = conv_geometry(xs, ks, attrs)[4]
            inputs.append(unit(draw, (n, g * mg) + tuple(out)))
        dt = _descriptor_dtype(descriptor)
        if dt != np.float32:  # no fused activation on the float16 routine
            return [None if v is None else v.astype(dt) for v in inputs], attrs
        draw_activation(draw, attrs)
        return inputs, attrs

    def draw_smallc(self, draw):
        """2-D, group 1, 1..4 input channels, kernels up to 7, equal strides 1 or 2,
        dilation 1 (what direct_smallc supports); widths around its 16/32-column blocks."""
        n = draw(st.integers(1, 2))
        c = draw(st.integers(1, 4))
        m = draw(st.integers(1, 20))
        ks = [draw(st.integers(1, 7)), draw(st.integers(1, 7))]
        s = draw(st.sampled_from([1, 2]))
        ap = draw(st.sampled_from(["NOTSET"] * 5 + ["VALID", "SAME_UPPER", "SAME_LOWER"]))
        pads = [draw(st.integers(0, 3)) for _ in range(4)]
        attrs = {"kernel_shape": ks, "strides": [s, s]}
        if ap == "NOTSET":
            attrs["pads"] = pads
        else:
            attrs["auto_pad"] = ap
        xs = []
        for i in range(2):
            lo = max(1, ks[i] - (pads[i] + pads[i + 2] if ap == "NOTSET" else 0))
            xs.append(draw(st.integers(lo, max(lo, 40))))
        inputs = [unit(draw, (n, c) + tuple(xs)), unit(draw, (m, c) + tuple(ks))]
        bias = draw(st.booleans())
        z = draw(st.booleans())
        if bias or z:
            inputs.append(unit(draw, (m,)) if bias else None)
        if z:
            out = conv_geometry(xs, ks, attrs)[4]
            inputs.append(unit(draw, (n, m) + tuple(out)))
        draw_activation(draw, attrs)
        return inputs, attrs

    def draw_winograd(self, draw):
        """2-D, 3x3, stride 1, dilation 1, group 1 (what winograd routines
        support); sizes around the tile sizes 2 and 4 to exercise partial tiles."""
        big = draw(st.integers(0, 4)) == 0
        n = draw(st.integers(1, 2))
        c = draw(st.integers(1, 40 if big else 6))
        m = draw(st.integers(1, 30 if big else 7))
        ap = draw(st.sampled_from(["NOTSET"] * 5 + ["VALID", "SAME_UPPER", "SAME_LOWER"]))
        pads = [draw(st.integers(0, 2)) for _ in range(4)]
        attrs = {"kernel_shape": [3, 3]} if draw(st.booleans()) else {}
        if ap == "NOTSET":
            attrs["pads"] = pads
        else:
            attrs["auto_pad"] = ap
        if draw(st.booleans()):
            attrs["strides"] = [1, 1]
        xs = []
        for i in range(2):
            lo = max(1, 3 - (pads[i] + pads[i + 2] if ap == "NOTSET" else 0))
            xs.append(draw(st.integers(lo, 30 if big else 11)))
        x = unit(draw, (n, c) + tuple(xs))
        w = unit(draw, (m, c, 3, 3))
        inputs = [x, w]
        bias = draw(st.booleans())
        z = draw(st.booleans())
        if bias or z:
            inputs.append(unit(draw, (m,)) if bias else None)
        if z:
            out = conv_geometry(xs, [3, 3], attrs)[4]
            inputs.append(unit(draw, (n, m) + tuple(out)))
        draw_activation(draw, attrs)
        return inputs, attrs

    def compute(self, inputs, attrs):
        x, w = inputs[0], inputs[1]
        self._k = int(np.prod(w.shape[1:]))
        y = conv_ref(x, w, attrs)
        self._abs_scale = float(conv_ref(np.abs(x), np.abs(w), attrs).max(initial=0.0)) if y.size else 0.0
        if len(inputs) > 2 and inputs[2] is not None:
            y = y + inputs[2].astype(np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))
        if len(inputs) > 3 and inputs[3] is not None:
            y = y + inputs[3].astype(np.float64)
        out_dt = np.float16 if x.dtype == np.float16 else np.float32
        return [apply_activation(y, attrs).astype(out_dt)]


# ---- ConvTranspose ------------------------------------------------------------

def conv_transpose_ref(x, w, attrs):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, c = x.shape[:2]
    g = attrs.get("group", 1)
    mg = w.shape[1]
    m = mg * g
    cg = c // g
    r = x.ndim - 2
    xs, ks = x.shape[2:], w.shape[2:]
    strides = attrs.get("strides", [1] * r)
    dil = attrs.get("dilations", [1] * r)
    opad = attrs.get("output_padding", [0] * r)
    ap = attrs.get("auto_pad", "NOTSET")
    oshape = attrs.get("output_shape")
    full = [strides[i] * (xs[i] - 1) + opad[i] + (ks[i] - 1) * dil[i] + 1 for i in range(r)]
    if oshape is not None or ap in ("SAME_UPPER", "SAME_LOWER"):
        out = list(oshape)[-r:] if oshape is not None else [xs[i] * strides[i] for i in range(r)]
        # Spec: total padding split (more at the end for SAME_UPPER, else at the
        # start); a negative total (output beyond what the kernel covers) pads
        # nothing and leaves the tail at zero, as onnxruntime and onnx's reference do.
        total = [full[i] - out[i] for i in range(r)]
        if ap == "SAME_UPPER":
            pb = [max(t, 0) // 2 for t in total]
        else:
            pb = [max(t, 0) - max(t, 0) // 2 for t in total]
    else:
        pads = attrs.get("pads", [0] * (2 * r)) if ap == "NOTSET" else [0] * (2 * r)
        pb = pads[:r]
        out = [full[i] - pads[i] - pads[i + r] for i in range(r)]
    yfull = np.zeros((n, m) + tuple(full))
    for kidx in np.ndindex(*ks):
        sl = tuple(slice(kidx[i] * dil[i], kidx[i] * dil[i] + strides[i] * (xs[i] - 1) + 1, strides[i])
                   for i in range(r))
        for gi in range(g):
            wk = w[(slice(gi * cg, (gi + 1) * cg), slice(None)) + kidx]  # cg, mg
            yfull[(slice(None), slice(gi * mg, (gi + 1) * mg)) + sl] += np.einsum(
                "cm,nc...->nm...", wk, x[:, gi * cg:(gi + 1) * cg])
    extra = [max(0, pb[i] + out[i] - full[i]) for i in range(r)]
    if any(extra):
        yfull = np.pad(yfull, [(0, 0), (0, 0)] + [(0, e) for e in extra])
    crop = tuple(slice(pb[i], pb[i] + out[i]) for i in range(r))
    return yfull[(slice(None), slice(None)) + crop]


@reference
class ConvTransposeRef(LinalgRef):
    op = "ConvTranspose"

    def draw(self, draw, descriptor):
        r = draw(st.sampled_from([2, 2, 1, 3]))
        n = draw(st.integers(1, 2))
        g = draw(st.sampled_from([1, 1, 2, 3]))
        cg = draw(st.integers(1, 5))
        mg = draw(st.integers(1, 5))
        ks = [draw(st.integers(1, 3 if r < 3 else 2)) for _ in range(r)]
        strides = [draw(st.integers(1, 3)) for _ in range(r)]
        dil = [draw(st.integers(1, 2)) for _ in range(r)]
        xs = [draw(st.integers(1, {1: 9, 2: 6, 3: 3}[r])) for _ in range(r)]
        opad = [draw(st.integers(0, max(strides[i], dil[i]) - 1)) for i in range(r)]
        attrs = {"group": g}
        if draw(st.booleans()):
            attrs["kernel_shape"] = ks
        if any(s != 1 for s in strides) or draw(st.booleans()):
            attrs["strides"] = strides
        if any(d != 1 for d in dil) or draw(st.booleans()):
            attrs["dilations"] = dil
        if any(opad):
            attrs["output_padding"] = opad
        full = [strides[i] * (xs[i] - 1) + opad[i] + (ks[i] - 1) * dil[i] + 1 for i in range(r)]
        mode = draw(st.sampled_from(["pads", "pads", "output_shape", "SAME_UPPER", "SAME_LOWER", "VALID"]))
        if mode == "pads":
            pads = []
            for i in range(r):
                pads.append(draw(st.integers(0, (full[i] - 1) // 2)))
            for i in range(r):
                pads.append(draw(st.integers(0, full[i] - 1 - pads[i])))
            attrs["pads"] = pads
        elif mode == "output_shape":
            attrs["output_shape"] = [draw(st.integers(max(1, full[i] - 3), full[i] + 2)) for i in range(r)]
        elif mode in ("SAME_UPPER", "SAME_LOWER"):
            if any(xs[i] * strides[i] > full[i] for i in range(r)):
                attrs["output_padding"] = [max(opad[i], xs[i] * strides[i] - full[i] + opad[i]) for i in range(r)]
                if any(attrs["output_padding"][i] >= max(strides[i], dil[i]) for i in range(r)):
                    del attrs["output_padding"]
                    mode = "VALID"
            attrs["auto_pad"] = mode
        else:
            attrs["auto_pad"] = "VALID"
        x = unit(draw, (n, g * cg) + tuple(xs))
        w = unit(draw, (g * cg, mg) + tuple(ks))
        inputs = [x, w]
        if draw(st.booleans()):
            inputs.append(unit(draw, (g * mg,)))
        draw_activation(draw, attrs)
        return inputs, attrs

    def compute(self, inputs, attrs):
        x, w = inputs[0], inputs[1]
        r = x.ndim - 2
        self._k = int(x.shape[1] // attrs.get("group", 1) * np.prod(
            [-(-w.shape[2 + i] // attrs.get("strides", [1] * r)[i]) for i in range(r)]))
        y = conv_transpose_ref(x, w, attrs)
        if len(inputs) > 2 and inputs[2] is not None:
            y = y + inputs[2].astype(np.float64).reshape((1, -1) + (1,) * r)
        return [apply_activation(y, attrs).astype(np.float32)]


# ---- Gemm -------------------------------------------------------------------

@reference
class GemmRef(LinalgRef):
    op = "Gemm"

    def draw(self, draw, descriptor):
        big = draw(st.integers(0, 4)) == 0
        m = draw(st.integers(1, 60 if big else 17))
        if _fp16_weights(descriptor):
            m = min(m, 16)  # gemv routines: few rows
        k = draw(st.integers(0 if not big else 1, 600 if big else 19))
        n = draw(st.integers(1, 100 if big else 35))
        ta, tb = draw(st.booleans()), draw(st.booleans())
        attrs = {}
        if ta or draw(st.booleans()):
            attrs["transA"] = int(ta)
        if tb or draw(st.booleans()):
            attrs["transB"] = int(tb)
        if draw(st.booleans()):
            attrs["alpha"] = draw(st.sampled_from([0.5, -1.25, 2.0]))
        if draw(st.booleans()):
            attrs["beta"] = draw(st.sampled_from([0.0, 0.5, -2.0]))
        a = unit(draw, (k, m) if ta else (m, k))
        b = unit(draw, (n, k) if tb else (k, n))
        inputs = [a, b]
        cs = draw(st.sampled_from([None, (n,), (1, n), (m, 1), (m, n), (1,), (), (1, 1)]))
        if cs is not None:
            inputs.append(unit(draw, cs))
        draw_activation(draw, attrs, gemm=True)
        return inputs, attrs

    def compute(self, inputs, attrs):
        a, b = inputs[0].astype(np.float64), inputs[1].astype(np.float64)
        if attrs.get("transA", 0):
            a = a.T
        if attrs.get("transB", 0):
            b = b.T
        self._k = a.shape[1]
        self._abs_scale = abs(attrs.get("alpha", 1.0)) * float((np.abs(a) @ np.abs(b)).max(initial=0.0))
        y = attrs.get("alpha", 1.0) * (a @ b)
        if len(inputs) > 2 and inputs[2] is not None:
            y = y + attrs.get("beta", 1.0) * inputs[2].astype(np.float64)
        return [apply_activation(y, attrs).astype(np.float32)]


# ---- MatMul -----------------------------------------------------------------

@reference
class MatMulRef(LinalgRef):
    op = "MatMul"

    def draw(self, draw, descriptor):
        big = draw(st.integers(0, 4)) == 0
        m = draw(st.integers(1, 50 if big else 9))
        k = draw(st.integers(1, 400 if big else 19))
        n = draw(st.integers(1, 80 if big else 35))
        kinds = ["2d", "2d", "batchA", "batched", "bcast", "1d_a", "1d_b", "1d_both"]
        if is_reduced_routine(descriptor):
            kinds = ["2d", "2d", "batchA", "1d_a"]  # what they support: a 2-D B (weights)
            if _fp16_weights(descriptor):
                m = min(m, 5)  # gemv: batch * m <= 16 rows
        kind = draw(st.sampled_from(kinds))
        if kind == "2d":
            sa, sb = (m, k), (k, n)
        elif kind == "batchA":
            sa, sb = (draw(st.integers(1, 3)), m, k), (k, n)
        elif kind == "batched":
            bt = (draw(st.integers(1, 3)),)
            sa, sb = bt + (m, k), bt + (k, n)
        elif kind == "bcast":
            d0, d1 = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            sa = (d0, 1, m, k)
            sb = (d1, k, n) if draw(st.booleans()) else (1, d1, k, n)
        elif kind == "1d_a":
            batch_b = not is_reduced_routine(descriptor) and draw(st.booleans())
            sa, sb = (k,), ((draw(st.integers(1, 3)),) if batch_b else ()) + (k, n)
        elif kind == "1d_b":
            sa, sb = ((draw(st.integers(1, 3)),) if draw(st.booleans()) else ()) + (m, k), (k,)
        else:
            sa, sb = (k,), (k,)
        inputs = [unit(draw, sa), unit(draw, sb)]
        dt = _descriptor_dtype(descriptor)
        if dt != np.float32:  # the float16/float64 routines take no fused bias or activation
            return [x.astype(dt) for x in inputs], {}
        if draw(st.booleans()):
            nn = sb[-1] if len(sb) > 1 else 1
            inputs.append(unit(draw, (nn if draw(st.integers(0, 3)) else 1,)))
        attrs = draw_activation(draw, {}, gemm=True)
        return inputs, attrs

    def compute(self, inputs, attrs):
        a, b = inputs[0].astype(np.float64), inputs[1].astype(np.float64)
        self._k = a.shape[-1]
        self._abs_scale = float(np.abs(np.matmul(np.abs(a), np.abs(b))).max(initial=0.0))
        y = np.matmul(a, b)
        if len(inputs) > 2 and inputs[2] is not None:
            y = y + inputs[2].astype(np.float64)
        out_dt = inputs[0].dtype if inputs[0].dtype != np.float32 else np.float32
        return [np.asarray(apply_activation(y, attrs)).astype(out_dt)]
