"""The SoftNeuro paper's precision table, on this machine: float32 only, qint8
where allowed, and mixed (DPRS with an accuracy budget), against onnxruntime's
float32 model and its own int8 QDQ model of the same network (quantize_static,
per-channel, u8 activations / s8 weights, calibrated on the same samples);
this engine also runs that QDQ model natively.

Sessions are interleaved in blocks, each after an idle pause (first run of each block
dropped); errors are
relative L2 of the outputs against onnxruntime float32 on held-out samples.

    python -m softneuro_ep.tools.bench_precision [--models resnet50,mobilenet_v2] [--threads 1,2] [--budget 0.01]
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from .bench import _time_block
from .models import build


def _samples(shape, n, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]


def ort_qdq(fp32_path, qdq_path, name, samples):
    """onnxruntime's recipe: quant_pre_process (folds BatchNormalization into Conv), then quantize_static."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    pre = qdq_path + ".pre.onnx"
    quant_pre_process(fp32_path, pre, skip_symbolic_shape=True)
    fp32_path = pre

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: x} for x in samples])

        def get_next(self):
            return next(self.it, None)
    quantize_static(fp32_path, qdq_path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="resnet50,mobilenet_v2")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--budget", type=float, default=0.01, help="accuracy budget of the mixed mode (rel. L2)")
    p.add_argument("--samples", type=int, default=8, help="calibration samples (random normal inputs)")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--cache", default=None, help="profile cache (default: the user cache)")
    p.add_argument("--modes", default="fp32,qint8,mixed,ours_qdq,ort_fp32,ort_qdq")
    a = p.parse_args(argv)
    modes = a.modes.split(",")
    with tempfile.TemporaryDirectory(prefix="snep_prec_") as tmp:  # models of hundreds of MB: not left behind
        _run(a, modes, tmp)


def _run(a, modes, tmp):
    import onnx
    import onnxruntime

    import softneuro_ep as ort
    print("| model | threads | mode | ms (median) | rel. L2 vs float32 | qint8 layers | ratio ort int8 / this |")
    print("|---|---|---|---|---|---|---|")
    for name in a.models.split(","):
        model = build(name)
        fp32_path = os.path.join(tmp, f"{name}.onnx")
        onnx.save(model, fp32_path)
        inp = model.graph.input[0]
        shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
        calib = _samples(shape, a.samples, 0)
        held = _samples(shape, 3, 99)
        cal_path = ort.calibrate(model, calib, path=os.path.join(tmp, f"{name}.calib.json"))
        qdq_path = os.path.join(tmp, f"{name}.qdq.onnx")
        if "ort_qdq" in modes or "ours_qdq" in modes:
            ort_qdq(fp32_path, qdq_path, inp.name, calib)
        for threads in (int(t) for t in a.threads.split(",")):
            sess = {}
            common = {"profile_cache": a.cache} if a.cache else {}
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            specs = {"fp32": (fp32_path, {"dtypes": "float32"}),
                     "qint8": (fp32_path, {"calibration": cal_path, "dtypes": "qint8"}),
                     "mixed": (fp32_path, {"calibration": cal_path, "accuracy_budget": str(a.budget)}),
                     "ours_qdq": (qdq_path, {})}
            build_s = {}
            for mode, (path, opts) in specs.items():
                if mode in modes:
                    t0 = time.perf_counter()
                    sess[mode] = ort.InferenceSession(path, so, providers=[("SoftNeuroExecutionProvider",
                                                                            {**opts, **common})])
                    build_s[mode] = time.perf_counter() - t0
            oso = onnxruntime.SessionOptions()
            oso.intra_op_num_threads = threads
            ref = onnxruntime.InferenceSession(fp32_path, oso, providers=["CPUExecutionProvider"])
            if "ort_fp32" in modes:
                sess["ort_fp32"] = ref
            if "ort_qdq" in modes:
                sess["ort_qdq"] = onnxruntime.InferenceSession(qdq_path, oso, providers=["CPUExecutionProvider"])
            refs = [ref.run(None, {inp.name: x})[0] for x in held]
            err = {}
            for k, s in sess.items():
                outs = [s.run(None, {inp.name: x})[0] for x in held]
                err[k] = max(float(np.linalg.norm(o - r) / np.linalg.norm(r)) for o, r in zip(outs, refs))
            feed = {inp.name: held[0]}
            times = {k: [] for k in sess}
            for _ in range(a.rounds):
                for k, s in sess.items():
                    times[k] += _time_block(lambda: s.run(None, feed), 4)
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            base = med.get("ort_qdq", float("nan"))
            for k in sess:
                nq = ""
                if k in specs:
                    spec = next(iter(sess[k]._plans.values()))
                    nq = sum(1 for n in spec.graph.nodes if n.op in ("QLinearConv", "QLinearMatMul", "QGemm"))
                    nq = f"{nq} (session {build_s[k]:.1f} s)"
                print(f"| {name} | {threads} | {k} | {med[k]:.2f} | {err[k]:.2e} | {nq} | {base / med[k]:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
