"""QDQ -> QOperator for a classifier's head: average pools and the fully-connected Gemm (graph_passes/qdq.py
does the convolutions, MaxPool and Add). As onnxruntime's QDQ transformer:

  DQ(x:u8) -> GlobalAveragePool -> Q(u8)            =>  com.microsoft QLinearGlobalAveragePool
  DQ(x) -> AveragePool -> Q (u8 or s8)              =>  com.microsoft QLinearAveragePool
  DQ(a), DQ(const b) [, DQ(const c:int32) | const c:float] -> Gemm [-> Q]
                                                    =>  com.microsoft QGemm (float output without the Q)

Only with constant per-tensor scales and zero points (b's: per column too), when the float tensors between
the DQ/op/Q have no other reader and are not graph outputs, and (QGemm) where qdq.qgemm_native_ok says the
engine's routine runs the result. AveragePool with both ceil_mode and count_include_pad stays float:
onnxruntime's QLinearAveragePool divides by the kernel size where ONNX counts only the taps inside the pads.
"""
import numpy as np

from .ir import Node
from .qdq import _const, _dq_parts, _only_consumer, _q_parts, qgemm_native_ok

POOL_ATTRS = ("auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides")


def fuse_head(g):
    producers, consumers = g.producers(), g.consumers()
    dead, count = set(), 0
    for n in list(g.nodes):
        if n.op in ("GlobalAveragePool", "AveragePool") and not n.domain:
            count += _pool(g, n, producers, consumers, dead)
        elif n.op == "Gemm" and not n.domain:
            count += _gemm(g, n, producers, consumers, dead)
    if dead:
        g.nodes = [n for n in g.nodes if id(n) not in dead]
    return count


def _scalar(a):
    return np.asarray(a).reshape(())


def _put(g, name, arr):
    g.initializers[name] = np.ascontiguousarray(arr).copy()
    return name


def _pool(g, n, producers, consumers, dead):
    if len(n.inputs) != 1 or len([o for o in n.outputs if o]) != 1:
        return 0
    xd = _dq_parts(g, producers.get(n.inputs[0]))
    q = _only_consumer(g, consumers, n.outputs[0])
    qp = _q_parts(g, q)
    if xd is None or qp is None:
        return 0
    xq, xs, xz, _ = xd
    ys, yz = qp
    if xz is None or xs.size != 1 or xz.size != 1 or xz.dtype != yz.dtype or xs.dtype != np.float32 \
            or ys.dtype != np.float32:
        return 0
    if n.op == "GlobalAveragePool":
        if xz.dtype != np.uint8:  # the engine's QLinearGlobalAveragePool routine is u8
            return 0
        op, attrs = "QLinearGlobalAveragePool", {"channels_last": 0}
    else:
        if any(d != 1 for d in n.attrs.get("dilations", [])):
            return 0
        if n.attrs.get("ceil_mode", 0) and n.attrs.get("count_include_pad", 0):
            return 0
        op, attrs = "QLinearAveragePool", {k: v for k, v in n.attrs.items() if k in POOL_ATTRS}
    pre = f"{n.name}__qdq"
    ins = [xq, _put(g, f"{pre}_xs", _scalar(xs)), _put(g, f"{pre}_xz", _scalar(xz)),
           _put(g, f"{pre}_ys", _scalar(ys)), _put(g, f"{pre}_yz", _scalar(yz))]
    n.op, n.domain, n.inputs, n.outputs, n.attrs = op, "com.microsoft", ins, [q.outputs[0]], attrs
    dead.add(id(q))
    return 1


def _gemm(g, n, producers, consumers, dead):
    if len(n.inputs) < 2 or len([o for o in n.outputs if o]) != 1:
        return 0
    if float(n.attrs.get("alpha", 1.0)) != 1.0 or float(n.attrs.get("beta", 1.0)) != 1.0:
        return 0
    ta, tb = int(n.attrs.get("transA", 0)), int(n.attrs.get("transB", 0))
    ad = _dq_parts(g, producers.get(n.inputs[0]))
    bd = _dq_parts(g, producers.get(n.inputs[1]))
    if ad is None or bd is None:
        return 0
    aq, as_, az, _ = ad
    bq, bs, bz, baxis = bd
    B = _const(g, bq)
    if B is None or B.ndim != 2 or B.dtype not in (np.int8, np.uint8) or as_.size != 1 or as_.dtype != np.float32 \
            or bs.dtype != np.float32 or (az is not None and az.size != 1):
        return 0
    N = B.shape[0] if tb else B.shape[1]
    if bs.size != 1:  # per column: the DQ's axis must be B's N axis
        if bs.size != N or baxis % 2 != (0 if tb else 1):
            return 0
    if bz is not None and bz.size not in (1, bs.size):
        return 0
    want = float(as_.reshape(-1)[0]) * bs.astype(np.float64).reshape(-1)  # C's unit, per column or scalar
    c_arr = None
    if len(n.inputs) > 2 and n.inputs[2]:
        c_arr = _bias(g, n.inputs[2], producers, want, N)
        if c_arr is None:
            return 0
    q = _only_consumer(g, consumers, n.outputs[0])
    qp = _q_parts(g, q)
    pre = f"{n.name}__qdq"
    ins = [aq, _put(g, f"{pre}_as", _scalar(as_)), _put(g, f"{pre}_az", _scalar(az)) if az is not None else "",
           bq, _put(g, f"{pre}_bs", bs.reshape(-1) if bs.size > 1 else _scalar(bs)),
           _put(g, f"{pre}_bz", (bz.reshape(-1) if bz.size > 1 else _scalar(bz))) if bz is not None else "",
           _put(g, f"{pre}_c", c_arr) if c_arr is not None else ""]
    if qp is not None:
        ins += [_put(g, f"{pre}_ys", _scalar(qp[0])), _put(g, f"{pre}_yz", _scalar(qp[1]))]
    while not ins[-1]:
        ins.pop()
    cand = Node("QGemm", ins, [q.outputs[0] if qp is not None else n.outputs[0]],
                {"transA": ta, "transB": tb}, n.name, "com.microsoft")
    if not qgemm_native_ok(g, cand):
        for t in ins:
            if t.startswith(pre):
                g.initializers.pop(t, None)
        return 0
    n.op, n.domain, n.inputs, n.outputs, n.attrs = cand.op, cand.domain, cand.inputs, cand.outputs, cand.attrs
    if qp is not None:
        dead.add(id(q))
    return 1


def _bias(g, name, producers, want, N):
    """Gemm's C as QGemm's int32 C in a_scale * b_scale units, or None when it cannot be: a DQ(int32) in
    those units is taken as it is; another DQ(int32) or a float constant is dequantized and rounded to (N,)."""
    cd = _dq_parts(g, producers.get(name))
    cq = _const(g, cd[0]) if cd is not None else None
    if cd is not None:
        if cq is None or cq.dtype != np.int32:
            return None
        s = cd[1].astype(np.float64).reshape(-1)
        if (cd[2] is None or not np.any(cd[2])) and s.size == want.size and \
                np.allclose(s, want, rtol=1e-5, atol=0):
            return cq
        z = cd[2].astype(np.int64) if cd[2] is not None else 0
        cf = ((cq.astype(np.int64) - z) * cd[1].astype(np.float64)).astype(np.float32)
    else:
        cf = _const(g, name)
    if cf is None or cf.dtype != np.float32 or cf.size not in (1, N) or (cf.ndim == 2 and cf.shape[0] != 1):
        return None
    cf = np.broadcast_to(cf.astype(np.float64).reshape(-1), (N,))
    return np.clip(np.rint(cf / np.broadcast_to(want, (N,))), -2**31, 2**31 - 1).astype(np.int32)
