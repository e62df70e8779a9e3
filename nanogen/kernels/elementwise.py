"""Fused elementwise kernels: activation gradients and the dropout mask, one pass over memory.

Read nanogen/ops/activation.py first. There, `grad * y * (1 - y)` is three NumPy calls and
two temporaries of the full size; here it is one loop that reads grad and y once and writes
the result once. Elementwise work is limited by memory traffic, not arithmetic, so fusing pays
in proportion to the temporaries it saves.

Measured (float32, one thread, best of 50 calls; "NumPy" is the twin's chain of temporaries):
                          (128, 400): NumPy -> Numba     (128, 64, 14, 14): NumPy -> Numba
    relu_backward                  15 us -> 6.0 us                0.56 ms -> 0.23 ms
    leaky_relu_backward           201 us -> 5.2 us                10.6 ms -> 0.19 ms
    elu_backward                  206 us -> 5.2 us                11.4 ms -> 0.20 ms
    sigmoid_backward               18 us -> 6.7 us                0.57 ms -> 0.27 ms
    tanh_backward                 9.8 us -> 8.9 us                0.61 ms -> 0.29 ms
    dropout_forward                18 us -> 12 us                 0.70 ms -> 0.48 ms  (+ rng.random: 2.3 ms)
np.where with a random condition is the slow one (a mispredicted branch per element), hence
the 40-60x for leaky_relu and elu. Every kernel wins, so all are kept; benchmarks/bench_kernels.py
measures them again on your machine.
Threads: a parallel loop (prange) pays the Numba thread pool's wake-up (~20 us) on every call
and, when other programs hold the cores, waits for its slowest thread at the join (measured:
median 2.5 ms instead of 0.3 ms for relu_backward on a busy machine). So the loops are
one-thread nogil kernels, and only arrays of at least PARALLEL_MIN values are cut into one piece
per thread (nanogen.set_num_threads; one on a busy machine, see nanogen/threads.py), each piece
run by threads.run_in_threads as the convolutions' chunks are (measured: see _over_threads).

Each kernel: `<name>_reference` (NumPy) first, `<name>_numba` after it, `<name>` picked.
"""

import numpy as np

from nanogen import threads
from nanogen.kernels import njit, pick

PARALLEL_MIN = 1 << 18  # values: smaller arrays run on one thread (a thread hand-off costs ~20-50 us)


def _flat(a):
    """A 1-D contiguous view of `a` (a copy only if `a` is not contiguous): the kernels' input."""
    return np.ravel(a)


def _over_threads(kernel, arrays, scalars=()):
    """out = a new array like arrays[0]; kernel(*pieces of arrays, *scalars, piece of out) for one
    contiguous piece per thread (the whole range at once below PARALLEL_MIN values or with one
    thread). Elementwise: the pieces give exactly the numbers of one pass.
    Measured (two threads on 2 cores, float32 (128, 64, 14, 14), best of 20 calls, one thread ->
    two): leaky_relu_backward 0.36 -> 0.28 ms; leaky_relu_forward 0.17 -> 0.16 ms (one pass of
    reads and writes: memory-bound already). The DCGAN iteration: 221 -> 216 ms (median of 6
    alternating rounds, within its noise)."""
    out = np.empty_like(arrays[0])
    n, T = out.size, threads.get_num_threads()
    if T == 1 or n < PARALLEL_MIN:
        kernel(*arrays, *scalars, out)
        return out
    bounds = [n * t // T for t in range(T + 1)]

    def piece(t):
        lo, hi = bounds[t], bounds[t + 1]
        kernel(*(a[lo:hi] for a in arrays), *scalars, out[lo:hi])

    threads.run_in_threads(piece, list(range(T)))
    return out


# ---------------------------------------------------------------------------------------------
# activation gradients: dL/dx from dL/dy (`grad`) and what the forward pass saved
# ---------------------------------------------------------------------------------------------


def relu_backward_reference(grad, y):
    """dL/dx = grad * (y > 0), from the output y = max(x, 0)."""
    return grad * (y > 0)


@njit(cache=True, nogil=True)
def _relu_backward(g, y, out):
    for i in range(g.size):
        out[i] = g[i] if y[i] > 0 else 0


def relu_backward_numba(grad, y):
    """Same result as relu_backward_reference, one pass."""
    return _over_threads(_relu_backward, (_flat(grad), _flat(y))).reshape(grad.shape)


def leaky_relu_backward_reference(grad, x, negative_slope):
    """dL/dx = grad if x > 0 else grad * negative_slope, from the input x."""
    return np.where(x > 0, grad, grad * grad.dtype.type(negative_slope))


@njit(cache=True, nogil=True)
def _leaky_relu_backward(g, x, a, out):
    for i in range(g.size):
        out[i] = g[i] if x[i] > 0 else g[i] * a


def leaky_relu_backward_numba(grad, x, negative_slope):
    """Same result as leaky_relu_backward_reference, one pass."""
    a = grad.dtype.type(negative_slope)  # the slope in grad's dtype, as in the twin
    return _over_threads(_leaky_relu_backward, (_flat(grad), _flat(x)), (a,)).reshape(grad.shape)


def leaky_relu_forward_reference(x, negative_slope):
    """y = x if x > 0 else negative_slope * x."""
    a = x.dtype.type(negative_slope)
    # max(x, a*x) equals the definition for 0 <= a <= 1 and has no data-dependent branch
    return np.maximum(x, a * x) if 0 <= negative_slope <= 1 else np.where(x > 0, x, a * x)


@njit(cache=True, nogil=True)
def _leaky_relu_forward(x, a, out):
    for i in range(x.size):
        out[i] = x[i] if x[i] > 0 else x[i] * a


def leaky_relu_forward_numba(x, negative_slope):
    """Same result as leaky_relu_forward_reference, one pass (the twin's a*x is a full-size
    temporary: 3.5 ms for (128, 64, 14, 14) in float32 against 0.12 ms here, one thread)."""
    return _over_threads(_leaky_relu_forward, (_flat(x),), (x.dtype.type(negative_slope),)).reshape(x.shape)


def elu_backward_reference(grad, y, alpha):
    """dL/dx = grad if y > 0 else grad * (y + alpha), from the output y (alpha >= 0).

    For x <= 0, y = alpha*(exp(x) - 1), so dy/dx = alpha*exp(x) = y + alpha: no exp needed;
    and y > 0 exactly when x > 0, so x need not be kept.
    """
    return np.where(y > 0, grad, grad * (y + y.dtype.type(alpha)))


@njit(cache=True, nogil=True)
def _elu_backward(g, y, a, out):
    for i in range(g.size):
        out[i] = g[i] if y[i] > 0 else g[i] * (y[i] + a)


def elu_backward_numba(grad, y, alpha):
    """Same result as elu_backward_reference, one pass."""
    a = y.dtype.type(alpha)
    return _over_threads(_elu_backward, (_flat(grad), _flat(y)), (a,)).reshape(grad.shape)


def sigmoid_backward_reference(grad, y):
    """dL/dx = grad * y * (1 - y), from the output y = σ(x)."""
    return grad * y * (1 - y)


@njit(cache=True, nogil=True)
def _sigmoid_backward(g, y, out):
    for i in range(g.size):
        out[i] = g[i] * y[i] * (1 - y[i])


def sigmoid_backward_numba(grad, y):
    """Same result as sigmoid_backward_reference, one pass."""
    return _over_threads(_sigmoid_backward, (_flat(grad), _flat(y))).reshape(grad.shape)


def tanh_backward_reference(grad, y):
    """dL/dx = grad * (1 - y^2), from the output y = tanh(x)."""
    return grad * (1 - y * y)


@njit(cache=True, nogil=True)
def _tanh_backward(g, y, out):
    for i in range(g.size):
        out[i] = g[i] * (1 - y[i] * y[i])


def tanh_backward_numba(grad, y):
    """Same result as tanh_backward_reference, one pass."""
    return _over_threads(_tanh_backward, (_flat(grad), _flat(y))).reshape(grad.shape)


# ---------------------------------------------------------------------------------------------
# dropout: keep each value with probability 1 - p and scale it by 1 / (1 - p)
# ---------------------------------------------------------------------------------------------


def dropout_forward_reference(x, u, p):
    """mask = (u >= p) / (1 - p),  y = x * mask.   x, u (uniforms in [0, 1)): same shape.

    u comes from the caller's numpy Generator (`rng.random(x.shape, dtype=x.dtype)`), so the
    same seed gives the same mask on both paths. Returns y and the mask (dL/dx = grad * mask).
    """
    scale = x.dtype.type(1 / (1 - p))
    mask = (u >= p).astype(x.dtype) * scale
    return x * mask, mask


@njit(cache=True)
def _dropout_forward(x, u, p, scale):
    y = np.empty_like(x)
    mask = np.empty_like(x)
    for i in range(x.size):
        m = scale if u[i] >= p else 0
        mask[i] = m
        y[i] = x[i] * mask[i]  # multiply by the stored (x.dtype) value, as the twin does
    return y, mask


def dropout_forward_numba(x, u, p):
    """Same result as dropout_forward_reference: compare, scale and multiply in one pass."""
    scale = x.dtype.type(1 / (1 - p))
    # p in x's dtype: NumPy compares a float32 u with float32(p), and so must this loop
    y, mask = _dropout_forward(_flat(x), _flat(u), x.dtype.type(p), scale)
    return y.reshape(x.shape), mask.reshape(x.shape)


# The kernels the ops call: Numba, or the NumPy twins under NANOGEN_KERNELS=numpy.
relu_backward = pick(relu_backward_numba, relu_backward_reference)
leaky_relu_backward = pick(leaky_relu_backward_numba, leaky_relu_backward_reference)
leaky_relu_forward = pick(leaky_relu_forward_numba, leaky_relu_forward_reference)
elu_backward = pick(elu_backward_numba, elu_backward_reference)
sigmoid_backward = pick(sigmoid_backward_numba, sigmoid_backward_reference)
tanh_backward = pick(tanh_backward_numba, tanh_backward_reference)
dropout_forward = pick(dropout_forward_numba, dropout_forward_reference)
