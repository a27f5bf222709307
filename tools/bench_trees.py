"""Before / after across two source trees (e.g. a `git worktree` of an older commit, built with
tools/dev_build.sh): processes alternate between the trees; inside each, this engine and
onnxruntime run interleaved in blocks (the first run of each block dropped, onnxruntime's
spinning workers otherwise slow the next run). Prints each process's ratio onnxruntime /
this engine and the medians, so host drift between processes cancels in the ratios.

    python tools/bench_trees.py --before /tmp/old --after . --model m.onnx --threads 1 [--rounds 3 --blocks 6]
"""
import argparse
import os
import subprocess
import sys

import numpy as np

CHILD = r'''
import sys, time, numpy as np
import softneuro_ep as snep, onnxruntime as ort
path, threads, blocks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
so = snep.SessionOptions(); so.intra_op_num_threads = threads
a = snep.InferenceSession(data, so)
o = ort.SessionOptions(); o.intra_op_num_threads = threads
b = ort.InferenceSession(data, o, providers=["CPUExecutionProvider"])
feed = {}
rng = np.random.default_rng(0)
for i in a.get_inputs():
    shape = [d if isinstance(d, int) else 1 for d in i.shape]
    if "int" in i.type:  # token ids; masks all ones
        feed[i.name] = (np.ones(shape) if "mask" in i.name else rng.integers(0, 100, shape)).astype(np.int64)
    else:
        feed[i.name] = rng.normal(0, 1, shape).astype(np.float32)
ta, tb = [], []
for _ in range(blocks):
    for s, t in ((a, ta), (b, tb)):
        for k in range(6):
            t0 = time.perf_counter(); s.run(None, feed); dt = time.perf_counter() - t0
            if k: t.append(dt)
print(np.median(ta) * 1e3, np.median(tb) * 1e3)
'''


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=6)
    a = ap.parse_args(argv)
    trees = {"before": os.path.abspath(a.before), "after": os.path.abspath(a.after)}
    res = {k: [] for k in trees}
    for _ in range(a.rounds):
        for name, tree in trees.items():
            env = dict(os.environ, PYTHONPATH=tree)
            out = subprocess.run([sys.executable, "-c", CHILD, os.path.abspath(a.model), str(a.threads), str(a.blocks)],
                                 env=env, capture_output=True, text=True, cwd="/")
            if out.returncode:
                sys.exit(f"{name}: {out.stderr[-2000:]}")
            ours, ref = map(float, out.stdout.split()[-2:])
            res[name].append((ours, ref))
            print(f"  {name:6s} ours {ours:8.2f} ms  onnxruntime {ref:8.2f} ms  ratio {ref / ours:.3f}", flush=True)
    for name, v in res.items():
        r = [ref / ours for ours, ref in v]
        print(f"{os.path.basename(a.model)} threads {a.threads} {name}: ratio {np.median(r):.3f} "
              f"({min(r):.3f}-{max(r):.3f}), ours {np.median([x[0] for x in v]):.2f} ms")
    before, after = (np.median([x[0] for x in res[k]]) for k in ("before", "after"))
    print(f"after / before speed-up {before / after:.3f}")


if __name__ == "__main__":
    main()
