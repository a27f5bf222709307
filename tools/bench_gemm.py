"""GFLOP/s of the engine's sgemm (through the Gemm routine, A constant as conv
weights are, B fed per run) against onnxruntime's Gemm on the same one-node
model, same thread count, interleaved.

    PYTHONPATH=. python tools/bench_gemm.py [--threads 1 2] [--shapes resnet|square|all]
    PYTHONPATH=. python tools/bench_gemm.py --layers     # ResNet50 Conv layers vs onnxruntime

--layers times one-node Conv models (weights and bias constant, fused Relu on
the engine side, Conv+Relu on onnxruntime's) with Plan.time_median vs
onnxruntime's session.run, interleaved, same thread count.
"""
import argparse
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


# (name, M, K, N): ResNet50 convolutions as GEMMs (M = C_out, K = C_in*kh*kw, N = H*W), the FC layer, squares.
RESNET = [
    ("conv1 7x7 3->64 112^2", 64, 147, 12544),
    ("3x3 64 56^2", 64, 576, 3136),
    ("1x1 256->64 56^2", 64, 256, 3136),
    ("1x1 64->256 56^2", 256, 64, 3136),
    ("3x3 128 28^2", 128, 1152, 784),
    ("1x1 512->128 28^2", 128, 512, 784),
    ("3x3 256 14^2", 256, 2304, 196),
    ("1x1 1024->256 14^2", 256, 1024, 196),
    ("3x3 512 7^2", 512, 4608, 49),
    ("1x1 512->2048 7^2", 2048, 512, 49),
    ("fc 2048->1000", 1, 2048, 1000),
]
SQUARE = [("square 512", 512, 512, 512), ("square 1024", 1024, 1024, 1024), ("square 2048", 2048, 2048, 2048)]


def ort_session(A, K, N, threads):
    import onnxruntime as ort
    node = helper.make_node("Gemm", ["A", "B"], ["Y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("B", TensorProto.FLOAT, [K, N])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [A.shape[0], N])],
                              [numpy_helper.from_array(A, "A")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def median_time(fn, budget=0.3, min_reps=5, max_reps=200):
    fn()
    fn()
    ts = []
    t_end = time.perf_counter() + budget
    while len(ts) < min_reps or (len(ts) < max_reps and time.perf_counter() < t_end):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


# (name, C_in, C_out, k, stride, pad, H): ResNet50 convolutions (batch 1).
LAYERS = [
    ("3x3 64->64 56^2", 64, 64, 3, 1, 1, 56),
    ("1x1 256->64 56^2", 256, 64, 1, 1, 0, 56),
    ("1x1 64->256 56^2", 64, 256, 1, 1, 0, 56),
    ("7x7/2 3->64 224^2", 3, 64, 7, 2, 3, 224),
    ("3x3/2 128 56^2", 128, 128, 3, 2, 1, 56),
    ("3x3 256 14^2", 256, 256, 3, 1, 1, 14),
    ("1x1 2048->512 7^2", 2048, 512, 1, 1, 0, 7),
]


def conv_layers(threads, descriptor=""):
    import onnxruntime as ort
    from softneuro_ep import _engine
    from softneuro_ep.graph_passes.dtypes import NP_TO_ONNX
    rng = np.random.default_rng(0)
    print(f"{'layer':22s} thr {'engine us':>10s} {'ort us':>9s} {'ort/eng':>7s}  routine")
    for name, ci, co, k, s, p, h in LAYERS:
        x = rng.standard_normal((1, ci, h, h)).astype(np.float32)
        w = (rng.standard_normal((co, ci, k, k)) * 0.1).astype(np.float32)
        b = rng.standard_normal(co).astype(np.float32)
        attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p] * 4}
        oh = (h + 2 * p - k) // s + 1
        conv = helper.make_node("Conv", ["x", "w", "b"], ["c"], **attrs)
        relu = helper.make_node("Relu", ["c"], ["y"])
        graph = helper.make_graph(
            [conv, relu], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, co, oh, oh])],
            [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
        code = NP_TO_ONNX[np.dtype(np.float32)]
        for th in threads:
            te, to = [], []
            # Interleaved rounds; only one engine alive at a time (both thread
            # pools spin after a run, which would steal the other's cores).
            for _ in range(3):
                plan = _engine.Plan(th)
                ix = plan.add_input(code, list(x.shape), 0)
                iw = plan.add_constant(code, w)
                ib = plan.add_constant(code, b)
                out = plan.add_output(code, [1, co, oh, oh], 0)
                plan.add_step("conv", "Conv", dict(attrs, activation="Relu", _opset=17), [ix, iw, ib], [out],
                              descriptor)
                plan.finalize()
                routine = plan.step_routines()[0][2]
                te.append(plan.time_median([x], 3, 10, 200, 200000.0))
                del plan
                time.sleep(0.05)
                so = ort.SessionOptions()
                so.intra_op_num_threads = th
                so.inter_op_num_threads = 1
                sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
                to.append(median_time(lambda: sess.run(None, {"x": x}), budget=0.2) * 1e6)
                del sess
                time.sleep(0.05)
            te, to = min(te), min(to)
            print(f"{name:22s} {th:3d} {te:10.1f} {to:9.1f} {to / te:7.2f}  {routine}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", action="store_true", help="ResNet50 Conv layers vs onnxruntime")
    ap.add_argument("--descriptor", default="", help="Conv routine for --layers (default: the default routine)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--shapes", default="all", choices=["resnet", "square", "all"])
    ap.add_argument("--no-ort", action="store_true")
    args = ap.parse_args()
    if args.layers:
        conv_layers(args.threads, args.descriptor)
        return
    shapes = (RESNET if args.shapes in ("resnet", "all") else []) + (SQUARE if args.shapes in ("square", "all") else [])
    rng = np.random.default_rng(0)
    print(f"{'shape':24s} {'M':>5s} {'K':>5s} {'N':>6s} thr  {'engine GF/s':>11s} {'ort GF/s':>9s} {'ratio':>6s}")
    for name, M, K, N in shapes:
        A = rng.standard_normal((M, K)).astype(np.float32)
        B = rng.standard_normal((K, N)).astype(np.float32)
        flops = 2.0 * M * N * K
        for th in args.threads:
            plan = _plan_const_a(A, B, th)
            t_eng = plan.time_median([B], 3, 10, 400, 400000.0) * 1e-6
            g_eng = flops / t_eng / 1e9
            del plan  # its pool spins after a run: keep one engine alive at a time
            time.sleep(0.05)
            g_ort = float("nan")
            if not args.no_ort:
                sess = ort_session(A, K, N, th)
                t_ort = median_time(lambda: sess.run(None, {"B": B}))
                g_ort = flops / t_ort / 1e9
                del sess
                time.sleep(0.05)
            print(f"{name:24s} {M:5d} {K:5d} {N:6d} {th:3d}  {g_eng:11.1f} {g_ort:9.1f} {g_eng / g_ort:6.2f}")


def _plan_const_a(A, B, threads):
    from softneuro_ep import _engine
    from softneuro_ep.graph_passes.dtypes import NP_TO_ONNX
    plan = _engine.Plan(threads)
    code = NP_TO_ONNX[np.dtype(np.float32)]
    ia = plan.add_constant(code, A)
    ib = plan.add_input(code, list(B.shape), 0)
    out = plan.add_output(code, [A.shape[0], B.shape[1]], 0)
    plan.add_step("gemm", "Gemm", {"_opset": 17}, [ia, ib], [out], "cpu:float32/gemm")
    plan.finalize()
    return plan


if __name__ == "__main__":
    main()
