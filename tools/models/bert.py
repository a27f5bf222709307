"""A small BERT-style encoder in the layout of a torch.onnx export.

Inputs ``input_ids`` and ``attention_mask`` [batch, seq] int64 (both dynamic).
Embeddings: Gather (word and position; positions from Range over Shape->Gather
(seq)), LayerNormalization. Each layer: MatMul+Add Q/K/V, Reshape/Transpose into
heads with Shape-derived dims, batched MatMul, Div by sqrt(d), mask, Softmax,
output projection + residual + LayerNorm, FFN with Erf-GELU + residual + a
hand-written LayerNorm (ReduceMean/Sub/Pow/Sqrt/Div). Even layers mask by
adding (1 - mask) * -10000, odd ones by Where(Equal(mask, 0), -10000, scores).
Outputs ``last_hidden_state`` [batch, seq, hidden] and ``pooler_output``
[batch, hidden] (Gather token 0 -> Gemm -> Tanh).
"""
from __future__ import annotations

import math

from onnx import TensorProto

from .graph import GraphBuilder


def bert(layers=2, hidden=128, heads=4, intermediate=None, vocab=8192, max_pos=512,
         seed=0, batch="batch", seq="seq"):
    gb = GraphBuilder("bert", seed)
    inter = intermediate or 4 * hidden
    dh = hidden // heads
    ids = gb.input("input_ids", [batch, seq], dtype="int64")
    mask = gb.input("attention_mask", [batch, seq], dtype="int64")

    def layer_norm(x):  # the LayerNormalization op (opset 17)
        g = gb.uniform((hidden,), 0.9, 1.1, "ln_g")
        return gb.LayerNormalization(x, g, gb.randn((hidden,), 0.02, "ln_b"), axis=-1, epsilon=1e-12)

    def layer_norm_manual(x):  # the decomposed form older exporters emit
        d = gb.Sub(x, gb.ReduceMean(x, axes=[-1]))
        var = gb.ReduceMean(gb.Pow(d, gb.const(2.0)), axes=[-1])
        y = gb.Div(d, gb.Sqrt(gb.Add(var, gb.const(1e-12))))
        return gb.Add(gb.Mul(y, gb.uniform((hidden,), 0.9, 1.1, "ln_g")), gb.randn((hidden,), 0.02, "ln_b"))

    # embeddings
    seq_len = gb.dim(ids, 1)
    pos = gb.Range(gb.i64(0), seq_len, gb.i64(1))
    emb = gb.Gather(gb.randn((vocab, hidden), 1.0, "word_emb"), ids, axis=0)
    emb = gb.Add(emb, gb.Gather(gb.randn((max_pos, hidden), 0.5, "pos_emb"), pos, axis=0))
    emb = gb.Add(emb, gb.randn((hidden,), 0.5, "type_emb"))  # token_type 0
    x = layer_norm(emb)

    # masks: additive [b, 1, 1, s] and boolean [b, 1, 1, s]
    m4 = gb.Unsqueeze(mask, gb.i64([1, 2]))
    add_mask = gb.Mul(gb.Sub(gb.const(1.0), gb.Cast(m4, to=TensorProto.FLOAT)), gb.const(-10000.0))
    is_pad = gb.Equal(m4, gb.i64(0))

    bdim, sdim = gb.dim1(ids, 0), gb.dim1(ids, 1)
    split_shape = gb.shape_of(bdim, sdim, heads, dh)  # Shape->Gather->Unsqueeze->Concat
    merge_shape = gb.shape_of(bdim, sdim, hidden)
    scale = gb.const(math.sqrt(dh))
    for i in range(layers):
        def heads_of(t, perm):
            return gb.Transpose(gb.Reshape(t, split_shape), perm=perm)

        q = heads_of(gb.linear(x, hidden, hidden), [0, 2, 1, 3])  # [b, h, s, d]
        k = heads_of(gb.linear(x, hidden, hidden), [0, 2, 3, 1])  # [b, h, d, s]
        v = heads_of(gb.linear(x, hidden, hidden), [0, 2, 1, 3])
        scores = gb.Div(gb.MatMul(q, k), scale)  # [b, h, s, s]
        if i % 2 == 0:
            scores = gb.Add(scores, add_mask)
        else:
            scores = gb.Where(is_pad, gb.const(-10000.0), scores)
        ctx = gb.MatMul(gb.Softmax(scores, axis=-1), v)
        ctx = gb.Reshape(gb.Transpose(ctx, perm=[0, 2, 1, 3]), merge_shape)
        x = layer_norm(gb.Add(gb.linear(ctx, hidden, hidden), x))
        h = gb.linear(x, hidden, inter, gain=2.0)
        h = gb.Mul(gb.Mul(h, gb.Add(gb.Erf(gb.Div(h, gb.const(math.sqrt(2.0)))), gb.const(1.0))),
                   gb.const(0.5))  # GELU (erf form)
        x = layer_norm_manual(gb.Add(gb.linear(h, inter, hidden), x))

    x = gb.output(x, "last_hidden_state", shape=[batch, seq, hidden])
    first = gb.Gather(x, gb.i64(0), axis=1)  # [b, hidden]
    pooled = gb.Tanh(gb.gemm(first, hidden, hidden))
    gb.output(pooled, "pooler_output", shape=[batch, hidden])
    return gb.finish()
