"""QDQ -> QOperator: pre-quantized models run their convolutions in int8.

A QDQ model (onnxruntime.quantization.quantize_static's default format) wraps
float ops in DequantizeLinear/QuantizeLinear pairs. Before constant folding
(which would otherwise dequantize the weights into float32 constants) these
patterns become integer ops, as onnxruntime's QDQ transformer does:

  DQ(x) -> Conv(., DQ(w), [DQ(b:int32) | b:float]) [-> Relu] -> Q  =>  QLinearConv
  DQ(x) -> MaxPool -> Q (same scale and zero point)                  =>  MaxPool on u8
  DQ(a), DQ(b) -> Add [-> Relu] -> Q                                 =>  QLinearAdd (fuse_qdq_add, after
                                                                         shape inference)
  QLinearConv -> QLinearAdd(., z)                                     =>  QLinearConv, rounded residual
                                                                         (fuse_qconv_residual; same bits)
  DQ -> GlobalAveragePool / AveragePool -> Q, DQ(a), DQ(b) -> Gemm [-> Q]  =>  com.microsoft
      QLinearGlobalAveragePool / QLinearAveragePool / QGemm (graph_passes/qdq_head.py)

The Conv's bias becomes int32 in x_scale * w_scale units (an int32 DQ bias is
taken as it is). DQ and Q nodes left over still run (as QuantizeLinear /
DequantizeLinear routines), so every other op computes what the model says.
"""
import numpy as np

from ..capi.onnxruntime_pybind11_state import InvalidGraph
from .dtypes import NP_TO_ONNX
from .ir import Node


def _const(g, name):
    return g.initializers.get(name) if name else None


def _check_scale(node, s):
    if s is not None and s.dtype.kind == "f" and s.size and not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise InvalidGraph(f"[ONNXRuntimeError] : 10 : INVALID_GRAPH : {node.where()}: quantization scale "
                           f"'{node.inputs[1]}' must be positive and finite (got {s.reshape(-1)[:4].tolist()})")


def _dq_parts(g, node):
    """(q input, scale array, zero point array or None, axis) of a DequantizeLinear with constant scale/zp."""
    if node is None or node.op != "DequantizeLinear" or node.attrs.get("block_size", 0):
        return None
    s = _const(g, node.inputs[1])
    z = _const(g, node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    _check_scale(node, s)
    if s is None or (len(node.inputs) > 2 and node.inputs[2] and z is None):
        return None
    return node.inputs[0], s, z, node.attrs.get("axis", 1)


def _q_parts(g, node):
    if node is None or node.op != "QuantizeLinear" or node.attrs.get("block_size", 0):
        return None
    s = _const(g, node.inputs[1])
    z = _const(g, node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    _check_scale(node, s)
    if s is None or s.size != 1 or z is None or z.size != 1 or z.dtype not in (np.uint8, np.int8):
        return None
    return s, z


def _only_consumer(g, consumers, name):
    if name in g.output_names():
        return None
    c = consumers.get(name, [])
    return c[0] if len(c) == 1 else None


def fuse_qdq(g):
    producers, consumers = g.producers(), g.consumers()
    dead, count = set(), 0
    for n in list(g.nodes):
        if n.op == "Conv":
            count += _conv(g, n, producers, consumers, dead)
        elif n.op == "MaxPool":
            count += _maxpool(g, n, producers, consumers, dead)
    if dead:
        g.nodes = [n for n in g.nodes if id(n) not in dead]
    from .qdq_head import fuse_head  # average pools and Gemm (imports this module's helpers)
    count += fuse_head(g)
    for n in g.nodes:  # int32 (bias) DQs carry an all-zero zero point: dropping it changes nothing
        if n.op == "DequantizeLinear" and len(n.inputs) > 2 and n.inputs[2]:
            z = _const(g, n.inputs[2])
            if z is not None and z.dtype == np.int32 and not np.any(z):
                n.inputs = n.inputs[:2]
    return count


def _out_q(g, n, consumers):
    """The QuantizeLinear n's output goes to (through an optional Relu), and that Relu."""
    nxt = _only_consumer(g, consumers, n.outputs[0])
    relu = None
    if nxt is not None and nxt.op == "Relu":
        relu, nxt = nxt, _only_consumer(g, consumers, nxt.outputs[0])
    q = _q_parts(g, nxt)
    return (nxt, q, relu) if q is not None else (None, None, None)


def _conv(g, n, producers, consumers, dead):
    if len([o for o in n.outputs if o]) != 1:
        return 0
    xd = _dq_parts(g, producers.get(n.inputs[0]))
    wd = _dq_parts(g, producers.get(n.inputs[1]))
    if xd is None or wd is None:
        return 0
    xq, xs, xz, _ = xd
    wq, ws, wz, waxis = wd
    wq_arr = _const(g, wq)
    if (wq_arr is None or xs.size != 1 or xz is None or xz.size != 1 or xz.dtype != np.uint8
            or wq_arr.dtype not in (np.int8, np.uint8)):
        return 0
    M = wq_arr.shape[0]
    if ws.size not in (1, M) or (ws.size == M and M > 1 and waxis not in (0, -wq_arr.ndim)):
        return 0
    if wz is None:
        wz = np.zeros(ws.shape, wq_arr.dtype)
    q, qp, relu = _out_q(g, n, consumers)
    if q is None:
        return 0
    ys, yz = qp
    bias_name = None
    if len(n.inputs) > 2 and n.inputs[2]:
        bd = _dq_parts(g, producers.get(n.inputs[2]))
        want = float(xs.reshape(-1)[0]) * ws.astype(np.float64).reshape(-1)
        bq = _const(g, bd[0]) if bd is not None else None
        if (bq is not None and bq.dtype == np.int32 and (bd[2] is None or not np.any(bd[2]))
                and np.allclose(bd[1].astype(np.float64).reshape(-1), want, rtol=1e-5, atol=0)):
            bias_name = bd[0]
        else:
            # a float bias, or an int32 one in other units than x_scale * w_scale: requantized
            if bq is not None and bq.dtype == np.int32:
                z = bd[2].astype(np.int64) if bd[2] is not None else 0
                bf = ((bq.astype(np.int64) - z) * bd[1].astype(np.float64)).astype(np.float32)
            else:
                bf = _const(g, n.inputs[2])
            if bf is None or bf.dtype != np.float32:
                return 0
            bias_name = f"{n.name}__qbias"
            denom = float(xs.reshape(-1)[0]) * ws.astype(np.float64).reshape(-1)
            g.initializers[bias_name] = np.clip(np.rint(bf.astype(np.float64) / denom),
                                                -2**31, 2**31 - 1).astype(np.int32)
    pre = f"{n.name}__qdq"
    if wz.size != ws.size:  # a scalar weight zero point with per-channel scales
        wz = np.broadcast_to(np.asarray(wz).reshape(-1), (ws.size,))
    names = {}
    for key, arr in (("xs", xs), ("xz", xz), ("ws", ws), ("wz", wz), ("ys", ys), ("yz", yz)):
        names[key] = f"{pre}_{key}"
        a = np.asarray(arr)
        g.initializers[names[key]] = (a.reshape(()) if a.size == 1 else a.reshape(-1)).copy()
    ins = [xq, names["xs"], names["xz"], wq, names["ws"], names["wz"], names["ys"], names["yz"]]
    if bias_name:
        ins.append(bias_name)
    attrs = dict(n.attrs)
    if relu is not None:
        attrs["activation"] = "Relu"
    n.op, n.inputs, n.outputs, n.attrs = "QLinearConv", ins, [q.outputs[0]], attrs
    dead.add(id(q))
    if relu is not None:
        dead.add(id(relu))
    return 1


def _maxpool(g, n, producers, consumers, dead):
    if len([o for o in n.outputs if o]) != 1:
        return 0
    xd = _dq_parts(g, producers.get(n.inputs[0]))
    nxt = _only_consumer(g, consumers, n.outputs[0])
    qp = _q_parts(g, nxt)
    if xd is None or qp is None:
        return 0
    xq, xs, xz, _ = xd
    if xz is None or xs.size != 1 or xz.size != 1 or float(xs.reshape(-1)[0]) != float(qp[0].reshape(-1)[0]) or \
            int(xz.reshape(-1)[0]) != int(qp[1].reshape(-1)[0]) or xz.dtype != qp[1].dtype:
        return 0
    n.inputs = [xq]
    n.outputs = [nxt.outputs[0]]
    dead.add(id(nxt))
    return 1


def fuse_qdq_add(g, types):
    """DQ(a), DQ(b) -> Add [-> Relu] -> Q  =>  QLinearAdd (after shape inference:
    the routine takes equal shapes or a scalar b)."""
    producers, consumers = g.producers(), g.consumers()
    dead, count = set(), 0
    for n in g.nodes:
        if n.op != "Add" or len(n.inputs) != 2:
            continue
        parts = [_dq_parts(g, producers.get(i)) for i in n.inputs]
        if any(p is None or p[1].size != 1 or p[2] is None or p[2].size != 1 or p[2].dtype != np.uint8
               for p in parts):
            continue
        q, qp, relu = _out_q(g, n, consumers)
        if q is None or qp[1].dtype != np.uint8:
            continue
        shp = [tuple(types[i].shape) if i in types and types[i].shape is not None else None for i in n.inputs]
        out = types.get(n.outputs[0])
        if out is None or None in shp:
            continue
        if shp[0] != tuple(out.shape):
            parts, shp = parts[::-1], shp[::-1]
        if shp[0] != tuple(out.shape) or (shp[1] != shp[0] and int(np.prod(shp[1])) != 1):
            continue
        pre = f"{n.name}__qdq"
        ins = []
        for k, (t, s, z, _) in enumerate(parts):
            g.initializers[f"{pre}_s{k}"] = s.reshape(()).astype(np.float32)
            g.initializers[f"{pre}_z{k}"] = z.reshape(())
            ins += [t, f"{pre}_s{k}", f"{pre}_z{k}"]
        g.initializers[f"{pre}_sy"] = qp[0].reshape(()).astype(np.float32)
        g.initializers[f"{pre}_zy"] = qp[1].reshape(())
        ins += [f"{pre}_sy", f"{pre}_zy"]
        y = q.outputs[0]
        for t in ins:
            if t in g.initializers:
                a = g.initializers[t]
                types[t] = type(out)(t, NP_TO_ONNX[a.dtype], ())
        types[y] = type(out)(y, NP_TO_ONNX[np.dtype(np.uint8)], tuple(out.shape))
        n.op, n.inputs, n.outputs = "QLinearAdd", ins, [y]
        n.attrs = {"activation": "Relu"} if relu is not None else {}
        dead.add(id(q))
        if relu is not None:
            dead.add(id(relu))
        count += 1
    if dead:
        g.nodes = [n for n in g.nodes if id(n) not in dead]
    return count


def fuse_qconv_residual(g, types):
    """QLinearConv -> QLinearAdd(., z)  =>  QLinearConv with a rounded residual (inputs 9..13 =
    z, z_scale, z_zp, sum_scale, sum_zp; cpu/quant/qlinear_fused.h): the routine requantizes the
    conv to u8 and adds z as QLinearAdd does, so outputs are the pair's, bit for bit, without the
    intermediate tensor or the add's pass over memory. Where the add reads the conv's output with
    the conv's own u8 scale and zero point, nothing else reads it, and the conv has no activation."""
    producers, consumers = g.producers(), g.consumers()
    dead, count = set(), 0
    for n in g.nodes:
        if n.op != "QLinearAdd" or len(n.inputs) != 8 or n.attrs.get("activation") not in (None, "Relu"):
            continue
        for k in (0, 3):  # the conv may feed either side
            conv = producers.get(n.inputs[k])
            if (conv is None or conv.op != "QLinearConv" or id(conv) in dead or len(conv.inputs) > 9
                    or conv.attrs.get("activation") or _only_consumer(g, consumers, n.inputs[k]) is not n):
                continue
            ys, yz = _const(g, conv.inputs[6]), _const(g, conv.inputs[7])
            sa, za = _const(g, n.inputs[k + 1]), _const(g, n.inputs[k + 2])
            wq = _const(g, conv.inputs[3])
            z = n.inputs[3 - k]
            zt, yt = types.get(z), types.get(n.outputs[0])
            if (any(a is None or a.size != 1 for a in (ys, yz, sa, za)) or wq is None or yz.dtype != np.uint8
                    or za.dtype != np.uint8 or float(ys.reshape(())) != float(sa.reshape(()))
                    or int(yz.reshape(())) != int(za.reshape(())) or zt is None or yt is None
                    or tuple(zt.shape or ()) != tuple(yt.shape or ())):
                continue
            ins = list(conv.inputs[:8])
            if len(conv.inputs) > 8 and conv.inputs[8]:
                ins.append(conv.inputs[8])
            else:  # the residual inputs come after the bias: a zero one
                bname = f"{conv.name}__qres_b"
                g.initializers[bname] = np.zeros(wq.shape[0], np.int32)
                types[bname] = type(yt)(bname, NP_TO_ONNX[np.dtype(np.int32)], (wq.shape[0],))
                ins.append(bname)
            ins += [z, n.inputs[4 - k], n.inputs[5 - k], n.inputs[6], n.inputs[7]]
            conv.inputs, conv.outputs = ins, [n.outputs[0]]
            if n.attrs.get("activation"):
                conv.attrs = {**conv.attrs, "activation": "Relu"}
            dead.add(id(n))
            count += 1
            break
    if dead:
        g.nodes = [n for n in g.nodes if id(n) not in dead]
    return count


def _scalar_q8(a):
    return a is not None and a.size == 1 and a.dtype in (np.uint8, np.int8)


def qgemm_native_ok(g, n):
    """Whether the engine's QGemm routine (cpu/quant/qgemm_op.cpp, cpu:qint8/qgemv) runs this com.microsoft
    QGemm whatever A's row count: decided at load from the constants (B, scales, zero points and C must be
    initializers; B 2-D u8/s8; scales float32, b's scalar or per column; zero points scalar (b's: or per
    column) of their tensor's type; C int32 broadcast over rows; a quantized output needs y_scale)."""
    ins = list(n.inputs) + [""] * (9 - len(n.inputs))
    if len(n.inputs) < 5 or len(n.inputs) > 9 or len([o for o in n.outputs if o]) != 1:
        return False
    a, a_s, a_z, b, b_s, b_z, c, y_s, y_z = ins[:9]
    if not a or not all(t in g.initializers for t in (a_s, b, b_s)):
        return False
    if any(t and t not in g.initializers for t in (a_z, b_z, c, y_s, y_z)):
        return False
    ta, tb = int(n.attrs.get("transA", 0)), int(n.attrs.get("transB", 0))
    B = g.initializers[b]
    if ta not in (0, 1) or tb not in (0, 1) or B.ndim != 2 or B.dtype not in (np.uint8, np.int8):
        return False
    N = B.shape[0] if tb else B.shape[1]
    as_, bs = g.initializers[a_s], g.initializers[b_s]
    if as_.dtype != np.float32 or as_.size != 1 or bs.dtype != np.float32:
        return False
    if not ((bs.size == 1 and bs.ndim <= 1) or bs.shape == (N,)):
        return False
    if a_z and not _scalar_q8(g.initializers[a_z]):
        return False
    if b_z:
        bz = g.initializers[b_z]
        if bz.dtype != B.dtype or not ((bz.size == 1 and bz.ndim <= 1) or bz.shape == (N,)):
            return False
    if c:
        C = g.initializers[c]
        if C.dtype != np.int32 or C.ndim > 2 or (C.ndim >= 1 and C.shape[-1] not in (1, N)) or \
                (C.ndim == 2 and C.shape[0] != 1):
            return False
    if y_s and (g.initializers[y_s].dtype != np.float32 or g.initializers[y_s].size != 1):
        return False
    if y_z and (not y_s or not _scalar_q8(g.initializers[y_z])):
        return False
    return True


def expand_contrib(g):
    """onnxruntime contrib ops without a routine, in standard ops (load time). QGemm runs natively
    (cpu:qint8/qgemv) where qgemm_native_ok; other forms (non-constant parameters, ...) become
    QGemm -> DequantizeLinear(A), DequantizeLinear(B), DequantizeLinear(C) -> Gemm [-> QuantizeLinear]."""
    out = []
    for n in g.nodes:
        if n.op != "QGemm" or n.domain != "com.microsoft" or qgemm_native_ok(g, n):
            out.append(n)
            continue
        ins = list(n.inputs) + [""] * (9 - len(n.inputs))
        a, a_s, a_z, b, b_s, b_z, c, y_s, y_z = ins[:9]
        p = f"{n.name or n.outputs[0]}__qgemm"
        b_axis = 0 if n.attrs.get("transB", 0) else 1
        out.append(Node("DequantizeLinear", [a, a_s, a_z], [f"{p}_a"], {}, f"{p}_dqa"))
        out.append(Node("DequantizeLinear", [b, b_s, b_z], [f"{p}_b"], {"axis": b_axis}, f"{p}_dqb"))
        gemm_in = [f"{p}_a", f"{p}_b"]
        if c:
            cs = f"{p}_cs"  # C is int32 in a_scale * b_scale units
            out.append(Node("Mul", [a_s, b_s], [cs], {}, f"{p}_cscale"))
            out.append(Node("DequantizeLinear", [c, cs], [f"{p}_c"], {"axis": 0}, f"{p}_dqc"))
            gemm_in.append(f"{p}_c")
        attrs = {k: v for k, v in n.attrs.items() if k in ("alpha", "transA", "transB")}
        if y_s:
            out.append(Node("Gemm", gemm_in, [f"{p}_y"], attrs, f"{p}_gemm"))
            out.append(Node("QuantizeLinear", [f"{p}_y", y_s] + ([y_z] if y_z else []), [n.outputs[0]], {}, p))
        else:
            out.append(Node("Gemm", gemm_in, [n.outputs[0]], attrs, p))
    g.nodes = out
