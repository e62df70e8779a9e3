"""Reductions: sum, mean, max, min, var, std, logsumexp -- over all dims, one dim or several.

Read ops/elementwise.py first. A reduction maps x: (N, D) to y: (N,) (dim=1) or () (dim=None),
so backward must *spread* dL/dy back over the reduced axes. Every backward here starts the
same way: put the reduced axes back as size-1 axes (`_keep`), then broadcast to x's shape.
Arguments follow PyTorch: `dim` (int, tuple or None for all) and `keepdim`.
`backward_graph` (for create_graph=True, docs/double_backward.md) does the same with Tensor ops:
a reshape that puts the axes back, then expand; max/min have none yet.
"""

import builtins
from collections import namedtuple

import numpy as np

from ..autograd import Function
from ..tensor import Tensor

MaxMin = namedtuple("MaxMin", ["values", "indices"])  # what x.max(dim=int) returns, as in PyTorch


def _axes(name, shape, dim):
    """`dim` as a sorted tuple of non-negative axes (all axes for None), checked against `shape`."""
    ndim = len(shape)
    span = builtins.max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -span <= d < span:
            raise ValueError(f"{name}: dim {d} is out of range for a tensor of shape {tuple(shape)}")
        out.append(int(d) % span)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: dim {dim} repeats an axis")
    return tuple(sorted(out)) if ndim else ()


def _keep(grad, in_shape, axes, keepdim):
    """grad of the reduced shape -> grad with the reduced axes back as size 1 (ready to broadcast)."""
    if keepdim or not axes:
        return grad
    return np.expand_dims(grad, axes) if len(in_shape) else grad


def _keep_tensor(grad, in_shape, axes, keepdim):
    """_keep for a recorded gradient (a Tensor): the reduced axes back as size 1, by a reshape."""
    if keepdim or not axes:
        return grad
    return grad.reshape(tuple(1 if i in axes else n for i, n in enumerate(in_shape)))


def _count(shape, axes):
    return int(np.prod([shape[a] for a in axes])) if axes else 1


class Sum(Function):
    """y = Σ x over `axes`           x: (..)  ->  y: (..) with those axes removed (or size 1 if keepdim)
    dL/dx = grad broadcast back over the summed axes (every x contributed with weight 1)."""

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return np.asarray(x.sum(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION sum_backward
        g = _keep(grad, ctx.shape, ctx.axes, ctx.keepdim)
        return (np.broadcast_to(g, ctx.shape),)
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (_keep_tensor(grad, ctx.shape, ctx.axes, ctx.keepdim).expand(*ctx.shape),)


class Mean(Function):
    """y = (1/M) Σ x over `axes` (M = number of elements reduced)      dL/dx = grad / M, broadcast

    The mean is the sum scaled by 1/M, and so is its gradient: forward scales Sum's forward (which
    also saves what Sum's backward reads), backward divides grad (still of the reduced shape, so M
    times fewer numbers than x) by M and spreads it as Sum's backward does."""

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        y = Sum.forward(ctx, x, axes, keepdim)
        return np.asarray(y / y.dtype.type(_count(x.shape, axes)))  # as np.mean: sum, then one division

    @staticmethod
    def backward(ctx, grad):
        return Sum.backward(ctx, grad / grad.dtype.type(_count(ctx.shape, ctx.axes)))

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return Sum.backward_graph(ctx, grad / _count(ctx.shape, ctx.axes), x, y)


class MaxMinOp(Function):
    """y = max (or min) of x over `axes`

    Backward: the gradient flows only to the element(s) that were the max. Over several axes,
    ties share it equally (PyTorch's amax); over one dim with indices, it goes to the index
    returned (PyTorch's max(dim)).
    """

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False, is_max=True, index_dim=None, indices=None):
        ctx.shape, ctx.axes, ctx.keepdim, ctx.index_dim = x.shape, axes, keepdim, index_dim
        if index_dim is not None:  # indices: argmax/argmin along index_dim, computed by the caller
            idx_k = np.expand_dims(indices, index_dim)
            y = np.take_along_axis(x, idx_k, axis=index_dim)
            ctx.indices = idx_k
            return y if keepdim else np.squeeze(y, axis=index_dim)
        y = np.asarray((np.max if is_max else np.min)(x, axis=axes, keepdims=True))
        ctx.save_for_backward(x == y)
        return y if keepdim else np.asarray(y.reshape([n for i, n in enumerate(x.shape) if i not in axes]))

    @staticmethod
    def backward(ctx, grad):
        if ctx.index_dim is not None:
            dx = np.zeros(ctx.shape, dtype=grad.dtype)
            g = grad if ctx.keepdim else np.expand_dims(grad, ctx.index_dim)
            np.put_along_axis(dx, ctx.indices, g, axis=ctx.index_dim)
            return (dx,)
        (is_extreme,) = ctx.saved
        g = _keep(grad, ctx.shape, ctx.axes, ctx.keepdim)
        ties = is_extreme.sum(axis=ctx.axes, keepdims=True).astype(grad.dtype)
        return (is_extreme * (g / ties),)


class Var(Function):
    """y = Σ (x - mean)^2 / (M - correction) over `axes`    (correction=1: the unbiased estimate)
    dL/dx = grad * 2 (x - mean) / (M - correction)"""

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False, correction=1):
        centred = x - x.mean(axis=axes, keepdims=True)
        denom = builtins.max(_count(x.shape, axes) - correction, 0)
        ctx.save_for_backward(centred)
        ctx.shape, ctx.axes, ctx.keepdim, ctx.denom = x.shape, axes, keepdim, denom
        with np.errstate(divide="ignore", invalid="ignore"):  # M <= correction gives nan, as PyTorch
            return np.asarray((centred * centred).sum(axis=axes, keepdims=keepdim) / x.dtype.type(denom))

    @staticmethod
    def backward(ctx, grad):
        (centred,) = ctx.saved
        g = _keep(grad, ctx.shape, ctx.axes, ctx.keepdim)
        return (g * centred * (grad.dtype.type(2.0) / grad.dtype.type(ctx.denom)),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        centred = x - x.mean(dim=ctx.axes, keepdim=True)
        return (_keep_tensor(grad, ctx.shape, ctx.axes, ctx.keepdim) * centred * (2.0 / ctx.denom),)


class LogSumExp(Function):
    """y = log Σ exp(x) over `axes`, as m + log Σ exp(x - m) with m = max(x): no overflow
    dL/dx = grad * exp(x - y)   (= grad * softmax(x) along the reduced axes)"""

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        m = x.max(axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # all -inf along an axis: keep log(0) = -inf, not nan
        y = m + np.log(np.exp(x - m).sum(axis=axes, keepdims=True))
        ctx.save_for_backward(x, y)
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return y if keepdim else np.asarray(y.reshape([n for i, n in enumerate(x.shape) if i not in axes]))

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved
        g = _keep(grad, ctx.shape, ctx.axes, ctx.keepdim)
        return (g * np.exp(x - y),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        keep = lambda t: _keep_tensor(t, ctx.shape, ctx.axes, ctx.keepdim)  # noqa: E731
        return (keep(grad) * (x - keep(y)).exp(),)


# ---------------------------------------------------------------------------- public functions


def sum(x, dim=None, keepdim=False):
    return Sum.apply(x, axes=_axes("sum", x.shape, dim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    return Mean.apply(x, axes=_axes("mean", x.shape, dim), keepdim=keepdim)


def _maxmin(name, x, dim, keepdim, is_max):
    if x.size == 0:
        raise ValueError(f"{name}: cannot reduce an empty tensor of shape {x.shape}")
    if isinstance(dim, (int, np.integer)):
        axis = _axes(name, x.shape, dim)[0]
        idx = (np.argmax if is_max else np.argmin)(x.data, axis=axis)
        values = MaxMinOp.apply(x, keepdim=keepdim, is_max=is_max, index_dim=axis, indices=idx)
        return MaxMin(values, Tensor(np.expand_dims(idx, axis) if keepdim else idx))
    return MaxMinOp.apply(x, axes=_axes(name, x.shape, dim), keepdim=keepdim, is_max=is_max)


def max(x, dim=None, keepdim=False):
    """Largest element (dim=None or a tuple) or, with an int dim, (values, indices) as in PyTorch."""
    return _maxmin("max", x, dim, keepdim, True)


def min(x, dim=None, keepdim=False):
    """Smallest element (dim=None or a tuple) or, with an int dim, (values, indices) as in PyTorch."""
    return _maxmin("min", x, dim, keepdim, False)


def amax(x, dim=None, keepdim=False):
    """Largest values only (no indices), over any dims."""
    return MaxMinOp.apply(x, axes=_axes("amax", x.shape, dim), keepdim=keepdim, is_max=True)


def amin(x, dim=None, keepdim=False):
    return MaxMinOp.apply(x, axes=_axes("amin", x.shape, dim), keepdim=keepdim, is_max=False)


def var(x, dim=None, keepdim=False, correction=1):
    return Var.apply(x, axes=_axes("var", x.shape, dim), keepdim=keepdim, correction=correction)


def std(x, dim=None, keepdim=False, correction=1):
    """sqrt(var): composed from two ops (std is rare on hot paths)."""
    return var(x, dim, keepdim, correction).sqrt()


def logsumexp(x, dim=None, keepdim=False):
    return LogSumExp.apply(x, axes=_axes("logsumexp", x.shape, dim), keepdim=keepdim)
