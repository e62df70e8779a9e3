"""Pooling and upsampling: shrink or grow the H and W of (N, C, H, W) images.

Read ops/conv.py first (the same window geometry). Pooling summarizes each window of a plane
by its maximum or its mean; upsampling goes the other way, for decoders and GAN generators.
None has weights, and each backward sends a gradient back to the pixels that made an output:
    max:       all of it to the window's maximum (where it came from is kept by the forward)
    average:   an equal share 1/(KH*KW) to every pixel of the window
    nearest:   each input pixel collects the gradients of its SH x SW copies
    bilinear:  each output pixel hands its gradient back with the weights it was blended with
Output size, as PyTorch (ceil_mode=False): OH = (H + 2*PH - KH) // SH + 1, same for OW.
The loops live in nanogen/kernels/pool.py and resample.py, each beside its NumPy twin.
"""

import numbers

import numpy as np

from ..autograd import Function
from ..kernels import pool as pool_kernels
from ..kernels import resample as resample_kernels
from .checks import check_image, pair


class MaxPool2d(Function):
    """y[n, c, i, j] = max of x[n, c, h, w] over the window h in [i*SH - PH, i*SH - PH + KH),
    w in [j*SW - PW, j*SW - PW + KW); padding is -inf, so it never wins.

    x: (N, C, H, W) -> y: (N, C, OH, OW)
    Backward: dL/dx[n, c, h, w] = sum of grad[n, c, i, j] over the windows (i, j) whose maximum
    is x[n, c, h, w] (overlapping windows can share one), 0 elsewhere. Ties go to the first
    maximum in row-major order, as in PyTorch.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        y, idx = pool_kernels.max_pool2d_forward(np.ascontiguousarray(x), *kernel_size, *stride, *padding)
        ctx.save_for_backward(idx)  # (N, C, OH, OW) int32: where in its H x W plane each max was
        ctx.hw = x.shape[2:]
        return y

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved
        return (pool_kernels.max_pool2d_backward(np.ascontiguousarray(grad), idx, *ctx.hw),)


class AvgPool2d(Function):
    """y[n, c, i, j] = (sum of x[n, c] over the window) / (KH*KW); padding counts as zeros.

    x: (N, C, H, W) -> y: (N, C, OH, OW)
    Backward: dL/dx[n, c, h, w] = sum over the windows (i, j) containing (h, w) of grad[n, c, i, j] / (KH*KW)
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        ctx.geometry = (*x.shape[2:], *kernel_size, *stride, *padding)  # H, W, KH, KW, SH, SW, PH, PW
        return pool_kernels.avg_pool2d_forward(np.ascontiguousarray(x), *kernel_size, *stride, *padding)

    @staticmethod
    def backward(ctx, grad):
        return (pool_kernels.avg_pool2d_backward(np.ascontiguousarray(grad), *ctx.geometry),)


class AdaptiveAvgPool2d(Function):
    """y[n, c, i, j] = mean of x[n, c, hs(i):he(i), ws(j):we(j)], the output size given:
    hs(i) = floor(i*H/OH), he(i) = ceil((i+1)*H/OH) (PyTorch's windows; (1, 1) is the global mean).

    x: (N, C, H, W) -> y: (N, C, OH, OW)
    Backward: dL/dx[n, c, h, w] = sum over the windows (i, j) containing (h, w) of grad[n, c, i, j] / (window area)
    """

    @staticmethod
    def forward(ctx, x, output_size):
        ctx.hw = x.shape[2:]
        return pool_kernels.adaptive_avg_pool2d_forward(np.ascontiguousarray(x), *output_size)

    @staticmethod
    def backward(ctx, grad):
        return (pool_kernels.adaptive_avg_pool2d_backward(np.ascontiguousarray(grad), *ctx.hw),)


class UpsampleNearest2d(Function):
    """y[n, c, i, j] = x[n, c, i // SH, j // SW]: every pixel repeated SH x SW times.

    x: (N, C, H, W) -> y: (N, C, H*SH, W*SW)
    Backward: dL/dx[n, c, h, w] = sum of grad[n, c, h*SH:(h+1)*SH, w*SW:(w+1)*SW]
    """

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return resample_kernels.upsample_nearest_forward(np.ascontiguousarray(x), *scale)

    @staticmethod
    def backward(ctx, grad):
        return (resample_kernels.upsample_nearest_backward(np.ascontiguousarray(grad), *ctx.scale),)


class UpsampleBilinear2d(Function):
    """y[n, c] = Ah @ x[n, c] @ Aw.T, Ah: (OH, H) and Aw: (OW, W) holding the interpolation weights:
    output row i reads input rows floor(s) and floor(s) + 1 with weights 1 - (s - floor(s)) and
    s - floor(s), s = max((i + 0.5) * H/OH - 0.5, 0) (PyTorch, align_corners=False).

    x: (N, C, H, W) -> y: (N, C, OH, OW)
    Backward: the map is linear, so dL/dx[n, c] = Ah.T @ grad[n, c] @ Aw
    """

    @staticmethod
    def forward(ctx, x, out_size):
        ctx.hw = x.shape[2:]
        return resample_kernels.upsample_bilinear_forward(np.ascontiguousarray(x), *out_size)

    @staticmethod
    def backward(ctx, grad):
        return (resample_kernels.upsample_bilinear_backward(np.ascontiguousarray(grad), *ctx.hw),)


# ---------------------------------------------------------------------------- public functions


def _pool_geometry(op, x, kernel_size, stride, padding):
    """Check a pooling call and return ((KH, KW), (SH, SW), (PH, PW))."""
    N, C, H, W = check_image(op, x)
    k = pair(op, "kernel_size", kernel_size, 1)
    s = pair(op, "stride", kernel_size if stride is None else stride, 1)
    p = pair(op, "padding", padding, 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel_size} "
                         "(a window must never lie wholly in the padding)")
    OH, OW = pool_kernels.pool_output_size(H, W, *k, *s, *p)
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: input of shape {(N, C, H, W)} padded by {padding} is smaller than the "
                         f"window {kernel_size}")
    return k, s, p


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over KH x KW windows moved by stride (default: kernel_size); see MaxPool2d.

    x: (N, C, H, W) -> (N, C, (H + 2*PH - KH)//SH + 1, (W + 2*PW - KW)//SW + 1)
    """
    k, s, p = _pool_geometry("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d.apply(x, kernel_size=k, stride=s, padding=p)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over KH x KW windows (zero padding counted, PyTorch's count_include_pad=True); see AvgPool2d.

    x: (N, C, H, W) -> (N, C, (H + 2*PH - KH)//SH + 1, (W + 2*PW - KW)//SW + 1)
    """
    k, s, p = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d.apply(x, kernel_size=k, stride=s, padding=p)


def adaptive_avg_pool2d(x, output_size):
    """Average into a fixed output size (OH, OW), whatever H and W are; see AdaptiveAvgPool2d.

    x: (N, C, H, W) -> (N, C, OH, OW); output_size=1 is the global average pool.
    """
    check_image("adaptive_avg_pool2d", x)
    return AdaptiveAvgPool2d.apply(x, output_size=pair("adaptive_avg_pool2d", "output_size", output_size, 1))


def interpolate(x, scale_factor=2, mode="nearest", align_corners=None):
    """Upsample by whole-number factors: mode "nearest" (UpsampleNearest2d) or "bilinear"
    (UpsampleBilinear2d, PyTorch's align_corners=False).

    x: (N, C, H, W) -> (N, C, H*SH, W*SW); scale_factor is an int (or 2.0) or a pair (SH, SW).
    """
    op = "interpolate"
    N, C, H, W = check_image(op, x)
    factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    whole = lambda f: isinstance(f, numbers.Real) and float(f) == int(f) and f >= 1  # noqa: E731
    if len(factors) != 2 or not all(whole(f) for f in factors):
        raise ValueError(f"{op}: scale_factor must be a whole number >= 1 or a pair of them, got {scale_factor!r}; "
                         "nanogen upsamples by integer factors only")
    scale = (int(factors[0]), int(factors[1]))
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(f"{op}: align_corners only applies to mode='bilinear', "
                             f"got align_corners={align_corners!r}")
        return UpsampleNearest2d.apply(x, scale=scale)
    if mode == "bilinear":
        if align_corners:
            raise ValueError(f"{op}: align_corners=True is not supported; nanogen implements PyTorch's default "
                             "align_corners=False")
        return UpsampleBilinear2d.apply(x, out_size=(H * scale[0], W * scale[1]))
    raise ValueError(f"{op}: mode must be 'nearest' or 'bilinear', got {mode!r}")


upsample = interpolate  # the older PyTorch name (torch.nn.functional.upsample)
