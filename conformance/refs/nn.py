"""References for the nn family (cpp/cpu/nn): Attention, LinearAttention, RMSNormalization,
NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss, GridSample."""
import numpy as np
from hypothesis import strategies as st

from .base import Reference, float_arrays, reference, shapes


# ---- Attention -----------------------------------------------------------------

@reference
class AttentionRef(Reference):
    op = "Attention"

    def draw(self, draw, descriptor):
        dt = np.dtype(np.float16 if draw(st.integers(0, 4)) == 0 else np.float32)
        B = draw(st.integers(1, 2))
        Hkv = draw(st.integers(1, 3))
        Hq = Hkv * draw(st.sampled_from([1, 1, 2, 3]))
        Sq, Skv = draw(st.integers(1, 6)), draw(st.integers(1, 7))
        D, Dv = draw(st.integers(1, 9)), draw(st.integers(1, 9))
        P = draw(st.sampled_from([0, 0, 1, 3]))
        T = P + Skv
        three_d = draw(st.booleans())
        attrs = {}
        if three_d:
            q = float_arrays(draw, (B, Sq, Hq * D), dt, -1, 1)
            k = float_arrays(draw, (B, Skv, Hkv * D), dt, -1, 1)
            v = float_arrays(draw, (B, Skv, Hkv * Dv), dt, -1, 1)
            attrs["q_num_heads"], attrs["kv_num_heads"] = Hq, Hkv
        else:
            q = float_arrays(draw, (B, Hq, Sq, D), dt, -1, 1)
            k = float_arrays(draw, (B, Hkv, Skv, D), dt, -1, 1)
            v = float_arrays(draw, (B, Hkv, Skv, Dv), dt, -1, 1)
        causal = draw(st.booleans())
        mask = None
        mk = draw(st.sampled_from(["none", "none", "bool", "float"]))
        if mk != "none":
            full = [B, Hq, Sq]
            r = draw(st.integers(2, 4))
            mshape = [d if draw(st.booleans()) else 1 for d in full][3 - (r - 1):]
            L = draw(st.integers(1, T))
            if causal:  # onnx's reference takes the causal q length from the mask's shape
                mshape[-1] = Sq
            mshape = tuple(mshape) + (L,)
            seed = draw(st.integers(0, 2**32 - 1))
            rng = np.random.default_rng(seed)
            if mk == "bool":
                mask = rng.random(mshape) < 0.7
            else:
                mask = rng.uniform(-2, 2, mshape).astype(dt)
                mask[rng.random(mshape) < 0.2] = -np.inf
        pk = pv = None
        if P:
            pk = float_arrays(draw, (B, Hkv, P, D), dt, -1, 1)
            pv = float_arrays(draw, (B, Hkv, P, Dv), dt, -1, 1)
        if causal:
            attrs["is_causal"] = 1
        if draw(st.booleans()):
            attrs["scale"] = draw(st.sampled_from([0.1, 0.5, 2.0]))
        if draw(st.integers(0, 3)) == 0:
            attrs["softcap"] = draw(st.sampled_from([0.5, 3.0]))
        nout = draw(st.sampled_from([1, 1, 3, 4]))
        if nout == 4:
            attrs["qk_matmul_output_mode"] = draw(st.integers(0, 3))
        self._nout = nout
        inputs = [q, k, v, mask, pk, pv]
        while inputs and inputs[-1] is None:
            inputs.pop()
        attrs["_nout"] = nout
        return inputs, attrs

    def compute(self, inputs, attrs):
        from onnx.reference.ops.op_attention import _compute_attention
        attrs = dict(attrs)
        nout = attrs.pop("_nout", 1)
        ins = list(inputs) + [None] * (6 - len(inputs))
        q, k, v, mask, pk, pv = ins
        res = _compute_attention(
            q, k, v, attn_mask=mask, past_key=pk, past_value=pv,
            scale=attrs.get("scale"), is_causal=bool(attrs.get("is_causal", 0)),
            q_num_heads=attrs.get("q_num_heads"), kv_num_heads=attrs.get("kv_num_heads"),
            softcap=attrs.get("softcap"), qk_matmul_output_mode=attrs.get("qk_matmul_output_mode", 0),
            _validate_attention25=False)
        return [np.asarray(r).astype(q.dtype) for r in res[:nout]]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float16:
            return 2e-2, 2e-2
        return 1e-4, 1e-4


# ---- RMSNormalization ------------------------------------------------------------

@reference
class RMSNormRef(Reference):
    op = "RMSNormalization"

    def draw(self, draw, descriptor):
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float32, np.float64, np.float16])))
        shape = draw(shapes(1, 4, 1, 8))
        r = len(shape)
        ax = draw(st.integers(-r, r - 1))
        norm = shape[ax % r:]
        k = draw(st.integers(0, len(norm)))
        sshape = tuple(1 if draw(st.booleans()) else d for d in norm[len(norm) - k:])
        x = float_arrays(draw, shape, dt, -3, 3)
        s = float_arrays(draw, sshape, dt, -2, 2)
        attrs = {"axis": ax}
        if draw(st.booleans()):
            attrs["epsilon"] = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
        return [x, s], attrs

    def compute(self, inputs, attrs):
        x, s = inputs
        ax = attrs.get("axis", -1) % x.ndim
        x64 = x.astype(np.float64)
        ms = np.mean(x64 * x64, axis=tuple(range(ax, x.ndim)), keepdims=True)
        y = x64 / np.sqrt(ms + attrs.get("epsilon", 1e-5)) * s.astype(np.float64)
        return [y.astype(x.dtype)]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float16:
            return 1e-2, 1e-2
        return super().tolerance(descriptor, dtype)


# ---- losses ----------------------------------------------------------------------

def _loss(lp, target, weight, reduction, ignore_index):
    N, C = lp.shape[:2]
    lp3 = lp.reshape(N, C, -1).astype(np.float64)
    t = target.reshape(N, -1).astype(np.int64)
    valid = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    tc = np.where(valid, t, 0)
    picked = np.take_along_axis(lp3, tc[:, None, :], axis=1)[:, 0, :]
    w = np.ones(C) if weight is None else weight.astype(np.float64)
    wt = np.where(valid, w[tc], 0.0)
    loss = -picked * wt
    if reduction == "none":
        return loss.reshape(target.shape).astype(lp.dtype)
    if reduction == "sum":
        return np.array(loss.sum(), dtype=lp.dtype)
    return np.array(loss.sum() / wt.sum(), dtype=lp.dtype)


class _LossRef(Reference):
    def draw(self, draw, descriptor):
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float32, np.float64])))
        N, C = draw(st.integers(1, 4)), draw(st.integers(1, 6))
        extra = draw(shapes(0, 3, 1, 4))
        x = float_arrays(draw, (N, C) + extra, dt, -3, 3)
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        tdt = draw(st.sampled_from([np.int64, np.int32]))
        t = rng.integers(0, C, size=(N,) + extra).astype(tdt)
        attrs = {"reduction": draw(st.sampled_from(["none", "sum", "mean"]))}
        if draw(st.booleans()):
            ii = draw(st.sampled_from([-1, 0, 1, -100]))
            attrs["ignore_index"] = ii
            t[rng.random(t.shape) < 0.3] = ii
        inputs = [x, t]
        if draw(st.booleans()):
            inputs.append(float_arrays(draw, (C,), dt, 0.1, 2))
        return inputs, attrs

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float32:
            return 1e-4, 1e-5
        return super().tolerance(descriptor, dtype)


@reference
class NLLLossRef(_LossRef):
    op = "NegativeLogLikelihoodLoss"

    def compute(self, inputs, attrs):
        w = inputs[2] if len(inputs) > 2 else None
        return [_loss(inputs[0], inputs[1], w, attrs.get("reduction", "mean"), attrs.get("ignore_index"))]


@reference
class SCELossRef(_LossRef):
    op = "SoftmaxCrossEntropyLoss"

    def draw(self, draw, descriptor):
        inputs, attrs = super().draw(draw, descriptor)
        attrs["_nout"] = draw(st.integers(1, 2))
        return inputs, attrs

    def compute(self, inputs, attrs):
        x = inputs[0]
        x64 = x.astype(np.float64)
        m = np.max(x64, axis=1, keepdims=True)
        lp = x64 - m - np.log(np.sum(np.exp(x64 - m), axis=1, keepdims=True))
        w = inputs[2] if len(inputs) > 2 else None
        loss = _loss(lp.astype(x.dtype), inputs[1], w, attrs.get("reduction", "mean"), attrs.get("ignore_index"))
        out = [loss]
        if attrs.get("_nout", 1) == 2:
            out.append(lp.astype(x.dtype))
        return out


# ---- GridSample --------------------------------------------------------------------

@reference
class GridSampleRef(Reference):
    op = "GridSample"

    def draw(self, draw, descriptor):
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float32, np.float64])))
        k = draw(st.sampled_from([2, 2, 3]))
        mode = draw(st.sampled_from(["nearest", "linear", "cubic"] if k == 2 else ["nearest", "linear"]))
        N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
        ins = tuple(draw(st.integers(2, 5)) for _ in range(k))
        outs = tuple(draw(st.integers(1, 4)) for _ in range(k))
        x = float_arrays(draw, (N, C) + ins, dt, -2, 2)
        g = float_arrays(draw, (N,) + outs + (k,), dt, -1.4, 1.4)
        attrs = {"mode": mode, "padding_mode": draw(st.sampled_from(["zeros", "border", "reflection"])),
                 "align_corners": draw(st.integers(0, 1))}
        return [x, g], attrs

    def compute(self, inputs, attrs):
        import onnx
        from onnx import helper
        from onnx.reference import ReferenceEvaluator
        x, g = inputs
        node = helper.make_node("GridSample", ["x", "g"], ["y"], **attrs)
        code = helper.np_dtype_to_tensor_dtype(x.dtype)
        graph = helper.make_graph([node], "gs", [helper.make_tensor_value_info("x", code, None),
                                                  helper.make_tensor_value_info("g", code, None)],
                                  [helper.make_tensor_value_info("y", code, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
        return [np.asarray(ReferenceEvaluator(model).run(None, {"x": x, "g": g})[0]).astype(x.dtype)]

    def tolerance(self, descriptor, dtype):
        return 1e-4, 1e-4


# ---- LinearAttention (opset 27) -------------------------------------------------------

@reference
class LinearAttentionRef(Reference):
    op = "LinearAttention"

    def draw(self, draw, descriptor):
        dt = np.dtype(np.float16 if draw(st.integers(0, 3)) == 0 else np.float32)
        rule = draw(st.sampled_from(["linear", "gated", "delta", "gated_delta"]))
        B, T = draw(st.integers(1, 2)), draw(st.integers(1, 6))
        Hkv = draw(st.integers(1, 3))
        Hq = Hkv * draw(st.sampled_from([1, 1, 2]))
        dk, dv = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        q = float_arrays(draw, (B, T, Hq * dk), dt, -1, 1)
        k = float_arrays(draw, (B, T, Hkv * dk), dt, -0.5, 0.5)
        v = float_arrays(draw, (B, T, Hkv * dv), dt, -1, 1)
        past = None
        if draw(st.booleans()):
            sdt = dt if draw(st.booleans()) else np.dtype(np.float32)
            past = float_arrays(draw, (B, Hkv, dk, dv), sdt, -0.5, 0.5)
        decay = beta = None
        if rule in ("gated", "gated_delta"):
            last = Hkv * dk if draw(st.booleans()) else Hkv
            decay = float_arrays(draw, (B, T, last), dt, -0.5, 0.0)
        if rule in ("delta", "gated_delta"):
            beta = float_arrays(draw, (B, T, Hkv if draw(st.booleans()) else 1), dt, 0.0, 1.0)
        attrs = {"q_num_heads": Hq, "kv_num_heads": Hkv, "update_rule": rule}
        if draw(st.booleans()):
            attrs["scale"] = draw(st.sampled_from([0.25, 1.0, 2.0]))
        attrs["_nout"] = draw(st.integers(1, 2))
        inputs = [q, k, v, past, decay, beta]
        while inputs[-1] is None:
            inputs.pop()
        return inputs, attrs

    def compute(self, inputs, attrs):
        from onnx.reference.ops.op_linear_attention import LinearAttention
        attrs = dict(attrs)
        nout = attrs.pop("_nout", 1)
        ins = list(inputs) + [None] * (6 - len(inputs))
        res = LinearAttention._run(None, *ins, chunk_size=64, kv_num_heads=attrs["kv_num_heads"],
                                   q_num_heads=attrs["q_num_heads"], scale=attrs.get("scale"),
                                   update_rule=attrs["update_rule"])
        return [np.ascontiguousarray(r) for r in res[:nout]]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float16:
            return 2e-2, 2e-2
        return 1e-4, 1e-4


# ---- CausalConvWithState (opset 27) -----------------------------------------------------

@reference
class CausalConvWithStateRef(Reference):
    op = "CausalConvWithState"

    def draw(self, draw, descriptor):
        dt = np.dtype(np.float16 if draw(st.integers(0, 3)) == 0 else np.float32)
        B, C, L, K = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 9)), draw(st.integers(1, 5))
        x = float_arrays(draw, (B, C, L), dt, -1, 1)
        w = float_arrays(draw, (C, 1, K), dt, -1, 1)
        bias = float_arrays(draw, (C,), dt, -1, 1) if draw(st.booleans()) else None
        past = float_arrays(draw, (B, C, K - 1), dt, -1, 1) if draw(st.booleans()) else None
        attrs = {"_nout": draw(st.integers(1, 2))}
        act = draw(st.sampled_from([None, "none", "silu", "swish"]))
        if act:
            attrs["activation"] = act
        inputs = [x, w, bias, past]
        while inputs[-1] is None:
            inputs.pop()
        return inputs, attrs

    def compute(self, inputs, attrs):
        from onnx.reference.ops.op_causal_conv_with_state import CausalConvWithState
        attrs = dict(attrs)
        nout = attrs.pop("_nout", 1)
        ins = list(inputs) + [None] * (4 - len(inputs))
        res = CausalConvWithState._run(None, *ins, activation=attrs.get("activation"))
        return [np.ascontiguousarray(r) for r in res[:nout]]

    def tolerance(self, descriptor, dtype):
        if np.dtype(dtype) == np.float16:
            return 1e-2, 1e-2
        return 1e-5, 1e-5
