"""Elementwise arithmetic and math: add, sub, mul, div, pow, neg, exp, log, sqrt, abs, clamp,
maximum, minimum, where, and dtype casts.

Read autograd.py first (the Function contract). Every op here maps arrays of one shape to the
same shape, so each backward is the chain rule for one number applied to every element:
dL/dx = dL/dy * dy/dx. Broadcasting (x: (N, D) plus b: (D,)) is undone by the engine, not here:
backward may return a gradient of the broadcast shape and autograd.unbroadcast sums it down.
"""

import numpy as np

from ..autograd import Function
from ..tensor import Tensor, as_array


def _operands(name, a, b):
    """Two operands for a binary op: Python numbers and arrays become constants of the tensor's dtype.

    Two tensors of different float dtypes are refused instead of silently promoted: a float64
    array that slips into float32 training doubles memory and time without anyone noticing.
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype != b.data.dtype and a.data.dtype.kind == "f" and b.data.dtype.kind == "f":
                raise TypeError(f"{name}: operands have dtypes {a.dtype} and {b.dtype}; convert one "
                                "explicitly with .float() or .double()")
            return a, b
        return a, _constant(b, a.data.dtype)
    if isinstance(b, Tensor):
        return _constant(a, b.data.dtype), b
    raise TypeError(f"{name}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")


def _constant(x, dtype):
    if isinstance(x, (int, float, bool, np.number)):
        # a number takes the tensor's float dtype: NumPy 2 would keep float32 for a bare Python float
        # (NEP 50), but NumPy 1.26 turns a float32 0-d array times a Python float into float64
        return dtype.type(x) if dtype.kind == "f" else x
    a = np.asarray(x)
    if dtype.kind == "f" and a.dtype != dtype:
        a = a.astype(dtype)
    return a


# ---------------------------------------------------------------------------- binary


class Add(Function):
    """y = a + b           dL/da = grad, dL/db = grad   (then summed over broadcast axes)"""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    """y = a - b           dL/da = grad, dL/db = -grad"""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b           dL/da = grad * b, dL/db = grad * a"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION mul_backward
        a, b = ctx.saved
        da = grad * b if ctx.needs_input_grad[0] else None
        db = grad * a if ctx.needs_input_grad[1] else None
        return da, db
        # END SOLUTION


class Div(Function):
    """y = a / b           dL/da = grad / b, dL/db = -grad * a / b^2 = -grad * y / b"""

    @staticmethod
    def forward(ctx, a, b):
        y = a / b
        ctx.save_for_backward(b, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION div_backward
        b, y = ctx.saved
        da = grad / b if ctx.needs_input_grad[0] else None
        db = -grad * y / b if ctx.needs_input_grad[1] else None
        return da, db
        # END SOLUTION


class Pow(Function):
    """y = a ** b          dL/da = grad * b * a^(b-1), dL/db = grad * y * log(a)   (a > 0 for db)"""

    @staticmethod
    def forward(ctx, a, b):
        y = a**b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        a, b, y = ctx.saved
        da = grad * b * a ** (b - 1) if ctx.needs_input_grad[0] else None
        db = grad * y * np.log(a) if ctx.needs_input_grad[1] else None
        return da, db


class Maximum(Function):
    """y = max(a, b) elementwise    the gradient goes to the larger input; ties share it equally"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        share = (a > b) + 0.5 * (a == b)  # 1 where a wins, 0.5 on ties, 0 where b wins
        share = share.astype(grad.dtype)
        return grad * share, grad * (1 - share)


class Minimum(Function):
    """y = min(a, b) elementwise    the gradient goes to the smaller input; ties share it equally"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        share = ((a < b) + 0.5 * (a == b)).astype(grad.dtype)
        return grad * share, grad * (1 - share)


class Where(Function):
    """y = a where cond else b      dL/da = grad * cond, dL/db = grad * (1 - cond); cond: no gradient"""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved
        zero = np.zeros((), dtype=grad.dtype)
        da = np.where(cond, grad, zero) if ctx.needs_input_grad[1] else None
        db = np.where(cond, zero, grad) if ctx.needs_input_grad[2] else None
        return None, da, db


# ---------------------------------------------------------------------------- unary


class Neg(Function):
    """y = -x              dL/dx = -grad"""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return (-grad,)


class Exp(Function):
    """y = exp(x)          dL/dx = grad * y"""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION exp_log_backward
        (y,) = ctx.saved
        return (grad * y,)
        # END SOLUTION


class Log(Function):
    """y = log(x)          dL/dx = grad / x"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION exp_log_backward
        (x,) = ctx.saved
        return (grad / x,)
        # END SOLUTION


class Sqrt(Function):
    """y = sqrt(x)         dL/dx = grad / (2 y)"""

    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return (grad / (2 * y),)


class Abs(Function):
    """y = |x|             dL/dx = grad * sign(x)   (0 at x = 0, as PyTorch)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad * np.sign(x),)


class Clamp(Function):
    """y = min(max(x, lo), hi)      dL/dx = grad where lo <= x <= hi, else 0"""

    @staticmethod
    def forward(ctx, x, lo=None, hi=None):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        inside = np.ones(x.shape, dtype=bool)
        if ctx.lo is not None:
            inside &= x >= ctx.lo
        if ctx.hi is not None:
            inside &= x <= ctx.hi
        return (grad * inside,)


class Cast(Function):
    """y = x converted to `dtype`   dL/dx = grad converted back to x's dtype"""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return (grad.astype(ctx.in_dtype),)


# ---------------------------------------------------------------------------- public functions


def _binary(op, name, a, b):
    a, b = _operands(name, a, b)
    try:
        return op.apply(a, b)
    except ValueError:
        sa, sb = np.shape(as_array(a)), np.shape(as_array(b))
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            raise ValueError(f"{name}: shapes {sa} and {sb} cannot be broadcast together "
                             "(trailing dimensions must be equal or 1)") from None
        raise


def add(a, b):
    return _binary(Add, "add", a, b)


def sub(a, b):
    return _binary(Sub, "sub", a, b)


def mul(a, b):
    return _binary(Mul, "mul", a, b)


def div(a, b):
    return _binary(Div, "div", a, b)


def pow(a, b):
    return _binary(Pow, "pow", a, b)


def maximum(a, b):
    return _binary(Maximum, "maximum", a, b)


def minimum(a, b):
    return _binary(Minimum, "minimum", a, b)


def where(cond, a, b):
    """Elementwise choice: a where cond is true, else b (cond: bool array or Tensor)."""
    a, b = _operands("where", a, b)
    cond = np.asarray(as_array(cond), dtype=bool)
    try:
        np.broadcast_shapes(cond.shape, np.shape(as_array(a)), np.shape(as_array(b)))
    except ValueError:
        raise ValueError(f"where: shapes {cond.shape}, {np.shape(as_array(a))}, {np.shape(as_array(b))} "
                         "cannot be broadcast together") from None
    return Where.apply(cond, a, b)


def neg(x):
    return Neg.apply(x)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    return Clamp.apply(x, lo=min, hi=max)

