"""qint8 routines (cpu:qint8:nchw/{qgemm_1x1,im2col_qgemm,depthwise,depthwise_cv16}, cpu:qint8/qgemm,
QuantizeLinear/DequantizeLinear cpu/vec) at network-like and odd sizes, bit-exact
against the numpy references of conformance/refs/quant.py and the reference
routines (cpu:int8:nchw/direct, cpu:int8/direct, cpu/direct). Covers the fused
QLinearConv extensions (activation Relu/Clip, residual inputs 9..11), per-channel
scales, zero points 0/128/255, u8 and s8 weights, constant (packed at prepare)
and runtime weights, 1 and 2 threads; and, in subprocesses, AMX tiles forced on
every shape (SNEP_QGEMM_MR=32; by default small-K layers take VNNI) and, through
SNEP_MAX_ISA, the AVX-512 VNNI (no AMX), AVX-VNNI (VEX, 256-bit), AVX2 and plain micro-kernels.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from softneuro_ep import _engine
from softneuro_ep.graph_passes.node_eval import run_node

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
from refs import REFS  # noqa: E402
from refs.quant import iconv_shape  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
USABLE = {(r["op"], r["descriptor"]) for r in _engine.routines() if r["usable"]}

# n, c, m, h, w, k, stride, pad, group
CONVS = [
    (1, 37, 19, 9, 9, 1, 1, 0, 1),        # 1x1, K and M off the vector widths
    (1, 64, 64, 14, 14, 1, 1, 0, 1),
    (2, 13, 35, 11, 7, 3, 1, 1, 1),       # 3x3 pad 1, batch 2
    (1, 24, 40, 15, 16, 3, 2, 1, 1),      # 3x3 stride 2
    (1, 3, 16, 23, 23, 7, 2, 3, 1),       # stem-like 7x7/2
    (1, 8, 12, 10, 10, 3, 1, 1, 2),       # grouped
    (1, 300, 7, 5, 6, 1, 2, 0, 1),        # 1x1 stride 2
    (1, 18, 18, 13, 13, 3, 1, 1, 18),     # depthwise 3x3
    (2, 20, 20, 15, 14, 3, 2, 1, 20),     # depthwise 3x3 stride 2
    (1, 17, 17, 12, 11, 5, 2, 2, 17),     # depthwise 5x5 stride 2
    (1, 9, 9, 7, 7, 5, 1, 0, 9),          # depthwise 5x5 no pad
    (1, 8, 24, 9, 45, 3, 2, 1, 1),        # stride 2 over rows wider than the SIMD split
    (1, 32, 40, 12, 70, 1, 2, 0, 1),      # 1x1 stride 2, wide rows
    (1, 16, 16, 9, 41, 3, 2, 1, 16),      # depthwise stride 2, wide rows
    (1, 40, 40, 7, 7, 3, 1, 1, 40),       # depthwise on a small plane: 16-channel groups and a tail of 8
    (1, 48, 48, 14, 14, 3, 2, 1, 48),     # depthwise stride 2 (MobileNet's 14x14 -> 7x7)
    (2, 33, 33, 2, 3, 3, 1, 1, 33),       # depthwise on 2x3 planes
    (1, 20, 20, 9, 9, 3, 1, 1, 20),       # 81 pixels: a full 64-pixel transpose block and a partial one
    (1, 20, 20, 60, 57, 3, 1, 1, 20),     # a plane computed in bands of output rows (depthwise_cv16)
    (1, 17, 17, 75, 40, 5, 2, 2, 17),     # bands, 5x5 stride 2
    (1, 24, 24, 6, 5, 5, 1, 2, 24),       # depthwise 5x5 on a plane whose pixel count is no multiple of 4
]
DESCS = ["cpu:int8:nchw/direct", "cpu:qint8:nchw/qgemm_1x1", "cpu:qint8:nchw/im2col_qgemm", "cpu:qint8:nchw/depthwise",
         "cpu:qint8:nchw/depthwise_cv16"]


def conv_case(conv, wdt, ydt, zps, act, residual, per_channel, seed):
    n, c, m, h, w, k, s, p, g = conv
    rng = np.random.default_rng(seed)
    zx, zw, zy = zps
    x = rng.integers(0, 256, size=(n, c, h, w)).astype(np.uint8)
    lo, hi = (-128, 127) if wdt == np.int8 else (0, 255)
    wt = rng.integers(lo, hi, size=(m, c // g, k, k), endpoint=True).astype(wdt)
    sx = np.float32(rng.uniform(0.01, 0.05))
    sw = rng.uniform(0.0005, 0.005, size=(m,) if per_channel else ()).astype(np.float32)
    sy = np.float32(rng.uniform(0.05, 0.3))
    wz = (np.full(sw.shape, zw if wdt == np.uint8 else (zw - 128) // 32, wdt))  # s8: small, nonzero but for 128
    if per_channel and wdt == np.uint8:
        wz = rng.integers(0, 256, size=(m,)).astype(np.uint8)
    yz = np.asarray(zy if ydt == np.uint8 else zy - 128, ydt)
    bias = rng.integers(-5000, 5000, size=(m,)).astype(np.int32)
    attrs = {"group": g, "strides": [s, s], "dilations": [1, 1], "pads": [p] * 4, "kernel_shape": [k, k]}
    inputs = [x, np.asarray(sx), np.asarray(zx, np.uint8), wt, sw, wz, np.asarray(sy), yz, bias]
    if act:
        attrs["activation"] = act
        if act == "Clip":
            attrs["activation_params"] = [-1.5, 4.0]
    if residual:
        oshape = iconv_shape(x.shape, wt.shape, attrs)
        zdt = residual
        zlo, zhi = (-128, 127) if zdt == np.int8 else (0, 255)
        inputs += [rng.integers(zlo, zhi, size=oshape, endpoint=True).astype(zdt),
                   np.asarray(np.float32(rng.uniform(0.05, 0.5))), np.asarray(rng.integers(zlo, zhi), zdt)]
    return inputs, attrs


def run(op, inputs, attrs, want, desc, threads=1, const=False):
    return run_node(op, inputs, attrs, outputs=[(want.dtype, want.shape)], descriptor=desc, num_threads=threads,
                    const_inputs=const)[0]


def supported(desc, conv):
    n, c, m, h, w, k, s, p, g = conv
    if desc.endswith("/qgemm_1x1"):
        return k == 1 and s == 1 and p == 0
    if desc.endswith("/depthwise"):
        return g == c == m and k in (3, 5)
    if desc.endswith("/depthwise_cv16"):
        return g == c == m and k in (3, 5)
    return True


@pytest.mark.parametrize("conv", CONVS, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("variant", range(5))
def test_qlinearconv_fused_matches_reference(conv, variant):
    # variant 4: s8 weights with zero points 0 (as quantize_static writes them), so full tiles take the
    # micro-kernel with the requantization fused (QUkernel.tile)
    wdt = [np.int8, np.uint8, np.int8, np.uint8, np.int8][variant]
    ydt = [np.uint8, np.int8, np.uint8, np.uint8, np.int8][variant]
    zps = [(0, 0, 0), (128, 128, 128), (255, 255, 255), (7, 200, 100), (3, 128, 130)][variant]
    act = ["", "Relu", "Clip", "Relu", "Clip"][variant]
    residual = [None, np.uint8, np.int8, np.uint8, np.int8][variant]
    inputs, attrs = conv_case(conv, wdt, ydt, zps, act, residual, per_channel=variant % 2 == 1, seed=variant)
    want = REFS["QLinearConv"].compute(inputs, attrs)[0]
    ran = 0
    for desc in DESCS:
        if ("QLinearConv", desc) not in USABLE or not supported(desc, conv):
            continue
        for threads, const in ((1, False), (2, True)):
            got = run("QLinearConv", inputs, attrs, want, desc, threads, const)
            np.testing.assert_array_equal(got, want, err_msg=f"{desc} threads={threads} const={const}")
        ran += 1
    assert ran >= 2  # the reference and at least one qint8 routine


def test_fused_activation_and_residual_change_the_result():
    conv = CONVS[2]
    plain, attrs0 = conv_case(conv, np.int8, np.uint8, (128, 0, 128), "", None, False, 3)
    fused, attrs1 = conv_case(conv, np.int8, np.uint8, (128, 0, 128), "Relu", np.uint8, False, 3)
    a = REFS["QLinearConv"].compute(plain, attrs0)[0]
    b = REFS["QLinearConv"].compute(fused, attrs1)[0]
    assert (a < 128).any() and (b >= 128).all() and not np.array_equal(np.maximum(a, 128), b)
    for desc in DESCS[:3]:
        if not supported(desc, conv):
            continue
        got = run("QLinearConv", fused, attrs1, b, desc)
        np.testing.assert_array_equal(got, b, err_msg=desc)


def test_relu_equals_clip_zero_inf():
    inputs, attrs = conv_case(CONVS[0], np.int8, np.uint8, (128, 0, 100), "Relu", None, True, 4)
    want = REFS["QLinearConv"].compute(inputs, attrs)[0]
    clip = dict(attrs, activation="Clip", activation_params=[0.0, float("inf")])
    for desc in DESCS[:3]:
        np.testing.assert_array_equal(run("QLinearConv", inputs, clip, want, desc), want, err_msg=desc)


@pytest.mark.parametrize("conv", [CONVS[0], CONVS[2], CONVS[3], CONVS[6]], ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("wdt", [np.int8, np.uint8])
def test_convinteger(conv, wdt):
    inputs, attrs = conv_case(conv, wdt, np.uint8, (128, 3, 0), "", None, True, 5)
    x, _, xz, w, _, wz = inputs[:6]
    wz = wz if wz.ndim else np.asarray(wz)
    ins = [x, w, xz, wz]
    want = REFS["ConvInteger"].compute(ins, attrs)[0]
    for desc in ["cpu:int8:nchw/direct", "cpu:qint8:nchw/qgemm_1x1", "cpu:qint8:nchw/im2col_qgemm"]:
        if ("ConvInteger", desc) not in USABLE or not supported(desc, conv):
            continue
        for threads in (1, 2):
            np.testing.assert_array_equal(run("ConvInteger", ins, attrs, want, desc, threads), want, err_msg=desc)


@pytest.mark.parametrize("shape", [((5, 3), 7), ((37, 67), 33), ((2, 9, 130), 17), ((1, 2048), 1000), ((64, 64), 64)],
                         ids=str)
@pytest.mark.parametrize("variant", range(3))
def test_qlinearmatmul_and_matmulinteger(shape, variant):
    ash, n = shape
    rng = np.random.default_rng(variant)
    k = ash[-1]
    bdt = [np.int8, np.uint8, np.uint8][variant]
    zs = [0, 128, 255][variant]
    a = rng.integers(0, 256, size=ash).astype(np.uint8)
    lo, hi = (-128, 127) if bdt == np.int8 else (0, 255)
    b = rng.integers(lo, hi, size=(k, n), endpoint=True).astype(bdt)
    per_col = variant != 1
    sb = rng.uniform(0.002, 0.02, size=(n,) if per_col else ()).astype(np.float32)
    zb = (rng.integers(lo, hi, size=sb.shape, endpoint=True) if bdt == np.uint8 else np.zeros(sb.shape)).astype(bdt)
    ydt = [np.uint8, np.int8, np.uint8][variant]
    ins = [a, np.asarray(np.float32(0.02)), np.asarray(zs, np.uint8), b, sb, zb, np.asarray(np.float32(0.4)),
           np.asarray(zs if ydt == np.uint8 else zs - 128, ydt)]
    want = REFS["QLinearMatMul"].compute(ins, {})[0]
    for threads, const in ((1, False), (2, True)):
        got = run("QLinearMatMul", ins, {}, want, "cpu:qint8/qgemm", threads, const)
        np.testing.assert_array_equal(got, want)
    mi = [a, b, np.asarray(zs, np.uint8), zb]
    want = REFS["MatMulInteger"].compute(mi, {})[0]
    for threads in (1, 2):
        np.testing.assert_array_equal(run("MatMulInteger", mi, {}, want, "cpu:qint8/qgemm", threads), want)


@pytest.mark.parametrize("n", [1, 15, 17, 1000, 100003])
@pytest.mark.parametrize("dt", [np.uint8, np.int8])
def test_quantize_dequantize_vec(n, dt):
    if ("QuantizeLinear", "cpu/vec") not in USABLE:
        pytest.skip("cpu/vec needs AVX-512")
    rng = np.random.default_rng(n)
    s = np.float32(0.0625)
    x = rng.uniform(-20, 20, size=n).astype(np.float32)
    x[: n // 3] = ((rng.integers(-300, 300, size=n // 3) + 0.5) * s).astype(np.float32)  # exact ties
    if n > 20:
        x[5], x[6], x[7] = np.inf, -np.inf, np.nan
    for zp in (0, 128, 255):
        z = np.asarray(zp if dt == np.uint8 else zp - 128, dt)
        q_ref = run("QuantizeLinear", [x, np.asarray(s), z], {}, np.zeros(n, dt), "cpu/direct")
        for threads in (1, 2):
            q = run("QuantizeLinear", [x, np.asarray(s), z], {}, q_ref, "cpu/vec", threads)
            np.testing.assert_array_equal(q, q_ref)
            d_ref = run("DequantizeLinear", [q, np.asarray(s), z], {}, np.zeros(n, np.float32), "cpu/direct")
            d = run("DequantizeLinear", [q, np.asarray(s), z], {}, d_ref, "cpu/vec", threads)
            np.testing.assert_array_equal(d, d_ref)
    np.testing.assert_array_equal(q_ref[n // 3:n // 3 + 5], np.clip(np.rint(x[n // 3:n // 3 + 5] / s) + int(z), *(
        (-128, 127) if dt == np.int8 else (0, 255))).astype(dt))


@pytest.mark.skipif(os.environ.get("SNEP_MAX_ISA") is not None or os.environ.get("SNEP_QGEMM_MR") is not None,
                    reason="already capped (this is the child run)")
@pytest.mark.parametrize("isa", ["amx", "avx512", "avxvnni", "avx2", "plain"])
def test_fallback_isas(isa, child_env):
    # "amx": AMX tiles for every shape (by default small-K layers take VNNI), where the CPU has them
    env = child_env(SNEP_QGEMM_MR="32") if isa == "amx" else child_env(SNEP_MAX_ISA=isa)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/test_qint8_routines.py",
           "conformance/test_routines.py", "-k", "qint8 or fused or quantize or QLinear or Integer"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def _cpu_flags():
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])


@pytest.mark.skipif(os.environ.get("SNEP_MAX_ISA") is not None, reason="already capped (this is the child run)")
@pytest.mark.parametrize("isa, want", [("avxvnni", "6x16_avxvnni"), ("avx2", "4x8_avx2"), ("plain", "4x16_plain")])
def test_each_isa_cap_selects_its_qgemm_kernel(isa, want, child_env):
    # the fallback runs above test what the cap selects: make sure it is that ISA's micro-kernel
    if isa == "avxvnni" and "avx_vnni" not in _cpu_flags():
        pytest.skip("this CPU has no AVX-VNNI")
    code = "from softneuro_ep import _engine; print(_engine.cpu_info()['qgemm_ukernel'])"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(SNEP_MAX_ISA=isa), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == want, r.stdout + r.stderr


# ---- QGemm (com.microsoft) on cpu:qint8/qgemv -----------------------------------------------
def qgemm_case(m, k, n, tb, per_col, out, seed, adt=np.uint8, bdt=np.int8, c_shape="n", alpha=None):
    rng = np.random.default_rng(seed)
    alo, ahi = (0, 255) if adt == np.uint8 else (-128, 127)
    blo, bhi = (-128, 127) if bdt == np.int8 else (0, 255)
    a = rng.integers(alo, ahi, size=(m, k), endpoint=True).astype(adt)
    b = rng.integers(blo, bhi, size=(n, k) if tb else (k, n), endpoint=True).astype(bdt)
    bs = rng.uniform(0.0005, 0.005, size=(n,) if per_col else ()).astype(np.float32)
    bz = np.zeros(bs.shape, bdt) if bdt == np.int8 else rng.integers(0, 256, size=bs.shape).astype(np.uint8)
    c = None
    if c_shape == "n":
        c = rng.integers(-50000, 50000, size=(n,)).astype(np.int32)
    elif c_shape in ("mn", "1n"):
        c = rng.integers(-50000, 50000, size=(m if c_shape == "mn" else 1, n)).astype(np.int32)
    ys = yz = None
    if out != np.float32:
        ys = np.asarray(np.float32(rng.uniform(0.5, 2.0)))
        yz = np.asarray(100 if out == np.uint8 else -20, out)
    az = np.asarray(rng.integers(alo, ahi), adt)
    ins = [a, np.asarray(np.float32(0.03)), az, b, bs, bz, c, ys, yz]
    attrs = {"transB": 1} if tb else {}
    if alpha is not None:
        attrs["alpha"] = alpha
    return ins, attrs


@pytest.mark.parametrize("mkn", [(1, 2048, 1000), (1, 1280, 1000), (2, 2048, 1000), (3, 67, 33), (4, 64, 64),
                                 (5, 130, 17), (1, 3, 1), (9, 1000, 129), (40, 37, 70)], ids=str)
@pytest.mark.parametrize("variant", range(4))
def test_qgemm_qgemv_matches_reference(mkn, variant):
    m, k, n = mkn
    out = [np.float32, np.uint8, np.float32, np.int8][variant]
    ins, attrs = qgemm_case(m, k, n, tb=variant % 2 == 0, per_col=variant != 3, out=out, seed=variant,
                            adt=np.int8 if variant == 3 else np.uint8, bdt=np.uint8 if variant == 2 else np.int8,
                            c_shape=["n", "n", None, "mn"][variant], alpha=0.5 if variant == 2 else None)
    want = REFS["QGemm"].compute(ins, attrs)[0]
    for threads, const in ((1, False), (2, True), (1, True)):
        got = run("QGemm", ins, attrs, want, "cpu:qint8/qgemv", threads, const)
        np.testing.assert_array_equal(got, want, err_msg=f"threads={threads} const={const}")


def _ort_qgemm(ins, attrs, out_dtype, out_shape):
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    names = ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "c", "y_scale", "y_zp"]
    used = [nm if x is not None else "" for nm, x in zip(names, ins)]
    while used and not used[-1]:
        used.pop()
    inits = [numpy_helper.from_array(np.asarray(x), nm) for nm, x in zip(names[1:], ins[1:]) if x is not None]
    ytype = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.uint8): TensorProto.UINT8,
             np.dtype(np.int8): TensorProto.INT8}[np.dtype(out_dtype)]
    atype = TensorProto.UINT8 if ins[0].dtype == np.uint8 else TensorProto.INT8
    g = helper.make_graph([helper.make_node("QGemm", used, ["y"], domain="com.microsoft", **attrs)], "g",
                          [helper.make_tensor_value_info("a", atype, list(ins[0].shape))],
                          [helper.make_tensor_value_info("y", ytype, [out_shape[0], out_shape[1]])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    s = onnxruntime.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return model, s.run(None, {"a": ins[0]})[0]


@pytest.mark.parametrize("variant", range(4))
def test_qgemm_reference_is_onnxruntimes(variant):
    """The reference (and so the routine) computes what onnxruntime's QGemm does, bit for bit."""
    m, k, n = [(1, 256, 100), (3, 100, 40), (1, 64, 10), (2, 50, 30)][variant]
    out = [np.float32, np.uint8, np.float32, np.int8][variant]
    # onnxruntime's kernels: u8 A with s8/u8 B and float/u8 output; s8 A with s8 B and float/s8 output
    ins, attrs = qgemm_case(m, k, n, tb=variant % 2 == 0, per_col=variant != 3, out=out, seed=10 + variant,
                            adt=np.int8 if variant == 3 else np.uint8,
                            bdt=np.uint8 if variant == 2 else np.int8, c_shape=["n", "n", None, "1n"][variant],
                            alpha=0.5 if variant == 2 else None)
    if variant == 2:  # y_scale without y_zero_point: float output divided by y_scale
        ins[7] = np.asarray(np.float32(0.7))
    want = REFS["QGemm"].compute(ins, attrs)[0]
    model, got = _ort_qgemm(ins, attrs, out, want.shape)
    np.testing.assert_array_equal(got, want)
    import softneuro_ep
    s = softneuro_ep.InferenceSession(model.SerializeToString())
    np.testing.assert_array_equal(s.run(None, {"a": ins[0]})[0], want)  # the model runs QGemm natively
    assert [r[2].startswith("cpu:qint8/qgemv") for r in next(iter(s._plans.values())).plan.step_routines()
            if r[1] == "QGemm"] == [True]


# ---- QLinearAdd on cpu:qint8/direct (float32 sums, exact fallback near .5 ties) ----------------
def qlinear_add_inputs(a, b, ra, rb, za, zb, zc):
    sc = np.float32(1)  # so the routine's ratios sa / sc are exactly ra and rb
    sa, sb = np.float32(ra), np.float32(rb)
    u8 = lambda v: np.asarray(v, np.uint8)  # noqa: E731
    return [a, np.asarray(sa), u8(za), b, np.asarray(sb), u8(zb), np.asarray(sc), u8(zc)]


def test_qlinear_add_near_ties_match_the_exact_reference():
    """Every (a, b) pair under random scale ratios, chosen so that some exact sums lie within
    2e-6 of a .5 tie (float32 sums alone would round some of them the wrong way)."""
    ref = REFS["QLinearAdd"]
    grid_a, grid_b = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    a, b = grid_a.ravel(), grid_b.ravel()
    rng = np.random.default_rng(5)
    near = 0
    for trial in range(60):
        ra, rb = np.float32(rng.uniform(0.2, 1.5)), np.float32(rng.uniform(0.2, 1.5))
        za, zb, zc = (int(v) for v in rng.integers(0, 256, 3))
        v = (a.astype(np.float64) - za) * np.float64(ra) + (b.astype(np.float64) - zb) * np.float64(rb)
        d = np.abs(np.abs(v - np.floor(v)) - 0.5)
        near += int(np.count_nonzero((d > 0) & (d < 2e-6)))
        attrs = {"activation": "Relu"} if trial % 3 == 0 else {}
        inputs = qlinear_add_inputs(a, b, ra, rb, za, zb, zc)
        want = ref.compute(inputs, attrs)[0]
        got = run("QLinearAdd", inputs, attrs, want, "cpu:qint8/direct", threads=1 + trial % 2)
        np.testing.assert_array_equal(got, want, err_msg=f"ra={ra!r} rb={rb!r} za={za} zb={zb} zc={zc}")
    assert near >= 5  # the draw does reach the near-tie fallback


@pytest.mark.parametrize("n", [1, 15, 17, 33, 1000, 70001])
@pytest.mark.parametrize("scalar_b", [False, True])
def test_qlinear_add_tails_and_scalar_b(n, scalar_b):
    rng = np.random.default_rng(n)
    a = rng.integers(0, 256, n).astype(np.uint8)
    b = rng.integers(0, 256, () if scalar_b else n).astype(np.uint8)
    inputs = qlinear_add_inputs(a, b, np.float32(0.37), np.float32(1.21), 120, 7, 131)
    want = REFS["QLinearAdd"].compute(inputs, {})[0]
    np.testing.assert_array_equal(run("QLinearAdd", inputs, {}, want, "cpu:qint8/direct", threads=2), want)


def test_qlinear_add_huge_ratios_saturate():
    a = np.arange(256, dtype=np.uint8)
    inputs = qlinear_add_inputs(a, a[::-1].copy(), np.float32(3e5), np.float32(1e-3), 128, 0, 10)
    want = REFS["QLinearAdd"].compute(inputs, {})[0]
    got = run("QLinearAdd", inputs, {}, want, "cpu:qint8/direct")
    np.testing.assert_array_equal(got, want)
    assert got[0] == 0 and got[-1] == 255


# ---- rounded residual (QLinearConv -> QLinearAdd fused: inputs 9..13) ------------------------
ROUNDED_CONVS = [
    (1, 64, 40, 14, 14, 1, 1, 0, 1),    # 1x1 (qgemm_1x1)
    (1, 24, 33, 15, 16, 3, 2, 1, 1),    # 3x3 stride 2: phase planes wider than the output
    (2, 13, 35, 11, 7, 3, 1, 1, 1),     # batch 2, M and N off the tile sizes
]


ROUNDED_DESCS = ["cpu:int8:nchw/direct", "cpu:qint8:nchw/qgemm_1x1", "cpu:qint8:nchw/im2col_qgemm",
                 "cpu:qint8:nchw/im2col_qgemm/t1"]


@pytest.mark.parametrize("conv, desc", [(c, d) for c in ROUNDED_CONVS for d in ROUNDED_DESCS if supported(d, c)])
@pytest.mark.parametrize("relu", [False, True])
def test_qlinear_conv_rounded_residual_equals_conv_then_qlinear_add(conv, desc, relu):
    inputs, attrs = conv_case(conv, np.int8, np.uint8, (120, 0, 110), None, None, True, 7)
    oshape = iconv_shape(inputs[0].shape, inputs[3].shape, attrs)
    rng = np.random.default_rng(1)
    z = rng.integers(0, 256, size=oshape).astype(np.uint8)
    zs, zz = np.asarray(np.float32(0.21)), np.asarray(97, np.uint8)
    ss, sz = np.asarray(np.float32(0.37)), np.asarray(131, np.uint8)
    q1 = REFS["QLinearConv"].compute(inputs, attrs)[0]  # the conv alone, in its own y scale
    add_attrs = {"activation": "Relu"} if relu else {}
    want = REFS["QLinearAdd"].compute([q1, inputs[6], inputs[7], z, zs, zz, ss, sz], add_attrs)[0]
    fused = inputs + [z, zs, zz, ss, sz]
    fattrs = {**attrs, **add_attrs}
    for threads in (1, 2):
        for const in (False, True):
            got = run_node("QLinearConv", fused, fattrs, outputs=[(np.uint8, want.shape)], descriptor=desc,
                           num_threads=threads, const_inputs=set(range(1, 9)) | {10, 11, 12, 13} if const else False)[0]
            np.testing.assert_array_equal(got, want)
    assert not np.array_equal(want, q1)


def test_rounded_residual_is_refused_where_unimplemented():
    conv = (1, 18, 18, 13, 13, 3, 1, 1, 18)
    inputs, attrs = conv_case(conv, np.int8, np.uint8, (120, 0, 110), None, None, True, 7)
    oshape = iconv_shape(inputs[0].shape, inputs[3].shape, attrs)
    z = np.zeros(oshape, np.uint8)
    fused = inputs + [z, np.asarray(np.float32(0.2)), np.asarray(0, np.uint8), np.asarray(np.float32(0.3)),
                      np.asarray(0, np.uint8)]
    for desc in ("cpu:qint8:nchw/depthwise", "cpu:qint8:nchw/depthwise_cv16"):
        if ("QLinearConv", desc) not in USABLE:
            continue
        with pytest.raises(Exception, match="support"):
            run_node("QLinearConv", fused, attrs, outputs=[(np.uint8, oshape)], descriptor=desc)


def test_wide_column_tiles_never_write_into_the_next_row_at_two_threads():
    # A stride-2 stem (224 -> 112, phase planes 115 wide: 3 dropped columns per row). A full tile whose
    # real outputs stop short of its 32 columns once took the fused requantization and wrote past the
    # row into outputs owned by another task: at 2 threads the result changed from run to run.
    conv = (1, 3, 64, 224, 224, 7, 2, 3, 1)
    inputs, attrs = conv_case(conv, np.int8, np.uint8, (3, 0, 5), "Relu", None, True, 11)
    inputs[5] = np.zeros_like(inputs[5])
    want = REFS["QLinearConv"].compute(inputs, attrs)[0]
    for _ in range(6):
        got = run("QLinearConv", inputs, attrs, want, "cpu:qint8:nchw/im2col_qgemm", threads=2, const=True)
        np.testing.assert_array_equal(got, want)
