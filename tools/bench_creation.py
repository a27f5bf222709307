"""What a session costs before its first answer: per model, a first session on an empty profile
cache (profiling, tuning, packing, first run) and the median of five settled ones (warm cache:
loading, graph passes, DPRS from the cache, weight packing, first run). With --prepare, the
time one routine takes to pack one layer's weights (Plan.finalize of a one-step plan), for
ResNet50's large conv shapes.

    python -m softneuro_ep.tools.bench_creation [--models resnet50,mobilenet_v2] [--threads 2] [--prepare]

Compare two trees by running it under each (PYTHONPATH=tree), alternating; the host drifts.
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from .models import build

PREPARE_ROUTINES = [("cpu:float32:nchw16c/direct", "nchw16c"), ("cpu:float32:nhwc/gemm", "nhwc"),
                    ("cpu:float32:nchw/im2col_gemm", "nchw"), ("cpu:float32:nchw/winograd_f23", "nchw"),
                    ("cpu:float32:nchw/winograd_f43", "nchw"), ("cpu:float32:nchw/winograd_f43_tr", "nchw")]
PREPARE_SHAPES = [(512, 2048, 7, 1), (2048, 512, 7, 1), (512, 512, 7, 3), (256, 256, 14, 3)]  # C, M, H, k


def session_times(name, threads, settled_reps=5):
    import softneuro_ep as snep
    data = build(name).SerializeToString()
    cache = os.path.join(tempfile.mkdtemp(), "profiles.sqlite")

    def make():
        so = snep.SessionOptions()
        so.intra_op_num_threads = threads
        t0 = time.perf_counter()
        s = snep.InferenceSession(data, so, providers=["SoftNeuroExecutionProvider"],
                                  provider_options=[{"profile_cache": cache}])
        i = s.get_inputs()[0]
        s.run(None, {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)})
        return time.perf_counter() - t0

    first = make()
    return first, statistics.median(make() for _ in range(settled_reps))


def prepare_ms(desc, layout, c, m, h, k, reps=3):
    """Best of reps: Plan.finalize of a one-step Conv plan (W random [m, c, k, k], bias)."""
    from .. import _engine
    f32 = 1
    best = float("inf")
    rng = np.random.default_rng(0)
    w, b = rng.random((m, c, k, k), np.float32), rng.random(m, np.float32)
    for _ in range(reps):
        p = _engine.Plan(1)
        xs, ys = [1, c, h, h], [1, m, h, h]
        nb = (_engine.physical_bytes(f32, xs, layout) + 63) // 64 * 64
        x = p.add_arena_tensor(f32, xs, 0, layout)
        y = p.add_arena_tensor(f32, ys, nb, layout)
        p.set_arena_bytes(nb + _engine.physical_bytes(f32, ys, layout))
        ins = [x, p.add_constant(f32, w), p.add_constant(f32, b)]
        attrs = {"_opset": 17, "kernel_shape": [k, k], "pads": [k // 2] * 4, "strides": [1, 1]}
        p.add_step("conv", "Conv", attrs, ins, [y], desc)
        t0 = time.perf_counter()
        p.finalize()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet50,mobilenet_v2,convnext")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prepare", action="store_true", help="also time one layer's weight packing per routine")
    a = ap.parse_args(argv)
    if a.prepare:
        from .. import _engine
        usable = {r["descriptor"] for r in _engine.routines("Conv") if r["usable"]}
        print("| routine | C -> M, k | weights MB | prepare ms |")
        print("|---|---|---|---|")
        for desc, layout in PREPARE_ROUTINES:
            if desc not in usable:
                continue
            for c, m, h, k in PREPARE_SHAPES:
                if "winograd" in desc and k != 3:
                    continue
                print(f"| {desc} | {c} -> {m}, {k}x{k} | {c * m * k * k * 4 / 1e6:.1f} | "
                      f"{prepare_ms(desc, layout, c, m, h, k):.2f} |", flush=True)
        print()
    print("| model | threads | first session s | settled session ms |")
    print("|---|---|---|---|")
    for name in a.models.split(","):
        first, settled = session_times(name, a.threads)
        print(f"| {name} | {a.threads} | {first:.2f} | {settled * 1e3:.0f} |", flush=True)


if __name__ == "__main__":
    main()
