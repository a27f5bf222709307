"""References for TfIdfVectorizer, DeformConv, MaxUnpool, MelWeightMatrix and the
ai.onnx.ml Binarizer and ArrayFeatureExtractor.
onnx's reference evaluator is the oracle here (each op run as a one-node model)."""
import numpy as np
from hypothesis import strategies as st
from onnx import helper

from .base import Reference, float_arrays, int_arrays, reference


def _onnx_eval(op, inputs, attrs, n_out=1, opset=None, domain=""):
    from onnx.reference import ReferenceEvaluator
    names = [f"i{k}" if x is not None else "" for k, x in enumerate(inputs)]
    node = helper.make_node(op, names, [f"o{k}" for k in range(n_out)], domain=domain,
                            **{k: v for k, v in attrs.items() if not k.startswith("_")})
    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), None)
           for n, x in zip(names, inputs) if x is not None]
    graph = helper.make_graph([node], "one", vis, [helper.make_tensor_value_info(f"o{k}", 0, None)
                                                   for k in range(n_out)])
    opsets = [helper.make_opsetid("", opset)] if opset else None
    if domain:
        opsets = [helper.make_opsetid("", opset or 21), helper.make_opsetid(domain, 3)]
    model = helper.make_model(graph, opset_imports=opsets) if opsets else helper.make_model(graph)
    feeds = {n: x for n, x in zip(names, inputs) if x is not None}
    return [np.ascontiguousarray(r) for r in ReferenceEvaluator(model).run(None, feeds)]


@reference
class TfIdfVectorizerRef(Reference):
    op = "TfIdfVectorizer"

    def draw(self, draw, descriptor):
        vocab = draw(st.integers(2, 6))
        max_n = draw(st.integers(1, 3))
        counts, pool = [], []
        for n in range(1, max_n + 1):
            counts.append(len(pool))
            for _ in range(draw(st.integers(0, 4))):
                pool.extend(draw(st.integers(0, vocab - 1)) for _ in range(n))
        n_ids = sum(((counts[i + 1] if i + 1 < len(counts) else len(pool)) - counts[i]) // (i + 1) for i in range(max_n))
        if n_ids == 0:
            pool.append(draw(st.integers(0, vocab - 1)))
            n_ids = 1
        idx = [draw(st.integers(0, n_ids + 1)) for _ in range(n_ids)]
        min_n = draw(st.integers(1, max_n))
        mode = draw(st.sampled_from(["TF", "IDF", "TFIDF"]))
        attrs = {"min_gram_length": min_n, "max_gram_length": max_n, "max_skip_count": draw(st.integers(0, 3)),
                 "mode": mode, "ngram_counts": counts, "ngram_indexes": idx, "pool_int64s": pool}
        if draw(st.booleans()):
            attrs["weights"] = [float(np.float32(draw(st.floats(0.1, 3.0)))) for _ in range(max(idx) + 1)]
        dt = draw(st.sampled_from([np.int32, np.int64]))
        shape = (draw(st.integers(1, 12)),) if draw(st.booleans()) else (draw(st.integers(1, 3)), draw(st.integers(1, 12)))
        return [int_arrays(draw, shape, dt, 0, vocab)], attrs

    def compute(self, inputs, attrs):
        if "weights" in attrs or attrs["mode"] == "TF":
            return _onnx_eval("TfIdfVectorizer", inputs, attrs)
        # onnx's reference fails on IDF/TFIDF without weights (len(None)):
        # count with TF, then weight 1 as the spec says
        tf = _onnx_eval("TfIdfVectorizer", inputs, dict(attrs, mode="TF"))[0]
        return [(tf > 0).astype(np.float32) if attrs["mode"] == "IDF" else tf]

    def tolerance(self, descriptor, dtype):
        return 1e-6, 1e-6


@reference
class DeformConvRef(Reference):
    op = "DeformConv"

    def draw(self, draw, descriptor):
        n, g, og = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        c = g * og * draw(st.integers(1, 2))
        m = g * draw(st.integers(1, 3))
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        pads = [draw(st.integers(0, 1)) for _ in range(4)]
        h = draw(st.integers(max(2, (kh - 1) * dh + 1 - pads[0] - pads[2]), 6))
        w = draw(st.integers(max(2, (kw - 1) * dw + 1 - pads[1] - pads[3]), 6))
        oh = (h + pads[0] + pads[2] - (kh - 1) * dh - 1) // sh + 1
        ow = (w + pads[1] + pads[3] - (kw - 1) * dw - 1) // sw + 1
        x = float_arrays(draw, (n, c, h, w), np.float32, -1, 1)
        wt = float_arrays(draw, (m, c // g, kh, kw), np.float32, -1, 1)
        off = float_arrays(draw, (n, og * kh * kw * 2, oh, ow), np.float32, -2, 2)
        attrs = {"group": g, "offset_group": og, "strides": [sh, sw], "dilations": [dh, dw], "pads": pads}
        if draw(st.booleans()):
            attrs["kernel_shape"] = [kh, kw]
        b = float_arrays(draw, (m,), np.float32, -1, 1) if draw(st.booleans()) else None
        mask = float_arrays(draw, (n, og * kh * kw, oh, ow), np.float32, 0, 1) if draw(st.booleans()) else None
        inputs = [x, wt, off, b, mask]
        while inputs[-1] is None:
            inputs.pop()
        return inputs, attrs

    def compute(self, inputs, attrs):
        return [r.astype(np.float32) for r in _onnx_eval("DeformConv", inputs, attrs)]

    def tolerance(self, descriptor, dtype):
        return 1e-4, 1e-4


@reference
class MaxUnpoolRef(Reference):
    op = "MaxUnpool"

    def draw(self, draw, descriptor):
        r = draw(st.integers(1, 3))
        ks = [draw(st.integers(1, 3)) for _ in range(r)]
        sts = [draw(st.integers(1, 3)) for _ in range(r)]
        pads = [draw(st.integers(0, (k - 1) // 2)) for k in ks] * 2
        xs = [draw(st.integers(1, 4)) for _ in range(r)]
        n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
        out = [(xs[i] - 1) * sts[i] - 2 * pads[i] + ks[i] for i in range(r)]
        total = n * c * int(np.prod(out))
        count = n * c * int(np.prod(xs))
        dt = draw(st.sampled_from([np.float32, np.float64, np.int64]))
        x = float_arrays(draw, [n, c] + xs, np.float32, -5, 5).astype(dt)
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        # distinct targets: repeated ones make the result depend on write order
        idx = rng.choice(total, size=count, replace=total < count).astype(np.int64).reshape(x.shape)
        attrs = {"kernel_shape": ks, "strides": sts, "pads": pads}
        return [x, idx], attrs

    def compute(self, inputs, attrs):
        return _onnx_eval("MaxUnpool", inputs, attrs)


@reference
class MelWeightMatrixRef(Reference):
    op = "MelWeightMatrix"

    def draw(self, draw, descriptor):
        it = draw(st.sampled_from([np.int32, np.int64]))
        ft = draw(st.sampled_from([np.float32, np.float64]))
        sr = draw(st.sampled_from([8000, 8192, 16000]))
        lo = draw(st.sampled_from([0.0, 20.0, 100.0]))
        hi = draw(st.sampled_from([sr / 2, sr / 4, 3000.0]))
        inputs = [np.array(draw(st.integers(1, 10)), it), np.array(draw(st.sampled_from([8, 16, 32, 64])), it),
                  np.array(sr, it), np.array(lo, ft), np.array(hi, ft)]
        attrs = {}
        dt = draw(st.sampled_from([None, np.float32, np.float64, np.float16]))
        if dt is not None:
            attrs["output_datatype"] = helper.np_dtype_to_tensor_dtype(np.dtype(dt))
        return inputs, attrs

    def compute(self, inputs, attrs):
        return _onnx_eval("MelWeightMatrix", inputs, attrs)


@reference
class BinarizerRef(Reference):
    op = "Binarizer"

    def draw(self, draw, descriptor):
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64])))
        shape = tuple(draw(st.integers(0, 5)) for _ in range(draw(st.integers(0, 3))))
        x = float_arrays(draw, shape, np.float32, -3, 3)
        x = x.astype(dt) if dt.kind == "f" else np.round(x).astype(dt)
        attrs = {}
        if draw(st.booleans()):
            attrs["threshold"] = float(np.float32(draw(st.sampled_from([-1.5, -0.5, 0.0, 0.25, 1.0]))))
        return [x], attrs

    def compute(self, inputs, attrs):
        return _onnx_eval("Binarizer", inputs, attrs, domain="ai.onnx.ml")


@reference
class ArrayFeatureExtractorRef(Reference):
    op = "ArrayFeatureExtractor"

    def draw(self, draw, descriptor):
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64])))
        shape = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3))))
        x = float_arrays(draw, shape, np.float32, -3, 3).astype(dt)
        k = draw(st.integers(1, 4))
        ishape = draw(st.sampled_from([(k,), (1, k)]))
        idx = int_arrays(draw, ishape, np.int64, 0, shape[-1] - 1)
        return [x, idx], {}

    def compute(self, inputs, attrs):
        return _onnx_eval("ArrayFeatureExtractor", inputs, attrs, domain="ai.onnx.ml")
