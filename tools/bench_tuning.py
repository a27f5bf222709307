"""Tuning modes compared on the same model: latency under dprs, greedy and none
(sessions interleaved in blocks, first run of each block dropped), DPRS's
predicted total against the measured latency, and onnxruntime alongside.

    python -m softneuro_ep.tools.bench_tuning [--models resnet50,mobilenet_v2,inception_v1,yolo] [--threads 2]
"""
import argparse
import statistics
import time

from .bench import random_feed
from .models import build

SIZES = {"yolo": {"size": 320}}


def _block(run, n):
    out = []
    for _ in range(n + 1):
        t0 = time.perf_counter()
        run()
        out.append(time.perf_counter() - t0)
    return out[1:]


def main(argv=None):
    import onnxruntime

    import softneuro_ep as ort
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="resnet50,mobilenet_v2,inception_v1,yolo")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--cache", default=None, help="profile cache (default: the user cache)")
    p.add_argument("--no-ort", action="store_true", help="leave onnxruntime out (its spinning workers disturb the others)")
    a = p.parse_args(argv)
    print("| model | threads | onnxruntime ms | none ms | greedy ms | dprs ms | dprs predicted ms | adapts | ratio ort/dprs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.models.split(","):
        data = build(name, **SIZES.get(name, {})).SerializeToString()
        sessions = {}
        for mode in ("none", "greedy", "dprs"):
            so = ort.SessionOptions()
            so.intra_op_num_threads = a.threads
            opts = {"tuning": mode}
            if a.cache:
                opts["profile_cache"] = a.cache
            sessions[mode] = ort.InferenceSession(data, so, providers=[("SoftNeuroExecutionProvider", opts)])
        if not a.no_ort:
            so = onnxruntime.SessionOptions()
            so.intra_op_num_threads = a.threads
            sessions["ort"] = onnxruntime.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        feed = random_feed(sessions["dprs"], 1)
        for s in sessions.values():
            s.run(None, feed)
        times = {k: [] for k in sessions}
        for _ in range(a.rounds):
            for k, s in sessions.items():
                times[k] += _block(lambda: s.run(None, feed), 4)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        spec = next(iter(sessions["dprs"]._plans.values()))
        adapts = sum(1 for _, op, _ in spec.plan.step_routines() if op == "Reorder")
        pred = spec.tuned.predicted_us / 1e3
        o = med.get("ort", float("nan"))
        print(f"| {name} | {a.threads} | {o:.2f} | {med['none']:.2f} | {med['greedy']:.2f} | {med['dprs']:.2f} "
              f"| {pred:.2f} | {adapts} | {o / med['dprs']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
