"""A PaddleOCR DB-style text detector (PP-OCR det mobile layout).

Backbone: MobileNetV3-large x0.5 (Conv+BatchNormalization+HardSwish, SE with
Paddle's HardSigmoid slope 0.2), taps at strides 4/8/16/32. Neck: DBFPN (1x1
in-convs, top-down Add with Resize nearest x2, 3x3 out-convs, Resize x8/x4/x2,
Concat). Head: Conv-BN-Relu, then ConvTranspose 2x2 stride 2 twice, each with an
unfused BatchNormalization after the first, Sigmoid probability map.

Input ``x`` [batch, 3, height, width] (all dynamic; H, W multiples of 32),
output ``sigmoid_0.tmp_0`` [batch, 1, height, width].
"""
from __future__ import annotations

from .cnn import MNV3_LARGE, make_divisible, mnv3_blocks
from .graph import GraphBuilder


def paddleocr(size=640, seed=0, batch="batch", scale=0.5, inner=96):
    gb = GraphBuilder("paddleocr_det", seed)
    x = gb.input("x", [batch, 3, "height", "width"], channels=3)
    x = gb.conv_bn_act(x, make_divisible(16 * scale), 3, 2, act="hswish")
    x, taps = mnv3_blocks(gb, x, MNV3_LARGE, scale, hsig_alpha=0.2, always_expand=True,
                          tap_first=2)
    c2, c3, c4 = taps  # strides 4, 8, 16
    c5 = gb.conv_bn_act(x, make_divisible(scale * 960), 1, act="hswish")  # stride 32

    # DBFPN
    in5, in4, in3, in2 = (gb.conv(c, inner, 1, bias=False) for c in (c5, c4, c3, c2))
    out4 = gb.Add(in4, gb.resize(in5, 2))
    out3 = gb.Add(in3, gb.resize(out4, 2))
    out2 = gb.Add(in2, gb.resize(out3, 2))
    p5, p4, p3, p2 = (gb.conv(c, inner // 4, 3, bias=False) for c in (in5, out4, out3, out2))
    fuse = gb.concat([gb.resize(p5, 8), gb.resize(p4, 4), gb.resize(p3, 2), p2])

    # DB head (binarize branch): BN left unfused after each ConvTranspose
    y = gb.Relu(gb.bn(gb.conv(fuse, inner // 4, 3, bias=False)))
    y = gb.Relu(gb.bn(gb.conv_transpose(y, inner // 4, 2, 2)))
    y = gb.Sigmoid(gb.conv_transpose(y, 1, 2, 2))
    gb.output(y, "sigmoid_0.tmp_0", shape=[batch, 1, "height", "width"])
    return gb.finish()
