"""A YOLOv8-style detector (nano width by default) with the exported box decoder.

Backbone/neck: Conv+Sigmoid+Mul (SiLU), C2f blocks (Split/Concat), SPPF (MaxPool
5x5 pads 2), FPN upsampling by Resize (nearest with scales, and one linear).
Head: per-level box (4x16 DFL bins) and class branches; the decoder is driven by
the dynamic input: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, DFL
Transpose + Softmax + 1x1 Conv, anchors from Range/Cast/Expand, strides from
input size / feature size (Div), Slice/Sub/Add/Div/Mul for dist2bbox.

Input ``images`` [batch, 3, size, size]; output ``output0`` [batch, N, 4 + classes]
with N = sum((size / s) ** 2 for s in (8, 16, 32)) (8400 at 640).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from .graph import GraphBuilder

REG_MAX = 16


def yolo(size=640, classes=80, seed=0, batch="batch", width=0.25, depth=0.33):
    gb = GraphBuilder("yolo", seed)
    images = gb.input("images", [batch, 3, size, size], channels=3)
    ch = [max(8, int(c * width)) for c in (64, 128, 256, 512, 1024)]
    nrep = [max(1, round(n * depth)) for n in (3, 6, 6, 3)]

    def conv(x, c, k=1, s=1):  # Conv (BN fused) + SiLU
        return gb.act(gb.conv(x, c, k, s), "silu")

    def c2f(x, c2, n, shortcut):
        c = c2 // 2
        ys = list(gb.split(conv(x, 2 * c, 1), [c, c]))
        for _ in range(n):
            y = conv(conv(ys[-1], c, 3), c, 3)
            ys.append(gb.Add(ys[-1], y) if shortcut else y)
        return conv(gb.concat(ys), c2, 1)

    def sppf(x, c2):
        y = [conv(x, gb.ch[x] // 2, 1)]
        for _ in range(3):
            y.append(gb.maxpool(y[-1], 5, 1, 2))
        return conv(gb.concat(y), c2, 1)

    # backbone
    x = conv(conv(images, ch[0], 3, 2), ch[1], 3, 2)
    x = c2f(x, ch[1], nrep[0], True)
    p3 = c2f(conv(x, ch[2], 3, 2), ch[2], nrep[1], True)
    p4 = c2f(conv(p3, ch[3], 3, 2), ch[3], nrep[2], True)
    p5 = sppf(c2f(conv(p4, ch[4], 3, 2), ch[4], nrep[3], True), ch[4])
    # neck (FPN top-down, PAN bottom-up)
    h4 = c2f(gb.concat([gb.resize(p5, 2, "nearest"), p4]), ch[3], nrep[0], False)
    h3 = c2f(gb.concat([gb.resize(h4, 2, "linear"), p3]), ch[2], nrep[0], False)
    h4 = c2f(gb.concat([conv(h3, ch[2], 3, 2), h4]), ch[3], nrep[0], False)
    h5 = c2f(gb.concat([conv(h4, ch[3], 3, 2), p5]), ch[4], nrep[0], False)

    # detect head
    c_box, c_cls = max(16, ch[2] // 4, 4 * REG_MAX), max(ch[2], min(classes, 100))
    no = 4 * REG_MAX + classes
    bdim = gb.dim1(images, 0)
    in_h = gb.Cast(gb.dim(images, 2), to=TensorProto.FLOAT)
    zero, one, half = gb.i64(0), gb.i64(1), gb.const(0.5)
    flat, anchors, strides = [], [], []
    for f in (h3, h4, h5):
        box = gb.conv(conv(conv(f, c_box, 3), c_box, 3), 4 * REG_MAX, 1)
        cls = gb.conv(conv(conv(f, c_cls, 3), c_cls, 3), classes, 1)
        y = gb.concat([box, cls])  # [b, no, h, w]
        flat.append(gb.Reshape(y, gb.shape_of(bdim, no, -1)))  # [b, no, h*w]
        # anchors: cell centres from Range over the feature map's dynamic H, W
        h, w = gb.dim(f, 2), gb.dim(f, 3)
        sx = gb.Add(gb.Cast(gb.Range(zero, w, one), to=TensorProto.FLOAT), half)  # [w]
        sy = gb.Add(gb.Cast(gb.Range(zero, h, one), to=TensorProto.FLOAT), half)  # [h]
        hw = gb.shape_of(gb.Unsqueeze(h, gb.i64([0])), gb.Unsqueeze(w, gb.i64([0])))
        gx = gb.Expand(gb.Unsqueeze(sx, gb.i64([0])), hw)  # [h, w]
        gy = gb.Expand(gb.Unsqueeze(sy, gb.i64([1])), hw)
        row = gb.i64([1, -1])
        anchors.append(gb.Concat(gb.Reshape(gx, row), gb.Reshape(gy, row), axis=0))  # [2, hw]
        stride = gb.Div(in_h, gb.Cast(h, to=TensorProto.FLOAT))  # scalar
        n_cells = gb.Unsqueeze(gb.Mul(h, w), gb.i64([0]))
        strides.append(gb.Expand(stride, gb.shape_of(1, n_cells)))  # [1, hw]
    x = gb.concat(flat, axis=2)  # [b, no, N]
    anchors = gb.Unsqueeze(gb.concat(anchors, axis=1), gb.i64([0]))  # [1, 2, N]
    strides = gb.concat(strides, axis=1)  # [1, N]
    box, cls = gb.split(x, [4 * REG_MAX, classes])
    # DFL: [b, 64, N] -> [b, 4, 16, N] -> [b, 16, 4, N] -> softmax -> expectation
    d = gb.Transpose(gb.Reshape(box, gb.shape_of(bdim, 4, REG_MAX, -1)), perm=[0, 2, 1, 3])
    d = gb.Softmax(d, axis=1)
    proj = gb.const(np.arange(REG_MAX, dtype=np.float32).reshape(1, REG_MAX, 1, 1))
    d = gb.op("Conv", [d, proj], kernel_shape=[1, 1])  # [b, 1, 4, N]
    d = gb.Reshape(d, gb.shape_of(bdim, 4, -1))  # [b, 4, N] (l, t, r, b distances)
    lt = gb.Slice(d, gb.i64([0]), gb.i64([2]), gb.i64([1]))
    rb = gb.Slice(d, gb.i64([2]), gb.i64([4]), gb.i64([1]))
    x1y1, x2y2 = gb.Sub(anchors, lt), gb.Add(anchors, rb)
    cxy = gb.Div(gb.Add(x1y1, x2y2), gb.const(2.0))
    wh = gb.Sub(x2y2, x1y1)
    dbox = gb.Mul(gb.Concat(cxy, wh, axis=1), strides)  # [b, 4, N] in pixels
    out = gb.Transpose(gb.Concat(dbox, gb.Sigmoid(cls), axis=1), perm=[0, 2, 1])
    n_anchors = sum((size // s) ** 2 for s in (8, 16, 32))
    gb.output(out, "output0", shape=[batch, n_anchors, 4 + classes])
    return gb.finish()
