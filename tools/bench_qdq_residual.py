"""A QDQ model on this engine with and without the QLinearConv -> QLinearAdd fusion
(graph_passes/qdq.py fuse_qconv_residual), against onnxruntime on the same model: the
three sessions in one process, interleaved in blocks after an idle pause, each block's
first run dropped; medians and interquartile ranges.

    PYTHONPATH=. python tools/bench_qdq_residual.py [--model resnet50] [--threads 2] [--rounds 16]
"""
import argparse
import os
import statistics
import tempfile

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=16)
    a = p.parse_args(argv)
    import onnx
    import onnxruntime

    import softneuro_ep as ort
    from softneuro_ep.graph_passes import pipeline
    from softneuro_ep.tools.bench import _time_block
    from softneuro_ep.tools.bench_precision import _samples, ort_qdq
    from softneuro_ep.tools.models import build
    with tempfile.TemporaryDirectory(prefix="snep_qdqres_") as tmp:
        model = build(a.model)
        fp32, qdq = os.path.join(tmp, "m.onnx"), os.path.join(tmp, "m.qdq.onnx")
        onnx.save(model, fp32)
        inp = model.graph.input[0]
        shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
        ort_qdq(fp32, qdq, inp.name, _samples(shape, 8, 0))
        feed = {inp.name: _samples(shape, 1, 99)[0]}
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        sess = {"fused": ort.InferenceSession(qdq, so, providers=["SoftNeuroExecutionProvider"])}
        sess["fused"].run(None, feed)  # plans are built on the first run
        fuse = pipeline.fuse_qconv_residual
        pipeline.fuse_qconv_residual = lambda g, types: 0
        try:
            sess["unfused"] = ort.InferenceSession(qdq, so, providers=["SoftNeuroExecutionProvider"])
            sess["unfused"].run(None, feed)
        finally:
            pipeline.fuse_qconv_residual = fuse
        same = np.array_equal(sess["fused"].run(None, feed)[0], sess["unfused"].run(None, feed)[0])
        oso = onnxruntime.SessionOptions()
        oso.intra_op_num_threads = a.threads
        sess["onnxruntime"] = onnxruntime.InferenceSession(qdq, oso, providers=["CPUExecutionProvider"])
        times = {k: [] for k in sess}
        for _ in range(a.rounds):
            for k, s in sess.items():
                times[k] += _time_block(lambda: s.run(None, feed), 5)
        base = statistics.median(times["onnxruntime"])
        print(f"{a.model}, {a.threads} thread(s); fused and unfused outputs identical: {same}")
        for k, v in times.items():
            q1, q3 = np.percentile(v, 25) * 1e3, np.percentile(v, 75) * 1e3
            print(f"  {k:<12} {statistics.median(v) * 1e3:7.2f} ms  (IQR {q1:.1f}-{q3:.1f})  "
                  f"onnxruntime / this {base / statistics.median(v):.2f}")


if __name__ == "__main__":
    main()
