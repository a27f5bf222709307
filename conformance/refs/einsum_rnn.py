"""References for Einsum (np.einsum) and the recurrent ops RNN, GRU, LSTM
(the ONNX equations written out step by step in float64).

Einsum sums in float32 in the engine: tolerance scales with the reduction length.
"""
import numpy as np
from hypothesis import strategies as st

from .base import Reference, float_arrays, int_arrays, reference

EQUATIONS = [
    # (equation, operand label strings used to draw shapes; "." = ellipsis dims)
    "ij,jk->ik", "bij,bjk->bik", "ij->ji", "ii->i", "ii", "i,i", "i,i->", "ij->", "ij->i", "ij,kj->ik",
    "...ij,...jk->...ik", "...ii->...i", "bii->bi", "ij,jk,kl->il", "i,j->ij", "iij->ij", "ab...,b->...a",
    "abc->cba", "ij", "ba", "Ab,bA->", "i...->...", "...->...",
]


def draw_operands(draw, eq):
    lhs = eq.split("->")[0]
    sizes = {}
    ell = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(0, 2))))
    shapes = []
    for term in lhs.split(","):
        shape = []
        t = term.replace("...", ".")
        for c in t:
            if c == ".":
                sub = ell[len(ell) - draw(st.integers(0, len(ell))):]
                shape.extend(1 if draw(st.integers(0, 4)) == 0 else d for d in sub)
            else:
                if c not in sizes:
                    sizes[c] = draw(st.integers(1, 6))
                shape.append(sizes[c])
        shapes.append(tuple(shape))
    return shapes


@reference
class EinsumRef(Reference):
    op = "Einsum"
    _k = 1

    def draw(self, draw, descriptor):
        eq = draw(st.sampled_from(EQUATIONS))
        dt = draw(st.sampled_from([np.float32, np.float32, np.float64, np.int32, np.int64]))
        shapes = draw_operands(draw, eq)
        if np.dtype(dt).kind == "f":
            ins = [float_arrays(draw, s, dtype=dt, lo=-1, hi=1) for s in shapes]
        else:
            ins = [int_arrays(draw, s, dt, -5, 5) for s in shapes]
        if draw(st.booleans()):
            eq = eq.replace(",", " , ").replace("->", " -> ")
        return ins, {"equation": eq}

    def compute(self, inputs, attrs):
        eq = attrs["equation"].replace(" ", "")
        dt = inputs[0].dtype
        out = np.einsum(eq, *[x.astype(np.float64) if dt.kind == "f" else x for x in inputs])
        tot = int(np.prod([max(1, x.size) for x in inputs]))
        self._k = max(1, tot // max(1, np.asarray(out).size))
        return [np.asarray(out).astype(dt)]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float32:
            return 1e-4, 2e-6 * np.sqrt(self._k) + 1e-6
        return super().tolerance(descriptor, dtype)


# ---- RNN / GRU / LSTM ---------------------------------------------------------

ACT_PARAMS = {"affine": (1.0, 0.0), "leakyrelu": (0.01, None), "thresholdedrelu": (1.0, None),
              "scaledtanh": (1.0, 1.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, None)}


def act_fn(name, a, b):
    n = name.lower()
    f = {
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0),
        "affine": lambda x: a * x + b, "leakyrelu": lambda x: np.where(x >= 0, x, a * x),
        "thresholdedrelu": lambda x: np.where(x > a, x, 0), "scaledtanh": lambda x: a * np.tanh(b * x),
        "hardsigmoid": lambda x: np.clip(a * x + b, 0, 1), "elu": lambda x: np.where(x >= 0, x, a * (np.exp(x) - 1)),
        "softsign": lambda x: x / (1 + np.abs(x)), "softplus": lambda x: np.log1p(np.exp(x)),
    }[n]
    return f


def resolve_acts(attrs, per, dirs, defaults):
    names = list(attrs.get("activations", [])) or defaults * dirs
    if len(names) == per and dirs == 2:
        names = names * 2
    al, be = list(attrs.get("activation_alpha", [])), list(attrs.get("activation_beta", []))
    out = []
    for n in names:
        da, db = ACT_PARAMS.get(n.lower(), (None, None))
        a = al.pop(0) if da is not None and al else da
        b = be.pop(0) if db is not None and be else db
        out.append(act_fn(n, a, b))
    return out


class RecurrentRef(Reference):
    n_outputs = 3
    G = 1
    per = 1
    defaults = ["Tanh"]

    def draw(self, draw, descriptor):
        S, B, I, H = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
        direction = draw(st.sampled_from(["forward", "reverse", "bidirectional"]))
        D = 2 if direction == "bidirectional" else 1
        layout = draw(st.integers(0, 1))
        G = self.G
        u = lambda shape: float_arrays(draw, shape, lo=-1.0, hi=1.0)  # noqa: E731
        x = u((B, S, I) if layout else (S, B, I))
        w, r = u((D, G * H, I)), u((D, G * H, H))
        b = u((D, 2 * G * H)) if draw(st.booleans()) else None
        sl = None
        if draw(st.booleans()):
            seed = draw(st.integers(0, 2**32 - 1))
            sl = np.random.default_rng(seed).integers(1, S, size=B, endpoint=True).astype(np.int32)
        st_shape = (B, D, H) if layout else (D, B, H)
        h0 = u(st_shape) if draw(st.booleans()) else None
        attrs = {"direction": direction, "layout": layout, "hidden_size": H}
        if draw(st.booleans()):
            pool = ["Sigmoid", "Tanh", "Relu", "HardSigmoid", "LeakyRelu", "Affine", "Softsign", "ScaledTanh", "Elu"]
            attrs["activations"] = [draw(st.sampled_from(pool)) for _ in range(self.per * D)]
            if draw(st.booleans()):
                attrs["activation_alpha"] = [draw(st.sampled_from([0.1, 0.5, 1.5])) for _ in range(2 * D)]
                attrs["activation_beta"] = [draw(st.sampled_from([0.0, 0.3, 1.0])) for _ in range(2 * D)]
        if draw(st.integers(0, 3)) == 0:
            attrs["clip"] = draw(st.sampled_from([0.5, 1.0, 3.0]))
        ins = [x, w, r, b, sl, h0]
        ins += self.extra_draw(draw, attrs, u, st_shape, D, H)
        while ins and ins[-1] is None:
            ins.pop()
        return ins, attrs

    def extra_draw(self, draw, attrs, u, st_shape, D, H):
        return []

    def compute(self, inputs, attrs):
        inputs = list(inputs) + [None] * (8 - len(inputs))
        x, w, r, b, sl, h0, c0, p = [None if v is None else (v.astype(np.float64) if v.dtype == np.float32 else v)
                                    for v in inputs]
        layout = attrs.get("layout", 0)
        if layout:
            x = x.transpose(1, 0, 2)
            h0 = None if h0 is None else h0.transpose(1, 0, 2)
            c0 = None if c0 is None else c0.transpose(1, 0, 2)
        S, B, _ = x.shape
        D, GH, _ = w.shape
        H = GH // self.G
        direction = attrs.get("direction", "forward")
        acts = resolve_acts(attrs, self.per, D, self.defaults)
        clipv = attrs.get("clip", None)
        clip = (lambda v: np.clip(v, -clipv, clipv)) if clipv else (lambda v: v)
        Y = np.zeros((S, D, B, H))
        Yh = np.zeros((D, B, H))
        Yc = np.zeros((D, B, H))
        for d in range(D):
            rev = direction == "reverse" or d == 1
            bb = b[d] if b is not None else np.zeros(2 * GH)
            wb, rb = bb[:GH], bb[GH:]
            pd = p[d] if p is not None else np.zeros(3 * H)
            fa = acts[d * self.per:(d + 1) * self.per]
            for bi in range(B):
                L = int(sl[bi]) if sl is not None else S
                h = h0[d, bi].copy() if h0 is not None else np.zeros(H)
                c = c0[d, bi].copy() if c0 is not None else np.zeros(H)
                for step in range(L):
                    t = L - 1 - step if rev else step
                    h, c = self.cell(x[t, bi], h, c, w[d], r[d], wb, rb, pd, fa, clip, attrs, H)
                    Y[t, d, bi] = h
                Yh[d, bi], Yc[d, bi] = h, c
        if layout:
            Y = Y.transpose(2, 0, 1, 3)
            Yh, Yc = Yh.transpose(1, 0, 2), Yc.transpose(1, 0, 2)
        outs = [Y, Yh, Yc][:self.n_outputs]
        return [o.astype(np.float32) for o in outs]

    def tolerance(self, descriptor, dtype):
        return 1e-4, 1e-5


@reference
class RNNRef(RecurrentRef):
    op = "RNN"
    n_outputs = 2

    def cell(self, x, h, c, w, r, wb, rb, p, fa, clip, attrs, H):
        return fa[0](clip(w @ x + r @ h + wb + rb)), c


@reference
class GRURef(RecurrentRef):
    op = "GRU"
    n_outputs = 2
    G, per, defaults = 3, 2, ["Sigmoid", "Tanh"]

    def extra_draw(self, draw, attrs, u, st_shape, D, H):
        attrs["linear_before_reset"] = draw(st.integers(0, 1))
        return []

    def cell(self, x, h, c, w, r, wb, rb, p, fa, clip, attrs, H):
        f, g = fa
        xw = w @ x + wb
        z = f(clip(xw[:H] + r[:H] @ h + rb[:H]))
        rr = f(clip(xw[H:2 * H] + r[H:2 * H] @ h + rb[H:2 * H]))
        if attrs.get("linear_before_reset", 0):
            ht = g(clip(xw[2 * H:] + rr * (r[2 * H:] @ h + rb[2 * H:])))
        else:
            ht = g(clip(xw[2 * H:] + r[2 * H:] @ (rr * h) + rb[2 * H:]))
        return (1 - z) * ht + z * h, c


@reference
class LSTMRef(RecurrentRef):
    op = "LSTM"
    n_outputs = 3
    G, per, defaults = 4, 3, ["Sigmoid", "Tanh", "Tanh"]

    def extra_draw(self, draw, attrs, u, st_shape, D, H):
        if draw(st.integers(0, 3)) == 0:
            attrs["input_forget"] = 1
        c0 = u(st_shape) if draw(st.booleans()) else None
        p = u((D, 3 * H)) if draw(st.booleans()) else None
        return [c0, p]

    def cell(self, x, h, c, w, r, wb, rb, p, fa, clip, attrs, H):
        f, g, hh = fa
        v = w @ x + wb + r @ h + rb
        i = f(clip(v[:H] + p[:H] * c))
        fg = 1 - i if attrs.get("input_forget", 0) else f(clip(v[2 * H:3 * H] + p[2 * H:] * c))
        ct = g(clip(v[3 * H:]))
        cn = fg * c + i * ct
        o = f(clip(v[H:2 * H] + p[H:2 * H] * cn))
        return o * hh(cn), cn
