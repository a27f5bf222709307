"""int8 routines: qgemm GOP/s against the machine's int8 peak, and QLinearConv
against onnxruntime's QLinearConv on the same one-node model.

    PYTHONPATH=. python tools/bench_qgemm.py --gemm            # 1 thread, ResNet50 GEMM shapes
    PYTHONPATH=. python tools/bench_qgemm.py --layers [--threads 1]   # ResNet50 convs vs onnxruntime
    PYTHONPATH=. python tools/bench_qgemm.py --quant           # QuantizeLinear / DequantizeLinear
    SNEP_MAX_ISA=avx512 ...    # without AMX (VNNI micro-kernels); avx2, plain: the fallbacks

--gemm runs the qgemm through QLinearConv "cpu:qint8:nchw/qgemm_1x1" on a
1 x N image (so M x K x N is exactly the GEMM, activation packing and
requantization included). Peaks at the nominal clock of /proc/cpuinfo (the
cores may turbo above it): AVX-512 VNNI two vpdpbusd per cycle (2 x 64 MACs),
AMX one 16x16x64 tdpbsud per 16 cycles (1024 MACs).

--layers times the distinct ResNet50 convolutions (u8 activations, s8 per-channel
weights, int32 bias, u8 output) and a depthwise one: each engine in turn runs a
block of --reps runs (the first of each block dropped), --blocks blocks
interleaved; medians of the kept runs, ratio ort/engine, and the ResNet50 conv
total weighted by how often each shape occurs.
"""
import argparse
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

# (name, C_in, C_out, k, stride, H, count in ResNet50, group)
RESNET50 = [
    ("7x7/2 3->64 224", 3, 64, 7, 2, 224, 1, 1),
    ("1x1 64->64 56", 64, 64, 1, 1, 56, 1, 1),
    ("1x1 256->64 56", 256, 64, 1, 1, 56, 2, 1),
    ("3x3 64 56", 64, 64, 3, 1, 56, 3, 1),
    ("1x1 64->256 56", 64, 256, 1, 1, 56, 4, 1),
    ("1x1 256->128 56", 256, 128, 1, 1, 56, 1, 1),
    ("3x3/2 128 56", 128, 128, 3, 2, 56, 1, 1),
    ("1x1/2 256->512 56", 256, 512, 1, 2, 56, 1, 1),
    ("1x1 128->512 28", 128, 512, 1, 1, 28, 4, 1),
    ("1x1 512->128 28", 512, 128, 1, 1, 28, 3, 1),
    ("3x3 128 28", 128, 128, 3, 1, 28, 3, 1),
    ("1x1 512->256 28", 512, 256, 1, 1, 28, 1, 1),
    ("3x3/2 256 28", 256, 256, 3, 2, 28, 1, 1),
    ("1x1/2 512->1024 28", 512, 1024, 1, 2, 28, 1, 1),
    ("1x1 256->1024 14", 256, 1024, 1, 1, 14, 6, 1),
    ("1x1 1024->256 14", 1024, 256, 1, 1, 14, 5, 1),
    ("3x3 256 14", 256, 256, 3, 1, 14, 5, 1),
    ("1x1 1024->512 14", 1024, 512, 1, 1, 14, 1, 1),
    ("3x3/2 512 14", 512, 512, 3, 2, 14, 1, 1),
    ("1x1/2 1024->2048 14", 1024, 2048, 1, 2, 14, 1, 1),
    ("1x1 512->2048 7", 512, 2048, 1, 1, 7, 3, 1),
    ("1x1 2048->512 7", 2048, 512, 1, 1, 7, 2, 1),
    ("3x3 512 7", 512, 512, 3, 1, 7, 2, 1),
    ("dw3x3 144 56 (mbv2)", 144, 144, 3, 1, 56, 0, 144),
    ("dw3x3/2 144 56 (mbv2)", 144, 144, 3, 2, 56, 0, 144),
]
GEMMS = [  # (name, M, K, N)
    ("3x3 64 56^2", 64, 576, 3136),
    ("1x1 256->64 56^2", 64, 256, 3136),
    ("1x1 64->256 56^2", 256, 64, 3136),
    ("3x3 128 28^2", 128, 1152, 784),
    ("1x1 512->128 28^2", 128, 512, 784),
    ("3x3 256 14^2", 256, 2304, 196),
    ("1x1 1024->256 14^2", 256, 1024, 196),
    ("3x3 512 7^2", 512, 4608, 49),
    ("1x1 512->2048 7^2", 2048, 512, 49),
]


def qconv_model(ci, co, k, s, h, g, rng):
    p = k // 2
    oh = (h + 2 * p - k) // s + 1
    w = rng.integers(-127, 128, size=(co, ci // g, k, k)).astype(np.int8)
    inits = [numpy_helper.from_array(a, n) for a, n in [
        (np.array(0.02, np.float32), "xs"), (np.array(128, np.uint8), "xz"), (w, "w"),
        (rng.uniform(0.001, 0.01, co).astype(np.float32), "ws"), (np.zeros(co, np.int8), "wz"),
        (np.array(0.1, np.float32), "ys"), (np.array(128, np.uint8), "yz"),
        (rng.integers(-2000, 2000, co).astype(np.int32), "b")]]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                            kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, group=g)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, ci, h, h])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, co, oh, oh])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m.SerializeToString()


def descriptor_for(ci, co, k, s, g):
    if g > 1:
        return "cpu:qint8:nchw/depthwise"
    return "cpu:qint8:nchw/qgemm_1x1" if k == 1 and s == 1 else "cpu:qint8:nchw/im2col_qgemm"


def snep_session(model, desc, threads):
    import softneuro_ep as snep
    so = snep.SessionOptions()
    so.intra_op_num_threads = threads
    return snep.InferenceSession(model, so, providers=[("SoftNeuroExecutionProvider", {"routines": f"{desc}@0"})])


def ort_session(model, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def interleaved(fns, blocks, reps):
    """Per fn, the median of its kept runs: blocks in turn, first run of each block dropped."""
    kept = [[] for _ in fns]
    for _ in range(blocks):
        for i, fn in enumerate(fns):
            for r in range(reps + 1):
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                if r:
                    kept[i].append(dt)
    return [float(np.median(k)) for k in kept]


def nominal_ghz():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1e3
    return 2.0


def bench_gemm(blocks, reps):
    import os
    rng = np.random.default_rng(0)
    ghz = nominal_ghz()
    vnni, amx = 2 * 2 * 64 * ghz, 2 * 1024 * ghz  # GOP/s: 2 ops per MAC
    print(f"1 core at {ghz:.2f} GHz nominal: int8 peak VNNI {vnni:.0f} GOP/s, AMX {amx:.0f} GOP/s"
          f" (SNEP_MAX_ISA={os.environ.get('SNEP_MAX_ISA', '')!r})")
    print(f"{'shape':22s} {'M':>5s} {'K':>5s} {'N':>6s} {'GOP/s':>7s} {'%VNNI':>6s} {'%AMX':>5s}")
    for name, M, K, N in GEMMS:
        model = qconv_model(K, M, 1, 1, 1, 1, rng)
        # a 1 x N image: reshape the model's input to (1, K, 1, N)
        import onnx
        m = onnx.load_from_string(model)
        m.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 1
        m.graph.input[0].type.tensor_type.shape.dim[3].dim_value = N
        m.graph.output[0].type.tensor_type.shape.dim[2].dim_value = 1
        m.graph.output[0].type.tensor_type.shape.dim[3].dim_value = N
        sess = snep_session(m.SerializeToString(), "cpu:qint8:nchw/qgemm_1x1", 1)
        x = rng.integers(0, 256, size=(1, K, 1, N)).astype(np.uint8)
        (t,) = interleaved([lambda: sess.run(None, {"x": x})], blocks, reps)
        g = 2.0 * M * K * N / t / 1e9
        print(f"{name:22s} {M:5d} {K:5d} {N:6d} {g:7.1f} {100 * g / vnni:5.0f}% {100 * g / amx:4.0f}%")


def bench_layers(threads, blocks, reps, only=None):
    rng = np.random.default_rng(0)
    print(f"{'layer':24s} thr {'engine us':>10s} {'ort us':>9s} {'ort/eng':>7s}  routine")
    tot_e = tot_o = 0.0
    for name, ci, co, k, s, h, count, g in RESNET50:
        if only and only not in name:
            continue
        model = qconv_model(ci, co, k, s, h, g, rng)
        desc = descriptor_for(ci, co, k, s, g)
        x = rng.integers(0, 256, size=(1, ci, h, h)).astype(np.uint8)
        se, so = snep_session(model, desc, threads), ort_session(model, threads)
        np.testing.assert_array_equal(se.run(None, {"x": x})[0], so.run(None, {"x": x})[0])
        te, to = interleaved([lambda: se.run(None, {"x": x}), lambda: so.run(None, {"x": x})], blocks, reps)
        del se, so
        tot_e += count * te
        tot_o += count * to
        print(f"{name:24s} {threads:3d} {te * 1e6:10.1f} {to * 1e6:9.1f} {to / te:7.2f}  {desc}")
    print(f"{'ResNet50 convs (x count)':24s} {threads:3d} {tot_e * 1e6:10.1f} {tot_o * 1e6:9.1f} {tot_o / max(tot_e, 1e-12):7.2f}")


def bench_quant(threads, blocks, reps):
    """QuantizeLinear / DequantizeLinear per tensor, cpu/vec against cpu/direct, one-node plans."""
    from softneuro_ep.graph_passes.node_eval import build_node_plan
    rng = np.random.default_rng(0)
    shape = (1, 256, 56, 56)
    x = rng.standard_normal(shape).astype(np.float32)
    s, z = np.array(0.05, np.float32), np.array(128, np.uint8)
    q = np.clip(np.rint(x / s) + 128, 0, 255).astype(np.uint8)
    print(f"{'op':18s} {'shape':18s} thr {'vec us':>8s} {'direct us':>10s} {'direct/vec':>10s}")
    for op, ins, odt in [("QuantizeLinear", [x, s, z], np.uint8), ("DequantizeLinear", [q, s, z], np.float32)]:
        plans = []
        for desc in ("cpu/vec", "cpu/direct"):
            plan, _ = build_node_plan(op, ins, {}, [(odt, shape)], desc, threads, const_inputs=True)
            plans.append(plan)
        tv, td = interleaved([lambda: plans[0].run([]), lambda: plans[1].run([])], blocks, reps)
        print(f"{op:18s} {str(shape):18s} {threads:3d} {tv * 1e6:8.1f} {td * 1e6:10.1f} {td / tv:10.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gemm", action="store_true")
    ap.add_argument("--layers", action="store_true")
    ap.add_argument("--quant", action="store_true")
    ap.add_argument("--only", default=None, help="layers whose name contains this")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--reps", type=int, default=6)
    args = ap.parse_args()
    every = not (args.gemm or args.layers or args.quant)
    if args.gemm or every:
        bench_gemm(args.blocks, args.reps)
    if args.quant or every:
        bench_quant(args.threads, args.blocks, args.reps)
    if args.layers or every:
        bench_layers(args.threads, args.blocks, args.reps, args.only)


if __name__ == "__main__":
    main()
