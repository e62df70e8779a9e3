"""Losses: mse, l1, binary cross-entropy (from probabilities and, stably, from logits),
cross-entropy over classes, nll, Gaussian negative log-likelihood, and the KL divergences a VAE
needs.

Read ops/activation.py first. Each loss is one op computing the per-element loss, followed by
the `reduction` ('mean' | 'sum' | 'none', as in PyTorch). The stable forms are the point of this
file: BCE from logits never takes log(sigmoid(z)) (log(0) for z << 0); cross-entropy works on
logits through logsumexp; the VAE's Gaussians are given by log-variance, so no variance is ever
negative and no log of 0 appears.
"""

import math

import numpy as np

from ..autograd import Function
from ..tensor import Tensor, as_array
from .activation import _sigmoid

_REDUCTIONS = ("mean", "sum", "none", "batchmean")


def _reduce(name, loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    if reduction == "batchmean":  # sum over everything, divided by the batch size (first dim)
        return loss.sum() / loss.shape[0]
    raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _pair(name, x, target):
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target, dtype=x.dtype))
    if x.shape != target.shape:
        raise ValueError(f"{name}: input has shape {x.shape} but target has shape {target.shape}; they must match")
    if x.dtype != target.dtype:
        raise TypeError(f"{name}: input is {x.dtype} but target is {target.dtype}; convert the target with .float()")
    return x, target


class SquaredError(Function):
    """l = (x - t)^2                 dL/dx = grad * 2 (x - t),  dL/dt = -dL/dx"""

    @staticmethod
    def forward(ctx, x, t):
        d = x - t
        ctx.save_for_backward(d)
        return d * d

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved
        dx = grad * 2 * d
        return dx, (-dx if ctx.needs_input_grad[1] else None)


class AbsoluteError(Function):
    """l = |x - t|                   dL/dx = grad * sign(x - t),  dL/dt = -dL/dx"""

    @staticmethod
    def forward(ctx, x, t):
        d = x - t
        ctx.save_for_backward(d)
        return np.abs(d)

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved
        dx = grad * np.sign(d)
        return dx, (-dx if ctx.needs_input_grad[1] else None)


class BinaryCrossEntropyWithLogits(Function):
    """l = -[t log σ(z) + (1 - t) log(1 - σ(z))] = max(z, 0) - z t + log(1 + exp(-|z|))

    z: logits, t: targets in [0, 1], same shape.
    dL/dz = grad * (σ(z) - t)        dL/dt = grad * (-z)
    The right-hand form is exact for every z: it never evaluates log(σ(z)), which is log(0) in
    floating point once z < -104 (float32) -- the reason a VAE's BCE is always taken from logits.
    """

    @staticmethod
    def forward(ctx, z, t):
        ctx.save_for_backward(z, t)
        return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))

    @staticmethod
    def backward(ctx, grad):
        z, t = ctx.saved
        dz = grad * (_sigmoid(z) - t)
        dt = grad * -z if ctx.needs_input_grad[1] else None
        return dz, dt


class BinaryCrossEntropy(Function):
    """l = -[t log p + (1 - t) log(1 - p)], each log clamped at -100 as PyTorch does

    dL/dp = grad * (p - t) / (p (1 - p))   (with p(1 - p) kept >= 1e-12)
    dL/dt = grad * (log(1 - p) - log p)
    Prefer binary_cross_entropy_with_logits: it needs no clamp.
    """

    @staticmethod
    def forward(ctx, p, t):
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), -100)
            log_1mp = np.maximum(np.log1p(-p), -100)
        ctx.save_for_backward(p, t, log_p, log_1mp)
        return -(t * log_p + (1 - t) * log_1mp)

    @staticmethod
    def backward(ctx, grad):
        p, t, log_p, log_1mp = ctx.saved
        dp = grad * (p - t) / np.maximum(p * (1 - p), p.dtype.type(1e-12))
        dt = grad * (log_1mp - log_p) if ctx.needs_input_grad[1] else None
        return dp, dt


class CrossEntropy(Function):
    """l_n = logsumexp(z_n) - z_n[y_n]   (softmax + negative log-likelihood in one step)

    z: (N, C) logits   y: (N,) integer labels in [0, C)   ->   l: (N,)
    dL/dz_n = grad_n * (softmax(z_n) - onehot(y_n))
    """

    @staticmethod
    def forward(ctx, z, y):
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=1, keepdims=True)
        ctx.save_for_backward(e / s, y)
        rows = np.arange(z.shape[0])
        return (np.log(s[:, 0]) + m[:, 0]) - z[rows, y]

    @staticmethod
    def backward(ctx, grad):
        probs, y = ctx.saved
        dz = probs * grad[:, None]
        dz[np.arange(len(y)), y] -= grad
        return dz, None


class NLL(Function):
    """l_n = -logp_n[y_n]      logp: (N, C) log-probabilities, y: (N,)     dL/dlogp = -grad at [n, y_n]"""

    @staticmethod
    def forward(ctx, logp, y):
        ctx.save_for_backward(y)
        ctx.shape = logp.shape
        return -logp[np.arange(logp.shape[0]), y]

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        d = np.zeros(ctx.shape, dtype=grad.dtype)
        d[np.arange(len(y)), y] = -grad
        return d, None


class KLStandardNormal(Function):
    """KL( N(mu, exp(logvar)) || N(0, 1) ) per element:
        kl = 0.5 * (mu^2 + exp(logvar) - 1 - logvar)            (Kingma & Welling 2013, App. B)
    dL/dmu = grad * mu        dL/dlogvar = grad * 0.5 * (exp(logvar) - 1)
    """

    @staticmethod
    def forward(ctx, mu, logvar):
        # BEGIN SOLUTION kl_standard_normal
        var = np.exp(logvar)
        ctx.save_for_backward(mu, var)
        return 0.5 * (mu * mu + var - 1 - logvar)
        # END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION kl_standard_normal
        mu, var = ctx.saved
        return grad * mu, grad * 0.5 * (var - 1)
        # END SOLUTION


# ---------------------------------------------------------------------------- public functions


def mse_loss(x, target, reduction="mean"):
    """Mean squared error: reduce((x - target)^2)."""
    x, target = _pair("mse_loss", x, target)
    return _reduce("mse_loss", SquaredError.apply(x, target), reduction)


def l1_loss(x, target, reduction="mean"):
    x, target = _pair("l1_loss", x, target)
    return _reduce("l1_loss", AbsoluteError.apply(x, target), reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """BCE of sigmoid(logits) against target in [0, 1], computed stably from the logits."""
    logits, target = _pair("binary_cross_entropy_with_logits", logits, target)
    return _reduce("binary_cross_entropy_with_logits", BinaryCrossEntropyWithLogits.apply(logits, target), reduction)


def binary_cross_entropy(p, target, reduction="mean"):
    """BCE of probabilities p in [0, 1] (logs clamped at -100, as PyTorch)."""
    p, target = _pair("binary_cross_entropy", p, target)
    if p.data.size and (p.data.min() < 0 or p.data.max() > 1):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1]; "
                         "for raw scores use binary_cross_entropy_with_logits")
    return _reduce("binary_cross_entropy", BinaryCrossEntropy.apply(p, target), reduction)


def _labels(name, z, y):
    y = as_array(y)
    if z.ndim != 2:
        raise ValueError(f"{name}: input must be (N, C), got shape {z.shape}")
    if y.shape != (z.shape[0],):
        raise ValueError(f"{name}: target must be (N,) = ({z.shape[0]},) integer labels, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"{name}: labels must lie in [0, {z.shape[1]}), got min {y.min()} and max {y.max()}")
    return y


def one_hot(y, n_classes, dtype=np.float32):
    """Labels (N,) -> (N, K) rows of zeros with a 1 at the label, as a constant Tensor (no gradient):
    the condition c of a conditional VAE or GAN. y: integers in [0, K), an array or a Tensor."""
    y = as_array(y)
    if y.ndim != 1 or y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"one_hot: labels must be integers in [0, {n_classes}) of shape (N,), got dtype {y.dtype}, "
                         f"shape {y.shape}" + (f", values {y.min()} .. {y.max()}" if y.size and y.ndim == 1 else ""))
    c = np.zeros((len(y), n_classes), dtype=dtype)
    c[np.arange(len(y)), y] = 1
    return Tensor(c)


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy of logits (N, C) against integer labels (N,)."""
    y = _labels("cross_entropy", logits, target)
    return _reduce("cross_entropy", CrossEntropy.apply(logits, y), reduction)


def nll_loss(logp, target, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) (e.g. from log_softmax) at labels (N,)."""
    y = _labels("nll_loss", logp, target)
    return _reduce("nll_loss", NLL.apply(logp, y), reduction)


def kl_normal_standard(mu, logvar, reduction="sum"):
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ), elementwise then reduced.

    For a VAE: reduction='sum' over a (N, Z) batch gives the batch's total KL in nats;
    'batchmean' gives the mean per example.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"kl_normal_standard: mu {mu.shape} and logvar {logvar.shape} must have the same shape")
    return _reduce("kl_normal_standard", KLStandardNormal.apply(mu, logvar), reduction)


def kl_normal_normal(mu1, logvar1, mu2, logvar2, reduction="sum"):
    """KL( N(mu1, exp(logvar1)) || N(mu2, exp(logvar2)) ) for diagonal Gaussians, elementwise:
        0.5 * (logvar2 - logvar1 + (exp(logvar1) + (mu1 - mu2)^2) / exp(logvar2) - 1)
    Composed from ops (not on a hot path); equals kl_normal_standard when mu2 = 0, logvar2 = 0.
    """
    d = mu1 - mu2
    kl = 0.5 * (logvar2 - logvar1 + (logvar1.exp() + d * d) * (-logvar2).exp() - 1)
    return _reduce("kl_normal_normal", kl, reduction)


def gaussian_nll_loss(x, target, var, full=False, eps=1e-6, reduction="mean"):
    """Negative log-likelihood of target under N(x, var), as torch.nn.functional.gaussian_nll_loss:
        0.5 * (log(max(var, eps)) + (x - target)^2 / max(var, eps))   [+ 0.5 log(2π) if full]
    """
    x, target = _pair("gaussian_nll_loss", x, target)
    if not isinstance(var, Tensor):
        var = Tensor(np.asarray(var, dtype=x.dtype))
    v = var.clamp(min=eps)
    d = x - target
    loss = 0.5 * (v.log() + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce("gaussian_nll_loss", loss, reduction)
