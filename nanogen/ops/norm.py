"""Normalization and dropout: batch_norm, layer_norm, dropout.

Read ops/reduce.py (mean, var) and ops/pool.py first. Normalizing a layer's activations to mean 0
and variance 1, then letting learned weight and bias scale and shift them back, makes deep nets
(and GAN discriminators and generators, Radford et al. 2016) train with larger learning rates.
    xhat = (x - mean) / sqrt(var + eps)          y = xhat * weight + bias
Batch norm (Ioffe & Szegedy 2015) takes mean and var per channel over the batch (and H, W);
layer norm (Ba et al. 2016) per sample over its trailing features. Because mean and var depend
on every x, dL/dx is not just grad * weight / std: with M values per statistic,
    dL/dx = weight / (M std) * (M grad - Σ grad - xhat Σ (grad * xhat))
(the two sums remove the parts of the gradient that would move the mean or the variance). The
kernels (nanogen/kernels/norm.py) compute the sums and apply this in two passes.
Dropout (Srivastava et al. 2014) lives here too: like batch norm it acts differently in training.
"""

import numbers

import numpy as np

from ..autograd import Function
from ..kernels import elementwise as elementwise_kernels
from ..kernels import norm as norm_kernels
from ..random import default_rng
from ..tensor import Tensor, as_array


class BatchNorm(Function):
    """y = (x - mean[c]) / sqrt(var[c] + eps) * weight[c] + bias[c], per channel c.

    x: (N, C) or (N, C, H, W); weight, bias: (C,) or None; M = N (or N*H*W) values per channel.
    training=True: mean, var are the batch's (var biased, over the M values), and the running
    statistics are updated in place, PyTorch's way (note the unbiased var, M/(M-1)):
        running_mean <- (1 - momentum) * running_mean + momentum * mean
        running_var  <- (1 - momentum) * running_var  + momentum * var * M / (M - 1)
    training=False: mean, var are running_mean, running_var (constants).
    Backward, with xhat = (x - mean) / std, std = sqrt(var + eps), sums over a channel's M values:
        dL/dbias   = Σ grad                  dL/dweight = Σ grad * xhat        (C,)
        dL/dx = weight / (M std) * (M grad - dL/dbias - xhat * dL/dweight)     training
        dL/dx = grad * weight / std                                             eval
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, training=False, momentum=0.1,
                eps=1e-5):
        N, C = x.shape[:2]
        x3 = np.ascontiguousarray(x).reshape(N, C, -1)  # (N, C, H, W) -> (N, C, H*W); (N, C) -> (N, C, 1)
        w = weight if weight is not None else np.ones(C, dtype=x.dtype)
        b = bias if bias is not None else np.zeros(C, dtype=x.dtype)
        if training:
            y, mean, var, invstd = norm_kernels.batch_norm_train_forward(x3, w, b, eps)
            M = x3.shape[0] * x3.shape[2]
            if running_mean is not None:  # in place, as PyTorch: the caller's arrays change
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += momentum * M / (M - 1) * var
        else:
            mean = running_mean.astype(x.dtype)  # copies: later updates must not change this step's backward
            var = running_var.astype(x.dtype)
            y = norm_kernels.batch_norm_eval_forward(x3, mean, var, w, b, eps)
            invstd = 1 / np.sqrt(var + x.dtype.type(eps))
        ctx.save_for_backward(x3, mean, invstd, w)
        ctx.training = training
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        x3, mean, invstd, w = ctx.saved
        _, need_w, need_b = ctx.needs_input_grad
        g3 = np.ascontiguousarray(grad).reshape(x3.shape)
        dx, dw, db = norm_kernels.batch_norm_backward(g3, x3, mean, invstd, w, ctx.training)
        return dx.reshape(grad.shape), dw if need_w else None, db if need_b else None


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the trailing dims.

    x: (..., *S) with S = normalized_shape; weight, bias: S or None; D = prod(S) values per
    statistic, one (mean, var) per leading index (M of them).
    Backward, with xhat = (x - mean) / std and dxhat = grad * weight (sums over the D values):
        dL/dx = 1 / (D std) * (D dxhat - Σ dxhat - xhat Σ (dxhat * xhat))
        dL/dweight = Σ over the M rows of grad * xhat      dL/dbias = Σ over the M rows of grad
    """

    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape=(), eps=1e-5):
        D = int(np.prod(normalized_shape))
        x2 = np.ascontiguousarray(x).reshape(-1, D)  # (..., *S) -> (M, D)
        w = weight.reshape(D) if weight is not None else np.ones(D, dtype=x.dtype)
        b = bias.reshape(D) if bias is not None else np.zeros(D, dtype=x.dtype)
        y, mean, invstd = norm_kernels.layer_norm_forward(x2, w, b, eps)
        ctx.save_for_backward(x2, mean, invstd, w)
        ctx.normalized_shape = normalized_shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        x2, mean, invstd, w = ctx.saved
        _, need_w, need_b = ctx.needs_input_grad
        g2 = np.ascontiguousarray(grad).reshape(x2.shape)  # (..., *S) -> (M, D)
        dx, dw, db = norm_kernels.layer_norm_backward(g2, x2, mean, invstd, w)
        S = ctx.normalized_shape
        return dx.reshape(grad.shape), dw.reshape(S) if need_w else None, db.reshape(S) if need_b else None


class Dropout(Function):
    """y = x * mask, mask = Bernoulli(1 - p) / (1 - p) drawn afresh each call (inverted dropout:
    E[y] = x, so evaluation uses y = x without rescaling).

    x: any shape -> y: same shape.       Backward: dL/dx = grad * mask
    """

    @staticmethod
    def forward(ctx, x, p=0.5, rng=None):
        u = rng.random(x.shape, dtype=x.dtype)  # uniforms in [0, 1), drawn in x's dtype
        y, mask = elementwise_kernels.dropout_forward(np.ascontiguousarray(x), u, p)
        ctx.save_for_backward(mask)
        return y

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved
        return (grad * mask,)


# ---------------------------------------------------------------------------- public functions


def _check_float(op, name, a):
    if np.dtype(a.dtype).kind != "f":
        raise TypeError(f"{op}: {name} must be float32 or float64, got {a.dtype}; convert with .float()")


def _check_vector(op, name, a, C, dtype):
    if a is None:
        return
    if tuple(a.shape) != (C,):
        raise ValueError(f"{op}: x has {C} channels in dim 1 but {name} has shape {tuple(a.shape)} "
                         f"(one value per channel: ({C},))")
    if a.dtype != dtype:
        raise TypeError(f"{op}: {name} is {a.dtype} but x is {dtype}; convert one with .float() or .double()")


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization, PyTorch's torch.nn.functional.batch_norm; see BatchNorm.

    x: (N, C) or (N, C, H, W). running_mean, running_var: (C,) Tensors or arrays, updated in
    place when training (either may be None then: no running statistics kept); required in eval.
    weight, bias: (C,) Tensors (learned scale and shift) or None.
    """
    op = "batch_norm"
    shape = tuple(x.shape)
    if len(shape) not in (2, 4):
        raise ValueError(f"{op}: x must be (N, C) or (N, C, H, W), got shape {shape}")
    _check_float(op, "x", x)
    N, C = shape[:2]
    for name, a in (("weight", weight), ("bias", bias)):
        _check_vector(op, name, a, C, x.dtype)
    stats = []
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        a = None if a is None else as_array(a)
        if a is None:
            if not training:
                raise ValueError(f"{op}: {name} is needed in evaluation mode (training=False), got None")
        elif not isinstance(a, np.ndarray) or a.shape != (C,) or a.dtype.kind != "f":
            raise ValueError(f"{op}: x has {C} channels in dim 1 but {name} is "
                             f"{getattr(a, 'shape', type(a).__name__)}; it must be a float array or Tensor of "
                             f"shape ({C},)")
        elif a.dtype != x.dtype:
            raise TypeError(f"{op}: {name} is {a.dtype} but x is {x.dtype}; convert one with .float() or .double()")
        stats.append(a)
    if not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{op}: momentum must be a number in [0, 1], got {momentum!r} "
                         "(the cumulative average, momentum=None, is not supported)")
    if not eps > 0:
        raise ValueError(f"{op}: eps must be > 0, got {eps!r}")
    M = N * (int(np.prod(shape[2:])) if len(shape) == 4 else 1)
    if training and M < 2:
        raise ValueError(f"{op}: training needs more than one value per channel to estimate a variance, "
                         f"got input shape {shape}; use a batch of 2 or more, or training=False")
    return BatchNorm.apply(x, weight, bias, running_mean=stats[0], running_var=stats[1], training=bool(training),
                           momentum=float(momentum), eps=float(eps))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization over the trailing dims normalized_shape (an int or a tuple); see LayerNorm.

    x: (..., *normalized_shape); weight, bias: normalized_shape or None.
    """
    op = "layer_norm"
    S = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
    shape = tuple(x.shape)
    if len(S) == 0 or len(S) > len(shape) or shape[len(shape) - len(S):] != S:
        raise ValueError(f"{op}: expected x of shape (..., {', '.join(map(str, S))}), ending in normalized_shape "
                         f"{S}, got shape {shape}")
    _check_float(op, "x", x)
    for name, a in (("weight", weight), ("bias", bias)):
        if a is None:
            continue
        if tuple(a.shape) != S:
            raise ValueError(f"{op}: {name} must have shape {S} (normalized_shape), got {tuple(a.shape)}")
        if a.dtype != x.dtype:
            raise TypeError(f"{op}: {name} is {a.dtype} but x is {x.dtype}; convert one with .float() or .double()")
    if not eps > 0:
        raise ValueError(f"{op}: eps must be > 0, got {eps!r}")
    return LayerNorm.apply(x, weight, bias, normalized_shape=S, eps=float(eps))


def dropout(x, p=0.5, training=True, rng=None):
    """Inverted dropout: in training, zero each value with probability p and scale the rest by
    1 / (1 - p); otherwise (or with p = 0) return x unchanged. See Dropout.

    rng: a numpy Generator for the mask (default: nanogen's global one, nanogen.random).
    """
    op = "dropout"
    if not isinstance(p, numbers.Real) or not 0.0 <= p < 1.0:
        raise ValueError(f"{op}: p must be a probability in [0, 1), got {p!r} (p = 1 would drop everything)")
    if not training or p == 0:
        return x if isinstance(x, Tensor) else Tensor(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: x must be float32 or float64, got {x.dtype}; convert with .float()")
    return Dropout.apply(x, p=float(p), rng=default_rng(rng))
