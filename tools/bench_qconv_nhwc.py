"""The qint8 convolutions of ResNet50, NCHW routines against the NHWC indirect GEMM
(cpu:qint8:nhwc/igemm), each layer alone in a one-step plan whose activations live in
the arena in the routine's layout (Plan.time_median: C++ loop, warm caches). The two
alternate in blocks; each figure is the median of the block medians. Residual rows
carry the rounded residual (QLinearConv -> QLinearAdd fused, as in a QDQ ResNet50).

    python -m softneuro_ep.tools.bench_qconv_nhwc [--threads 1] [--blocks 7]
"""
import argparse
import statistics

import numpy as np

from .. import _engine
from ..graph_passes.attrs import to_engine

U8, I8, F32, I32 = 2, 3, 1, 6
# (name, C, M, H, k, stride, rounded residual)
SHAPES = [("3x3 64 56", 64, 64, 56, 3, 1, 0), ("1x1 64->256 56 +res", 64, 256, 56, 1, 1, 1),
          ("1x1 256->64 56", 256, 64, 56, 1, 1, 0), ("3x3/2 128 56", 128, 128, 56, 3, 2, 0),
          ("3x3 128 28", 128, 128, 28, 3, 1, 0), ("1x1 128->512 28 +res", 128, 512, 28, 1, 1, 1),
          ("1x1 512->128 28", 512, 128, 28, 1, 1, 0), ("3x3 256 14", 256, 256, 14, 3, 1, 0),
          ("1x1 1024->256 14", 1024, 256, 14, 1, 1, 0), ("1x1 256->1024 14 +res", 256, 1024, 14, 1, 1, 1),
          ("3x3 512 7", 512, 512, 7, 3, 1, 0), ("1x1 512->2048 7 +res", 512, 2048, 7, 1, 1, 1),
          ("1x1 2048->512 7", 2048, 512, 7, 1, 1, 0), ("1x1/2 256->512 56", 256, 512, 56, 1, 2, 0)]
NHWC = "cpu:qint8:nhwc/igemm"


def conv_plan(desc, layout, c, m, h, k, s, rounded, threads):
    plan = _engine.Plan(threads)
    off = [0]

    def arena(shape):
        t = plan.add_arena_tensor(U8, list(shape), off[0], layout)
        off[0] += (_engine.physical_bytes(U8, list(shape), layout) + 63) // 64 * 64
        return t
    rng = np.random.default_rng(0)

    def const(a, elem):
        return plan.add_constant(elem, np.ascontiguousarray(a))
    pad = k // 2
    o = (h + 2 * pad - k) // s + 1
    ins = [arena((1, c, h, h)), const(np.float32(0.02), F32), const(np.uint8(3), U8),
           const(rng.integers(-128, 128, (m, c, k, k), dtype=np.int8), I8),
           const(rng.uniform(0.001, 0.01, m).astype(np.float32), F32), const(np.zeros(m, np.int8), I8),
           const(np.float32(1.0), F32), const(np.uint8(5), U8), const(rng.integers(-5000, 5000, m).astype(np.int32), I32)]
    if rounded:
        ins += [arena((1, m, o, o)), const(np.float32(1.5), F32), const(np.uint8(100), U8),
                const(np.float32(2.5), F32), const(np.uint8(7), U8)]
    y = arena((1, m, o, o))
    a = to_engine({"kernel_shape": [k, k], "strides": [s, s], "pads": [pad] * 4, "activation": "Relu"})
    a["_opset"] = 13
    plan.add_step("conv", "QLinearConv", a, ins, [y], desc)
    plan.set_arena_bytes(off[0])
    plan.finalize()
    return plan, 2.0 * c * m * k * k * o * o


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--blocks", type=int, default=7)
    p.add_argument("--reps", type=int, default=10)
    a = p.parse_args(argv)
    usable = {r["descriptor"] for r in _engine.routines("QLinearConv") if r["usable"]}
    if NHWC not in usable:
        raise SystemExit(f"{NHWC} is not usable on this CPU (it needs AVX-512 VNNI)")
    print("| layer | NCHW routine | NCHW us | NHWC igemm us | ratio | igemm GOP/s |")
    print("|---|---|---|---|---|---|")
    for name, c, m, h, k, s, r in SHAPES:
        nchw = "cpu:qint8:nchw/qgemm_1x1" if (k == 1 and s == 1) else "cpu:qint8:nchw/im2col_qgemm"
        plans = {"nchw": conv_plan(nchw, "nchw", c, m, h, k, s, r, a.threads)[0]}
        plans["nhwc"], ops = conv_plan(NHWC, "nhwc", c, m, h, k, s, r, a.threads)
        med = {key: [] for key in plans}
        for b in range(a.blocks):
            for key in (("nchw", "nhwc") if b % 2 == 0 else ("nhwc", "nchw")):
                med[key].append(plans[key].time_median([], 2, a.reps, a.reps, 0.0))
        t = {key: statistics.median(v) for key, v in med.items()}
        print(f"| {name} | {nchw.split('/', 1)[1]} | {t['nchw']:.1f} | {t['nhwc']:.1f} | {t['nchw'] / t['nhwc']:.2f} | "
              f"{ops / t['nhwc'] / 1e3:.0f} |", flush=True)


if __name__ == "__main__":
    main()
