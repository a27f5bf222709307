"""qint8 convolution layers of MobileNet-style networks, each routine of the
engine against onnxruntime's QLinearConv on the same layer in NHWC (the
com.microsoft form with channels_last=1, which is what onnxruntime runs
inside its own int8 models; its NCHW QLinearConv adds transposes).

Engine figures come from the plan's own timing harness (Plan.time_median: C++
loop, outputs bound once); onnxruntime's from session.run, so they include its
per-run overhead (about 10 us here). The engines alternate in blocks, each
after an idle pause; each figure is the median of the block medians.

    PYTHONPATH=. python tools/bench_qconv_layers.py [--threads 1] [--blocks 7] [--only dw]
"""
import argparse
import statistics
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from softneuro_ep import _engine
from softneuro_ep.graph_passes.node_eval import build_node_plan
from softneuro_ep.tools.bench import IDLE_GAP_S, ort_node_session

# (name, channels in, channels out, plane, kernel, stride); depthwise where in == out and the name says so
CASES = [
    ("dw 32x112x112 3x3", 32, 32, 112, 3, 1),
    ("dw 96x112x112 3x3/2", 96, 96, 112, 3, 2),
    ("dw 144x56x56 3x3", 144, 144, 56, 3, 1),
    ("dw 192x28x28 3x3", 192, 192, 28, 3, 1),
    ("dw 384x14x14 3x3", 384, 384, 14, 3, 1),
    ("dw 576x14x14 3x3/2", 576, 576, 14, 3, 2),
    ("dw 960x7x7 3x3", 960, 960, 7, 3, 1),
    ("dw 672x14x14 5x5", 672, 672, 14, 5, 1),
    ("1x1 16->96 112x112", 16, 96, 112, 1, 1),
    ("1x1 24->144 56x56", 24, 144, 56, 1, 1),
    ("1x1 32->192 28x28", 32, 192, 28, 1, 1),
    ("1x1 96->576 14x14", 96, 576, 14, 1, 1),
    ("1x1 576->96 14x14", 576, 96, 14, 1, 1),
]
ROUTINES = ["cpu:qint8:nchw/depthwise", "cpu:qint8:nchw/depthwise_cv16", "cpu:qint8:nchw/qgemm_1x1"]


def layer(c, m, k, s, group, rng):
    w = rng.integers(-127, 128, (m, c // group, k, k)).astype(np.int8)
    params = [np.array(0.02, np.float32), np.array(128, np.uint8), w, np.full(m, 0.002, np.float32),
              np.zeros(m, np.int8), np.array(0.05, np.float32), np.array(100, np.uint8),
              rng.integers(-1000, 1000, m).astype(np.int32)]
    attrs = {"group": group, "kernel_shape": [k, k], "pads": [k // 2] * 4, "strides": [s, s]}
    return params, attrs


def ort_nhwc(params, attrs, xshape, yshape, threads):
    names = ["x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "B"]
    node = helper.make_node("QLinearConv", ["x"] + names, ["y"], domain="com.microsoft", channels_last=1, **attrs)
    return ort_node_session(node, [helper.make_tensor_value_info("x", TensorProto.UINT8, xshape)],
                            [helper.make_tensor_value_info("y", TensorProto.UINT8, yshape)],
                            [numpy_helper.from_array(v, n) for v, n in zip(params, names)], threads)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--only", default="", help="cases whose name contains this")
    args = ap.parse_args()
    usable = {r["descriptor"] for r in _engine.routines("QLinearConv") if r["usable"]}
    rng = np.random.default_rng(0)
    for name, c, m, hw, k, s in CASES:
        if args.only not in name:
            continue
        group = c if name.startswith("dw") else 1
        params, attrs = layer(c, m, k, s, group, rng)
        o = (hw + 2 * (k // 2) - k) // s + 1
        x = rng.integers(0, 256, (1, c, hw, hw)).astype(np.uint8)
        runs = {}
        for desc in ROUTINES:
            if desc not in usable or (("depthwise" in desc) != (group > 1)):
                continue
            plan, feeds = build_node_plan("QLinearConv", [x] + params, attrs, [(np.dtype(np.uint8), (1, m, o, o))],
                                          desc, args.threads, const_inputs=set(range(1, 9)))
            runs[desc.split("/", 1)[1]] = (lambda p=plan, f=feeds: p.time_median(f, 3, args.reps, args.reps, 0.0))
        sess = ort_nhwc(params, attrs, [1, hw, hw, c], [1, o, o, m], args.threads)
        xn = {"x": np.ascontiguousarray(x.transpose(0, 2, 3, 1))}

        def ort_block(sess=sess, xn=xn):
            sess.run(None, xn)
            ts = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                sess.run(None, xn)
                ts.append(time.perf_counter() - t0)
            return statistics.median(ts) * 1e6
        runs["onnxruntime nhwc"] = ort_block
        meds = {k: [] for k in runs}
        for _ in range(args.blocks):
            for key, fn in runs.items():
                time.sleep(IDLE_GAP_S)
                meds[key].append(fn())
        row = "  ".join(f"{key} {statistics.median(v):7.1f}" for key, v in meds.items())
        print(f"{name:24s} t={args.threads}: {row}  (us)", flush=True)


if __name__ == "__main__":
    main()
