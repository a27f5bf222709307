"""Reduced-precision routines for float32 layers:
  cpu:bfloat16:nchw/im2col_gemm, cpu:bfloat16:nchw/gemm_1x1 (Conv),
  cpu:bfloat16/gemm (Gemm, MatMul): bf16 operands, fp32 sums (AVX512-BF16);
  cpu:float16/gemv (Gemm, MatMul, <= 16 rows, constant weights): fp16 weights, fp32 compute.

Against float64 numpy on sizes that are not multiples of the tiles or of the
K block, with the fused epilogues, 1 and 2 threads, constant and runtime
weights. Each case checks (S = |alpha| * sum |a||b| of an output, see
conformance/refs/linalg.py):
  - the error is within the documented bound (2^-7 S bf16, 2^-10 S fp16),
  - it is well above the float32 routine's error (the reduced path really runs),
  - on inputs already representable in bf16 / fp16 it matches float64 to float32
    accuracy (catches wrong indices and dropped terms that the loose bound could hide).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from softneuro_ep import InvalidArgument, _engine
from softneuro_ep.graph_passes.node_eval import run_node

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
from refs import REFS  # noqa: E402
from refs.linalg import conv_ref  # noqa: E402

BF16_CONV = ["cpu:bfloat16:nchw/im2col_gemm", "cpu:bfloat16:nchw/gemm_1x1"]
BF16_LINEAR = "cpu:bfloat16/gemm"
F16_LINEAR = "cpu:float16/gemv"
EXPECTED = [("Conv", d, "avx512_bf16") for d in BF16_CONV] + [
    (op, BF16_LINEAR, "avx512_bf16") for op in ("Gemm", "MatMul")] + [
    (op, F16_LINEAR, "avx512f") for op in ("Gemm", "MatMul")]
BOUND = {"bfloat16": 2 * 2.0 ** -8, "float16": 2 * 2.0 ** -11}


def _routine(op, desc):
    rs = [r for r in _engine.routines(op) if r["descriptor"] == desc]
    assert len(rs) == 1, f"{op} {desc} registered {len(rs)} times"
    return rs[0]


def _need(op, desc):
    if not _routine(op, desc)["usable"]:
        pytest.skip(f"{desc} is not usable on this CPU")


def bf16_round(a):
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    return u.view(np.float32)


def f16_round(a):
    return np.asarray(a, dtype=np.float32).astype(np.float16).astype(np.float32)


def _err(got, want):
    return float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max(initial=0.0))


@pytest.mark.parametrize("op,desc,isa", EXPECTED)
def test_registered(op, desc, isa):
    r = _routine(op, desc)
    assert r["isa"] == isa
    # never an op's default: the float32 routine computing every layer it supports comes first
    fp32 = {"Conv": "cpu:float32:nchw/im2col_gemm"}.get(op, "cpu:float32/gemm")
    descs = [x["descriptor"] for x in _engine.routines(op)]
    assert descs.index(desc) > descs.index(fp32)


# ---- Conv -------------------------------------------------------------------

CONV_CASES = [
    # n, c, m, (h, w), attrs, bias, z
    (1, 3, 5, (7, 9), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}, True, False),
    (2, 37, 19, (13, 6), {"kernel_shape": [3, 3], "pads": [0, 2, 1, 0], "activation": "Relu"}, True, True),
    (1, 67, 45, (9, 11), {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER"}, False, True),  # K 603 > 512
    (1, 5, 70, (17, 17), {"kernel_shape": [7, 7], "strides": [2, 2], "pads": [3, 3, 3, 3],
                          "activation": "Clip", "activation_params": [0.0, 6.0]}, True, False),
    (1, 513, 33, (7, 7), {"kernel_shape": [1, 1]}, True, True),  # 1x1, K odd past the block
    (2, 64, 70, (5, 3), {"kernel_shape": [1, 1], "activation": "HardSwish"}, True, False),
    (1, 31, 13, (9, 10), {"kernel_shape": [1, 1], "activation": "Sigmoid"}, False, True),
    (1, 24, 16, (6, 7), {"kernel_shape": [3, 3], "group": 2, "dilations": [2, 1], "pads": [2, 1, 2, 1]}, True, False),
]


def _conv_case(case, rng, rounder=None):
    n, c, m, hw, attrs, bias, z = CONV_CASES[case]
    attrs = dict(attrs)
    g = attrs.get("group", 1)
    x = rng.uniform(-1, 1, (n, c) + hw).astype(np.float32)
    w = rng.uniform(-1, 1, (m, c // g) + tuple(attrs["kernel_shape"])).astype(np.float32)
    if rounder is not None:
        x, w = rounder(x), rounder(w)
    inputs = [x, w]
    plain = {k: v for k, v in attrs.items() if not k.startswith("activation")}
    out_shape = conv_ref(x, w, plain).shape
    if bias or z:
        inputs.append(rng.uniform(-1, 1, (m,)).astype(np.float32) if bias else None)
    if z:
        inputs.append(rng.uniform(-1, 1, out_shape).astype(np.float32))
    return inputs, attrs


def _applies(desc, attrs):
    one = all(k == 1 for k in attrs["kernel_shape"]) and not any(attrs.get("pads", [0])) and \
        all(s == 1 for s in attrs.get("strides", [1]))
    return one or "im2col" in desc


def _run(op, inputs, attrs, want, desc, threads, const):
    return run_node(op, inputs, attrs, outputs=[(want.dtype, want.shape)], descriptor=desc,
                    num_threads=threads, const_inputs=const)[0]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("desc,case", [(d, c) for d in BF16_CONV for c in range(len(CONV_CASES))
                                       if _applies(d, CONV_CASES[c][4])])  # gemm_1x1: 1x1 stride-1 unpadded only
def test_bf16_conv(desc, case, threads):
    _need("Conv", desc)
    rng = np.random.default_rng(case * 13 + threads)
    inputs, attrs = _conv_case(case, rng)
    ref = REFS["Conv"]
    want = ref.compute(inputs, attrs)[0]
    scale = ref._abs_scale
    const = bool(case % 2)
    got = _run("Conv", inputs, attrs, want, desc, threads, const)
    err = _err(got, want)
    assert err <= BOUND["bfloat16"] * scale, f"err {err:.3g} > bound, S {scale:.3g}"
    err32 = _err(_run("Conv", inputs, attrs, want, "cpu:float32:nchw/im2col_gemm", threads, const), want)
    assert err > 16 * err32, f"bf16 err {err:.3g} not above fp32 err {err32:.3g}: not computed in bf16?"
    # inputs exact in bf16: products exact, only fp32 summation error is left
    inputs, attrs = _conv_case(case, np.random.default_rng(case * 13 + threads), rounder=bf16_round)
    want = ref.compute(inputs, attrs)[0]
    got = _run("Conv", inputs, attrs, want, desc, threads, not const)
    assert _err(got, want) <= 1e-5 * ref._abs_scale + 1e-6


def test_bf16_conv_1x1_refuses_padding_and_stride():
    _need("Conv", BF16_CONV[1])
    x = np.ones((1, 4, 5, 5), np.float32)
    w = np.ones((3, 4, 1, 1), np.float32)
    for attrs, out in (({"strides": [2, 2]}, (1, 3, 3, 3)), ({"pads": [1, 1, 1, 1]}, (1, 3, 7, 7))):
        with pytest.raises(InvalidArgument, match="does not support"):
            run_node("Conv", [x, w], attrs, outputs=[(np.float32, out)], descriptor=BF16_CONV[1])


# ---- Gemm / MatMul -------------------------------------------------------------

LINEAR_CASES = [
    # op, m, k, n, attrs, c shape (Gemm C / MatMul bias), a batch (MatMul)
    ("Gemm", 1, 2048, 1000, {"transB": 1}, (1000,), None),
    ("Gemm", 3, 515, 77, {"alpha": 0.5, "beta": -2.0, "activation": "Relu"}, (3, 77), None),
    ("Gemm", 13, 37, 33, {"transA": 1, "activation": "LeakyRelu", "activation_params": [0.1]}, (13, 1), None),
    ("Gemm", 4, 1, 17, {"transA": 1, "transB": 1}, None, None),
    ("Gemm", 40, 300, 129, {"activation": "Tanh"}, (1, 129), None),
    ("MatMul", 1, 771, 250, {"activation": "HardSigmoid", "activation_params": [0.2, 0.5]}, (250,), None),
    ("MatMul", 5, 64, 31, {}, (1,), (3,)),
    ("MatMul", 16, 129, 65, {"activation": "Clip", "activation_params": [-0.5, 0.5]}, None, None),
    ("MatMul", 2, 1030, 48, {}, (48,), None),
]


def _linear_case(case, rng, rounder_a=None, rounder_b=None):
    op, m, k, n, attrs, cshape, batch = LINEAR_CASES[case]
    ta, tb = attrs.get("transA", 0), attrs.get("transB", 0)
    a_shape = ((k, m) if ta else (m, k)) if batch is None else batch + (m, k)
    a = rng.uniform(-1, 1, a_shape).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
    if rounder_a is not None:
        a = rounder_a(a)
    if rounder_b is not None:
        b = rounder_b(b)
    inputs = [a, b]
    if cshape is not None:
        inputs.append(rng.uniform(-1, 1, cshape).astype(np.float32))
    return op, inputs, dict(attrs)


def _rows(case):
    op, m, k, n, attrs, cshape, batch = LINEAR_CASES[case]
    return m * int(np.prod(batch or (1,)))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("desc,case", [(d, c) for d in (BF16_LINEAR, F16_LINEAR) for c in range(len(LINEAR_CASES))
                                       if d != F16_LINEAR or _rows(c) <= 16])  # gemv: at most 16 rows
def test_linear(desc, case, threads):
    op = LINEAR_CASES[case][0]
    _need(op, desc)
    f16 = desc == F16_LINEAR
    rng = np.random.default_rng(case * 17 + threads)
    op, inputs, attrs = _linear_case(case, rng)
    ref = REFS[op]
    want = ref.compute(inputs, attrs)[0]
    scale = ref._abs_scale
    const = f16 or bool(case % 2)
    got = _run(op, inputs, attrs, want, desc, threads, const)
    err = _err(got, want)
    bound = BOUND["float16" if f16 else "bfloat16"] * scale
    assert err <= bound, f"err {err:.3g} > bound {bound:.3g}"
    err32 = _err(_run(op, inputs, attrs, want, "cpu:float32/gemm", threads, const), want)
    assert err > 16 * err32, f"err {err:.3g} not above fp32 err {err32:.3g}: reduced precision not used?"
    # operands exact in the reduced format: float32 accuracy
    op, inputs, attrs = _linear_case(case, np.random.default_rng(case * 17 + threads),
                                     None if f16 else bf16_round, f16_round if f16 else bf16_round)
    want = ref.compute(inputs, attrs)[0]
    got = _run(op, inputs, attrs, want, desc, threads, True if f16 else not const)
    assert _err(got, want) <= 1e-5 * ref._abs_scale + 1e-6


def test_f16_gemv_refuses():
    _need("MatMul", F16_LINEAR)
    a = np.ones((2, 8), np.float32)
    b = np.ones((8, 3), np.float32)
    out = [(np.float32, (2, 3))]
    with pytest.raises(InvalidArgument, match="does not support"):  # runtime weights
        run_node("MatMul", [a, b], {}, outputs=out, descriptor=F16_LINEAR, const_inputs=False)
    with pytest.raises(InvalidArgument, match="does not support"):  # beyond fp16's range
        run_node("MatMul", [a, b * 70000], {}, outputs=out, descriptor=F16_LINEAR, const_inputs=True)
    with pytest.raises(InvalidArgument, match="does not support"):  # too many rows
        run_node("MatMul", [np.ones((17, 8), np.float32), b], {}, outputs=[(np.float32, (17, 3))],
                 descriptor=F16_LINEAR, const_inputs=True)


def test_vdpbf16_kernels_without_amx(child_env):
    """Where AMX-BF16 is available the bf16 routines use it for M >= 16; this
    runs the bf16 cases again with SNEP_BF16_AMX=0 (the vdpbf16ps kernels only)."""
    if not _routine("Conv", BF16_CONV[0])["usable"] or os.environ.get("SNEP_BF16_AMX") == "0":
        pytest.skip("no AVX512-BF16, or already without AMX")
    env = child_env(SNEP_BF16_AMX="0")
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", os.path.abspath(__file__),
                        "-k", "bf16_conv or (linear and bfloat16)"],
                       env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]


def test_capped_isa_reports_unusable(child_env):
    """Under SNEP_MAX_ISA=avx2 the routines are listed as unusable and naming one is a clear error."""
    code = r"""
import numpy as np
from softneuro_ep import InvalidArgument, _engine
from softneuro_ep.graph_passes.node_eval import run_node
for op, desc in [("Conv", "cpu:bfloat16:nchw/im2col_gemm"), ("Conv", "cpu:bfloat16:nchw/gemm_1x1"),
                 ("Gemm", "cpu:bfloat16/gemm"), ("MatMul", "cpu:bfloat16/gemm"),
                 ("Gemm", "cpu:float16/gemv"), ("MatMul", "cpu:float16/gemv")]:
    (r,) = [r for r in _engine.routines(op) if r["descriptor"] == desc]
    assert not r["usable"], desc
try:
    run_node("MatMul", [np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)], {},
             outputs=[(np.float32, (2, 4))], descriptor="cpu:bfloat16/gemm")
except InvalidArgument as e:
    assert "absent on this CPU" in str(e), e
else:
    raise AssertionError("ran a routine whose ISA is capped away")
print("ok")
"""
    env = child_env(SNEP_MAX_ISA="avx2")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    p = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr
