"""Convolution layers: Conv2d (an encoder's downsampling) and ConvTranspose2d (a decoder's upsampling).

Read module.py and linear.py first; the math, the kernels and the gradients are in ops/conv.py.
A Conv2d is a Linear layer applied to every KH x KW patch of the image with the same weights;
a ConvTranspose2d is the backward pass of a Conv2d with respect to its input, used forwards,
so a stride-2 one doubles H and W (Dumoulin & Visin 2016, "A guide to convolution arithmetic",
§2 and §4). Layouts, arguments and default initialisation are PyTorch's:
    Conv2d.weight           (out_channels, in_channels // groups, KH, KW)
    ConvTranspose2d.weight  (in_channels, out_channels // groups, KH, KW)
"""

import numpy as np

from .. import functional as F
from ..ops.checks import pair
from . import init
from .module import Module, Parameter, float_dtype, positive_int


class _ConvBase(Module):
    """What Conv2d and ConvTranspose2d share: argument checks, parameters, init, repr."""

    def __init__(self, layer, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, padding_mode, dtype, rng, transposed=False, output_padding=0):
        super().__init__()
        self.in_channels = positive_int(layer, "in_channels", in_channels)
        self.out_channels = positive_int(layer, "out_channels", out_channels)
        self.kernel_size = pair(layer, "kernel_size", kernel_size, minimum=1)
        self.stride = pair(layer, "stride", stride, minimum=1)
        self.padding = pair(layer, "padding", padding, minimum=0)
        self.dilation = pair(layer, "dilation", dilation, minimum=1)
        self.output_padding = pair(layer, "output_padding", output_padding, minimum=0)
        self.groups = positive_int(layer, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{layer}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must both be divisible by groups ({groups})")
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"{layer}: output_padding {self.output_padding} must be smaller than either "
                             f"the stride {self.stride} or the dilation {self.dilation}")
        if padding_mode != "zeros":
            raise ValueError(f"{layer}: only padding_mode='zeros' is implemented, got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.transposed = transposed
        dtype = float_dtype(layer, dtype)
        KH, KW = self.kernel_size
        if transposed:  # the weight of the Conv2d whose backward this is: (C_in, C_out/G, KH, KW)
            shape = (self.in_channels, self.out_channels // groups, KH, KW)
        else:
            shape = (self.out_channels, self.in_channels // groups, KH, KW)
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """PyTorch's default: weight ~ kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight.shape[1] * KH * KW."""
        init.layer_default_(self.weight, self.bias, rng=rng)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvBase):
    """y[n, f] = bias[f] + Σ_c w[f, c] ⋆ x[n, c]   (⋆: cross-correlation, strided, dilated, padded)

    x: (N, in_channels, H, W) -> y: (N, out_channels, OH, OW),
    OH = (H + 2*PH - DH*(KH - 1) - 1) // SH + 1 (kernels/conv.py conv_output_size).
    With groups=G the channels split into G independent convolutions.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32, rng=None):
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, dtype, rng)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        dilation=self.dilation, groups=self.groups)


class ConvTranspose2d(_ConvBase):
    """The adjoint of Conv2d: each input pixel scatters a weighted KH x KW patch into the output.

    x: (N, in_channels, H, W) -> y: (N, out_channels, OH, OW),
    OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + OPH + 1 (kernels/conv.py conv_transpose_output_size).
    kernel 4, stride 2, padding 1 doubles H and W (the DCGAN generator's block).
    output_padding adds rows/cols on one side to pick among the sizes a stride-S Conv2d maps to
    the same output size; it must be smaller than the stride or the dilation.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", dtype=np.float32, rng=None):
        super().__init__("ConvTranspose2d", in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype, rng, transposed=True, output_padding=output_padding)

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                                  output_padding=self.output_padding, groups=self.groups, dilation=self.dilation)
