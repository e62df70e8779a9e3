"""Normalization kernels: batch-norm statistics and layer norm, with closed-form backward passes.

Read nanogen/ops/norm.py first: it states the math (normalize, scale, shift) and why the
backward pass has a closed form. Here the arrays come pre-shaped:
- batch norm sees x as (N, C, L): L = H*W for images, L = 1 for (N, C) features; statistics
  run over N and L, one (mean, variance) per channel C;
- layer norm sees x as (M, D): statistics run over the D trailing features of each of M rows.
Each kernel has its NumPy twin first (`_reference`) and the Numba version (`_numba`) after it;
`<name>` is the one the ops call. The Numba kernels sum in float64 (even for float32 data), so
a mean over 25 000 values keeps its digits; NumPy's pairwise sums get the same accuracy.
"""

import numpy as np

from nanogen.kernels import njit, pick, prange

# ---------------------------------------------------------------------------------------------
# batch norm over (N, C, L): one mean and variance per channel
# ---------------------------------------------------------------------------------------------


def batch_norm_train_forward_reference(x, weight, bias, eps):
    """Normalize with the batch's own statistics, then scale and shift.

    mean[c] = mean of x[:, c, :]    var[c] = mean of (x[:, c, :] - mean[c])^2   (biased)
    invstd = 1 / sqrt(var + eps)    y = (x - mean) * invstd * weight + bias
    x: (N, C, L), weight, bias: (C,) -> y: (N, C, L), mean, var, invstd: (C,)
    """
    mean = x.mean(axis=(0, 2))
    var = x.var(axis=(0, 2))  # two-pass (subtracts the mean first): no cancellation
    invstd = 1 / np.sqrt(var + eps)
    scale = (weight * invstd)[:, None]  # (C, 1) broadcasts over (N, C, L)
    y = (x - mean[:, None]) * scale + bias[:, None]
    return y, mean, var, invstd


# fastmath={"reassoc"}: lets LLVM split each running sum into vector lanes (3-4x faster here);
# the sums then differ from a left-to-right sum in the last bits, never in NaN/Inf handling.
@njit(cache=True, fastmath={"reassoc"})
def _column_stats(x):
    """Per-channel mean and biased variance of x: (N, C, 1), in float64, walking rows."""
    N, C, _ = x.shape
    x2 = x.reshape(N, C)  # (N, C, 1) -> (N, C)
    mean = np.zeros(C)
    for n in range(N):
        row = x2[n]
        for c in range(C):
            mean[c] += row[c]
    mean /= N
    var = np.zeros(C)
    for n in range(N):
        row = x2[n]
        for c in range(C):
            d = row[c] - mean[c]
            var[c] += d * d
    var /= N
    return mean, var


@njit(cache=True, parallel=True)
def _scale_shift(x, scale, shift):
    """y[n, c, l] = x[n, c, l] * scale[c] + shift[c]   x: (N, C, L), scale, shift: (C,)"""
    N, C, L = x.shape
    y = np.empty_like(x)
    if L == 1:  # the innermost loop must run along memory: here that is the channels
        x2 = x.reshape(N, C)
        y2 = y.reshape(N, C)
        for n in prange(N):
            for c in range(C):
                y2[n, c] = x2[n, c] * scale[c] + shift[c]
        return y
    for n in prange(N):
        for c in range(C):
            a, b = scale[c], shift[c]
            row = x[n, c]
            out = y[n, c]
            for l in range(L):
                out[l] = row[l] * a + b
    return y


@njit(cache=True, parallel=True, fastmath={"reassoc"})  # reassoc: vectorized sums, see above
def batch_norm_train_forward_numba(x, weight, bias, eps):
    """Same result as batch_norm_train_forward_reference, one channel per thread: three passes
    over that channel's values (mean, variance, output) while they sit in cache."""
    N, C, L = x.shape
    M = N * L
    if L == 1:  # (N, C) features: a channel is a strided column, so walk the rows instead
        mean64, var64 = _column_stats(x)
        mean, var = mean64.astype(x.dtype), var64.astype(x.dtype)
        invstd = (1 / np.sqrt(var64 + eps)).astype(x.dtype)
        scale = weight * invstd
        return _scale_shift(x, scale, bias - mean * scale), mean, var, invstd
    y = np.empty_like(x)
    mean = np.empty(C, dtype=x.dtype)
    var = np.empty(C, dtype=x.dtype)
    invstd = np.empty(C, dtype=x.dtype)
    for c in prange(C):
        s = 0.0  # float64 sum, even for float32 x
        for n in range(N):
            row = x[n, c]  # (L,): contiguous
            for l in range(L):
                s += row[l]
        mu = s / M
        s = 0.0
        for n in range(N):
            row = x[n, c]
            for l in range(L):
                d = row[l] - mu
                s += d * d  # two passes: sum((x - mean)^2), no cancellation as in E[x^2] - mean^2
        sigma2 = s / M
        r = 1 / np.sqrt(sigma2 + eps)
        scale = weight[c] * r
        shift = bias[c] - mu * scale  # y = x * scale + shift: one multiply-add per element
        for n in range(N):
            row = x[n, c]
            out = y[n, c]
            for l in range(L):
                out[l] = row[l] * scale + shift
        mean[c] = mu
        var[c] = sigma2
        invstd[c] = r
    return y, mean, var, invstd


def batch_norm_eval_forward_reference(x, mean, var, weight, bias, eps):
    """Normalize with given (running) statistics: y = (x - mean) / sqrt(var + eps) * weight + bias.

    x: (N, C, L), mean, var, weight, bias: (C,) -> y: (N, C, L)
    """
    scale = weight / np.sqrt(var + eps)
    return (x - mean[:, None]) * scale[:, None] + bias[:, None]


@njit(cache=True)
def batch_norm_eval_forward_numba(x, mean, var, weight, bias, eps):
    """Same result as batch_norm_eval_forward_reference: y = x * scale[c] + shift[c], one pass."""
    scale = weight / np.sqrt(var + eps)
    return _scale_shift(x, scale, bias - mean * scale)


def batch_norm_backward_reference(grad, x, mean, invstd, weight, training):
    """Gradients of y = xhat * weight + bias, xhat = (x - mean) * invstd, in closed form.

    dL/dbias[c]   = sum of grad[:, c, :]
    dL/dweight[c] = sum of grad[:, c, :] * xhat[:, c, :]
    dL/dx, training (mean and invstd depend on x; M = N*L values per channel):
        weight * invstd / M * (M * grad - dL/dbias - xhat * dL/dweight)
    dL/dx, eval (mean and invstd are constants): grad * weight * invstd
    grad, x: (N, C, L), mean, invstd, weight: (C,) -> dx: (N, C, L), dweight, dbias: (C,)
    """
    # BEGIN SOLUTION batch_norm_backward
    N, C, L = x.shape
    M = N * L
    xhat = (x - mean[:, None]) * invstd[:, None]
    dbias = grad.sum(axis=(0, 2))
    dweight = (grad * xhat).sum(axis=(0, 2))
    k = (weight * invstd)[:, None]  # (C, 1)
    if training:
        dx = k / M * (M * grad - dbias[:, None] - xhat * dweight[:, None])
    else:
        dx = k * grad
    return dx, dweight, dbias
    # END SOLUTION


@njit(cache=True, fastmath={"reassoc"})
def _batch_norm_backward_columns(grad, x, mean, invstd, weight, training):
    """batch_norm_backward for x: (N, C, 1): the same formulas, rows outside, channels inside."""
    N, C, _ = x.shape
    g2 = grad.reshape(N, C)  # (N, C, 1) -> (N, C)
    x2 = x.reshape(N, C)
    sg = np.zeros(C)
    sgx = np.zeros(C)
    for n in range(N):
        for c in range(C):
            sg[c] += g2[n, c]
            sgx[c] += g2[n, c] * ((x2[n, c] - mean[c]) * invstd[c])
    k = weight * invstd.astype(np.float64)  # (C,) float64
    a = k * sg / N if training else np.zeros(C)
    b = k * sgx / N if training else np.zeros(C)
    dx = np.empty_like(x)
    dx2 = dx.reshape(N, C)
    for n in range(N):
        for c in range(C):
            dx2[n, c] = k[c] * g2[n, c] - a[c] - b[c] * ((x2[n, c] - mean[c]) * invstd[c])
    return dx, sgx.astype(x.dtype), sg.astype(x.dtype)


@njit(cache=True, parallel=True, fastmath={"reassoc"})  # reassoc: vectorized sums, see above
def batch_norm_backward_numba(grad, x, mean, invstd, weight, training):
    """Same result as batch_norm_backward_reference, one channel per thread, two passes."""
    N, C, L = x.shape
    M = N * L
    if L == 1:  # (N, C) features: walk rows, as in the forward pass
        return _batch_norm_backward_columns(grad, x, mean, invstd, weight, training)
    dx = np.empty_like(x)
    dweight = np.empty(C, dtype=x.dtype)
    dbias = np.empty(C, dtype=x.dtype)
    for c in prange(C):
        mu, r = mean[c], invstd[c]
        sg = 0.0  # sum of grad
        sgx = 0.0  # sum of grad * xhat
        for n in range(N):
            g_row = grad[n, c]
            x_row = x[n, c]
            for l in range(L):
                sg += g_row[l]
                sgx += g_row[l] * ((x_row[l] - mu) * r)
        dbias[c] = sg
        dweight[c] = sgx
        k = weight[c] * r
        # training: dx = k/M * (M g - sg - xhat sgx) = k g - a - b xhat;  eval: dx = k g
        a = k * sg / M if training else 0.0
        b = k * sgx / M if training else 0.0
        for n in range(N):
            g_row = grad[n, c]
            x_row = x[n, c]
            out = dx[n, c]
            for l in range(L):
                out[l] = k * g_row[l] - a - b * ((x_row[l] - mu) * r)
    return dx, dweight, dbias


# ---------------------------------------------------------------------------------------------
# layer norm over (M, D): one mean and variance per row
# ---------------------------------------------------------------------------------------------


def layer_norm_forward_reference(x, weight, bias, eps):
    """y = (x - mean) * invstd * weight + bias, statistics over each row's D values.

    x: (M, D), weight, bias: (D,) -> y: (M, D), mean, invstd: (M,)
    """
    mean = x.mean(axis=1)
    invstd = 1 / np.sqrt(x.var(axis=1) + eps)
    y = (x - mean[:, None]) * invstd[:, None] * weight + bias
    return y, mean, invstd


@njit(cache=True, parallel=True, fastmath={"reassoc"})  # vectorized sums
def layer_norm_forward_numba(x, weight, bias, eps):
    """Same result as layer_norm_forward_reference, one row per iteration."""
    M, D = x.shape
    y = np.empty_like(x)
    mean = np.empty(M, dtype=x.dtype)
    invstd = np.empty(M, dtype=x.dtype)
    for m in prange(M):
        s = 0.0
        for d in range(D):
            s += x[m, d]
        mu = s / D
        s = 0.0
        for d in range(D):
            t = x[m, d] - mu
            s += t * t
        r = 1 / np.sqrt(s / D + eps)
        for d in range(D):
            y[m, d] = (x[m, d] - mu) * r * weight[d] + bias[d]
        mean[m] = mu
        invstd[m] = r
    return y, mean, invstd


def layer_norm_backward_reference(grad, x, mean, invstd, weight):
    """Closed-form gradients of layer norm (the batch-norm formula, per row instead of per channel).

    dxhat = grad * weight
    dL/dx = invstd / D * (D * dxhat - sum_d dxhat - xhat * sum_d (dxhat * xhat))
    dL/dweight = sum over rows of grad * xhat      dL/dbias = sum over rows of grad
    grad, x: (M, D), mean, invstd: (M,), weight: (D,) -> dx: (M, D), dweight, dbias: (D,)
    """
    M, D = x.shape
    xhat = (x - mean[:, None]) * invstd[:, None]
    dxhat = grad * weight
    dx = invstd[:, None] / D * (
        D * dxhat - dxhat.sum(axis=1, keepdims=True) - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)
    )
    return dx, (grad * xhat).sum(axis=0), grad.sum(axis=0)


@njit(cache=True, parallel=True, fastmath={"reassoc"})  # vectorized sums
def layer_norm_backward_numba(grad, x, mean, invstd, weight):
    """Same result as layer_norm_backward_reference.

    dx is per row, but dweight and dbias sum over rows: each of a fixed number of row blocks
    keeps its own partial sums (no two threads add into the same slot), added up at the end.
    """
    M, D = x.shape
    dx = np.empty_like(x)
    n_blocks = min(M, 16)  # fixed, not the thread count: the same sums on every machine
    part_w = np.zeros((n_blocks, D))  # float64 partial sums
    part_b = np.zeros((n_blocks, D))
    for blk in prange(n_blocks):
        for m in range(blk * M // n_blocks, (blk + 1) * M // n_blocks):
            mu, r = mean[m], invstd[m]
            s1 = 0.0  # sum of dxhat
            s2 = 0.0  # sum of dxhat * xhat
            for d in range(D):
                xh = (x[m, d] - mu) * r
                g = grad[m, d]
                dxh = g * weight[d]
                s1 += dxh
                s2 += dxh * xh
                part_w[blk, d] += g * xh
                part_b[blk, d] += g
            for d in range(D):
                xh = (x[m, d] - mu) * r
                dx[m, d] = r / D * (D * grad[m, d] * weight[d] - s1 - xh * s2)
    dweight = np.empty(D, dtype=x.dtype)
    dbias = np.empty(D, dtype=x.dtype)
    for d in range(D):
        sw = 0.0
        sb = 0.0
        for blk in range(n_blocks):
            sw += part_w[blk, d]
            sb += part_b[blk, d]
        dweight[d] = sw
        dbias[d] = sb
    return dx, dweight, dbias


# The kernels the ops call: Numba, or the NumPy twins under NANOGEN_KERNELS=numpy.
batch_norm_train_forward = pick(batch_norm_train_forward_numba, batch_norm_train_forward_reference)
batch_norm_eval_forward = pick(batch_norm_eval_forward_numba, batch_norm_eval_forward_reference)
batch_norm_backward = pick(batch_norm_backward_numba, batch_norm_backward_reference)
layer_norm_forward = pick(layer_norm_forward_numba, layer_norm_forward_reference)
layer_norm_backward = pick(layer_norm_backward_numba, layer_norm_backward_reference)
