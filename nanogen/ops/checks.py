"""Argument checks the public op functions share: one place for each, so every op and every
layer (nn/ calls these ops) says the same thing about the same mistake.

    pair(op, name, value, minimum)    an int or an (h, w) pair of ints -> (h, w), each >= minimum
    check_tensor(op, x)               a Tensor or an ndarray, not a list or a number
    check_image(op, x)                a floating (N, C, H, W) input -> its shape, with the fix named
"""

import numbers

import numpy as np

from ..tensor import Tensor


def pair(op, name, value, minimum=0):
    """An int or a pair of ints -> (h, w), each >= minimum (kernel sizes, strides, paddings)."""
    v = (value, value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    is_int = lambda i: isinstance(i, numbers.Integral) and not isinstance(i, bool)  # noqa: E731
    if not isinstance(v, (tuple, list)) or len(v) != 2 or not all(is_int(i) for i in v):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(v) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(v[0]), int(v[1])


def check_tensor(op, x):
    """x must be a Tensor or an ndarray (the ops read .shape and .dtype before any work)."""
    if not isinstance(x, (Tensor, np.ndarray)):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}; wrap it: nanogen.tensor(x)")


def check_image(op, x):
    """x must be a floating (N, C, H, W) Tensor or array; returns its shape."""
    check_tensor(op, x)
    shape = tuple(x.shape)
    if len(shape) != 4:
        fix = {3: "; add a batch axis with x[None]", 2: "; add batch and channel axes with x[None, None]"}
        raise ValueError(f"{op}: x must be (N, C, H, W), got shape {shape}{fix.get(len(shape), '')}")
    if np.dtype(x.dtype).kind != "f":
        raise TypeError(f"{op}: x must be float32 or float64, got {x.dtype}; convert with .float()")
    return shape
