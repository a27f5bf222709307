"""Calibration: per-tensor activation ranges of a float32 model, for tuning
with qint8 routines (provider option `calibration`).

    softneuro_ep.calibrate(model, samples, method="minmax", path=None) -> path

samples: a list (or iterable) of feeds, each a dict {input name: array} or,
for a single-input model, an array; onnxruntime's CalibrationDataReader
(get_next() returning dicts, then None) works too.
method: "minmax" (the observed range), "percentile" (the 0.01%/99.99%
percentiles, `percentile=` to change), "entropy" (the clipping threshold of
smallest KL divergence between the histogram and its 256-level quantisation,
as TensorRT calibrates).

The file is JSON: the model's digest, the method, the ranges {tensor: [lo, hi]},
and the name of a sidecar .npz with the samples themselves, which accuracy-
budgeted tuning runs to measure the error of the plan it picks.
"""
import json
import os
import tempfile

import numpy as np

from .capi.onnxruntime_pybind11_state import InvalidArgument

FORMAT = "softneuro-ep calibration 1"
METHODS = ("minmax", "percentile", "entropy")
HIST_BINS = 2048


def _feeds(samples, input_names):
    if hasattr(samples, "get_next"):
        while True:
            s = samples.get_next()
            if s is None:
                return
            yield dict(s)
        return
    for s in samples:
        if isinstance(s, dict):
            yield s
        elif len(input_names) == 1:
            yield {input_names[0]: np.asarray(s)}
        else:
            raise InvalidArgument(f"calibrate: the model has inputs {input_names}; each sample must be a dict")


def _graph_with_all_outputs(model):
    """The model with every float tensor a node produces added as a graph output."""
    import onnx
    from onnx import TensorProto
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inferred = onnx.shape_inference.infer_shapes(m)
    elem = {v.name: v.type.tensor_type.elem_type for v in
            list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input)}
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have and elem.get(o) == TensorProto.FLOAT:
                m.graph.output.append(onnx.helper.make_tensor_value_info(o, TensorProto.FLOAT, None))
                have.add(o)
    return m


def _entropy_threshold(hist, edges):
    """Clipping threshold T on |x| minimising KL(P || Q), Q the 256-level quantisation of P clipped at T."""
    levels = 256
    hist = hist.astype(np.float64)
    best, best_kl = len(hist), np.inf
    for i in range(levels, len(hist) + 1, 16):
        p = hist[:i].copy()
        p[i - 1] += hist[i:].sum()  # outliers clip onto the last bin
        nz = p > 0
        if not nz.any():
            continue
        q = np.zeros(i)
        chunks = np.array_split(np.arange(i), levels)
        for c in chunks:
            cnt = nz[c].sum()
            if cnt:
                q[c] = np.where(nz[c], p[c].sum() / cnt, 0.0)
        pn, qn = p / p.sum(), q / max(q.sum(), 1e-30)
        mask = pn > 0
        kl = float(np.sum(pn[mask] * np.log(pn[mask] / np.maximum(qn[mask], 1e-30))))
        if kl < best_kl:
            best, best_kl = i, kl
    return float(edges[best])


def calibrate(model, samples, method="minmax", path=None, percentile=99.99, max_saved_samples=16):
    """Runs the float32 model on the samples and writes the ranges of every float tensor. Returns the path."""
    import onnx
    from .graph_passes.load import load_model, to_ir
    from .plan_file import graph_digest
    from .session import InferenceSession
    if method not in METHODS:
        raise InvalidArgument(f"calibrate: method '{method}' is not one of {', '.join(METHODS)}")
    if not 0 < percentile <= 100:
        raise InvalidArgument("calibrate: percentile must be in (0, 100]")
    proto = load_model(model)
    digest = graph_digest(to_ir(proto))
    sess = InferenceSession(_graph_with_all_outputs(proto).SerializeToString(),
                            providers=[("SoftNeuroExecutionProvider", {"tuning": "none"})])
    names = [o.name for o in sess.get_outputs()]
    input_names = [i.name for i in sess.get_inputs()]
    feeds = list(_feeds(samples, input_names))
    if not feeds:
        raise InvalidArgument("calibrate: no samples")
    lo, hi = {}, {}
    per_sample = []  # (name -> array) per sample, kept only for the histogram methods
    float_inputs = [i.name for i in sess.get_inputs() if i.type == "tensor(float)"]
    names = names + [n for n in float_inputs if n not in names]
    for f in feeds:
        outs = sess.run(None, f)
        outs = list(outs) + [np.asarray(f[n], np.float32) for n in names[len(outs):]]
        if method != "minmax":
            per_sample.append(outs)
        for name, a in zip(names, outs):
            if a.size == 0 or a.dtype != np.float32:
                continue
            finite = a[np.isfinite(a)]
            if finite.size == 0:
                continue
            lo[name] = min(lo.get(name, np.inf), float(finite.min()))
            hi[name] = max(hi.get(name, -np.inf), float(finite.max()))
    ranges = {}
    for k, name in enumerate(names):
        if name not in lo:
            continue
        a_lo, a_hi = lo[name], hi[name]
        if method == "percentile":
            vals = np.concatenate([s[k][np.isfinite(s[k])].ravel() for s in per_sample])
            a_lo = float(np.percentile(vals, 100 - percentile))
            a_hi = float(np.percentile(vals, percentile))
        elif method == "entropy":
            amax = max(abs(a_lo), abs(a_hi))
            if amax > 0:
                hist = np.zeros(HIST_BINS, np.int64)
                for s in per_sample:
                    v = np.abs(s[k][np.isfinite(s[k])])
                    hist += np.histogram(v, bins=HIST_BINS, range=(0.0, amax))[0]
                edges = np.linspace(0.0, amax, HIST_BINS + 1)
                t = _entropy_threshold(hist, edges)
                a_lo, a_hi = max(a_lo, -t), min(a_hi, t)
        ranges[name] = [a_lo, a_hi]
    if path is None:
        fd, path = tempfile.mkstemp(prefix="softneuro_calib_", suffix=".json")
        os.close(fd)
    path = os.fspath(path)
    sample_file = os.path.basename(path) + ".samples.npz"
    saved = {}
    for k, f in enumerate(feeds[:max_saved_samples]):
        for name, a in f.items():
            saved[f"{k}/{name}"] = np.asarray(a)
    np.savez(os.path.join(os.path.dirname(os.path.abspath(path)), sample_file), **saved)
    doc = {"format": FORMAT, "model": digest, "method": method, "samples": len(feeds),
           "sample_file": sample_file, "ranges": ranges}
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1)
    return path


class Calibration:
    """A calibration file read back: ranges by tensor and the saved samples (list of feed dicts)."""

    def __init__(self, path, ranges, samples, method):
        self.path, self.ranges, self.samples, self.method = path, ranges, samples, method


def load_calibration(path, graph):
    """Reads a calibration file and checks it was written for this model (graph: graph_passes.ir.Graph)."""
    from .plan_file import graph_digest
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise InvalidArgument(f"calibration: file '{path}' does not exist") from None
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"calibration: '{path}' is not a calibration file ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("ranges"), dict):
        raise InvalidArgument(f"calibration: '{path}' is not a softneuro-ep calibration file")
    if doc.get("model") != graph_digest(graph):
        raise InvalidArgument(f"calibration: '{path}' was written for another model "
                              "(its model digest does not match this model's); calibrate this model")
    ranges = {}
    for k, v in doc["ranges"].items():
        if (not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, (int, float)) for x in v)
                or not v[0] <= v[1] or not all(np.isfinite(v))):
            raise InvalidArgument(f"calibration: '{path}': bad range for tensor '{k}': {v}")
        ranges[k] = (float(v[0]), float(v[1]))
    samples = []
    sf = doc.get("sample_file")
    if sf:
        full = os.path.join(os.path.dirname(os.path.abspath(path)), sf)
        try:
            with np.load(full) as z:
                by_index = {}
                for key in z.files:
                    k, name = key.split("/", 1)
                    by_index.setdefault(int(k), {})[name] = z[key]
            samples = [by_index[k] for k in sorted(by_index)]
        except (OSError, ValueError, KeyError) as e:
            raise InvalidArgument(f"calibration: cannot read the samples '{full}' ({e})") from None
    return Calibration(path, ranges, samples, doc.get("method"))
