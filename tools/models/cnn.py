"""ImageNet-style classifiers in torchvision layout (unfused Conv+BatchNormalization).

All take ``size`` (input H=W, default 224), ``classes`` (default 1000), ``seed``
and ``batch`` (the symbolic batch dim name) and return a checked ModelProto with
input ``input`` [batch, 3, size, size] and output ``logits`` [batch, classes].
"""
from __future__ import annotations

from .graph import GraphBuilder


def _start(name, size, seed, batch):
    gb = GraphBuilder(name, seed)
    return gb, gb.input("input", [batch, 3, size, size], channels=3)


def _finish(gb, logits, classes, batch):
    gb.output(logits, "logits", shape=[batch, classes])
    return gb.finish()


# --------------------------------------------------------------------- ResNet
def resnet50(size=224, classes=1000, seed=0, batch="batch", layers=(3, 4, 6, 3)):
    """ResNet-50 v1.5 (stride on the 3x3 conv), residual Add+Relu."""
    gb, x = _start("resnet50", size, seed, batch)
    x = gb.maxpool(gb.conv_bn_act(x, 64, 7, 2), 3, 2, 1)
    for stage, (width, n) in enumerate(zip((64, 128, 256, 512), layers)):
        for j in range(n):
            s = 2 if j == 0 and stage > 0 else 1
            y = gb.conv_bn_act(x, width, 1)
            y = gb.conv_bn_act(y, width, 3, s)
            # small last-BN scale keeps the residual stream's variance bounded
            y = gb.conv_bn_act(y, 4 * width, 1, act=None, gamma=0.25)
            sc = gb.conv_bn_act(x, 4 * width, 1, s, act=None) if j == 0 else x
            x = gb.Relu(gb.Add(y, sc))
    return _finish(gb, gb.head(x, gb.ch[x], classes), classes, batch)


# ------------------------------------------------------------------------ VGG
_VGG = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def _vgg(name, size, classes, seed, batch, fc=4096):
    gb, x = _start(name, size, seed, batch)
    for v in _VGG[name]:
        x = gb.maxpool(x, 2, 2) if v == "M" else gb.Relu(gb.conv(x, v, 3))
    feat = 512 * (size // 32) ** 2
    x = gb.Flatten(x, axis=1)
    x = gb.Relu(gb.gemm(x, feat, fc))
    x = gb.Relu(gb.gemm(x, fc, fc))
    return _finish(gb, gb.gemm(x, fc, classes), classes, batch)


def vgg16(size=224, classes=1000, seed=0, batch="batch", fc=4096):
    return _vgg("vgg16", size, classes, seed, batch, fc)


def vgg19(size=224, classes=1000, seed=0, batch="batch", fc=4096):
    return _vgg("vgg19", size, classes, seed, batch, fc)


# ----------------------------------------------------------------- SqueezeNet
def squeezenet(size=224, classes=1000, seed=0, batch="batch"):
    """SqueezeNet 1.1: fire modules (squeeze 1x1 -> Concat(expand 1x1, expand 3x3))."""
    gb, x = _start("squeezenet", size, seed, batch)

    def fire(x, sq, ex):
        s = gb.Relu(gb.conv(x, sq, 1))
        return gb.concat([gb.Relu(gb.conv(s, ex, 1)), gb.Relu(gb.conv(s, ex, 3))])

    x = gb.maxpool(gb.Relu(gb.conv(x, 64, 3, 2, p=0)), 3, 2, ceil=True)
    x = fire(fire(x, 16, 64), 16, 64)
    x = gb.maxpool(x, 3, 2, ceil=True)
    x = fire(fire(x, 32, 128), 32, 128)
    x = gb.maxpool(x, 3, 2, ceil=True)
    for sq, ex in ((48, 192), (48, 192), (64, 256), (64, 256)):
        x = fire(x, sq, ex)
    x = gb.Relu(gb.conv(x, classes, 1))
    return _finish(gb, gb.Flatten(gb.GlobalAveragePool(x), axis=1), classes, batch)


# ------------------------------------------------------------------- DenseNet
def densenet121(size=224, classes=1000, seed=0, batch="batch", blocks=(6, 12, 24, 16),
                growth=32, bn_size=4):
    """DenseNet-121: BN-Relu-Conv dense layers, each concatenating all earlier features."""
    gb, x = _start("densenet121", size, seed, batch)
    x = gb.maxpool(gb.conv_bn_act(x, 64, 7, 2), 3, 2, 1)
    for i, n in enumerate(blocks):
        feats = [x]
        for _ in range(n):
            y = gb.conv(gb.Relu(gb.bn(gb.concat(feats))), bn_size * growth, 1, bias=False)
            y = gb.conv(gb.Relu(gb.bn(y)), growth, 3, bias=False)
            feats.append(y)
        x = gb.concat(feats)
        if i != len(blocks) - 1:  # transition
            x = gb.conv(gb.Relu(gb.bn(x)), gb.ch[x] // 2, 1, bias=False)
            x = gb.avgpool(x, 2, 2)
    x = gb.Relu(gb.bn(x))
    return _finish(gb, gb.head(x, gb.ch[x], classes), classes, batch)


# -------------------------------------------------------------- Inception v1
_INCEPTION = {  # 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def inception_v1(size=224, classes=1000, seed=0, batch="batch", lrn=True):
    """GoogLeNet (original, Conv+Relu with bias): 4-branch modules joined by Concat."""
    gb, x = _start("inception_v1", size, seed, batch)

    def cr(x, c, k):
        return gb.Relu(gb.conv(x, c, k))

    def module(x, cfg):
        c1, r3, c3, r5, c5, pp = cfg
        pool = gb.maxpool(x, 3, 1, 1)  # MaxPool with pads
        return gb.concat([cr(x, c1, 1), cr(cr(x, r3, 1), c3, 3), cr(cr(x, r5, 1), c5, 5),
                          cr(pool, pp, 1)])

    def norm(x):
        return gb.LRN(x, size=5, alpha=1e-4, beta=0.75, bias=1.0) if lrn else x

    x = norm(gb.maxpool(gb.Relu(gb.conv(x, 64, 7, 2)), 3, 2, ceil=True))
    x = gb.maxpool(norm(cr(cr(x, 64, 1), 192, 3)), 3, 2, ceil=True)
    x = module(module(x, _INCEPTION["3a"]), _INCEPTION["3b"])
    x = gb.maxpool(x, 3, 2, ceil=True)
    for k in ("4a", "4b", "4c", "4d", "4e"):
        x = module(x, _INCEPTION[k])
    x = gb.maxpool(x, 2, 2, ceil=True)
    x = module(module(x, _INCEPTION["5a"]), _INCEPTION["5b"])
    return _finish(gb, gb.head(x, gb.ch[x], classes), classes, batch)


# --------------------------------------------------------------- MobileNetV2
def mobilenet_v2(size=224, classes=1000, seed=0, batch="batch"):
    """MobileNetV2: inverted residuals, depthwise conv (group=C), Clip(0,6) as ReLU6."""
    gb, x = _start("mobilenet_v2", size, seed, batch)
    x = gb.conv_bn_act(x, 32, 3, 2, act="relu6")
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for j in range(n):
            stride, cin = (s if j == 0 else 1), gb.ch[x]
            hidden = cin * t
            y = gb.conv_bn_act(x, hidden, 1, act="relu6") if t != 1 else x
            y = gb.conv_bn_act(y, hidden, 3, stride, g=hidden, act="relu6")
            y = gb.conv_bn_act(y, c, 1, act=None, gamma=0.5)
            x = gb.Add(x, y) if stride == 1 and cin == c else y
    x = gb.conv_bn_act(x, 1280, 1, act="relu6")
    return _finish(gb, gb.head(x, 1280, classes), classes, batch)


# --------------------------------------------------------------- MobileNetV3
# kernel, expansion, out, squeeze-excite, activation, stride
MNV3_LARGE = [(3, 16, 16, 0, "relu", 1), (3, 64, 24, 0, "relu", 2), (3, 72, 24, 0, "relu", 1),
              (5, 72, 40, 1, "relu", 2), (5, 120, 40, 1, "relu", 1), (5, 120, 40, 1, "relu", 1),
              (3, 240, 80, 0, "hswish", 2), (3, 200, 80, 0, "hswish", 1),
              (3, 184, 80, 0, "hswish", 1), (3, 184, 80, 0, "hswish", 1),
              (3, 480, 112, 1, "hswish", 1), (3, 672, 112, 1, "hswish", 1),
              (5, 672, 160, 1, "hswish", 2), (5, 960, 160, 1, "hswish", 1),
              (5, 960, 160, 1, "hswish", 1)]
MNV3_SMALL = [(3, 16, 16, 1, "relu", 2), (3, 72, 24, 0, "relu", 2), (3, 88, 24, 0, "relu", 1),
              (5, 96, 40, 1, "hswish", 2), (5, 240, 40, 1, "hswish", 1),
              (5, 240, 40, 1, "hswish", 1), (5, 120, 48, 1, "hswish", 1),
              (5, 144, 48, 1, "hswish", 1), (5, 288, 96, 1, "hswish", 2),
              (5, 576, 96, 1, "hswish", 1), (5, 576, 96, 1, "hswish", 1)]


def make_divisible(v, d=8):
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


def mnv3_blocks(gb, x, cfg, scale=1.0, hsig_alpha=1.0 / 6, always_expand=False, tap_first=0):
    """MobileNetV3 bneck stack. Returns (x, taps): taps are the values entering
    each stride-2 block with index > ``tap_first`` (the feature pyramid levels)."""
    taps = []
    for i, (k, exp, c, se, act, s) in enumerate(cfg):
        if s == 2 and i > tap_first:
            taps.append(x)
        cin, exp, c = gb.ch[x], make_divisible(scale * exp), make_divisible(scale * c)
        y = gb.conv_bn_act(x, exp, 1, act=act) if (always_expand or exp != cin) else x
        y = gb.conv_bn_act(y, exp, k, s, g=exp, act=act)
        if se:
            y = gb.se(y, make_divisible(exp // 4), hsig_alpha)
        y = gb.conv_bn_act(y, c, 1, act=None, gamma=0.5)
        x = gb.Add(x, y) if s == 1 and cin == c else y
    return x, taps


def mobilenet_v3(size=224, classes=1000, seed=0, batch="batch", variant="large"):
    """MobileNetV3 (large/small): HardSwish, squeeze-excite with HardSigmoid."""
    gb, x = _start(f"mobilenet_v3_{variant}", size, seed, batch)
    cfg, last, hidden = (MNV3_LARGE, 960, 1280) if variant == "large" else (MNV3_SMALL, 576, 1024)
    x = gb.conv_bn_act(x, 16, 3, 2, act="hswish")
    x, _ = mnv3_blocks(gb, x, cfg)
    x = gb.conv_bn_act(x, last, 1, act="hswish")
    x = gb.HardSwish(gb.gemm(gb.Flatten(gb.GlobalAveragePool(x), axis=1), last, hidden))
    return _finish(gb, gb.gemm(x, hidden, classes), classes, batch)
