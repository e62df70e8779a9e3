"""Activation functions: relu, leaky_relu, elu, sigmoid, tanh, softplus, softmax, log_softmax.

Read ops/elementwise.py first. These are elementwise too (softmax and log_softmax along one dim),
but each gets its own coarse op instead of a chain of exp/add/div: one node, one temporary, and
a backward written from the *output* where that is cheaper (sigmoid: y(1 - y); tanh: 1 - y^2).
The stable forms matter: exp(-x) of a large negative x overflows, so every formula below only
ever exponentiates non-positive numbers.
Each op states its derivative in the docstring and again, as code, in `backward_graph`: the
formula on Tensors (`grad * y * (1 - y)`), which the engine records when a gradient must be
differentiated again (create_graph=True). The first-order `backward` computes the same formula
as one fused pass (nanogen/kernels/elementwise.py) instead of NumPy's chain of temporaries,
where a measurement showed it pays (the figures sit beside each call); that is why there are
two texts.
"""

import numpy as np

from ..autograd import Function
from ..kernels import elementwise as K  # fused backward kernels (looked up at call time: switchable)
from .elementwise import where


class ReLU(Function):
    """y = max(x, 0)                 dL/dx = grad * (y > 0)      (y > 0 exactly where x > 0)"""

    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION relu_backward
        (y,) = ctx.saved
        # grad * (y > 0) in one fused pass: 0.005 vs 0.011 ms at (128, 400), 0.67 vs 0.91 ms at
        # (128, 64, 14, 14) for the NumPy expression (benchmarks/bench_kernels.py, one thread)
        return (K.relu_backward(grad, y),)
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad * (y.data > 0),)  # the mask is piecewise constant: no second-order term


class LeakyReLU(Function):
    """y = x if x > 0 else a*x       dL/dx = grad * (1 if x > 0 else a)"""

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return K.leaky_relu_forward(x, negative_slope)  # one fused pass; the twin: max(x, a*x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (K.leaky_relu_backward(grad, x, ctx.slope),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad * np.where(x.data > 0, 1.0, ctx.slope).astype(x.dtype),)  # constant slope mask


class ELU(Function):
    """y = x if x > 0 else a*(exp(x) - 1)      dL/dx = grad * (1 if x > 0 else y + a)"""

    @staticmethod
    def forward(ctx, x, alpha=1.0):
        # max(x, 0) + a*expm1(min(x, 0)): each part is 0 on the other side, so no branch is
        # needed; expm1 is exact near 0 and never sees a positive number
        y = np.maximum(x, 0) + x.dtype.type(alpha) * np.expm1(np.minimum(x, 0))
        ctx.alpha = alpha
        if alpha >= 0:
            ctx.save_for_backward(y)  # y > 0 exactly where x > 0, so y alone decides the branch
        else:
            ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        if ctx.alpha >= 0:
            (y,) = ctx.saved
            return (K.elu_backward(grad, y, ctx.alpha),)
        x, y = ctx.saved
        return (np.where(x > 0, grad, grad * (y + grad.dtype.type(ctx.alpha))),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad * where(x.data > 0, 1.0, y + ctx.alpha),)  # y + a = a exp(x): differentiable again


def _sigmoid(x):
    """σ(x) = 1 / (1 + exp(-x)), computed as exp(min(x, 0)) / (1 + exp(-|x|)).

    For x >= 0 that is 1 / (1 + e^-x); for x < 0 it is e^x / (1 + e^x): the same function,
    but neither exponent is ever positive, so nothing overflows. Written without np.where,
    whose data-dependent branch costs more than the second exp (measured: 3x slower).
    """
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + exp(-x))          dL/dx = grad * y * (1 - y)"""

    @staticmethod
    def forward(ctx, x):
        y = _sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION sigmoid_backward
        (y,) = ctx.saved
        # grad * y * (1 - y) in one fused pass: 0.007 vs 0.014 ms at (128, 400), 1.0 vs 10 ms at
        # (128, 64, 14, 14) for the NumPy expression's temporaries (benchmarks/bench_kernels.py)
        return (K.sigmoid_backward(grad, y),)
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad * y * (1 - y),)


class Tanh(Function):
    """y = tanh(x)                           dL/dx = grad * (1 - y^2)"""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        # grad * (1 - y^2) in one fused pass: 0.008 vs 0.012 ms at (128, 400), 2.2 vs 14 ms at
        # (128, 64, 14, 14) for the NumPy expression (benchmarks/bench_kernels.py, one thread)
        return (K.tanh_backward(grad, y),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad * (1 - y * y),)


class Softplus(Function):
    """y = log(1 + exp(βx)) / β              dL/dx = grad * σ(βx)"""

    @staticmethod
    def forward(ctx, x, beta=1.0):
        bx = x * x.dtype.type(beta)
        ctx.save_for_backward(bx)
        ctx.beta = beta
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large z, no log(1) loss for small
        return (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / x.dtype.type(beta)

    @staticmethod
    def backward(ctx, grad):
        (bx,) = ctx.saved
        return (grad * _sigmoid(bx),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad * sigmoid(x * ctx.beta),)


class Softmax(Function):
    """y_i = exp(x_i) / Σ_j exp(x_j) along `dim`      dL/dx = y * (grad - Σ_j grad_j y_j)

    x: any shape; the sum runs over axis `dim`. Subtracting max(x) first changes nothing
    mathematically and keeps exp() from overflowing.
    """

    @staticmethod
    def forward(ctx, x, dim=-1):
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return (y * (grad - (grad * y).sum(axis=ctx.dim, keepdims=True)),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (y * (grad - (grad * y).sum(dim=ctx.dim, keepdim=True)),)


class LogSoftmax(Function):
    """y_i = x_i - logsumexp(x) along `dim`          dL/dx = grad - softmax(x) * Σ_j grad_j"""

    @staticmethod
    def forward(ctx, x, dim=-1):
        shifted = x - x.max(axis=dim, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return (grad - np.exp(y) * grad.sum(axis=ctx.dim, keepdims=True),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad - y.exp() * grad.sum(dim=ctx.dim, keepdim=True),)


# ---------------------------------------------------------------------------- public functions


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    return ELU.apply(x, alpha=alpha)


def sigmoid(x):
    return Sigmoid.apply(x)


def tanh(x):
    return Tanh.apply(x)


def softplus(x, beta=1.0):
    return Softplus.apply(x, beta=beta)


def _check_dim(name, x, dim):
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"{name}: dim {dim} is out of range for a tensor of shape {x.shape}")


def softmax(x, dim=-1):
    _check_dim("softmax", x, dim)
    return Softmax.apply(x, dim=dim)


def log_softmax(x, dim=-1):
    _check_dim("log_softmax", x, dim)
    return LogSoftmax.apply(x, dim=dim)
