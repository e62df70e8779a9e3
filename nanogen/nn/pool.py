"""Resampling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (shrink H and W), Upsample (grow them).

Read module.py first; the math, kernels and gradients are in ops/pool.py. These layers have no
weights: they hold the window geometry and call the op, which checks the input. Arguments,
defaults and output sizes are PyTorch's (ceil_mode=False):
    OH = (H + 2*padding - kernel_size) // stride + 1,   stride defaults to kernel_size.
Options PyTorch has and nanogen does not (dilation, ceil_mode, return_indices,
count_include_pad=False, divisor_override) are accepted at their defaults and refused otherwise.
"""

from .. import functional as F
from ..ops.checks import check_image, pair
from .module import Module


def _unsupported(layer, **options):
    """Refuse PyTorch options nanogen does not implement, naming them, instead of ignoring them."""
    for name, (value, default) in options.items():
        if value != default:
            raise ValueError(f"{layer}: {name}={value!r} is not supported by nanogen (only {name}={default!r})")


class _Pool2d(Module):
    """Window geometry and the checks MaxPool2d and AvgPool2d share."""

    name = "Pool2d"

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size  # kept as given (an int stays an int), as PyTorch prints it
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        k = pair(self.name, "kernel_size", kernel_size, minimum=1)     # checked now: a bad layer fails when built
        pair(self.name, "stride", self.stride, minimum=1)
        p = pair(self.name, "padding", padding, minimum=0)
        if any(pi > ki // 2 for pi, ki in zip(p, k)):
            raise ValueError(f"{self.name}: padding {padding} must be at most half the kernel size {kernel_size}")

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y[n, c, i, j] = max of x[n, c] over the window at (i*SH - PH, j*SW - PW); padding never wins.

    x: (N, C, H, W) -> y: (N, C, OH, OW)   (kernels/pool.py pool_output_size)
    """

    name = "MaxPool2d"

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        _unsupported("MaxPool2d", dilation=(dilation, 1), return_indices=(return_indices, False),
                     ceil_mode=(ceil_mode, False))
        super().__init__(kernel_size, stride, padding)
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return super().extra_repr() + f", dilation={self.dilation}, ceil_mode={self.ceil_mode}"


class AvgPool2d(_Pool2d):
    """y[n, c, i, j] = mean of x[n, c] over the window, padding counted as zeros (divide by KH*KW).

    x: (N, C, H, W) -> y: (N, C, OH, OW)   (kernels/pool.py pool_output_size)
    """

    name = "AvgPool2d"

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        _unsupported("AvgPool2d", ceil_mode=(ceil_mode, False), count_include_pad=(count_include_pad, True),
                     divisor_override=(divisor_override, None))
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)


class AdaptiveAvgPool2d(Module):
    """Average into a fixed (OH, OW) whatever the input's H and W: output_size=1 is the global average pool.

    x: (N, C, H, W) -> (N, C, OH, OW)
    """

    def __init__(self, output_size):
        super().__init__()
        pair("AdaptiveAvgPool2d", "output_size", output_size, minimum=1)
        self.output_size = output_size  # kept as given, as PyTorch prints it

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Upsample(Module):
    """Grow H and W by whole-number factors (SH, SW).

    x: (N, C, H, W) -> y: (N, C, H*SH, W*SW)
    mode="nearest" repeats each pixel SH x SW times; mode="bilinear" interpolates (PyTorch's
    align_corners=False). As in PyTorch, give either `size` (the output (H, W), here a whole
    multiple of the input's) or `scale_factor` (a number or a pair) -- by keyword: the first
    positional argument is `size`. Upsample + Conv2d is the checkerboard-free alternative to
    ConvTranspose2d (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts").
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor "
                             f"(got size={size!r}, scale_factor={scale_factor!r}); e.g. Upsample(scale_factor=2)")
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"Upsample: mode must be 'nearest' or 'bilinear', got {mode!r}")
        if scale_factor is not None:
            factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,)
            if len(factors) not in (1, 2) or not all(f >= 1 and float(f) == int(f) for f in factors):
                raise ValueError(f"Upsample: scale_factor must be a whole number >= 1 or a pair of them, "
                                 f"got {scale_factor!r}")
            # stored as floats, as PyTorch prints them: 2.0 or (2.0, 3.0)
            scale_factor = float(factors[0]) if len(factors) == 1 else tuple(float(f) for f in factors)
        if size is not None:
            pair("Upsample", "size", size, minimum=1)
        self.size = size  # kept as given, as PyTorch prints it
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def _scale(self, x):
        """The whole-number factors (SH, SW) for this input."""
        if self.scale_factor is not None:
            f = self.scale_factor
            return (int(f[0]), int(f[1])) if isinstance(f, tuple) else (int(f), int(f))
        (OH, OW), (H, W) = pair("Upsample", "size", self.size), check_image("Upsample", x)[2:]
        if OH % H or OW % W:
            raise ValueError(f"Upsample: size {self.size} must be a whole multiple of the input's (H, W) = "
                             f"{(H, W)}; nanogen upsamples by integer factors only")
        return OH // H, OW // W

    def forward(self, x):
        return F.interpolate(x, scale_factor=self._scale(x), mode=self.mode, align_corners=self.align_corners)

    def extra_repr(self):
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"
