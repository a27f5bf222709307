"""Sessions of one model tuned differently, timed against each other and onnxruntime in one process.

    python -m softneuro_ep.tools.bench_variants --model squeezenet --threads 1 \\
        --variant cold= --variant warm=profile_cache=/tmp/warm.sqlite,_cold=0

Each --variant is NAME=KEY=VALUE,... : provider options of SoftNeuroExecutionProvider, plus
`_cold=0` to profile every layer warm, `_cold=l2` to flush only the L2 before cold timings (see
graph_passes/tune.COLD; each rule's profiles are cached apart).
Each session is tuned (first run) right after it is created, then all of them and onnxruntime run
in interleaved blocks (order reversed every other round, each block's first run dropped, a short
pause between blocks), and the medians are compared. On this shared VM even sessions of one saved
plan read up to 10% apart in such a run: repeat it before reading a difference between plans.
"""
import argparse
import contextlib
import os
import time

import numpy as np

from .bench import random_feed
from .models import build


def parse_variant(text):
    name, _, rest = text.partition("=")
    opts = {}
    for part in filter(None, rest.split(",")):
        k, _, v = part.partition("=")
        opts[k] = v
    return name, opts


@contextlib.contextmanager
def env_switches(env):
    """The environment variables `env` set for the block (the engine's developer switches are
    read when a plan is finalized), the previous values back after it."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="squeezenet", help="a builder of tools/models or an .onnx path")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variant", action="append", default=[], help="NAME=KEY=VALUE,... (repeatable)")
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args(argv)
    import onnxruntime

    import softneuro_ep as se
    from softneuro_ep.graph_passes import tune
    model = open(a.model, "rb").read() if a.model.endswith(".onnx") else build(a.model).SerializeToString()
    variants = [parse_variant(v) for v in a.variant] or [("default", {})]
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = a.threads
    ref = onnxruntime.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    feed = random_feed(ref)
    sessions = {}
    cold = tune.COLD
    for name, opts in variants:
        tune.COLD = tune.COLD_LEVELS[opts.pop("_cold", "memory")]
        o = se.SessionOptions()
        o.intra_op_num_threads = a.threads
        s = se.InferenceSession(model, o, providers=[("SoftNeuroExecutionProvider", opts)])
        s.run(None, feed)  # tunes now, under this variant's profiling rule
        sessions[name] = s
    tune.COLD = cold
    sessions["onnxruntime"] = ref
    times = {k: [] for k in sessions}
    for r in range(a.rounds):
        for k, s in (list(sessions.items()) if r % 2 == 0 else list(sessions.items())[::-1]):
            s.run(None, feed)
            for _ in range(5):
                t0 = time.perf_counter()
                s.run(None, feed)
                times[k].append(time.perf_counter() - t0)
            time.sleep(0.05)
    ort_ms = np.median(times["onnxruntime"]) * 1e3
    print(f"{a.model}, {a.threads} thread(s), {a.rounds} rounds of 5 runs")
    for k, v in times.items():
        ms = np.median(v) * 1e3
        print(f"  {k:16s} {ms:8.2f} ms   ratio onnxruntime/this {ort_ms / ms:.3f}")


if __name__ == "__main__":
    main()
