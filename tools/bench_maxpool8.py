"""8-bit MaxPool "cpu:nchw/direct" run times from the plan's own timing
harness (Plan.time_median: C++ loop, output buffers bound once, so neither
Python nor first-touch page faults of fresh outputs are counted).

    PYTHONPATH=. python tools/bench_maxpool8.py [--threads 1] [--reps 200] [--blocks 7] [--only stem]
    SNEP_MAX_ISA=plain PYTHONPATH=. python tools/bench_maxpool8.py   # the generic loop

Each of --blocks blocks times --reps runs (after warm-up) and takes their
median; the figure is the median of the block medians (the machine is shared).
"""
import argparse
import statistics

import numpy as np

from softneuro_ep.graph_passes.node_eval import build_node_plan

# (name, input shape, kernel, stride, pads)
CASES = [
    ("stem 1x64x112x112 3x3/2 p1", (1, 64, 112, 112), 3, 2, 1),
    ("1x64x56x56 3x3/1 p1", (1, 64, 56, 56), 3, 1, 1),
    ("1x64x56x56 2x2/2", (1, 64, 56, 56), 2, 2, 0),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--dtype", default="uint8", choices=["uint8", "int8"])
    ap.add_argument("--only", default="", help="cases whose name contains this")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for name, shape, k, s, p in CASES:
        if args.only not in name:
            continue
        info = np.iinfo(args.dtype)
        x = rng.integers(info.min, info.max + 1, size=shape).astype(args.dtype)
        oh = (shape[2] + 2 * p - k) // s + 1
        ow = (shape[3] + 2 * p - k) // s + 1
        attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p] * 4}
        plan, feeds = build_node_plan("MaxPool", [x], attrs, [(x.dtype, (shape[0], shape[1], oh, ow))],
                                      "cpu:nchw/direct", args.threads, const_inputs=False)
        meds = []
        for _ in range(args.blocks):
            meds.append(plan.time_median(feeds, warmup=5, min_reps=args.reps, max_reps=args.reps, budget_us=0))
        print(f"{name:32s} {args.dtype} t={args.threads}: {statistics.median(meds):8.1f} us  "
              f"(block medians {min(meds):.1f}..{max(meds):.1f})")


if __name__ == "__main__":
    main()
