"""Two sessions of one model that differ in the layouts DPRS may use (or in the
routines pinned for one op), timed interleaved in one process (tools/bench.compare),
with the routine layouts each plan ended up with and the whole-plan checks' verdicts.

    python -m softneuro_ep.tools.bench_layouts --model mobilenet_v2 --threads 1 \\
        --layouts nchw --vs nchw,nhwc
    python -m softneuro_ep.tools.bench_layouts --model yolo --layouts nchw,nchw16c,nhwc \\
        --vs nchw,nchw16c,nhwc --pin-op Split=cpu/copy      # the first session's Splits pinned

Under SNEP_MAX_ISA=avx2 this shows what NHWC gives a CPU without AVX-512 (where
the NCHW16c routines are absent). Both sessions share one fresh profile cache;
models are built at bench_models' sizes.
"""
import argparse
import collections
import os
import tempfile
import time

from .bench import compare, random_feed
from .bench_models import SIZES
from .models import build


def _session(data, threads, layouts, cache, pins=None):
    import softneuro_ep as snep
    so = snep.SessionOptions()
    so.intra_op_num_threads = threads
    t0 = time.perf_counter()
    opts = {"profile_cache": cache, "layouts": layouts}
    if pins:
        opts["routines"] = pins
    s = snep.InferenceSession(data, so, providers=[("SoftNeuroExecutionProvider", opts)])
    s.run(None, random_feed(s, 1))
    t = next(iter(s._plans.values())).tuned
    layouts_used = collections.Counter(step[2].split("/")[0] for step in s.plan_summary() if step[1] != "Reorder")
    reorders = sum(1 for step in s.plan_summary() if step[1] == "Reorder")
    print(f"layouts={layouts}{' pins ' + pins if pins else ''}: session + first run {time.perf_counter() - t0:.1f} s; steps by routine head "
          f"{dict(layouts_used)}, {reorders} Reorders; layout check {t.layout_check}; NHWC check {t.nhwc_check}")
    return s


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mobilenet_v2")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--layouts", default="nchw", help="the first session's layouts option")
    p.add_argument("--vs", default="nchw,nhwc", help="the second session's layouts option")
    p.add_argument("--budget", type=float, default=15.0, help="seconds of interleaved timing")
    p.add_argument("--pin-op", default=None, help="OP=DESCRIPTOR: pin every OP node of the first session")
    a = p.parse_args(argv)
    model = build(a.model, **SIZES.get(a.model, {}))
    data = model.SerializeToString()
    pins = None
    if a.pin_op:
        op, desc = a.pin_op.split("=", 1)
        pins = desc + "@" + ",".join(str(i) for i, n in enumerate(model.graph.node) if n.op_type == op)
    with tempfile.TemporaryDirectory() as d:
        cache = os.path.join(d, "profile.sqlite")
        first = _session(data, a.threads, a.layouts, cache, pins)
        second = _session(data, a.threads, a.vs, cache)
        r = compare(data, random_feed(second, 1), a.threads, budget_s=a.budget, sessions=(first, second))
    first_name = a.layouts + (f" pinned {a.pin_op}" if a.pin_op else "")
    print(f"| {a.model} | {a.threads} | {first_name}: {r['ort_ms']:.2f} ms | {a.vs}: {r['ours_ms']:.2f} ms | "
          f"ratio {r['ratio']:.2f} | block-pair Q1-Q3 {r['ratio_q1']:.2f}-{r['ratio_q3']:.2f} ({r['blocks']} pairs) | "
          f"rel L2 {r['rel_l2']:.1e} |")


if __name__ == "__main__":
    main()
