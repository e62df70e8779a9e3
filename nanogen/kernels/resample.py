"""Upsampling kernels: nearest-neighbour and bilinear resizing of (N, C, H, W) images.

Read nanogen/ops/pool.py (interpolate) first. Decoders and GAN generators grow images with these:
nearest repeats every pixel SHxSW times, bilinear blends the four nearest input pixels.
Bilinear follows PyTorch's align_corners=False: output pixel centres are mapped back onto the
input grid, src = (dst + 0.5) * H/OH - 0.5, clamped at 0, so the corners are not pinned and a
2x upsample weighs neighbours 3/4 and 1/4. Each kernel has its NumPy twin first (`_reference`)
and the Numba version (`_numba`) after it; `<name>` is the one the ops call.
"""

import numpy as np

from nanogen.kernels import njit, pick, prange

# ---------------------------------------------------------------------------------------------
# nearest: y[n, c, i, j] = x[n, c, i // SH, j // SW]
# ---------------------------------------------------------------------------------------------


def upsample_nearest_forward_reference(x, SH, SW):
    """Repeat every pixel SH times down and SW times across.   (N, C, H, W) -> (N, C, H*SH, W*SW)"""
    return np.repeat(np.repeat(x, SH, axis=2), SW, axis=3)


@njit(cache=True, parallel=True)
def upsample_nearest_forward_numba(x, SH, SW):
    """Same result as upsample_nearest_forward_reference: build one output row, copy it SH-1 times."""
    N, C, H, W = x.shape
    y = np.empty((N, C, H * SH, W * SW), dtype=x.dtype)
    for nc in prange(N * C):  # one (image, channel) plane per iteration: disjoint writes
        n, c = nc // C, nc % C
        for i in range(H):
            row = y[n, c, i * SH]
            for j in range(W):
                v = x[n, c, i, j]
                for b in range(SW):
                    row[j * SW + b] = v
            for a in range(1, SH):
                y[n, c, i * SH + a, :] = row
    return y


def upsample_nearest_backward_reference(grad, SH, SW):
    """dx[n, c, i, j] = sum of grad over the SHxSW block that copied x[n, c, i, j].

    grad: (N, C, H*SH, W*SW) -> dx: (N, C, H, W)
    """
    N, C, OH, OW = grad.shape
    H, W = OH // SH, OW // SW
    return grad.reshape(N, C, H, SH, W, SW).sum(axis=(3, 5))  # (N, C, H, SH, W, SW): blocks


@njit(cache=True, parallel=True)
def upsample_nearest_backward_numba(grad, SH, SW):
    """Same result as upsample_nearest_backward_reference: each row of dx sums SH rows of grad."""
    N, C, OH, OW = grad.shape
    H, W = OH // SH, OW // SW
    dx = np.empty((N, C, H, W), dtype=grad.dtype)
    for nc in prange(N * C):  # one plane per iteration: disjoint writes
        n, c = nc // C, nc % C
        for i in range(H):
            out = dx[n, c, i]
            out[:] = 0
            for a in range(SH):
                src = grad[n, c, i * SH + a]
                if SW == 2:  # the usual case, with a constant inner trip count: 2x faster
                    for j in range(W):
                        out[j] += src[2 * j] + src[2 * j + 1]
                else:
                    for j in range(W):
                        s = src[j * SW]
                        for b in range(1, SW):
                            s += src[j * SW + b]
                        out[j] += s
    return dx


# ---------------------------------------------------------------------------------------------
# bilinear (align_corners=False): y = Ah x Aw.T per plane, Ah (OH, H) and Aw (OW, W) sparse
# ---------------------------------------------------------------------------------------------


def bilinear_weights(size, out_size):
    """Where output pixel i reads from: rows i0, i1 (int64) with weights l0 + l1 = 1.

    src = (i + 0.5) * size/out_size - 0.5, clamped at 0 (PyTorch, align_corners=False);
    i0 = floor(src), i1 = i0 + 1 except on the last row, l1 = src - i0, l0 = 1 - l1.
    """
    src = np.maximum((np.arange(out_size) + 0.5) * (size / out_size) - 0.5, 0.0)
    i0 = src.astype(np.int64)  # floor, as src >= 0
    i1 = np.where(i0 < size - 1, i0 + 1, i0)
    l1 = src - i0
    return i0, i1, 1.0 - l1, l1


def bilinear_matrix(size, out_size, dtype):
    """The same weights as a dense (out_size, size) matrix A: interpolating is A @ rows."""
    i0, i1, l0, l1 = bilinear_weights(size, out_size)
    A = np.zeros((out_size, size), dtype=dtype)
    rows = np.arange(out_size)
    np.add.at(A, (rows, i0), l0)  # add.at: on the last row i0 == i1 and both weights add
    np.add.at(A, (rows, i1), l1)
    return A


def upsample_bilinear_forward_reference(x, OH, OW):
    """y[n, c] = Ah @ x[n, c] @ Aw.T.   (N, C, H, W) -> (N, C, OH, OW)"""
    N, C, H, W = x.shape
    Ah = bilinear_matrix(H, OH, x.dtype)  # (OH, H)
    Aw = bilinear_matrix(W, OW, x.dtype)  # (OW, W)
    return Ah @ x @ Aw.T  # (OH, H) @ (N, C, H, W) @ (W, OW) -> (N, C, OH, OW)


def upsample_bilinear_backward_reference(grad, H, W):
    """The transpose of the forward map: dx[n, c] = Ah.T @ grad[n, c] @ Aw.   -> (N, C, H, W)"""
    N, C, OH, OW = grad.shape
    Ah = bilinear_matrix(H, OH, grad.dtype)
    Aw = bilinear_matrix(W, OW, grad.dtype)
    return Ah.T @ grad @ Aw  # (H, OH) @ (N, C, OH, OW) @ (OW, W) -> (N, C, H, W)


@njit(cache=True)
def _bilinear_weights(size, out_size):
    """bilinear_weights, compiled (cache=True wants helpers in the kernel's own file)."""
    i0 = np.empty(out_size, dtype=np.int64)
    i1 = np.empty(out_size, dtype=np.int64)
    l0 = np.empty(out_size, dtype=np.float64)
    l1 = np.empty(out_size, dtype=np.float64)
    for i in range(out_size):
        src = max((i + 0.5) * (size / out_size) - 0.5, 0.0)
        i0[i] = int(src)
        i1[i] = i0[i] + 1 if i0[i] < size - 1 else i0[i]
        l1[i] = src - i0[i]
        l0[i] = 1.0 - l1[i]
    return i0, i1, l0, l1


@njit(cache=True, parallel=True)
def upsample_bilinear_forward_numba(x, OH, OW):
    """Same result as upsample_bilinear_forward_reference, four reads per output pixel."""
    N, C, H, W = x.shape
    h0, h1, a0, a1 = _bilinear_weights(H, OH)
    w0, w1, b0, b1 = _bilinear_weights(W, OW)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for i in range(OH):
            top = x[n, c, h0[i]]
            bottom = x[n, c, h1[i]]
            for j in range(OW):
                y[n, c, i, j] = a0[i] * (b0[j] * top[w0[j]] + b1[j] * top[w1[j]]) + a1[i] * (
                    b0[j] * bottom[w0[j]] + b1[j] * bottom[w1[j]]
                )
    return y


@njit(cache=True, parallel=True)
def upsample_bilinear_backward_numba(grad, H, W):
    """Same result as upsample_bilinear_backward_reference: each output pixel hands its gradient
    back to its four sources, weighted as in the forward pass (per plane: zero, then scatter)."""
    N, C, OH, OW = grad.shape
    h0, h1, a0, a1 = _bilinear_weights(H, OH)
    w0, w1, b0, b1 = _bilinear_weights(W, OW)
    dx = np.empty((N, C, H, W), dtype=grad.dtype)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        dx[n, c] = 0
        for i in range(OH):
            top = dx[n, c, h0[i]]
            bottom = dx[n, c, h1[i]]
            for j in range(OW):
                g = grad[n, c, i, j]
                top[w0[j]] += a0[i] * b0[j] * g
                top[w1[j]] += a0[i] * b1[j] * g
                bottom[w0[j]] += a1[i] * b0[j] * g
                bottom[w1[j]] += a1[i] * b1[j] * g
    return dx


# The kernels the ops call: Numba, or the NumPy twins under NANOGEN_KERNELS=numpy.
upsample_nearest_forward = pick(upsample_nearest_forward_numba, upsample_nearest_forward_reference)
upsample_nearest_backward = pick(upsample_nearest_backward_numba, upsample_nearest_backward_reference)
upsample_bilinear_forward = pick(upsample_bilinear_forward_numba, upsample_bilinear_forward_reference)
upsample_bilinear_backward = pick(upsample_bilinear_backward_numba, upsample_bilinear_backward_reference)
