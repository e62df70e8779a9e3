"""Linear algebra: matmul (with batch dims) and linear = x @ W.T + b as one op.

Read ops/elementwise.py first. These are where the flops are: NumPy hands `@` to BLAS, which
runs near the machine's peak, so the ops add nothing but the right transposes. The backward
of y = a @ b follows from dy_ij = Σ_k da_ik b_kj + a_ik db_kj:
    dL/da = grad @ b^T      dL/db = a^T @ grad
backward_graph states the same products on Tensors (for create_graph=True): every gradient of
a matrix product is again a matrix product, so the second derivative needs nothing new.
"""

import numpy as np

from ..autograd import Function
from ..tensor import as_array
from .checks import check_tensor


def _mT(x):
    return np.swapaxes(x, -1, -2)


class MatMul(Function):
    """y = a @ b        a: (..., N, K)   b: (..., K, M)   ->   y: (..., N, M)
    Backward:  dL/da = grad @ b^T   (..., N, M)(..., M, K) -> (..., N, K)
               dL/db = a^T @ grad   (..., K, N)(..., N, M) -> (..., K, M)
    1-D operands act as a row (a) or column (b) vector, as in NumPy; batch dims broadcast and
    the engine sums their gradient back.
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION matmul_backward
        a, b = ctx.saved
        if a.ndim == 1 and b.ndim == 1:         # dot product: y = Σ a_k b_k
            return grad * b, grad * a
        a2 = a[None, :] if a.ndim == 1 else a   # (K,) -> (1, K)
        b2 = b[:, None] if b.ndim == 1 else b   # (K,) -> (K, 1)
        g = grad
        if a.ndim == 1:
            g = np.expand_dims(g, -2)           # put back the N = 1 axis
        if b.ndim == 1:
            g = np.expand_dims(g, -1)           # put back the M = 1 axis
        da = db = None
        if ctx.needs_input_grad[0]:
            da = g @ _mT(b2)
            if a.ndim == 1:
                da = da.reshape(da.shape[:-2] + (a.shape[0],)) if da.ndim > 2 else da.reshape(a.shape)
        if ctx.needs_input_grad[1]:
            db = _mT(a2) @ g
            if b.ndim == 1:
                db = db.reshape(db.shape[:-2] + (b.shape[0],)) if db.ndim > 2 else db.reshape(b.shape)
        return da, db
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad, a, b, y):
        a2 = a.unsqueeze(0) if a.ndim == 1 else a        # (K,) -> (1, K)
        b2 = b.unsqueeze(-1) if b.ndim == 1 else b       # (K,) -> (K, 1)
        g = grad.unsqueeze(-2) if a.ndim == 1 else grad  # put back the N = 1 axis
        g = g.unsqueeze(-1) if b.ndim == 1 else g        # ... and the M = 1 axis
        da = db = None
        if ctx.needs_input_grad[0]:
            da = g @ b2.transpose(-1, -2)
            da = da.squeeze(-2) if a.ndim == 1 else da
        if ctx.needs_input_grad[1]:
            db = a2.transpose(-1, -2) @ g
            db = db.squeeze(-1) if b.ndim == 1 else db
        return da, db


class Linear(Function):
    """y = x @ w.T + b                       (one node: matmul and bias together)

    x: (N, I)   w: (O, I)   b: (O,) or None   ->   y: (N, O)
    Backward, with grad = dL/dy of shape (N, O):
        dL/dx = grad @ w          (N, O)(O, I) -> (N, I)
        dL/dw = grad.T @ x        (O, N)(N, I) -> (O, I)
        dL/db = grad.sum(0)       (O,)
    Leading batch dims of x (..., I) are allowed and folded into N.
    """

    @staticmethod
    def forward(ctx, x, w, b):
        # BEGIN SOLUTION linear
        ctx.save_for_backward(x, w)
        y = x @ w.T
        if b is not None:
            y += b  # in place: y is our own fresh array, so no extra temporary
        return y
        # END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION linear
        x, w = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = grad.reshape(-1, grad.shape[-1])   # (..., O) -> (N, O)
        if need_x:
            # one output (a discriminator's logit): grad @ w is an outer product, which BLAS runs
            # as a GEMM with inner size 1, 1.2 ms for (128, 1) @ (1, 6272); the broadcast multiply
            # gives the same numbers in 0.09 ms
            dx = grad * w[0] if w.shape[0] == 1 else grad @ w
        else:
            dx = None
        dw = (g2.T @ x.reshape(-1, x.shape[-1])) if need_w else None
        db = g2.sum(axis=0) if need_b else None
        return dx, dw, db
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad, x, w, b, y):
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = grad.reshape(-1, grad.shape[-1])   # (..., O) -> (N, O)
        dx = (grad @ w) if need_x else None
        dw = (g2.T @ x.reshape(-1, x.shape[-1])) if need_w else None
        db = g2.sum(dim=0) if need_b else None
        return dx, dw, db


# ---------------------------------------------------------------------------- public functions


def matmul(a, b):
    from .elementwise import _operands

    a, b = _operands("matmul", a, b)
    sa, sb = np.shape(as_array(a)), np.shape(as_array(b))
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {sa} and {sb}; use * for scalars")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"matmul: inner dimensions differ: {sa} @ {sb} ({ka} != {kb}); "
                         "the last dim of a must equal the second-to-last dim of b")
    try:
        return MatMul.apply(a, b)
    except ValueError:
        raise ValueError(f"matmul: batch dims of {sa} and {sb} cannot be broadcast together") from None


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias      x: (..., I), weight: (O, I), bias: (O,) -> y: (..., O)"""
    check_tensor("linear", x)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be (out_features, in_features), got shape {weight.shape}")
    I = weight.shape[1]
    if x.ndim == 0 or x.shape[-1] != I:
        msg = f"linear: expected x of shape (..., {I}), got shape {tuple(x.shape)}"
        if x.ndim > 2 and int(np.prod(x.shape[1:])) == I:
            msg += f"; flatten it first with x.reshape({x.shape[0]}, -1) or nn.Flatten()"
        raise ValueError(msg)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: x is {x.dtype} but weight is {weight.dtype}; convert one with .float() or .double()")
    return Linear.apply(x, weight, bias)
