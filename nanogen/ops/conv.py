"""Convolutions: conv2d and conv_transpose2d, each one im2col/col2im plus one GEMM per direction.

Read ops/linalg.py first: a convolution is a matrix product in disguise. im2col copies every
KHxKW window of the input into a column, so that sliding the filters over the image becomes one
GEMM, w (F, C*KH*KW) @ cols (C*KH*KW, N*OH*OW), which BLAS runs near the machine's peak. The
transposed convolution runs the same machinery backwards (GEMM, then col2im), and the two are
adjoints: each one's backward is the other one's forward. The kernels (the byte moving) are in
nanogen/kernels/conv.py. Semantics follow PyTorch exactly (torch.nn.functional.conv2d,
conv_transpose2d), including groups, dilation and output_padding.
Reference: Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016),
ch. 2 (output sizes) and ch. 4 (transposed convolution as the gradient of convolution).
"""

import numbers

import numpy as np

from ..autograd import Function
from ..kernels import conv as kernels
from ..kernels.conv import conv_output_size, conv_transpose_output_size
from .checks import check_image, pair


def _grouped_matmul(a, b):
    """(G, I, K) @ (G, K, J) -> (G*I, J): one BLAS GEMM per group (just one when G == 1)."""
    if a.shape[0] == 1:
        return a[0] @ b[0]
    y = np.matmul(a, b)
    return y.reshape(-1, y.shape[-1])


def _rows_to_nchw(y, N, F, L, bias=None):
    """(F, N*L) GEMM output -> (N, F, L) batch-first output (one copy), adding the bias in the same pass."""
    out = np.empty((N, F, L), dtype=y.dtype)
    yt = y.reshape(F, N, L).transpose(1, 0, 2)  # a view: the copy below does the transpose
    if bias is None:
        out[...] = yt
    else:
        np.add(yt, bias[:, None], out=out)
    return out


def _nchw_to_rows(a):
    """(N, C, H, W) -> (C, N*H*W): channels on rows, the layout the GEMMs want (one copy)."""
    N, C, H, W = a.shape
    return np.ascontiguousarray(a.reshape(N, C, H * W).transpose(1, 0, 2)).reshape(C, N * H * W)


class Conv2d(Function):
    """y[n, f, oh, ow] = b[f] + Σ_{c, kh, kw} w[f, c, kh, kw] * xpad[n, g*Cg + c, oh*SH + kh*DH, ow*SW + kw*DW]

    x: (N, C, H, W)   w: (F, Cg, KH, KW)   b: (F,) or None   ->   y: (N, F, OH, OW)
    G groups: filter f sees only the Cg = C/G input channels of its group g = f // (F/G).
    xpad is x with PH, PW zeros on each side;  OH = (H + 2*PH - DH*(KH - 1) - 1) // SH + 1 (OW alike).
    As matrices (per group):  cols = im2col(x): (C*KH*KW, N*OH*OW),   y = w (F, C*KH*KW) @ cols.
    Backward, with grad = dL/dy laid out as g: (F, N*OH*OW):
        dL/dw = g @ cols.T               (F, N*OH*OW)(N*OH*OW, Cg*KH*KW) -> (F, Cg, KH, KW)
        dL/dx = col2im(w.T @ g)          (C*KH*KW, F)(F, N*OH*OW) -> (N, C, H, W)
        dL/db = grad.sum(axis=(0, 2, 3))                                   (F,)
    With few taps per output (C*KH*KW <= kernels.DIRECT_MAX_TAPS, groups 1: a first layer on
    1-channel images) the GEMMs are tiny and the layout copies around them dominate, so the
    forward and dL/dw run as direct loops instead (kernels.conv2d_direct*): same math.
    """

    @staticmethod
    def forward(ctx, x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        N, C, H, W = x.shape
        F, Cg, KH, KW = w.shape
        G = groups
        OH = conv_output_size(H, KH, stride[0], padding[0], dilation[0])
        OW = conv_output_size(W, KW, stride[1], padding[1], dilation[1])
        x = np.ascontiguousarray(x)
        w3 = w.reshape(G, F // G, Cg * KH * KW)  # rows of cols are (c, kh, kw): group g owns a block
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        ctx.geometry = (KH, KW, stride, padding, dilation, OH, OW)
        needs_w = ctx.needs_input_grad[1]
        # few taps per output (a first layer on 1-channel images): the direct kernel, no GEMM
        ctx.direct = G == 1 and C * KH * KW <= kernels.DIRECT_MAX_TAPS
        if ctx.direct:
            ctx.save_for_backward(x if needs_w else None, w3)
            bias = np.ascontiguousarray(b) if b is not None else np.zeros(F, dtype=x.dtype)
            return kernels.conv2d_direct(x, np.ascontiguousarray(w), bias, stride, padding, dilation, OH, OW)
        # BEGIN SOLUTION conv2d_gemm
        cols = kernels.im2col(x, KH, KW, stride, padding, dilation, OH, OW)  # (C*KH*KW, N*OH*OW)
        y = _grouped_matmul(w3, cols.reshape(G, Cg * KH * KW, N * OH * OW))  # (F, N*OH*OW)
        ctx.save_for_backward(cols if needs_w else None, w3)  # cols again in dL/dw: no 2nd im2col
        return _rows_to_nchw(y, N, F, OH * OW, b).reshape(N, F, OH, OW)
        # END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        saved, w3 = ctx.saved  # saved: cols, or x on the direct path (None if dL/dw is not needed)
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        G, Fg, CgK = w3.shape
        N, F, OH, OW = grad.shape
        dx = dw = db = g = None
        if ctx.direct and needs_w:  # dL/db comes with it
            dw, db = kernels.conv2d_direct_weight_grad(saved, np.ascontiguousarray(grad), *ctx.geometry[:5])
        if needs_x or (needs_w and dw is None):
            g = _nchw_to_rows(grad).reshape(G, Fg, N * OH * OW)  # (N, F, OH, OW) -> (F, N*OH*OW)
        # BEGIN SOLUTION conv2d_gemm
        if needs_w and dw is None:  # BLAS reads cols transposed in place: no copy
            dw = _grouped_matmul(g, saved.reshape(G, CgK, N * OH * OW).transpose(0, 2, 1)).reshape(ctx.w_shape)
        if needs_x:
            dcols = _grouped_matmul(w3.transpose(0, 2, 1), g)  # (C*KH*KW, N*OH*OW)
            dx = kernels.col2im(dcols, ctx.x_shape, *ctx.geometry)
        # END SOLUTION
        if needs_b and db is None:  # contiguous rows of g sum faster than grad.sum((0, 2, 3))
            db = grad.sum(axis=(0, 2, 3)) if g is None else g.reshape(F, -1).sum(axis=1)
        return dx, dw, db if needs_b else None


class ConvTranspose2d(Function):
    """y = the adjoint of conv2d: every input pixel paints w-weighted copies into the output.

    y[n, g*Fg + f, ih*SH + kh*DH - PH, iw*SW + kw*DW - PW] += x[n, c, ih, iw] * w[c, f, kh, kw]
    (for every input channel c of group g, every tap (kh, kw); positions outside y dropped), + b.
    x: (N, C, H, W)   w: (C, Fg, KH, KW)   b: (F,) or None  ->  y: (N, F, OH, OW),  F = Fg*G
        OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + OPH + 1   (OW alike; OP = output_padding)
    It is the gradient of conv2d with respect to its input: <conv2d(z, w), x> = <z, conv_transpose2d(x, w)>.
    As matrices (per group):  cols = w.T (F*KH*KW, C) @ x (C, N*H*W),   y = col2im(cols).
    Backward, with gcols = im2col(grad): (F*KH*KW, N*H*W), the same windows read back:
        dL/dx = w @ gcols                (C, F*KH*KW)(F*KH*KW, N*H*W) -> (N, C, H, W)
        dL/dw = x @ gcols.T              (C, N*H*W)(N*H*W, Fg*KH*KW) -> (C, Fg, KH, KW)
        dL/db = grad.sum(axis=(0, 2, 3))                                  (F,)
    """

    @staticmethod
    def forward(ctx, x, w, b, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1,
                dilation=(1, 1)):
        N, C, H, W = x.shape
        _, Fg, KH, KW = w.shape
        G = groups
        F = Fg * G
        OH = conv_transpose_output_size(H, KH, stride[0], padding[0], output_padding[0], dilation[0])
        OW = conv_transpose_output_size(W, KW, stride[1], padding[1], output_padding[1], dilation[1])
        xr = _nchw_to_rows(x).reshape(G, C // G, N * H * W)  # (N, C, H, W) -> (C, N*H*W)
        w3 = w.reshape(G, C // G, Fg * KH * KW)
        cols = _grouped_matmul(w3.transpose(0, 2, 1), xr)  # (F*KH*KW, N*H*W)
        # the windows are those of a conv2d over y producing exactly H x W: pass H, W explicitly
        ctx.geometry = (KH, KW, stride, padding, dilation, H, W)
        y = kernels.col2im(cols, (N, F, OH, OW), *ctx.geometry)
        if b is not None:
            y += b[:, None, None]
        ctx.save_for_backward(xr if ctx.needs_input_grad[1] else None, w3)
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        return y

    @staticmethod
    def backward(ctx, grad):
        xr, w3 = ctx.saved
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        G, Cg, FgK = w3.shape
        N, C, H, W = ctx.x_shape
        dx = dw = db = None
        if needs_b:
            db = grad.sum(axis=(0, 2, 3))
        if not (needs_x or needs_w):
            return dx, dw, db
        gcols = kernels.im2col(np.ascontiguousarray(grad), *ctx.geometry).reshape(G, FgK, N * H * W)
        if needs_x:
            dx = _rows_to_nchw(_grouped_matmul(w3, gcols), N, C, H * W).reshape(N, C, H, W)  # (C, N*H*W) in
        if needs_w:
            dw = _grouped_matmul(xr, gcols.transpose(0, 2, 1)).reshape(ctx.w_shape)
        return dx, dw, db


# ---------------------------------------------------------------------------------------------
# Public functions: check everything, then apply. Errors name the op and both shapes.
# ---------------------------------------------------------------------------------------------


def _check_common(op, x, weight, bias, groups):
    """ndim, dtype and groups checks shared by conv2d and conv_transpose2d."""
    check_image(op, x)
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D, got shape {tuple(weight.shape)}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: x is {x.dtype} but weight is {weight.dtype}; convert one with .float() or .double()")
    if bias is not None and bias.dtype != x.dtype:
        raise TypeError(f"{op}: bias is {bias.dtype} but x is {x.dtype}; convert one with .float() or .double()")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if x.shape[1] % groups:
        raise ValueError(f"{op}: groups={groups} does not divide the {x.shape[1]} input channels of x "
                         f"(shape {tuple(x.shape)})")


def _check_bias(op, bias, F):
    if bias is not None and tuple(bias.shape) != (F,):
        raise ValueError(f"{op}: bias must have shape ({F},) (one per output channel), got {tuple(bias.shape)}")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in PyTorch): see Conv2d for the math.

    x: (N, C, H, W), weight: (F, C/groups, KH, KW), bias: (F,) or None  ->  (N, F, OH, OW).
    stride, padding, dilation: an int or an (h, w) pair.
    """
    op = "conv2d"
    _check_common(op, x, weight, bias, groups)
    stride = pair(op, "stride", stride, 1)
    padding = pair(op, "padding", padding, 0)
    dilation = pair(op, "dilation", dilation, 1)
    N, C, H, W = x.shape
    F, Cg, KH, KW = weight.shape
    if Cg * groups != C:
        raise ValueError(f"{op}: x has {C} channels (shape {tuple(x.shape)}) but weight expects "
                         f"{Cg * groups} = weight.shape[1] * groups (weight shape {tuple(weight.shape)}, "
                         f"groups={groups})")
    if F % groups:
        raise ValueError(f"{op}: groups={groups} does not divide the {F} output channels "
                         f"(weight shape {tuple(weight.shape)})")
    _check_bias(op, bias, F)
    span = (dilation[0] * (KH - 1) + 1, dilation[1] * (KW - 1) + 1)
    padded = (H + 2 * padding[0], W + 2 * padding[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(f"{op}: kernel {KH}x{KW} (dilation {dilation}) spans {span[0]}x{span[1]}, larger than the "
                         f"padded input {padded[0]}x{padded[1]} (x shape {tuple(x.shape)}, padding {padding})")
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=int(groups))


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution (the adjoint of conv2d, as in PyTorch): see ConvTranspose2d.

    x: (N, C, H, W), weight: (C, F/groups, KH, KW), bias: (F,) or None  ->  (N, F, OH, OW)
    with OH = (H - 1)*stride - 2*padding + dilation*(KH - 1) + output_padding + 1.
    output_padding (< stride or < dilation) picks among the output sizes that conv2d maps to H.
    """
    op = "conv_transpose2d"
    _check_common(op, x, weight, bias, groups)
    stride = pair(op, "stride", stride, 1)
    padding = pair(op, "padding", padding, 0)
    dilation = pair(op, "dilation", dilation, 1)
    output_padding = pair(op, "output_padding", output_padding, 0)
    N, C, H, W = x.shape
    Cw, Fg, KH, KW = weight.shape
    if Cw != C:
        raise ValueError(f"{op}: x has {C} channels (shape {tuple(x.shape)}) but weight expects {Cw} = "
                         "weight.shape[0] "
                         f"(weight shape {tuple(weight.shape)} is (C_in, C_out/groups, KH, KW))")
    for i in range(2):
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than stride {stride} "
                             f"or dilation {dilation} in each dimension")
    _check_bias(op, bias, Fg * groups)
    OH = conv_transpose_output_size(H, KH, stride[0], padding[0], output_padding[0], dilation[0])
    OW = conv_transpose_output_size(W, KW, stride[1], padding[1], output_padding[1], dilation[1])
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: output would be {OH}x{OW} for x shape {tuple(x.shape)}, weight shape "
                         f"{tuple(weight.shape)}, stride {stride}, padding {padding}: reduce the padding")
    return ConvTranspose2d.apply(x, weight, bias, stride=stride, padding=padding, output_padding=output_padding,
                                 groups=int(groups), dilation=dilation)
