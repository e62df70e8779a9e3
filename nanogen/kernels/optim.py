"""Fused optimizer updates: one pass over a parameter, its gradient and its state, in place.

Read nanogen/optim/sgd.py and adam.py first: they state the update rules (PyTorch's
torch.optim.SGD, Adam and AdamW, exactly). The NumPy twins below spell each rule as whole-array
statements -- readable, but every statement is another pass over memory and often another
temporary; an Adam step is about ten passes. The Numba versions read p, g, m, v once and write
p, m, v once. Large arrays are spread over the threads (prange); small ones (most biases) run on
one thread, where waking the thread pool would cost more than the work.

Every scalar is converted to the parameter's dtype before the loop (on both paths), so a
float32 step computes in float32 like PyTorch, and the two paths agree to the last bit or so.
The arrays p, buf, m, v must be C-contiguous (they are updated through flat views); g need not be.
"""

import math

import numpy as np

from nanogen.kernels import njit, pick, prange

#: arrays shorter than this are updated on one thread. The prange loop is vectorized (Numba
#: tells LLVM its arrays do not overlap; the plain loop it cannot prove that and stays scalar),
#: about 6x faster per element, but waking the threads costs ~10-20 us: below ~8000 elements
#: the plain loop is done by then.
PARALLEL_MIN = 8192


def _check_inplace(op, **arrays):
    """The arrays updated in place must be contiguous: a reshape of anything else is a copy,
    and the update would be written to the copy and lost."""
    shape = arrays["p"].shape
    for name, a in arrays.items():
        if a is None:
            continue
        if a.shape != shape:
            raise ValueError(f"{op}: {name} has shape {a.shape}, expected {shape} (the parameter's shape)")
        if name != "g" and not a.flags.c_contiguous:
            raise ValueError(f"{op}: {name} must be C-contiguous to be updated in place; "
                             "keep parameters and state as np.ascontiguousarray")


# ---------------------------------------------------------------------------------------------
# SGD with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD)
# ---------------------------------------------------------------------------------------------


def sgd_step_reference_(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step):
    """One SGD step, in place on p (and buf):

    g <- g + weight_decay * p
    buf <- g                                   on the first step (first_step=True)
    buf <- momentum * buf + (1 - dampening) * g     afterwards
    g <- g + momentum * buf   (Nesterov)   or   g <- buf   (heavy ball)      when momentum != 0
    p <- p - lr * g
    p, g, buf: same shape; buf may be None when momentum == 0.
    """
    dt = p.dtype.type
    if weight_decay != 0:
        g = g + dt(weight_decay) * p  # a new array: the caller's gradient is left alone
    if momentum != 0:
        if first_step:
            buf[...] = g
        else:
            buf *= dt(momentum)
            buf += dt(1 - dampening) * g
        g = g + dt(momentum) * buf if nesterov else buf
    p -= dt(lr) * g


@njit(cache=True, inline="always")
def _sgd_update(i, p, g, buf, lr, momentum, dampening1, weight_decay, nesterov, first_step):
    """sgd_step_ for element i. inline="always": Numba pastes this body into both loops below
    before compiling them, so the prange loop is still one vectorizable loop without a call."""
    gi = g[i]
    if weight_decay != 0:
        gi = gi + weight_decay * p[i]
    if momentum != 0:
        b = gi if first_step else momentum * buf[i] + dampening1 * gi
        buf[i] = b
        gi = gi + momentum * b if nesterov else b
    p[i] = p[i] - lr * gi


@njit(cache=True, parallel=True)
def _sgd_step(p, g, buf, lr, momentum, dampening1, weight_decay, nesterov, first_step):
    """sgd_step_ on flat arrays (dampening1 = 1 - dampening): one thread for small arrays, all of
    them (prange) for large ones."""
    n = p.size
    if n < PARALLEL_MIN:
        for i in range(n):
            _sgd_update(i, p, g, buf, lr, momentum, dampening1, weight_decay, nesterov, first_step)
    else:
        for i in prange(n):
            _sgd_update(i, p, g, buf, lr, momentum, dampening1, weight_decay, nesterov, first_step)


def sgd_step_numba_(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step):
    """Same update as sgd_step_reference_, one fused pass (in place on p and buf)."""
    _check_inplace("sgd_step_", p=p, g=g, buf=buf)
    dt = p.dtype.type
    flat_buf = buf.reshape(-1) if buf is not None else np.empty(0, dtype=p.dtype)
    if momentum != 0 and buf is None:
        raise ValueError("sgd_step_: momentum != 0 needs a momentum buffer buf shaped like p, got None")
    _sgd_step(p.reshape(-1), np.ravel(g), flat_buf, dt(lr), dt(momentum), dt(1 - dampening),
              dt(weight_decay), bool(nesterov), bool(first_step))


# ---------------------------------------------------------------------------------------------
# Adam and AdamW (torch.optim.Adam / AdamW, amsgrad=False)
# ---------------------------------------------------------------------------------------------


def adam_step_reference_(p, g, m, v, step, lr, beta1, beta2, eps, weight_decay, decoupled):
    """One Adam (decoupled=False) or AdamW (decoupled=True) step at step t = `step` (1, 2, ...),
    in place on p, m and v:

    g <- g + weight_decay * p                   (Adam: L2 decay enters the moments)
    p <- p * (1 - lr * weight_decay)            (AdamW: decoupled decay)
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g * g
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    which is p - lr * m_hat / (sqrt(v_hat) + eps): eps outside the root, as PyTorch.
    """
    # BEGIN SOLUTION adam_step
    dt = p.dtype.type
    if weight_decay != 0:
        if decoupled:
            p *= dt(1 - lr * weight_decay)
        else:
            g = g + dt(weight_decay) * p
    m *= dt(beta1)
    m += dt(1 - beta1) * g
    v *= dt(beta2)
    v += dt(1 - beta2) * g * g
    step_size = dt(lr / (1 - beta1**step))
    bc2_sqrt = dt(math.sqrt(1 - beta2**step))
    p -= step_size * m / (np.sqrt(v) / bc2_sqrt + dt(eps))
    # END SOLUTION


@njit(cache=True, inline="always")
def _adam_update(i, p, g, m, v, beta1, beta1c, beta2, beta2c, eps, wd, decay, step_size, bc2_sqrt):
    """adam_step_ for element i, pasted into both loops below (inline="always", as _sgd_update)."""
    gi = g[i]
    if wd != 0:
        gi = gi + wd * p[i]
    pi = p[i] * decay
    m[i] = beta1 * m[i] + beta1c * gi
    v[i] = beta2 * v[i] + beta2c * gi * gi
    p[i] = pi - step_size * m[i] / (np.sqrt(v[i]) / bc2_sqrt + eps)


@njit(cache=True, parallel=True)
def _adam_step(p, g, m, v, beta1, beta1c, beta2, beta2c, eps, wd, decay, step_size, bc2_sqrt):
    """adam_step_ on flat arrays: beta1c = 1 - beta1, beta2c = 1 - beta2; decay = 1 - lr *
    weight_decay for AdamW, 1 for Adam; wd = weight_decay for Adam, 0 for AdamW.
    One thread for small arrays, prange for large ones."""
    n = p.size
    if n < PARALLEL_MIN:
        for i in range(n):
            _adam_update(i, p, g, m, v, beta1, beta1c, beta2, beta2c, eps, wd, decay, step_size, bc2_sqrt)
    else:
        for i in prange(n):
            _adam_update(i, p, g, m, v, beta1, beta1c, beta2, beta2c, eps, wd, decay, step_size, bc2_sqrt)


def adam_step_numba_(p, g, m, v, step, lr, beta1, beta2, eps, weight_decay, decoupled):
    """Same update as adam_step_reference_, one fused pass (in place on p, m and v)."""
    _check_inplace("adam_step_", p=p, g=g, m=m, v=v)
    if step < 1:
        raise ValueError(f"adam_step_: step is the 1-based step count t, got {step}")
    dt = p.dtype.type
    decay = dt(1 - lr * weight_decay) if decoupled else dt(1)  # p * 1 is exact: Adam is unchanged
    wd = dt(0) if decoupled else dt(weight_decay)
    _adam_step(p.reshape(-1), np.ravel(g), m.reshape(-1), v.reshape(-1), dt(beta1), dt(1 - beta1),
               dt(beta2), dt(1 - beta2), dt(eps), wd, decay, dt(lr / (1 - beta1**step)),
               dt(math.sqrt(1 - beta2**step)))


# The updates the optimizers call: Numba, or the NumPy twins under NANOGEN_KERNELS=numpy.
sgd_step_ = pick(sgd_step_numba_, sgd_step_reference_)
adam_step_ = pick(adam_step_numba_, adam_step_reference_)
