"""Pooling kernels: max, average and adaptive average over (N, C, H, W) planes.

Read nanogen/ops/pool.py first: it says what pooling computes and how its gradient flows; this
file computes it quickly. Each kernel comes twice with the same signature: `<name>_reference`
(plain NumPy, the specification) and `<name>_numba` (loops over output pixels, one (image,
channel) plane per thread). `<name>` is the one the ops call (see nanogen/kernels/__init__.py).

Output size, as PyTorch (ceil_mode=False):  OH = (H + 2*PH - KH) // SH + 1, and the same for OW.
Max pooling pads with -inf (padding never wins), average pooling with zeros and always divides
by KH*KW (PyTorch's default count_include_pad=True).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nanogen.kernels import njit, pick, prange


def pool_output_size(H, W, KH, KW, SH, SW, PH, PW):
    """(OH, OW) of a KHxKW window moved by (SH, SW) over an input padded by (PH, PW)."""
    return (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1


def _windows(xp, KH, KW, SH, SW, OH, OW):
    """Every pooling window of the padded input as a view: (N, C, OH, OW, KH, KW), no copy."""
    return sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::SH, ::SW][:, :, :OH, :OW]


# ---------------------------------------------------------------------------------------------
# max pooling: forward keeps, for every output pixel, where its maximum came from
# ---------------------------------------------------------------------------------------------


def max_pool2d_forward_reference(x, KH, KW, SH, SW, PH, PW):
    """y[n, c, i, j] = max over the window at (i*SH - PH, j*SW - PW) of x[n, c].

    x: (N, C, H, W) -> y: (N, C, OH, OW), idx: (N, C, OH, OW) int32, where idx = h*W + w is the
    position of the maximum inside its H x W plane (the first one in row-major order on ties;
    NaN counts as the maximum, as in PyTorch).
    """
    N, C, H, W = x.shape
    OH, OW = pool_output_size(H, W, KH, KW, SH, SW, PH, PW)
    xp = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)), constant_values=-np.inf)
    win = _windows(xp, KH, KW, SH, SW, OH, OW).reshape(N, C, OH, OW, KH * KW)  # copies
    a = win.argmax(axis=-1)  # (N, C, OH, OW): position inside the window
    y = np.take_along_axis(win, a[..., None], axis=-1)[..., 0]
    kh, kw = np.divmod(a, KW)
    h0 = np.arange(OH)[:, None] * SH - PH  # (OH, 1): the window's top row in the unpadded plane
    w0 = np.arange(OW)[None, :] * SW - PW  # (1, OW)
    h, w = h0 + kh, w0 + kw  # (N, C, OH, OW): where the maximum is
    # a window whose maximum is -inf ties with its padding: report its first real pixel instead
    pad = (h < 0) | (h >= H) | (w < 0) | (w >= W)
    h = np.where(pad, np.maximum(h0, 0), h)
    w = np.where(pad, np.maximum(w0, 0), w)
    return y, (h * W + w).astype(np.int32)


@njit(cache=True, parallel=True)
def _max_pool2d_forward_any(x, KH, KW, SH, SW, PH, PW):
    """max_pool2d_forward for any window, stride and padding: a loop over output pixels."""
    N, C, H, W = x.shape
    OH = (H + 2 * PH - KH) // SH + 1
    OW = (W + 2 * PW - KW) // SW + 1
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    idx = np.empty((N, C, OH, OW), dtype=np.int32)
    for nc in prange(N * C):  # one (image, channel) plane per iteration: disjoint writes
        n, c = nc // C, nc % C
        for i in range(OH):
            hs = max(i * SH - PH, 0)  # the window clipped to the plane: padding is -inf,
            he = min(i * SH - PH + KH, H)  # so it is skipped instead of compared
            for j in range(OW):
                ws = max(j * SW - PW, 0)
                we = min(j * SW - PW + KW, W)
                best = x[n, c, hs, ws]
                where = hs * W + ws
                has_nan = False
                for h in range(hs, he):
                    for w in range(ws, we):
                        v = x[n, c, h, w]
                        take = v > best  # strictly greater: the first maximum wins ties
                        has_nan |= v != v
                        best = v if take else best  # selects, not branches: on random data
                        where = h * W + w if take else where  # a branch mispredicts often
                if has_nan:  # rare, so this branch costs nothing: the first NaN is the maximum
                    for h in range(hs, he):
                        for w in range(ws, we):
                            v = x[n, c, h, w]
                            if v != v and best == best:
                                best = v
                                where = h * W + w
                y[n, c, i, j] = best
                idx[n, c, i, j] = where
    return y, idx


@njit(cache=True, parallel=True)
def _max_pool2d_forward_2x2(x):
    """max_pool2d_forward for 2x2 windows moved by 2, no padding: the commonest case, with
    constant trip counts so that LLVM unrolls and vectorizes the loop (several times faster)."""
    N, C, H, W = x.shape
    OH, OW = H // 2, W // 2
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    idx = np.empty((N, C, OH, OW), dtype=np.int32)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for i in range(OH):
            for j in range(OW):
                best = x[n, c, 2 * i, 2 * j]
                where = 2 * i * W + 2 * j
                has_nan = False
                for h in range(2 * i, 2 * i + 2):
                    for w in range(2 * j, 2 * j + 2):
                        v = x[n, c, h, w]
                        take = v > best
                        has_nan |= v != v
                        best = v if take else best  # selects, not branches: on random data
                        where = h * W + w if take else where  # a branch mispredicts half the time
                if has_nan:  # rare, so this branch is free: the first NaN is the maximum
                    for h in range(2 * i, 2 * i + 2):
                        for w in range(2 * j, 2 * j + 2):
                            v = x[n, c, h, w]
                            if v != v and best == best:
                                best = v
                                where = h * W + w
                y[n, c, i, j] = best
                idx[n, c, i, j] = where
    return y, idx


def max_pool2d_forward_numba(x, KH, KW, SH, SW, PH, PW):
    """Same result as max_pool2d_forward_reference: the 2x2/stride-2 loop or the general one."""
    if (KH, KW, SH, SW, PH, PW) == (2, 2, 2, 2, 0, 0):
        return _max_pool2d_forward_2x2(x)
    return _max_pool2d_forward_any(x, KH, KW, SH, SW, PH, PW)


def max_pool2d_backward_reference(grad, idx, H, W):
    """dx[n, c].flat[idx[n, c, i, j]] += grad[n, c, i, j]: each output sends its gradient to its
    maximum; overlapping windows that share a maximum add up.   grad, idx: (N, C, OH, OW) -> dx: (N, C, H, W)
    """
    # BEGIN SOLUTION max_pool_backward
    N, C, OH, OW = grad.shape
    dx = np.zeros((N * C, H * W), dtype=grad.dtype)
    rows = np.arange(N * C)[:, None]  # (N*C, 1) broadcasts against (N*C, OH*OW)
    np.add.at(dx, (rows, idx.reshape(N * C, OH * OW)), grad.reshape(N * C, OH * OW))
    return dx.reshape(N, C, H, W)
    # END SOLUTION


@njit(cache=True, parallel=True)
def max_pool2d_backward_numba(grad, idx, H, W):
    """Same result as max_pool2d_backward_reference: per plane, zero it, then scatter-add."""
    N, C, OH, OW = grad.shape
    dx = np.empty((N * C, H * W), dtype=grad.dtype)
    g = grad.reshape(N * C, OH * OW)
    k = idx.reshape(N * C, OH * OW)
    for nc in prange(N * C):  # a plane per iteration: the += never races with another thread
        for t in range(H * W):
            dx[nc, t] = 0
        for t in range(OH * OW):
            dx[nc, k[nc, t]] += g[nc, t]
    return dx.reshape(N, C, H, W)


# ---------------------------------------------------------------------------------------------
# average pooling: the mean of each window, padding counted as zeros
# ---------------------------------------------------------------------------------------------


def avg_pool2d_forward_reference(x, KH, KW, SH, SW, PH, PW):
    """y[n, c, i, j] = sum of the (zero-padded) window / (KH*KW).   (N, C, H, W) -> (N, C, OH, OW)"""
    N, C, H, W = x.shape
    OH, OW = pool_output_size(H, W, KH, KW, SH, SW, PH, PW)
    xp = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    return _windows(xp, KH, KW, SH, SW, OH, OW).sum(axis=(4, 5)) / (KH * KW)


@njit(cache=True, parallel=True)
def avg_pool2d_forward_numba(x, KH, KW, SH, SW, PH, PW):
    """Same result as avg_pool2d_forward_reference, as a loop over output pixels."""
    N, C, H, W = x.shape
    OH = (H + 2 * PH - KH) // SH + 1
    OW = (W + 2 * PW - KW) // SW + 1
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for i in range(OH):
            hs = max(i * SH - PH, 0)
            he = min(i * SH - PH + KH, H)
            for j in range(OW):
                ws = max(j * SW - PW, 0)
                we = min(j * SW - PW + KW, W)
                s = 0.0  # float64 accumulator; padding adds zeros, so it is skipped
                for h in range(hs, he):
                    for w in range(ws, we):
                        s += x[n, c, h, w]
                y[n, c, i, j] = s / (KH * KW)
    return y


def avg_pool2d_backward_reference(grad, H, W, KH, KW, SH, SW, PH, PW):
    """dx[window of (i, j)] += grad[n, c, i, j] / (KH*KW).   (N, C, OH, OW) -> (N, C, H, W)

    One strided slice-add per window offset (kh, kw): KH*KW vectorized steps, not N*C*OH*OW.
    """
    N, C, OH, OW = grad.shape
    g = grad / (KH * KW)
    dxp = np.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=grad.dtype)
    for kh in range(KH):
        for kw in range(KW):
            dxp[:, :, kh : kh + SH * OH : SH, kw : kw + SW * OW : SW] += g
    return dxp[:, :, PH : PH + H, PW : PW + W].copy()  # drop the padding's gradient


@njit(cache=True, parallel=True)
def avg_pool2d_backward_numba(grad, H, W, KH, KW, SH, SW, PH, PW):
    """Same result as avg_pool2d_backward_reference, per plane: zero, then scatter-add."""
    N, C, OH, OW = grad.shape
    dx = np.empty((N, C, H, W), dtype=grad.dtype)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for h in range(H):
            for w in range(W):
                dx[n, c, h, w] = 0
        for i in range(OH):
            hs = max(i * SH - PH, 0)
            he = min(i * SH - PH + KH, H)
            for j in range(OW):
                ws = max(j * SW - PW, 0)
                we = min(j * SW - PW + KW, W)
                g = grad[n, c, i, j] / (KH * KW)
                for h in range(hs, he):
                    for w in range(ws, we):
                        dx[n, c, h, w] += g
    return dx


# ---------------------------------------------------------------------------------------------
# adaptive average pooling: the output size is given, the windows follow from it
# ---------------------------------------------------------------------------------------------


def adaptive_window(i, size, out_size):
    """PyTorch's windows: output i averages rows [floor(i*H/OH), ceil((i+1)*H/OH)).

    They cover the input, may overlap by one row, and differ in size when OH does not divide H.
    i may be an int (the Numba kernels, through _adaptive_window) or an array (adaptive_bounds).
    """
    return (i * size) // out_size, ((i + 1) * size + out_size - 1) // out_size


_adaptive_window = njit(cache=True)(adaptive_window)  # the same formula, compiled for the kernels


def adaptive_bounds(size, out_size):
    """(starts, ends) of all out_size windows, as arrays."""
    return adaptive_window(np.arange(out_size), size, out_size)


def adaptive_avg_pool2d_forward_reference(x, OH, OW):
    """y[n, c, i, j] = mean of x[n, c, hs(i):he(i), ws(j):we(j)].   (N, C, H, W) -> (N, C, OH, OW)"""
    N, C, H, W = x.shape
    hs, he = adaptive_bounds(H, OH)
    ws, we = adaptive_bounds(W, OW)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            y[:, :, i, j] = x[:, :, hs[i] : he[i], ws[j] : we[j]].mean(axis=(2, 3))
    return y


@njit(cache=True, parallel=True)
def adaptive_avg_pool2d_forward_numba(x, OH, OW):
    """Same result as adaptive_avg_pool2d_forward_reference, as a loop over output pixels."""
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for i in range(OH):
            hs, he = _adaptive_window(i, H, OH)
            for j in range(OW):
                ws, we = _adaptive_window(j, W, OW)
                s = 0.0
                for h in range(hs, he):
                    for w in range(ws, we):
                        s += x[n, c, h, w]
                y[n, c, i, j] = s / ((he - hs) * (we - ws))
    return y


def adaptive_avg_pool2d_backward_reference(grad, H, W):
    """dx[window of (i, j)] += grad[n, c, i, j] / (window area).   (N, C, OH, OW) -> (N, C, H, W)"""
    N, C, OH, OW = grad.shape
    hs, he = adaptive_bounds(H, OH)
    ws, we = adaptive_bounds(W, OW)
    dx = np.zeros((N, C, H, W), dtype=grad.dtype)
    for i in range(OH):
        for j in range(OW):
            area = (he[i] - hs[i]) * (we[j] - ws[j])
            dx[:, :, hs[i] : he[i], ws[j] : we[j]] += (grad[:, :, i, j] / area)[:, :, None, None]
    return dx


@njit(cache=True, parallel=True)
def adaptive_avg_pool2d_backward_numba(grad, H, W):
    """Same result as adaptive_avg_pool2d_backward_reference, per plane: zero, then scatter-add."""
    N, C, OH, OW = grad.shape
    dx = np.empty((N, C, H, W), dtype=grad.dtype)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for h in range(H):
            for w in range(W):
                dx[n, c, h, w] = 0
        for i in range(OH):
            hs, he = _adaptive_window(i, H, OH)
            for j in range(OW):
                ws, we = _adaptive_window(j, W, OW)
                g = grad[n, c, i, j] / ((he - hs) * (we - ws))
                for h in range(hs, he):
                    for w in range(ws, we):
                        dx[n, c, h, w] += g
    return dx


# The kernels the ops call: Numba, or the NumPy twins under NANOGEN_KERNELS=numpy.
max_pool2d_forward = pick(max_pool2d_forward_numba, max_pool2d_forward_reference)
max_pool2d_backward = pick(max_pool2d_backward_numba, max_pool2d_backward_reference)
avg_pool2d_forward = pick(avg_pool2d_forward_numba, avg_pool2d_forward_reference)
avg_pool2d_backward = pick(avg_pool2d_backward_numba, avg_pool2d_backward_reference)
adaptive_avg_pool2d_forward = pick(adaptive_avg_pool2d_forward_numba, adaptive_avg_pool2d_forward_reference)
adaptive_avg_pool2d_backward = pick(adaptive_avg_pool2d_backward_numba, adaptive_avg_pool2d_backward_reference)
