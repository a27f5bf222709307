"""Latency of the benchmark model set against onnxruntime, interleaved, plus
session creation; prints a markdown table for BENCHMARKS.md. Besides the ratio of the
medians, each row gives the quartiles of the ratios of adjacent block pairs: how far the
ratio itself moves on this machine.

    python -m softneuro_ep.tools.bench_models [--models resnet50,mobilenet_v2] [--threads 1,2] [--budget 15]

--qdq runs each model as onnxruntime's own int8 QDQ model of it instead (bench_precision.ort_qdq:
quant_pre_process, then quantize_static with per-channel s8 weights, u8 activations, 8 random
calibration samples): both engines on the same quantized file.
"""
import argparse
import os
import platform
import tempfile

from .bench import compare, make_sessions, random_feed, session_creation
from .models import build

DEFAULT = ["resnet50", "mobilenet_v2", "mobilenet_v3", "squeezenet", "densenet121", "inception_v1",
           "vgg16", "vgg19", "yolo"]
SIZES = {"yolo": {"size": 320}}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--models", default=",".join(DEFAULT))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--budget", type=float, default=15.0, help="seconds of timing per model and thread count")
    p.add_argument("--creation", action="store_true", help="also time session creation")
    p.add_argument("--qdq", action="store_true", help="onnxruntime's int8 QDQ model of each model instead")
    a = p.parse_args(argv)
    from .. import _engine
    info = _engine.cpu_info()
    print(f"machine: {info['model']}, {info['hardware_threads']} hardware threads, "
          f"avx512f={info['avx512f']}, python {platform.python_version()}")
    print()
    print("| model | threads | onnxruntime ms | softneuro-ep ms | ratio ort/ours | block-pair ratio Q1-Q3 | rel L2 |")
    print("|---|---|---|---|---|---|---|")
    for name in a.models.split(","):
        data = build(name, **SIZES.get(name, {})).SerializeToString()
        if a.qdq:
            data = _qdq_bytes(name, data)
        for t in (int(x) for x in a.threads.split(",")):
            ref, ours = make_sessions(data, t)
            feed = random_feed(ours, 1)
            r = compare(data, feed, t, budget_s=a.budget, sessions=(ref, ours))
            print(f"| {name} | {t} | {r['ort_ms']:.2f} | {r['ours_ms']:.2f} | {r['ratio']:.2f} | "
                  f"{r['ratio_q1']:.2f}-{r['ratio_q3']:.2f} ({r['blocks']} pairs) | {r['rel_l2']:.1e} |", flush=True)
            del ref, ours
        if a.creation:
            o, u = session_creation(data, 2)
            print(f"| {name} session creation | 2 | {o * 1e3:.0f} | {u * 1e3:.0f} | {o / u:.2f} | | |", flush=True)


def _qdq_bytes(name, fp32_bytes):
    import onnx

    from .bench_precision import _samples, ort_qdq
    model = onnx.load_from_string(fp32_bytes)
    inp = model.graph.input[0]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, f"{name}.onnx"), os.path.join(tmp, f"{name}.qdq.onnx")
        onnx.save(model, src)
        ort_qdq(src, dst, inp.name, _samples(shape, 8, 0))
        with open(dst, "rb") as f:
            return f.read()


if __name__ == "__main__":
    main()
