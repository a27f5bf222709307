"""Reduced-precision routines against their float32 counterparts, same layer,
same thread count, interleaved rounds (best of the rounds' medians):

  Conv (ResNet50 layers, batch 1, weights + bias constant, fused Relu):
      cpu:float32:nchw/{im2col_gemm|gemm_1x1}  vs  cpu:bfloat16:nchw/{im2col_gemm|gemm_1x1}
  fully-connected (MatMul with constant weights):
      cpu:float32/gemm  vs  cpu:bfloat16/gemm  vs  cpu:float16/gemv (M <= 16)

    PYTHONPATH=. python tools/bench_bf16.py [--threads 1 2] [--rounds 3] [--only conv|fc]

GFLOP/s = 2*M*N*K / median time. bf16 theory on AVX512-BF16: vdpbf16ps does
32 multiply-adds per instruction where vfmadd231ps does 16, so up to 2x when
both issue at the same rate. Where the CPU has AMX-BF16 (and Linux grants the
tile state) the bf16 routines use the AMX 32x32 kernel for M >= 16;
SNEP_BF16_AMX=0 measures the vdpbf16ps kernels instead.
"""
import argparse
import os
import time

import numpy as np

from softneuro_ep import _engine
from softneuro_ep.graph_passes.dtypes import NP_TO_ONNX

F32 = NP_TO_ONNX[np.dtype(np.float32)]

# (name, C_in, C_out, k, stride, pad, H): ResNet50 convolutions (batch 1).
CONVS = [
    ("7x7/2 3->64 224^2", 3, 64, 7, 2, 3, 224),
    ("3x3 64->64 56^2", 64, 64, 3, 1, 1, 56),
    ("1x1 256->64 56^2", 256, 64, 1, 1, 0, 56),
    ("1x1 64->256 56^2", 64, 256, 1, 1, 0, 56),
    ("3x3/2 128 56^2", 128, 128, 3, 2, 1, 56),
    ("3x3 128 28^2", 128, 128, 3, 1, 1, 28),
    ("1x1 512->128 28^2", 512, 128, 1, 1, 0, 28),
    ("3x3 256 14^2", 256, 256, 3, 1, 1, 14),
    ("1x1 1024->256 14^2", 1024, 256, 1, 1, 0, 14),
    ("3x3 512 7^2", 512, 512, 3, 1, 1, 7),
    ("1x1 2048->512 7^2", 2048, 512, 1, 1, 0, 7),
]
# (name, M, K, N): fully-connected layers.
FCS = [
    ("resnet fc", 1, 2048, 1000),
    ("vgg fc6 b1", 1, 25088, 4096),
    ("fc 4096 b1", 1, 4096, 4096),
    ("fc 4096 b4", 4, 4096, 4096),
    ("fc 1024 b16", 16, 1024, 1024),
    ("fc 1024 b128", 128, 1024, 1024),
]


def conv_plan(x, w, b, attrs, threads, desc):
    plan = _engine.Plan(threads)
    ix = plan.add_input(F32, list(x.shape), 0)
    iw = plan.add_constant(F32, w)
    ib = plan.add_constant(F32, b)
    n, co = x.shape[0], w.shape[0]
    k, s, p = attrs["kernel_shape"][0], attrs["strides"][0], attrs["pads"][0]
    oh = (x.shape[2] + 2 * p - k) // s + 1
    out = plan.add_output(F32, [n, co, oh, oh], 0)
    plan.add_step("conv", "Conv", dict(attrs, activation="Relu", _opset=17), [ix, iw, ib], [out], desc)
    plan.finalize()
    return plan


def fc_plan(a, w, threads, desc):
    plan = _engine.Plan(threads)
    ia = plan.add_input(F32, list(a.shape), 0)
    iw = plan.add_constant(F32, w)
    out = plan.add_output(F32, [a.shape[0], w.shape[1]], 0)
    plan.add_step("fc", "MatMul", {"_opset": 17}, [ia, iw], [out], desc)
    plan.finalize()
    return plan


def usable(op, desc):
    return any(r["descriptor"] == desc and r["usable"] for r in _engine.routines(op))


def best_times(make_plans, feeds, rounds):
    """make_plans: {label: () -> plan}; one plan alive at a time (idle pools spin)."""
    times = {k: [] for k in make_plans}
    for _ in range(rounds):
        for label, make in make_plans.items():
            plan = make()
            times[label].append(plan.time_median(feeds, 3, 10, 300, 300000.0))
            del plan
            time.sleep(0.02)
    return {k: min(v) for k, v in times.items()}


def bench_conv(threads, rounds):
    rng = np.random.default_rng(0)
    print(f"{'conv layer':20s} thr {'fp32 GF/s':>9s} {'bf16 GF/s':>9s} {'bf16/fp32':>9s}  routines")
    for name, ci, co, k, s, p, h in CONVS:
        x = rng.standard_normal((1, ci, h, h)).astype(np.float32)
        w = (rng.standard_normal((co, ci, k, k)) * 0.1).astype(np.float32)
        b = rng.standard_normal(co).astype(np.float32)
        attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p] * 4}
        algo = "gemm_1x1" if k == 1 and s == 1 and p == 0 else "im2col_gemm"
        d32, d16 = f"cpu:float32:nchw/{algo}", f"cpu:bfloat16:nchw/{algo}"
        oh = (h + 2 * p - k) // s + 1
        flops = 2.0 * co * ci * k * k * oh * oh
        for th in threads:
            plans = {d32: lambda: conv_plan(x, w, b, attrs, th, d32)}
            if usable("Conv", d16):
                plans[d16] = lambda: conv_plan(x, w, b, attrs, th, d16)
            t = best_times(plans, [x], rounds)
            g32 = flops / t[d32] / 1e3
            g16 = flops / t[d16] / 1e3 if d16 in t else float("nan")
            print(f"{name:20s} {th:3d} {g32:9.1f} {g16:9.1f} {g16 / g32:9.2f}  {algo}")


def bench_fc(threads, rounds):
    rng = np.random.default_rng(1)
    descs = ["cpu:float32/gemm", "cpu:bfloat16/gemm", "cpu:float16/gemv"]
    print(f"{'fc layer':14s} {'M':>4s} {'K':>6s} {'N':>5s} thr " + " ".join(f"{d.split('/')[0][4:] + ' GF/s':>13s}"
                                                                       for d in descs) + "  weight MB fp32/bf16/fp16")
    for name, m, k, n in FCS:
        a = rng.standard_normal((m, k)).astype(np.float32)
        w = (rng.standard_normal((k, n)) * 0.05).astype(np.float32)
        flops = 2.0 * m * n * k
        for th in threads:
            plans = {d: (lambda d=d: fc_plan(a, w, th, d)) for d in descs
                     if usable("MatMul", d) and (d != "cpu:float16/gemv" or m <= 16)}
            t = best_times(plans, [a], rounds)
            g = [flops / t[d] / 1e3 if d in t else float("nan") for d in descs]
            mb = k * n * 4 / 2 ** 20
            print(f"{name:14s} {m:4d} {k:6d} {n:5d} {th:3d} " + " ".join(f"{v:13.1f}" for v in g) +
                  f"  {mb:.1f}/{mb / 2:.1f}/{mb / 2:.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["conv", "fc"])
    args = ap.parse_args()
    amx = os.environ.get("SNEP_BF16_AMX") != "0"
    print(f"bf16 kernels: {'AMX 32x32 where available (M >= 16), else ' if amx else ''}vdpbf16ps 12x32/8x32")
    if args.only in (None, "conv"):
        bench_conv(args.threads, args.rounds)
    if args.only in (None, "fc"):
        bench_fc(args.threads, args.rounds)


if __name__ == "__main__":
    main()
