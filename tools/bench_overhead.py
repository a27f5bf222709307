"""Per-run overhead: a one-node model (Relu on 1x4), onnxruntime and this engine
interleaved in blocks (first run of each block dropped), same thread count.

    python -m softneuro_ep.tools.bench_overhead [--threads 1] [--blocks 40]
"""
import argparse
import statistics
import time

import numpy as np
from onnx import helper


def relu_model():
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                          [helper.make_tensor_value_info("x", 1, [1, 4])],
                          [helper.make_tensor_value_info("y", 1, [1, 4])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--blocks", type=int, default=40)
    p.add_argument("--block-runs", type=int, default=2000)
    a = p.parse_args(argv)
    import onnxruntime

    import softneuro_ep
    m = relu_model()
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = a.threads
    ref = onnxruntime.InferenceSession(m, so, providers=["CPUExecutionProvider"])
    so2 = softneuro_ep.SessionOptions()
    so2.intra_op_num_threads = a.threads
    ours = softneuro_ep.InferenceSession(m, so2)
    feed = {"x": np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)}
    res = {"ort": [], "ours": []}
    for _ in range(a.blocks):
        for name, s in (("ort", ref), ("ours", ours)):
            s.run(None, feed)  # dropped
            t0 = time.perf_counter()
            for _ in range(a.block_runs):
                s.run(None, feed)
            res[name].append((time.perf_counter() - t0) / a.block_runs * 1e6)
    o, u = statistics.median(res["ort"]), statistics.median(res["ours"])
    print(f"per-run overhead, Relu 1x4, threads {a.threads}: onnxruntime {o:.2f} us, softneuro-ep {u:.2f} us, "
          f"ours/ort {u / o:.2f}  (medians of {a.blocks} blocks x {a.block_runs} runs)")


if __name__ == "__main__":
    main()
