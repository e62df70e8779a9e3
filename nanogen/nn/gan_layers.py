"""Layers of progressively grown GANs: equalized learning rate, pixel norm, minibatch standard deviation.

Read linear.py, conv.py and norm.py first. These are the three tricks of Karras et al. 2018
("Progressive growing of GANs for improved quality, stability, and variation", Sec. 3 and 4.1-4.2),
each a small composite of public ops (no new op, so no new backward: the gradient of each is the
engine's chain rule through F.linear, F.conv2d, mean and sqrt, checked in tests/test_nn_gan_layers.py).

  EqualizedLinear, EqualizedConv2d   weights drawn from N(0, 1) and multiplied by He's constant
                                     c = gain / sqrt(fan_in) at *every* forward (Sec. 4.1), not once at init
  PixelNorm                          each pixel's feature vector scaled to unit mean square (Sec. 4.2)
  MinibatchStdDev                    one extra feature map: how much the batch varies (Sec. 3)
models/progan.py builds its generator and discriminator from them; the style-based generator uses
them too (EqualizedLinear with lr_mul in its mapping network and as AdaIN's affine map).
"""

import math

import numpy as np

from .. import functional as F
from ..ops.checks import check_tensor, pair
from .module import Module, Parameter, float_dtype, positive_int


def _normal(rng, shape, dtype):
    rng = np.random.default_rng() if rng is None else rng
    return rng.standard_normal(shape).astype(dtype)


class EqualizedLinear(Module):
    """y = x @ (c W)^T + b,   W ~ N(0, 1),   c = gain / sqrt(in_features)

    x: (..., in_features) -> y: (..., out_features);  weight: (out, in);  bias: (out,), zeros at start.
    Why scale at run time (Karras et al. 2018, Sec. 4.1): Adam divides each step by a running
    estimate of the gradient's scale, so its steps are about lr in *parameter* units whatever the
    parameter's size. A weight initialised at std c then moves by lr/c relative to its size: layers
    with a large fan-in learn much faster than the others. Storing W at std 1 and multiplying by c
    in forward gives every layer the same relative speed. The output is the same as He
    initialisation would give at step 0; only the learning dynamics change.
    lr_mul (StyleGAN's mapping network, Karras et al. 2019, App. C) divides the stored weight's std
    and multiplies c by the same factor: the same function at init, lr_mul times the relative speed.
    """

    def __init__(self, in_features, out_features, bias=True, gain=math.sqrt(2), lr_mul=1.0, dtype=np.float32,
                 rng=None):
        super().__init__()
        self.in_features = positive_int("EqualizedLinear", "in_features", in_features)
        self.out_features = positive_int("EqualizedLinear", "out_features", out_features)
        if not lr_mul > 0 or not gain > 0:
            raise ValueError(f"EqualizedLinear: lr_mul and gain must be > 0, got lr_mul={lr_mul!r}, gain={gain!r}")
        dtype = float_dtype("EqualizedLinear", dtype)
        self.scale = gain / math.sqrt(self.in_features) * lr_mul                 # c
        self.lr_mul = lr_mul
        self.weight = Parameter(_normal(rng, (self.out_features, self.in_features), dtype) / dtype.type(lr_mul))
        if bias:
            self.bias = Parameter(np.zeros(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        b = self.bias if self.bias is None or self.lr_mul == 1.0 else self.bias * self.lr_mul
        return F.linear(x, self.weight * self.scale, b)

    def extra_repr(self):
        lr_mul = f", lr_mul={self.lr_mul}" if self.lr_mul != 1.0 else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, scale={self.scale:.4g}{lr_mul}"


class EqualizedConv2d(Module):
    """y = conv2d(x, c W) + b,   W ~ N(0, 1),   c = gain / sqrt(in_channels * KH * KW)

    x: (N, C, H, W) -> (N, F, OH, OW) with the usual output size; weight: (F, C, KH, KW), bias (F,)
    zeros at start. The same run-time scaling as EqualizedLinear, with the fan-in of one output pixel.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, gain=math.sqrt(2),
                 dtype=np.float32, rng=None):
        super().__init__()
        self.in_channels = positive_int("EqualizedConv2d", "in_channels", in_channels)
        self.out_channels = positive_int("EqualizedConv2d", "out_channels", out_channels)
        self.kernel_size = pair("EqualizedConv2d", "kernel_size", kernel_size, minimum=1)
        self.stride = pair("EqualizedConv2d", "stride", stride, minimum=1)
        self.padding = pair("EqualizedConv2d", "padding", padding)
        dtype = float_dtype("EqualizedConv2d", dtype)
        KH, KW = self.kernel_size
        self.scale = gain / math.sqrt(self.in_channels * KH * KW)                # c
        self.weight = Parameter(_normal(rng, (self.out_channels, self.in_channels, KH, KW), dtype))
        if bias:
            self.bias = Parameter(np.zeros(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, scale={self.scale:.4g}")


class PixelNorm(Module):
    """b[n, :, h, w] = a[n, :, h, w] / sqrt(mean_c a[n, c, h, w]^2 + eps)     (Karras et al. 2018, Eq. 1)

    x: (N, C, ...) -> same shape; normalises over axis 1 (the features of one pixel, or of one
    latent vector for (N, Z)). No learned scale: it is not a batch statistic either, only a bound
    on each feature vector's length, which stops G's and D's magnitudes from escalating (Sec. 4.2).
    """

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        check_tensor("PixelNorm", x)
        if x.ndim < 2:
            raise ValueError(f"PixelNorm: expected (N, C, ...), got shape {tuple(x.shape)}; the features are axis 1")
        return x / ((x * x).mean(dim=1, keepdim=True) + self.eps).sqrt()

    def extra_repr(self):
        return f"eps={self.eps}"


class MinibatchStdDev(Module):
    """Appends one feature map: the average standard deviation of the features across the batch.

    x: (N, C, H, W) -> (N, C + 1, H, W). Karras et al. 2018, Sec. 3: split the batch into groups
    of G images (image n in group n mod M, M = N / G); for every feature and pixel take the
    standard deviation over the G images of a group, sqrt(var + eps); average it over C, H, W to
    one number per group; append it as a constant map to each image of that group. A generator
    that collapses to one image makes this number 0 on fakes and not on reals: D sees the lack of
    variety, which it cannot from one image at a time. group_size=None uses the whole batch.
    """

    def __init__(self, group_size=4, eps=1e-8):
        super().__init__()
        if group_size is not None:
            positive_int("MinibatchStdDev", "group_size", group_size)
        self.group_size, self.eps = group_size, eps

    def forward(self, x):
        check_tensor("MinibatchStdDev", x)
        if x.ndim != 4:
            raise ValueError(f"MinibatchStdDev: expected (N, C, H, W), got shape {tuple(x.shape)}")
        N, C, H, W = x.shape
        G = N if self.group_size is None else min(self.group_size, N)
        if N % G:
            raise ValueError(f"MinibatchStdDev: the batch of {N} does not split into groups of {G}; use a batch "
                             f"size divisible by {G} (drop the last batch) or group_size=None")
        M = N // G
        y = x.reshape(G, M, C, H, W)                                    # image n -> (n // M, n % M): group n % M
        s = (y.var(dim=0, correction=0) + self.eps).sqrt()              # (M, C, H, W): std over each group
        s = s.mean(dim=(1, 2, 3)).reshape(1, M, 1, 1, 1)                # (M,) -> (1, M, 1, 1, 1)
        s = s.expand(G, M, 1, H, W).reshape(N, 1, H, W)                 # the group's value on every pixel
        return F.cat([x, s], dim=1)                                     # (N, C + 1, H, W)

    def extra_repr(self):
        return f"group_size={self.group_size}"
