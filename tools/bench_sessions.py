"""Several sessions of one saved plan in one process, timed step by step in turn: how far apart
identical plans run (memory placement: huge pages, cache sets), apart from tuning and VM noise.

    python -m softneuro_ep.tools.bench_sessions --model densenet121 --plan /tmp/d.plan --sessions 4

The plan file is written by the first session when it does not exist yet (tuned then). Each
round runs every session `--runs` times with per-step timing (Plan.run_profiled), sessions in
turn; per session, the median of each step over all runs is summed. Prints each session's total,
the spread (slowest / fastest - 1) and the steps that differ most.
"""
import argparse

import numpy as np

from .bench import random_feed
from .models import build


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="densenet121", help="a builder of tools/models or an .onnx path")
    ap.add_argument("--plan", required=True, help="plan file (plan_file provider option): all sessions load it")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--runs", type=int, default=4, help="runs per session per round")
    ap.add_argument("--top", type=int, default=8, help="steps to list")
    a = ap.parse_args(argv)
    import softneuro_ep as se
    model = open(a.model, "rb").read() if a.model.endswith(".onnx") else build(a.model).SerializeToString()
    specs, feed = [], None
    for _ in range(a.sessions):
        o = se.SessionOptions()
        o.intra_op_num_threads = a.threads
        s = se.InferenceSession(model, o, providers=[("SoftNeuroExecutionProvider", {"plan_file": a.plan})])
        feed = feed or random_feed(s)
        s.run(None, feed)
        arrays, _ = s._feeds.check(feed)
        specs.append((s, next(iter(s._plans.values())), arrays))
    steps = [[] for _ in specs]
    for _ in range(a.rounds):
        for k, (_, spec, arrays) in enumerate(specs):
            for _ in range(a.runs):
                steps[k].append(spec.plan.run_profiled(arrays)[1])
    med = [np.median(np.array(t), axis=0) for t in steps]
    totals = [float(m.sum()) for m in med]
    print(f"{a.model}, {a.threads} thread(s), {a.sessions} sessions of {a.plan}, {a.rounds} rounds of {a.runs} runs")
    print("  totals (sum of step medians): " + "  ".join(f"{t / 1e3:.2f} ms" for t in totals) +
          f"   spread {max(totals) / min(totals) - 1:.1%}")
    names = [r[0] for r in specs[0][1].plan.step_routines()]
    diff = np.max(np.array(med), axis=0) - np.min(np.array(med), axis=0)
    for i in np.argsort(-diff)[:a.top]:
        print(f"  {names[i][:32]:32s} " + " ".join(f"{m[i]:8.1f}" for m in med) + "  us")


if __name__ == "__main__":
    main()
