"""Verify every model builder (and the light zoo models) with onnxruntime.

For each model: onnx.checker passes (the builders check on build; the zoo
models are checked here), the symbolic batch dim is present, onnxruntime runs
it at batch 1 and 3 (bert at two sequence lengths, paddleocr at two image
sizes; the zoo models have a fixed batch of 1), outputs are finite and not
constant (std > 1e-3 * mean |y|), and the batch-1 latency at 2 intra-op
threads is the median of a few runs. Prints a table; exit status 1 if any check
fails.

    python -m softneuro_ep.tools.models.check_models [--quick] [--runs N] [names...]

``--quick`` builds the small sizes the unit tests use.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import onnx

from . import MODEL_NAMES, build, light_model_names

# name -> (build kwargs, [feed specs]); a feed spec is a dict of input dims
FULL = {
    "resnet50": ({}, [dict(b=1), dict(b=3)]),
    "vgg16": ({}, [dict(b=1), dict(b=3)]),
    "vgg19": ({}, [dict(b=1), dict(b=3)]),
    "squeezenet": ({}, [dict(b=1), dict(b=3)]),
    "densenet121": ({}, [dict(b=1), dict(b=3)]),
    "inception_v1": ({}, [dict(b=1), dict(b=3)]),
    "mobilenet_v2": ({}, [dict(b=1), dict(b=3)]),
    "mobilenet_v3": ({}, [dict(b=1), dict(b=3)]),
    "yolo": ({}, [dict(b=1), dict(b=3)]),
    "paddleocr": ({}, [dict(b=1, h=640, w=640), dict(b=3, h=320, w=480)]),
    "bert": ({}, [dict(b=1, s=128), dict(b=3, s=37)]),
    "convnext": ({}, [dict(b=1), dict(b=3)]),
}
QUICK = {
    "resnet50": ({"size": 64}, None), "vgg16": ({"size": 32, "fc": 256}, None),
    "vgg19": ({"size": 32, "fc": 256}, None), "squeezenet": ({"size": 64}, None),
    "densenet121": ({"size": 64}, None), "inception_v1": ({"size": 64}, None),
    "mobilenet_v2": ({"size": 64}, None), "mobilenet_v3": ({"size": 64}, None),
    "yolo": ({"size": 128}, None),
    "paddleocr": ({}, [dict(b=1, h=128, w=128), dict(b=3, h=64, w=96)]),
    "bert": ({}, [dict(b=1, s=16), dict(b=3, s=9)]),
    "convnext": ({"size": 64, "depths": (1, 1, 2, 1), "dims": (32, 48, 64, 96)}, None),
}


def make_feeds(model: onnx.ModelProto, spec: dict, seed: int = 0) -> dict:
    """Random inputs for ``model``: symbolic dims from ``spec`` (b, s, h, w)."""
    rng = np.random.default_rng(seed)
    init = {t.name for t in model.graph.initializer}
    sym = {"batch": spec.get("b", 1), "seq": spec.get("s", 16),
           "height": spec.get("h", 64), "width": spec.get("w", 64)}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in init:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else sym.get(d.dim_param, 1)
                 for d in tt.shape.dim]
        if tt.elem_type == onnx.TensorProto.INT64:
            if "mask" in vi.name:
                a = np.ones(shape, np.int64)
                if shape[0] > 1:
                    a[-1, shape[1] // 2:] = 0  # one padded sequence
            else:
                a = rng.integers(0, 1000, size=shape, dtype=np.int64)
        else:
            a = rng.standard_normal(size=shape, dtype=np.float32)
        feeds[vi.name] = a
    return feeds


def has_batch_dim(model) -> bool:
    d = model.graph.input[0].type.tensor_type.shape.dim[0]
    return d.dim_param == "batch"


def output_ok(y) -> tuple[bool, str]:
    y = np.asarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        return False, "non-finite"
    std, scale = float(y.std()), float(np.abs(y).mean()) + 1e-12
    if std <= 1e-3 * scale:
        return False, f"constant (std {std:.3g})"
    return True, f"std {std:.3g}"


def session(model, threads=2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def check(name, model, specs, runs=5, threads=2):
    row = {"model": name, "ok": True, "notes": []}
    if name.startswith("light_"):
        onnx.checker.check_model(model)
    elif not has_batch_dim(model):
        row["ok"] = False
        row["notes"].append("no symbolic batch dim")
    t = time.perf_counter()
    sess = session(model, threads)
    row["session_s"] = time.perf_counter() - t
    shapes = []
    for spec in specs:
        feeds = make_feeds(model, spec)
        outs = sess.run(None, feeds)
        shapes.append("/".join("x".join(map(str, o.shape)) for o in outs))
        for o in outs:
            ok, msg = output_ok(o)
            if not ok:
                row["ok"] = False
                row["notes"].append(f"{spec}: {msg}")
        row.setdefault("std", output_ok(outs[0])[1])
    row["shapes"] = ", ".join(shapes)
    feeds = make_feeds(model, specs[0])
    sess.run(None, feeds)  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t)
    row["ms"] = 1e3 * float(np.median(times))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="models (default: all builders and light_* zoo models)")
    ap.add_argument("--quick", action="store_true", help="small sizes (as the unit tests)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-zoo", action="store_true")
    args = ap.parse_args(argv)
    table = QUICK if args.quick else FULL
    names = args.names or list(MODEL_NAMES) + ([] if args.no_zoo else
                                               [f"light_{n}" for n in light_model_names()])
    rows = []
    hdr = f"{'model':20s} {'build s':>7s} {'sess s':>6s} {'ORT ms (b1, %dT)':>16s}  {'out std':14s} {'ok':3s} output shapes"
    print(hdr % args.threads)
    print("-" * len(hdr))
    for name in names:
        kw, specs = table.get(name, ({}, None))
        if specs is None:
            specs = FULL.get(name, (None, [dict(b=1), dict(b=3)]))[1]
        if name.startswith("light_"):
            specs = [dict(b=1)]  # fixed batch in the zoo files
        t = time.perf_counter()
        model = build(name, **kw)
        build_s = time.perf_counter() - t
        try:
            row = check(name, model, specs, args.runs, args.threads)
        except Exception as e:  # report and go on
            row = {"model": name, "ok": False, "notes": [f"{type(e).__name__}: {e}"[:200]],
                   "session_s": float("nan"), "ms": float("nan"), "std": "", "shapes": ""}
        row["build_s"] = build_s
        rows.append(row)
        print(f"{name:20s} {build_s:7.2f} {row['session_s']:6.2f} {row['ms']:16.1f}  "
              f"{row['std']:14s} {'yes' if row['ok'] else 'NO':3s} {row['shapes']}"
              + ("  " + "; ".join(row["notes"]) if row["notes"] else ""), flush=True)
    bad = [r["model"] for r in rows if not r["ok"]]
    print(f"\n{len(rows) - len(bad)}/{len(rows)} ok" + (f"; failed: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
