"""QLinearAdd on ResNet50's residual shapes: this engine's routine (Plan.time_median, one node)
against onnxruntime's com.microsoft QLinearAdd (session.run, so with its ~10 us per-run overhead),
alternating, 5 blocks each after an idle pause; medians.

    PYTHONPATH=. python tools/bench_qlinear_add.py
"""
import statistics
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from softneuro_ep.graph_passes.node_eval import build_node_plan
from softneuro_ep.tools.bench import IDLE_GAP_S, _time_block, ort_node_session

SHAPES = [(1, 256, 56, 56), (1, 1024, 14, 14), (1, 2048, 7, 7)]
PARAMS = [np.array(0.03, np.float32), np.array(120, np.uint8), np.array(0.05, np.float32), np.array(130, np.uint8),
          np.array(0.07, np.float32), np.array(10, np.uint8)]
PNAMES = ["as", "az", "bs", "bz", "cs", "cz"]


def ort_session(shape, threads):
    node = helper.make_node("QLinearAdd", ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["y"], domain="com.microsoft")
    return ort_node_session(node, [helper.make_tensor_value_info(n, TensorProto.UINT8, shape) for n in "ab"],
                            [helper.make_tensor_value_info("y", TensorProto.UINT8, shape)],
                            [numpy_helper.from_array(v, n) for v, n in zip(PARAMS, PNAMES)], threads)


def main():
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        for threads in (1, 2):
            a, b = (rng.integers(0, 256, shape).astype(np.uint8) for _ in range(2))
            p = PARAMS
            plan, feeds = build_node_plan("QLinearAdd", [a, p[0], p[1], b, p[2], p[3], p[4], p[5]], {},
                                          [(np.uint8, shape)], "cpu:qint8/direct", threads,
                                          const_inputs={1, 2, 4, 5, 6, 7})
            s = ort_session(shape, threads)
            ours, theirs = [], []
            for _ in range(5):
                time.sleep(IDLE_GAP_S)
                ours.append(plan.time_median(feeds, 3, 50, 50, 0.0))
                theirs.append(statistics.median(_time_block(lambda: s.run(None, {"a": a, "b": b}), 50)) * 1e6)
            print(f"{shape} {threads} thread(s): this {statistics.median(ours):.0f} us, "
                  f"onnxruntime {statistics.median(theirs):.0f} us")


if __name__ == "__main__":
    main()
