"""Peak resident memory of a session plus one run, each engine in a fresh process.

    python -m softneuro_ep.tools.bench_memory [--model resnet50] [--threads 2] [--fresh-cache]

--fresh-cache: this engine's session starts from an empty profile cache, so it profiles
every layer and times its whole-plan checks (a first session); without it, the
session reads the user's profile cache as it is (settled: no profiling).
"""
import argparse
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import resource, sys
import numpy as np
engine, model, threads, cache = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
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
    prov = [("SoftNeuroExecutionProvider", {"profile_cache": cache})] if cache else None
    s = rt.InferenceSession(data, so, providers=prov) if prov else rt.InferenceSession(data, so)
del data
i = s.get_inputs()[0]
x = np.random.default_rng(0).random([1 if not isinstance(d, int) else d for d in i.shape]).astype(np.float32)
s.run(None, {i.name: x})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, base / 1024)
"""


def peak_mb(engine, model, threads, cache=""):
    # the child imports the softneuro_ep this process imported (a source tree, not an older install)
    import softneuro_ep
    env = dict(os.environ, PYTHONSAFEPATH="1")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(softneuro_ep.__file__)))] +
                                        [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    out = subprocess.run([sys.executable, "-c", CHILD, engine, model, str(threads), cache], capture_output=True,
                         text=True, check=True, env=env).stdout.split()
    return float(out[0]), float(out[1])


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fresh-cache", action="store_true", help="profile from an empty cache (a first session)")
    a = p.parse_args(argv)
    o, ob = peak_mb("ort", a.model, a.threads)
    with tempfile.TemporaryDirectory() as d:
        u, ub = peak_mb("ours", a.model, a.threads, os.path.join(d, "profile.sqlite") if a.fresh_cache else "")
    what = "first session, empty profile cache" if a.fresh_cache else "profile cache as it is"
    print(f"{a.model} ({what}): peak RSS (session + one run) onnxruntime {o:.0f} MB, softneuro-ep {u:.0f} MB, "
          f"ratio ours/ort {u / o:.2f}  (before the session: {ob:.0f} / {ub:.0f} MB, model built in-process)")


if __name__ == "__main__":
    main()
