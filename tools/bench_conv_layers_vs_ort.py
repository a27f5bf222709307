"""Per-Conv-layer times of one model, this engine against onnxruntime, measured
interleaved in one process (onnxruntime's own profiler for its side, the
plan's run_profiled for ours). Layers are paired by (weight shape, output
shape, occurrence), so fused or renamed nodes still line up; layers onnxruntime
does not time as a Conv show "nan" and stay out of its total.

    python -m softneuro_ep.tools.bench_conv_layers_vs_ort --model resnet50 [--threads 1] [--blocks 6] [--top 20]
"""
import argparse
import collections
import json
import os
import statistics
import tempfile
import time

import numpy as np

from .bench import IDLE_GAP_S, make_sessions, random_feed
from .layer_table import layer_flops
from .models import build


def _key(w, y):
    """Weight and output shapes with the channel counts rounded up to 16: onnxruntime's NCHWc
    convolutions pad them (1000 classes run as 1008, 24 input channels as 32)."""
    m, c = (-(-n // 16) * 16 for n in w[:2])
    return (m, c) + tuple(w[2:]), (y[0], m) + tuple(y[2:])


def _ort_block(sess, feed, runs):
    """{(w shape, y shape, k): [us per run]} from onnxruntime's profiler over `runs` runs (after a
    warm-up run); the session ends its profile here, so each block uses a fresh session."""
    sess.run(None, feed)
    for _ in range(runs):
        sess.run(None, feed)
    path = sess.end_profiling()
    events = json.load(open(path))
    os.remove(path)
    per_run = collections.defaultdict(list)
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or e["args"].get("op_name") != "Conv":
            continue
        ins, outs = e["args"]["input_type_shape"], e["args"]["output_type_shape"]
        w = tuple(list(ins[1].values())[0])
        y = tuple(list(outs[0].values())[0])
        if len(y) == 5:  # NCHWc: [N, C/b, H, W, b] -> logical [N, M, H, W] with M from the weights
            y = (y[0], w[0], y[2], y[3])
        w, y = _key(w, y)
        per_run[(w, y, e["name"])].append(e["dur"])
    # the same node name repeats once per run; occurrence index from first-seen order
    out, seen = {}, collections.Counter()
    for (w, y, _name), durs in per_run.items():
        out[(w, y, seen[(w, y)])] = durs
        seen[(w, y)] += 1
    return out


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--runs", type=int, default=5, help="runs per block")
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args(argv)
    import onnxruntime as ort
    data = build(a.model).SerializeToString()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    _, ours = make_sessions(data, a.threads)
    feed = random_feed(ours, 1)
    arrays, _ = ours._feeds.check(feed)
    ours.run(None, feed)
    spec = next(iter(ours._plans.values()))
    keys, flops, routines, idx = [], [], [], []
    seen = collections.Counter()
    for i, ((name, op, desc), node) in enumerate(zip(spec.plan.step_routines(), spec.graph.nodes)):
        if node.op != "Conv":
            continue
        w, y = _key(tuple(spec.types[node.inputs[1]].shape), tuple(spec.types[node.outputs[0]].shape))
        keys.append((w, y, seen[(w, y)]))
        seen[(w, y)] += 1
        flops.append(layer_flops(node, spec.types))
        routines.append((name, desc))
        idx.append(i)
    ort_t = collections.defaultdict(list)
    our_t = collections.defaultdict(list)
    for _ in range(a.blocks):
        ref = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        time.sleep(IDLE_GAP_S)
        for k, v in _ort_block(ref, feed, a.runs).items():
            ort_t[k].append(statistics.median(v))
        del ref
        time.sleep(IDLE_GAP_S)
        spec.plan.run_profiled(arrays)
        runs = [spec.plan.run_profiled(arrays)[1] for _ in range(a.runs)]
        med = np.median(np.array(runs), axis=0)
        for k, i in zip(keys, idx):
            our_t[k].append(float(med[i]))
    rows = []
    for k, f, (name, desc) in zip(keys, flops, routines):
        o = statistics.median(ort_t[k]) if ort_t.get(k) else float("nan")
        u = statistics.median(our_t[k])
        rows.append((u - o, name, desc, k, o, u, f))
    matched = [r for r in rows if r[4] == r[4]]
    tot_o = sum(r[4] for r in matched)
    tot_u = sum(r[5] for r in matched)
    print(f"{a.model}, {a.threads} thread(s), {a.blocks} blocks of {a.runs} runs; Conv layers only")
    print(f"{'layer':<10}{'routine':<36}{'weights':<22}{'out':<20}{'ort us':>9}{'ours us':>9}{'ratio':>7}{'GF/s':>7}")
    # largest excess over onnxruntime first; unmatched layers by their own time
    for d, name, desc, k, o, u, f in sorted(rows, key=lambda r: -(r[0] if r[0] == r[0] else r[5]))[:a.top]:
        print(f"{name[:9]:<10}{desc[:35]:<36}{str(k[0]):<22}{str(k[1]):<20}{o:9.0f}{u:9.0f}{o / u:7.2f}"
              f"{f / u / 1e3:7.1f}")
    print(f"total of the {len(matched)} paired Conv layers: onnxruntime {tot_o / 1e3:.2f} ms, ours {tot_u / 1e3:.2f} ms, "
          f"ratio {tot_o / tot_u:.2f}" + (f"; {len(rows) - len(matched)} unpaired" if len(matched) < len(rows) else ""))


if __name__ == "__main__":
    main()
