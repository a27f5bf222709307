"""Peak resident memory of a session plus one run, each engine in a fresh process.

    python -m softneuro_ep.tools.bench_memory [--model resnet50] [--threads 2]
"""
import argparse
import subprocess
import sys

CHILD = r"""
import resource, sys
import numpy as np
engine, model, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
from softneuro_ep.tools.models import build
data = build(model).SerializeToString()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if engine == "ort":
    import onnxruntime as rt
    so = rt.SessionOptions(); so.intra_op_num_threads = threads
    s = rt.InferenceSession(data, so, providers=["CPUExecutionProvider"])
else:
    import softneuro_ep as rt
    so = rt.SessionOptions(); so.intra_op_num_threads = threads
    s = rt.InferenceSession(data, so)
del data
i = s.get_inputs()[0]
x = np.random.default_rng(0).random([1 if not isinstance(d, int) else d for d in i.shape]).astype(np.float32)
s.run(None, {i.name: x})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, base / 1024)
"""


def peak_mb(engine, model, threads):
    out = subprocess.run([sys.executable, "-c", CHILD, engine, model, str(threads)], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    o, ob = peak_mb("ort", a.model, a.threads)
    u, ub = peak_mb("ours", a.model, a.threads)
    print(f"{a.model}: peak RSS (session + one run) onnxruntime {o:.0f} MB, softneuro-ep {u:.0f} MB, "
          f"ratio ours/ort {u / o:.2f}  (before the session: {ob:.0f} / {ub:.0f} MB, model built in-process)")


if __name__ == "__main__":
    main()
