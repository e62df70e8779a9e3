"""Gradient clipping: cap how far one step can go when a batch produces a huge gradient.

Read optimizer.py first. Call these between loss.backward() and optimizer.step().
    clip_grad_norm_   treat all gradients as one long vector g; if |g| > max_norm, scale every
                      gradient by max_norm / (|g| + 1e-6), keeping the direction (Pascanu et al.
                      2013, Algorithm 1). Returns |g| before clipping: worth logging, a rising
                      norm is an early sign of a diverging GAN.
    clip_grad_value_  clamp every gradient element into [-clip_value, clip_value] (changes the
                      direction; cruder, but never lets one element explode).
Both match torch.nn.utils. The trailing underscore is PyTorch's sign for "changes its argument":
here each p.grad is *replaced* by a new array (p.grad = p.grad * scale), never scaled in place,
because the engine may let one gradient array be shared by several tensors.
"""

import math

import numpy as np

from ..tensor import Tensor


def _grads(parameters, name):
    """The tensors among `parameters` (one Tensor or an iterable) whose .grad is set."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: parameters must be Tensors, got {type(p).__name__}")
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most max_norm; return that norm.

    total = (sum over tensors of |grad|_q ** q) ** (1/q) with q = norm_type (inf: the largest |element|)
    scale = min(1, max_norm / (total + 1e-6)); every p.grad <- p.grad * scale when scale < 1.
    Returns total as a Python float (0.0 when no parameter has a gradient). A NaN or Inf total
    spreads into the gradients as in PyTorch, or raises if error_if_nonfinite.
    """
    norm_type = float(norm_type)
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (2.0 for the Euclidean norm, inf for the "
                         f"largest element), got {norm_type}")
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    params = _grads(parameters, "clip_grad_norm_")
    if not params:
        return 0.0
    if math.isinf(norm_type):
        total = float(np.max([np.max(np.abs(p.grad), initial=0.0) for p in params]))  # np.max keeps a NaN
    else:
        # one norm per tensor in its own dtype, combined in float64 (a sum over millions of float32
        # squares would lose digits)
        norms = np.array([np.linalg.norm(p.grad.ravel(), ord=norm_type) for p in params], dtype=np.float64)
        total = float(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(f"clip_grad_norm_: the total {norm_type}-norm of the gradients is {total}; "
                                 "find the op that made it with nanogen.detect_anomaly(), or pass "
                                 "error_if_nonfinite=False to clip anyway")
    scale = max_norm / (total + 1e-6)
    if not scale >= 1.0:  # also true for a NaN scale, which then spreads as in PyTorch
        for p in params:
            p.grad = p.grad * p.grad.dtype.type(scale)  # new array, same dtype; never in place
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value] (p.grad replaced by a new array)."""
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _grads(parameters, "clip_grad_value_"):
        p.grad = np.clip(p.grad, -clip_value, clip_value).astype(p.grad.dtype, copy=False)
