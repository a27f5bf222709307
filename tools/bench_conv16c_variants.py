"""One NCHW16c direct-conv layer per shape, built under several settings of the
kernel's developer switches (SNEP_C16_*, read when a plan is finalized), timed
against each other in one process: Plan.time_median in rounds, the order of the
variants reversed every other round, the median of the rounds kept. The first
variant is the baseline; a repeat of it (an empty variant) shows the noise.

    python -m softneuro_ep.tools.bench_conv16c_variants --variant pf1=SNEP_C16_PF=1 --variant base= \\
        [--shapes resnet7|resnet|small|C,M,H,K,S;...] [--threads 1] [--cold 2] [--rounds 7]

A variant is NAME=ENV=VALUE,...; `_threads=N` in a variant gives it its own thread count.
--cold: 0 warm, 1 L2 flushed, 2 weights also evicted to memory (as the tuner profiles).
Shapes: C in, M out, H square input, K square kernel (pad K//2), S stride; Relu fused.
"""
import argparse
import statistics

import numpy as np

from .bench_variants import env_switches, parse_variant  # NAME=KEY=VALUE,... -> (name, {key: value})

F32 = 1  # onnx TensorProto.FLOAT
SHAPES = {
    # ResNet50's layers whose weights stream from memory (7x7 and 14x14 stages)
    "resnet7": [(512, 512, 7, 3, 1), (512, 2048, 7, 1, 1), (2048, 512, 7, 1, 1), (1024, 2048, 14, 1, 2),
                (256, 1024, 14, 1, 1), (1024, 256, 14, 1, 1), (256, 256, 14, 3, 1)],
    "resnet": [(64, 256, 56, 1, 1), (256, 64, 56, 1, 1), (128, 128, 56, 3, 2), (128, 512, 28, 1, 1),
               (512, 128, 28, 1, 1), (128, 128, 28, 3, 1), (256, 1024, 14, 1, 1), (512, 512, 7, 3, 1)],
    # SqueezeNet / MobileNetV2-sized layers: few channels
    "small": [(16, 64, 55, 1, 1), (16, 64, 55, 3, 1), (32, 128, 27, 3, 1), (64, 16, 55, 1, 1),
              (96, 576, 14, 1, 1), (512, 1000, 13, 1, 1)],
}


def parse_shapes(text):
    if text in SHAPES:
        return SHAPES[text]
    return [tuple(int(v) for v in s.split(",")) for s in text.split(";") if s]


def build_plan(shape, env, threads, seed=0):
    """A finalized one-step plan of the shape under the environment `env`; returns (plan, flops)."""
    from softneuro_ep import _engine
    c, m, h, k, s = shape
    pad = k // 2
    oh = (h + 2 * pad - k) // s + 1
    rng = np.random.default_rng(seed)
    with env_switches(env):
        p = _engine.Plan(threads)
        xb = (_engine.physical_bytes(F32, [1, c, h, h], "nchw16c") + 63) // 64 * 64
        x = p.add_arena_tensor(F32, [1, c, h, h], 0, "nchw16c")
        y = p.add_arena_tensor(F32, [1, m, oh, oh], xb, "nchw16c")
        w = p.add_constant(F32, rng.standard_normal((m, c, k, k)).astype(np.float32))
        b = p.add_constant(F32, rng.standard_normal(m).astype(np.float32))
        p.set_arena_bytes(xb + _engine.physical_bytes(F32, [1, m, oh, oh], "nchw16c"))
        attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [pad] * 4, "activation": "Relu", "_opset": 17}
        p.add_step("conv", "Conv", attrs, [x, w, b], [y], "cpu:float32:nchw16c/direct")
        p.finalize()  # the kernel reads its switches here
    return p, 2 * c * m * oh * oh * k * k


def compare(shapes, variants, threads=1, cold=2, rounds=7, budget_us=20000.0):
    """[(shape, flops, {name: median us})] over the shapes, variants timed in alternating order."""
    out = []
    for shape in shapes:
        plans = []
        for name, env in variants:
            env = dict(env)
            th = int(env.pop("_threads", threads))
            plan, flops = build_plan(shape, env, th)
            plans.append((name, plan))
        times = {name: [] for name, _ in plans}
        for r in range(rounds):
            for name, p in plans if r % 2 == 0 else plans[::-1]:
                times[name].append(p.time_median([], 1, 3, 20, budget_us, cold))
        out.append((shape, flops, {name: statistics.median(v) for name, v in times.items()}))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", default=[], help="NAME=ENV=VALUE,... (repeatable)")
    ap.add_argument("--shapes", default="resnet7")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cold", type=int, default=2, choices=(0, 1, 2))
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args(argv)
    variants = [parse_variant(v) for v in a.variant] or [("default", {})]
    rows = compare(parse_shapes(a.shapes), variants, a.threads, a.cold, a.rounds)
    base = variants[0][0]
    print(f"threads {a.threads}, cold {a.cold}, median of {a.rounds} rounds; us (GFLOP/s), {base}/variant")
    print("C,M,H,K,S".ljust(20) + "".join(n.rjust(22) for n, _ in variants))
    total = {n: 0.0 for n, _ in variants}
    for shape, flops, t in rows:
        line = ",".join(map(str, shape)).ljust(20)
        for n, _ in variants:
            total[n] += t[n]
            line += f"{t[n]:9.1f} ({flops / t[n] / 1e3:4.0f}) {t[base] / t[n]:5.2f}"
        print(line)
    print("total".ljust(20) + "".join(f"{total[n]:9.0f}{'':7s}{total[base] / total[n]:5.2f}" for n, _ in variants))
    return rows


if __name__ == "__main__":
    main()
