"""Batch-1 fully-connected layers (GEMV) by precision: QGemm "cpu:qint8/qgemv"
(u8 input, s8 per-column weights, int32 bias, float32 output) against the
float32 Gemm routines and "cpu:float16/gemv", one layer at a time.

    PYTHONPATH=. python tools/bench_qgemv.py [--threads 1] [--blocks 7] [--reps 20] [--ort]

Two regimes: "hot" runs back to back (the weights stay in L2/L3 once read),
"cold" touches a 96 MB buffer before every run, as the rest of a network does
between two runs of its classifier (the weights come from memory). Times are
plan.run wall times (Python call overhead, a few us, included for every routine
alike); routines run interleaved in blocks, medians over all kept runs.
--ort adds onnxruntime's Gemm (float32) and com.microsoft QGemm on the same layer.
"""
import argparse
import statistics
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from softneuro_ep import _engine
from softneuro_ep.graph_passes.node_eval import build_node_plan
from softneuro_ep.tools.bench import ort_node_session

SHAPES = [("ResNet50 fc 2048->1000", 2048, 1000), ("MobileNetV2 fc 1280->1000", 1280, 1000)]


def plan_for(op, inputs, consts, attrs, out, desc, threads):
    plan, feeds = build_node_plan(op, inputs, attrs, [out], desc, threads, const_inputs=set(consts), opset=17)
    return lambda: plan.run(feeds)


def cases(K, N, threads, with_ort):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, K)).astype(np.float32)
    w = (rng.standard_normal((N, K)) * 0.05).astype(np.float32)  # transB=1, as the ONNX model zoo's fc layers
    b = rng.standard_normal(N).astype(np.float32)
    ws = (np.abs(w).max(axis=1) / 127).astype(np.float32)
    wq = np.clip(np.rint(w / ws[:, None]), -127, 127).astype(np.int8)
    xs, xz = np.float32(0.02), np.uint8(3)
    xq = np.clip(np.rint(x / xs) + 3, 0, 255).astype(np.uint8)
    bq = np.rint(b / (xs * ws)).astype(np.int32)
    out = {}
    q_in = [xq, np.asarray(xs), np.asarray(xz), wq, ws, np.zeros(N, np.int8), bq]
    out["QGemm cpu:qint8/qgemv"] = plan_for("QGemm", q_in, {1, 2, 3, 4, 5, 6}, {"transB": 1},
                                            (np.float32, (1, N)), "cpu:qint8/qgemv", threads)
    usable = [r["descriptor"] for r in _engine.routines("Gemm") if r["usable"]]
    for d in usable:
        if "/t1" in d and threads == 1:
            continue
        try:
            out[f"Gemm {d}"] = plan_for("Gemm", [x, w, b], {1, 2}, {"transB": 1}, (np.float32, (1, N)), d, threads)
        except Exception:  # noqa: BLE001 - a routine that does not take this layer
            pass
    if with_ort:
        s1 = ort_node_session(helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1),
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, K])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")], threads)
        out["onnxruntime Gemm float32"] = lambda: s1.run(None, {"x": x})
        names = ["xq", "xs", "xz", "wq", "ws", "wz", "bq"]
        inits = [numpy_helper.from_array(np.asarray(v), n) for n, v in zip(names[1:], q_in[1:])]
        s2 = ort_node_session(helper.make_node("QGemm", names, ["y"], domain="com.microsoft", transB=1),
                              [helper.make_tensor_value_info("xq", TensorProto.UINT8, [1, K])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N])], inits, threads)
        out["onnxruntime QGemm int8"] = lambda: s2.run(None, {"xq": xq})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--ort", action="store_true")
    args = ap.parse_args()
    flush = np.zeros(96 << 20, np.uint8)
    for title, K, N in SHAPES:
        runs = cases(K, N, args.threads, args.ort)
        hot = {k: [] for k in runs}
        cold = {k: [] for k in runs}
        for _ in range(args.blocks):
            for name, run in runs.items():
                run()
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    run()
                    hot[name].append(time.perf_counter() - t0)
                for _ in range(max(3, args.reps // 4)):
                    flush += 1
                    t0 = time.perf_counter()
                    run()
                    cold[name].append(time.perf_counter() - t0)
        print(f"\n{title}, {args.threads} thread(s): median us (hot | cold)")
        base = statistics.median(cold["QGemm cpu:qint8/qgemv"])
        for name in runs:
            h, c = statistics.median(hot[name]) * 1e6, statistics.median(cold[name]) * 1e6
            print(f"  {name:40s} {h:8.1f} | {c:8.1f}   cold x{c / (base * 1e6):.2f} of qgemv")


if __name__ == "__main__":
    main()
