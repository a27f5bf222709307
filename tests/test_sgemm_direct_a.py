"""The AVX-512 sgemm micro-kernels' direct entry (A read row-major, unpacked: MatMul's fed A,
the NHWC 1x1's input) and the GELU applied in their registers, on the shapes that reach each
branch: row tails (M not a multiple of the tile's 8 or 12 rows), K split into several blocks,
batched and broadcast A, N tails; against float64 numpy, 1 and 2 threads. The same cases run
again in a child with SNEP_SGEMM_DIRECT_A=0 (A packed), whose outputs must match."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from softneuro_ep import _engine
from softneuro_ep.graph_passes.node_eval import run_node

GEMM = "cpu:float32/gemm"
# (A shape, B shape, fused activation)
CASES = [((37, 600), (600, 70), None), ((3, 29, 300), (300, 45), "Gelu"), ((2, 1, 13, 270), (3, 270, 20), None),
         ((25, 96), (96, 33), "GeluTanh"), ((96, 40), (40, 64), "Relu"), ((1, 16, 513), (513, 17), None)]


def _erf(x):
    return np.vectorize(math.erf)(x)


def _want(a, b, act):
    y = np.matmul(a.astype(np.float64), b.astype(np.float64))
    if act == "Gelu":
        y = 0.5 * y * (1 + _erf(y / math.sqrt(2)))
    elif act == "GeluTanh":
        y = 0.5 * y * (1 + np.tanh(math.sqrt(2 / math.pi) * (y + 0.044715 * y ** 3)))
    elif act == "Relu":
        y = np.maximum(y, 0)
    return y


def _run(a_shape, b_shape, act, threads):
    rng = np.random.default_rng(sum(a_shape) + sum(b_shape))
    a = rng.uniform(-1, 1, a_shape).astype(np.float32)
    b = rng.uniform(-1, 1, b_shape).astype(np.float32)
    attrs = {"activation": act} if act else {}
    (y,) = run_node("MatMul", [a, b], attrs, descriptor=GEMM, num_threads=threads, const_inputs={1})
    return a, b, y


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("a_shape,b_shape,act", CASES, ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple)
                         else str(v))
def test_matmul_fed_a_matches_numpy(a_shape, b_shape, act, threads):
    a, b, y = _run(a_shape, b_shape, act, threads)
    want = _want(a, b, act)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-5 * math.sqrt(a_shape[-1]))


def test_packed_a_gives_the_same_outputs(child_env):
    """SNEP_SGEMM_DIRECT_A=0 (read once per process) in a child: the packed path's outputs equal
    the direct path's up to the last bit's rounding (same products, same order along K)."""
    code = ("import json, sys; sys.path.insert(0, %r); import test_sgemm_direct_a as t; "
            "print(json.dumps([t._run(a, b, act, 1)[2].ravel()[:4000].tolist() for a, b, act in t.CASES]))"
            % os.path.dirname(os.path.abspath(__file__)))
    env = child_env(SNEP_SGEMM_DIRECT_A="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    packed = json.loads(out.stdout)
    for (a_shape, b_shape, act), p in zip(CASES, packed):
        d = _run(a_shape, b_shape, act, 1)[2].ravel()[:4000]
        np.testing.assert_allclose(d, np.array(p, np.float32), rtol=1e-6, atol=1e-6)


def test_direct_entry_is_used_where_the_cpu_has_it(child_env):
    if not _engine.cpu_info().get("avx512f"):
        pytest.skip("the direct entry is AVX-512 only; elsewhere A is packed (the tests above cover it)")
    # only the workspace tells the paths apart
    code = ("import sys; sys.path.insert(0, %r); from softneuro_ep import _engine; import numpy as np; "
            "from softneuro_ep.graph_passes.node_eval import build_node_plan; "
            "a=np.zeros((64, 300), np.float32); b=np.zeros((300, 40), np.float32); "
            "p,_=build_node_plan('MatMul',[a,b],{},[(np.dtype('float32'),(64,40))],'cpu:float32/gemm',1,"
            "const_inputs={1}); print(p.workspace_bytes)" % os.path.dirname(os.path.abspath(__file__)))
    ws = [int(subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                             timeout=120).stdout.split()[-1]) for e in (child_env(), child_env(SNEP_SGEMM_DIRECT_A="0"))]
    assert ws[0] == 0 < ws[1]  # direct: no packed copy of A in the workspace
