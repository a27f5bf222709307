"""ConvNeXt in the layout of torchvision's ONNX export (opset 17).

Stem: Conv 4x4 /4 -> LayerNorm2d. Each later stage starts with LayerNorm2d ->
Conv 2x2 /2. Block: depthwise Conv 7x7 -> Transpose to channels-last ->
LayerNormalization -> MatMul + Add (4x) -> GELU in the erf form (Div, Erf, Add,
Mul, Mul) -> MatMul + Add -> Mul by the layer scale -> Transpose back -> residual
Add. LayerNorm2d is Transpose -> LayerNormalization(axis -1) -> Transpose, as
torchvision's permutes export. Head: GlobalAveragePool -> LayerNorm2d -> Flatten
-> Gemm. Defaults: ConvNeXt-T (depths 3, 3, 9, 3; widths 96 .. 768).
"""
from __future__ import annotations

import math

from .graph import GraphBuilder

TO_LAST, TO_FIRST = [0, 2, 3, 1], [0, 3, 1, 2]


def convnext(size=224, classes=1000, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), layer_scale=0.3,
             seed=0, batch="batch"):
    gb = GraphBuilder("convnext", seed)
    x = gb.input("input", [batch, 3, size, size], channels=3)

    def layer_norm(v, c):  # on the last axis; output ~unit variance
        y = gb.LayerNormalization(v, gb.uniform((c,), 0.9, 1.1, "ln_g"), gb.randn((c,), 0.02, "ln_b"),
                                  axis=-1, epsilon=1e-6)
        gb.mom[y] = (0.0, 1.0)
        return y

    def layer_norm_2d(v):
        c = gb.ch[v]
        y = gb.Transpose(layer_norm(gb.Transpose(v, perm=TO_LAST), c), perm=TO_FIRST)
        gb.ch[y] = c
        return y

    def gelu(v):  # x * 0.5 * (1 + erf(x / sqrt 2)), as torch.onnx writes nn.GELU() before opset 20
        e = gb.Add(gb.Erf(gb.Div(v, gb.const(math.sqrt(2.0)))), gb.const(1.0))
        y = gb.Mul(gb.Mul(v, e), gb.const(0.5))
        gb.mom[y] = (0.28, 0.42)  # GELU of a unit Gaussian
        return y

    def block(v):
        c = gb.ch[v]
        h = gb.Transpose(gb.conv(v, c, 7, g=c), perm=TO_LAST)
        h = gelu(gb.linear(layer_norm(h, c), c, 4 * c))
        h = gb.linear(h, 4 * c, c, gain=1.0 / 0.42)
        h = gb.Mul(h, gb.const([layer_scale] * c))
        y = gb.Add(v, gb.Transpose(h, perm=TO_FIRST))
        gb.ch[y] = c
        gb.mom[y] = (0.0, gb.mom.get(v, (0.0, 1.0))[1] + layer_scale ** 2)
        return y

    x = layer_norm_2d(gb.conv(x, dims[0], 4, 4, p=0))
    for stage, (depth, width) in enumerate(zip(depths, dims)):
        if stage:
            x = gb.conv(layer_norm_2d(x), width, 2, 2, p=0)
        for _ in range(depth):
            x = block(x)
    x = gb.Flatten(layer_norm_2d(gb.GlobalAveragePool(x)), axis=1)
    gb.output(gb.gemm(x, dims[-1], classes), "logits", shape=[batch, classes])
    return gb.finish()
