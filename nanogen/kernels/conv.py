"""Convolution kernels: im2col and col2im, the data movement that turns a convolution into a GEMM.

Read nanogen/ops/conv.py first: it says what conv2d and conv_transpose2d compute and shows how
they call these two kernels around a BLAS matrix product. Here is the "how to move the bytes":

    im2col: x (N, C, H, W) -> cols (C*KH*KW, N*OH*OW)
        cols[(c, kh, kw), (n, oh, ow)] = xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW]
    col2im: the adjoint (transpose) of im2col: every column entry is *added* back to the input
        pixel it was copied from, so overlapping windows sum (stride < kernel).

xpad is x with PH zero rows above and below and PW zero columns left and right. The layout puts
(c, kh, kw) on rows and (n, oh, ow) on columns, so conv2d is ONE big GEMM,
w (F, C*KH*KW) @ cols -> (F, N*OH*OW), for the whole batch.

OH and OW are passed in, not recomputed: conv_transpose2d needs im2col/col2im over an output
size that its output_padding chose. At the end, conv2d_direct and its weight gradient: loops
without a GEMM, for layers with only a few taps per output (1-channel images).
Each kernel comes twice with the same signature:
`<name>_reference` (NumPy, the specification) and `<name>_numba`; `<name>` is the one the ops
call (see nanogen/kernels/__init__.py).
Reference: Chellapilla, Puri & Simard, "High Performance Convolutional Neural Networks for
Document Processing" (2006), sec. 3 (unfolding convolutions into a matrix product).
"""

import numpy as np

from nanogen.kernels import njit, pick, prange, uint64


def conv_output_size(size, kernel, stride, padding, dilation):
    """How many windows fit along one axis: (size + 2*padding - dilation*(kernel - 1) - 1) // stride + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation):
    """The transposed convolution's output along one axis:
    (size - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


# ---------------------------------------------------------------------------------------------
# The NumPy twins: pad, then one strided slice per kernel tap (kh, kw)
# ---------------------------------------------------------------------------------------------


def _padded_extent(size, pad, out, kernel, stride, dilation):
    """Padded length that holds every window: size + 2*pad, or more if `out` windows need more."""
    return max(size + 2 * pad, (out - 1) * stride + (kernel - 1) * dilation + 1)


def im2col_reference(x, KH, KW, stride, padding, dilation, OH, OW, out=None):
    """cols[(c, kh, kw), (n, oh, ow)] = xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW].

    x: (N, C, H, W)  ->  cols: (C*KH*KW, N*OH*OW); stride, padding, dilation are (h, w) pairs.
    out: None, or a C-contiguous (C*KH*KW, N*OH*OW) array to write cols into (and return).
    """
    # BEGIN SOLUTION conv2d_im2col
    N, C, H, W = x.shape
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    HP = _padded_extent(H, PH, OH, KH, SH, DH)
    WP = _padded_extent(W, PW, OW, KW, SW, DW)
    xp = np.zeros((N, C, HP, WP), dtype=x.dtype)
    xp[:, :, PH:PH + H, PW:PW + W] = x
    cols = np.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            h0, w0 = kh * DH, kw * DW
            tap = xp[:, :, h0:h0 + SH * (OH - 1) + 1:SH, w0:w0 + SW * (OW - 1) + 1:SW]  # (N, C, OH, OW)
            cols[:, kh, kw] = tap.transpose(1, 0, 2, 3)
    cols = cols.reshape(C * KH * KW, N * OH * OW)
    # END SOLUTION
    if out is None:
        return cols
    out[...] = cols
    return out


def col2im_reference(cols, x_shape, KH, KW, stride, padding, dilation, OH, OW, out=None):
    """x[n, c, h, w] = sum of every cols[(c, kh, kw), (n, oh, ow)] with oh*SH + kh*DH - PH = h
    and ow*SW + kw*DW - PW = w: the adjoint of im2col_reference.

    cols: (C*KH*KW, N*OH*OW)  ->  x: x_shape = (N, C, H, W).
    out: None, or a C-contiguous x_shape array to write x into (and return).
    """
    # BEGIN SOLUTION conv2d_im2col
    N, C, H, W = x_shape
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    HP = _padded_extent(H, PH, OH, KH, SH, DH)
    WP = _padded_extent(W, PW, OW, KW, SW, DW)
    xp = np.zeros((N, C, HP, WP), dtype=cols.dtype)
    cols = cols.reshape(C, KH, KW, N, OH, OW)
    for kh in range(KH):
        for kw in range(KW):
            h0, w0 = kh * DH, kw * DW
            # within one tap the strided slice hits each pixel at most once, so += is safe
            tap = xp[:, :, h0:h0 + SH * (OH - 1) + 1:SH, w0:w0 + SW * (OW - 1) + 1:SW]  # a view into xp
            tap += cols[:, kh, kw].transpose(1, 0, 2, 3)
    x = np.ascontiguousarray(xp[:, :, PH:PH + H, PW:PW + W])
    # END SOLUTION
    if out is None:
        return x
    out[...] = x
    return out


# ---------------------------------------------------------------------------------------------
# The Numba kernels
#
# A direct loop "for each column entry, fetch its pixel" is ~5x slower than a memcpy of cols:
# with stride 2 and OW = 7 every inner loop is a 7-element strided gather. So each task
# (one channel c, a block of BLOCK images) works in two stages through a small scratch z:
#   stage 1: z[n, kw, a, i, ow] = xpad[n, c, i*SH + a, ow*SW + kw*DW]   (a = row phase)
#            the width gather, done once per (kw, input row) instead of once per (kh, kw);
#   stage 2: for tap (kh, kw) with kh*DH = i0*SH + a, the OH*OW values of image n are the
#            contiguous run z[n, kw, a, i0 : i0 + OH, :], copied to cols in one loop.
# Stage 2 writes every row of cols front to back (streaming stores), stage 1 stays in L1/L2.
# Indices are uint64: Numba checks signed indices for "negative means from the end", and that
# check in the inner loop costs more than the copy.
# Stage 1 is most of im2col's time (for conv2d 64->128 k4 s2, one thread: 3-4 of 6 ms per
# batch in two measurements, 2-3 cycles a value). Tried and left out: a stage 1 written for
# 4x4 stride 2 padding 1 only, reading each input row once and writing four z values per two
# pixels: 2.9 -> 2.0 ms per batch, about 2% of the layer's forward and backward, not worth a
# second copy of these loops.
# ---------------------------------------------------------------------------------------------

BLOCK = 16  # images per task: scratch z of BLOCK * KW*SH*HQ*OW values stays in L2


@njit(cache=True)
def _valid_range(offset, stride, size, n_out):
    """The outputs o in [0, n_out) whose input index o*stride + offset lies in [0, size): [lo, hi)."""
    lo = 0
    if offset < 0:
        lo = (-offset + stride - 1) // stride
    hi = (size - 1 - offset) // stride + 1  # floor division: hi <= 0 when no index fits
    lo = min(lo, n_out)
    hi = max(lo, min(hi, n_out))
    return lo, hi


@njit(cache=True)
def _gather_plane(z, zb, xf, xb, H, W, KW, stride, padding, dilation, HQ, OW):
    """Stage 1 for one image plane (x values from xf[xb], z values from z[zb], z zeroed before):
    z[kw, a, i, ow] = xpad[i*SH + a, ow*SW + kw*DW], a loop over the pixels inside x only."""
    SH, SW = stride
    PH, PW = padding
    DW = dilation[1]
    for kw in range(KW):
        w_off = kw * DW - PW
        ow_lo, ow_hi = _valid_range(w_off, SW, W, OW)
        for a in range(SH):
            i_lo, i_hi = _valid_range(a - PH, SH, H, HQ)
            for i in range(i_lo, i_hi):
                zr = uint64(zb + ((kw * SH + a) * HQ + i) * OW)
                xr = xb + (i * SH + a - PH) * W + w_off  # may be < 0; xr + ow_lo*SW is not
                for ow in range(ow_lo, ow_hi):
                    z[zr + uint64(ow)] = xf[uint64(xr + ow * SW)]


@njit(cache=True)
def _scatter_plane(xf, xb, z, zb, H, W, KW, stride, padding, dilation, HQ, OW):
    """The adjoint of _gather_plane: x plane = 0, then x[i*SH + a - PH, ow*SW + kw*DW - PW] += z[kw, a, i, ow]."""
    SH, SW = stride
    PH, PW = padding
    DW = dilation[1]
    for q in range(H * W):
        xf[uint64(xb + q)] = 0
    for kw in range(KW):
        w_off = kw * DW - PW
        ow_lo, ow_hi = _valid_range(w_off, SW, W, OW)
        for a in range(SH):
            i_lo, i_hi = _valid_range(a - PH, SH, H, HQ)
            for i in range(i_lo, i_hi):
                zr = uint64(zb + ((kw * SH + a) * HQ + i) * OW)
                xr = xb + (i * SH + a - PH) * W + w_off
                for ow in range(ow_lo, ow_hi):
                    xf[uint64(xr + ow * SW)] += z[zr + uint64(ow)]


@njit(cache=True)
def _run_start(kh, kw, stride, dilation, HQ, OW):
    """Where tap (kh, kw)'s run of OH*OW values starts inside one plane's z: z[kw, a, i0, 0]."""
    SH = stride[0]
    a = (kh * dilation[0]) % SH
    i0 = (kh * dilation[0]) // SH
    return ((kw * SH + a) * HQ + i0) * OW


def im2col_numba(x, KH, KW, stride, padding, dilation, OH, OW, out=None):
    """Same result as im2col_reference (x C-contiguous, out C-contiguous or None)."""
    N, C = x.shape[:2]
    if out is None:
        out = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    _im2col_into(x, KH, KW, stride, padding, dilation, OH, OW, out)
    return out


# One thread each: the ops (nanogen/ops/conv.py) call these on chunks of a few images, one chunk
# per thread, and nogil lets those threads run at once. (With parallel=True instead, every call
# woke the Numba thread pool: about 50 us a call, as long as im2col of 15 small images.)
@njit(cache=True, nogil=True)
def _im2col_into(x, KH, KW, stride, padding, dilation, OH, OW, cols):
    """im2col_numba's loops: cols = im2col(x), task by task (channel, block of images)."""
    N, C, H, W = x.shape
    SH = stride[0]
    HQ = OH + ((KH - 1) * dilation[0]) // SH  # rows of one row phase that some window reaches
    ZP = KW * SH * HQ * OW  # scratch values per image plane
    L = OH * OW
    NL = N * L
    xf = x.reshape(-1)  # x is C-contiguous: the ops pass np.ascontiguousarray(x)
    cf = cols.reshape(-1)
    NB = (N + BLOCK - 1) // BLOCK
    # one scratch for all tasks: stage 1 writes the same positions of it every time, so the
    # padding positions, never written, stay zero from here on
    z = np.zeros(min(N, BLOCK) * ZP, dtype=x.dtype)
    for t in range(C * NB):  # task = (channel c, image block): one piece of cols
        c = t // NB
        n0 = (t - c * NB) * BLOCK
        n1 = min(N, n0 + BLOCK)
        for n in range(n0, n1):  # stage 1
            _gather_plane(z, (n - n0) * ZP, xf, (n * C + c) * H * W, H, W, KW, stride, padding, dilation, HQ, OW)
        for kh in range(KH):  # stage 2: cols[(c, kh, kw), n*L : (n+1)*L] = one run of z
            for kw in range(KW):
                run = _run_start(kh, kw, stride, dilation, HQ, OW)
                rb = ((c * KH + kh) * KW + kw) * NL
                for n in range(n0, n1):
                    src = uint64((n - n0) * ZP + run)
                    dst = uint64(rb + n * L)
                    for q in range(L):
                        cf[dst + uint64(q)] = z[src + uint64(q)]


def col2im_numba(cols, x_shape, KH, KW, stride, padding, dilation, OH, OW, out=None):
    """Same result as col2im_reference (cols C-contiguous, out C-contiguous or None)."""
    if out is None:
        out = np.empty(x_shape, dtype=cols.dtype)
    _col2im_into(cols, KH, KW, stride, padding, dilation, OH, OW, out)
    return out


@njit(cache=True, nogil=True)
def _col2im_into(cols, KH, KW, stride, padding, dilation, OH, OW, x):
    """col2im_numba's loops: x = col2im(cols), im2col's two stages run backwards, adding."""
    N, C, H, W = x.shape
    SH = stride[0]
    HQ = OH + ((KH - 1) * dilation[0]) // SH
    ZP = KW * SH * HQ * OW
    L = OH * OW
    NL = N * L
    xf = x.reshape(-1)
    cf = cols.reshape(-1)  # cols is C-contiguous (a fresh GEMM result)
    NB = (N + BLOCK - 1) // BLOCK
    for t in range(C * NB):  # task = (channel c, image block): its own planes of x
        c = t // NB
        n0 = (t - c * NB) * BLOCK
        n1 = min(N, n0 + BLOCK)
        z = np.zeros((n1 - n0) * ZP, dtype=cols.dtype)
        for kh in range(KH):  # stage 2 backwards: z run += cols[(c, kh, kw), n*L : (n+1)*L]
            for kw in range(KW):
                run = _run_start(kh, kw, stride, dilation, HQ, OW)
                rb = ((c * KH + kh) * KW + kw) * NL
                for n in range(n0, n1):
                    dst = uint64((n - n0) * ZP + run)
                    src = uint64(rb + n * L)
                    for q in range(L):
                        z[dst + uint64(q)] += cf[src + uint64(q)]
        for n in range(n0, n1):  # stage 1 backwards
            _scatter_plane(xf, (n * C + c) * H * W, z, (n - n0) * ZP, H, W, KW, stride, padding, dilation, HQ, OW)


# ---------------------------------------------------------------------------------------------
# Layout changes around the GEMMs: (F, n*L) rows <-> (n, F, L) images, with the bias (forward)
# or its gradient, the sum of each row (backward), in the same pass. NumPy does the transposing
# copy and the sum as two passes through its general strided loops; these run as one loop of
# contiguous runs. Measured per chunk (one thread, float32): 15 images 32x196 (conv2d 16->32)
# 0.032 -> 0.009 ms each way, 9 images 128x49 (conv2d 64->128) 0.018 -> 0.007 and 0.024 -> 0.010 ms.
# ---------------------------------------------------------------------------------------------


def rows_to_nchw_reference(rows, bias, out):
    """out[i, f, q] = rows[f, i*L + q] + bias[f].   rows: (F, n*L), bias: (F,), out: (n, F, L)."""
    n, F, L = out.shape
    np.add(rows.reshape(F, n, L).transpose(1, 0, 2), bias[:, None], out=out)
    return out


def nchw_to_rows_reference(a, rows, sums):
    """rows[c, i*L + q] = a[i, c, q], and sums[c] += Σ_{i, q} a[i, c, q].
    a: (n, C, L), rows: (C, n*L), sums: (C,)."""
    n, C, L = a.shape
    rows.reshape(C, n, L)[...] = a.transpose(1, 0, 2)
    sums += rows.sum(axis=1)
    return rows


@njit(cache=True, nogil=True)
def rows_to_nchw_numba(rows, bias, out):
    """Same result as rows_to_nchw_reference (rows and out C-contiguous)."""
    n, F, L = out.shape
    rf = rows.reshape(-1)
    of = out.reshape(-1)
    for f in range(F):
        b = bias[f]
        for i in range(n):
            src = uint64((f * n + i) * L)
            dst = uint64((i * F + f) * L)
            for q in range(L):
                of[dst + uint64(q)] = rf[src + uint64(q)] + b
    return out


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # reassoc: the sums use all vector lanes
def nchw_to_rows_numba(a, rows, sums):
    """Same result as nchw_to_rows_reference (a and rows C-contiguous; sums to the last bits)."""
    n, C, L = a.shape
    af = a.reshape(-1)
    rf = rows.reshape(-1)
    zero = np.zeros(1, dtype=a.dtype)[0]
    for c in range(C):
        s = zero
        for i in range(n):
            src = uint64((i * C + c) * L)
            dst = uint64((c * n + i) * L)
            for q in range(L):
                v = af[src + uint64(q)]
                rf[dst + uint64(q)] = v
                s += v
        sums[c] += s
    return rows


# ---------------------------------------------------------------------------------------------
# Direct convolution for few input values per output (C*KH*KW small, e.g. a network's first
# layer on 1-channel images): im2col + GEMM would spend its time in the (F, N*L) <-> (N, F, L)
# transposes around a GEMM with K = C*KH*KW = 9, so multiply-add straight into y instead,
# reusing im2col's scratch z: each tap is one multiply-add of a contiguous run of OH*OW values.
# ---------------------------------------------------------------------------------------------

DIRECT_MAX_TAPS = 16  # the ops use the direct kernels when groups == 1 and C*KH*KW <= this
DIRECT_CHUNKS = 16  # the weight gradient sums over images in this many fixed chunks


def conv2d_direct_reference(x, w, b, stride, padding, dilation, OH, OW):
    """y[n, f] = b[f] + Σ_{c, kh, kw} w[f, c, kh, kw] * (window of xpad[n, c] at tap (kh, kw)).

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,)  ->  y: (N, F, OH, OW)   (groups = 1)
    """
    N = x.shape[0]
    F, _, KH, KW = w.shape
    cols = im2col_reference(x, KH, KW, stride, padding, dilation, OH, OW)  # (C*KH*KW, N*OH*OW)
    y = (w.reshape(F, -1) @ cols).reshape(F, N, OH, OW).transpose(1, 0, 2, 3) + b[None, :, None, None]
    return np.ascontiguousarray(y)


def conv2d_direct_weight_grad_reference(x, grad, KH, KW, stride, padding, dilation):
    """dL/dw[f, c, kh, kw] = Σ_{n, oh, ow} grad[n, f, oh, ow] * xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW]
    and dL/db[f] = Σ_{n, oh, ow} grad[n, f, oh, ow].

    x: (N, C, H, W), grad: (N, F, OH, OW)  ->  dw: (F, C, KH, KW), db: (F,)
    """
    N, C = x.shape[:2]
    F, OH, OW = grad.shape[1:]
    cols = im2col_reference(x, KH, KW, stride, padding, dilation, OH, OW)  # (C*KH*KW, N*OH*OW)
    g = grad.transpose(1, 0, 2, 3).reshape(F, -1)  # (F, N*OH*OW)
    return (g @ cols.T).reshape(F, C, KH, KW), g.sum(axis=1)


@njit(cache=True, parallel=True)
def conv2d_direct_numba(x, w, b, stride, padding, dilation, OH, OW):
    """Same result as conv2d_direct_reference; one image per task, output written in place."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    SH = stride[0]
    HQ = OH + ((KH - 1) * dilation[0]) // SH
    ZP = KW * SH * HQ * OW
    L = OH * OW
    y = np.empty((N, F, OH, OW), dtype=x.dtype)
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    for n in prange(N):
        z = np.zeros(C * ZP, dtype=x.dtype)
        for c in range(C):
            _gather_plane(z, c * ZP, xf, (n * C + c) * H * W, H, W, KW, stride, padding, dilation, HQ, OW)
        for f in range(F):
            yb = uint64((n * F + f) * L)
            for q in range(L):
                yf[yb + uint64(q)] = b[f]
            for c in range(C):
                for kh in range(KH):
                    for kw in range(KW):
                        wv = w[f, c, kh, kw]
                        src = uint64(c * ZP + _run_start(kh, kw, stride, dilation, HQ, OW))
                        for q in range(L):
                            yf[yb + uint64(q)] += wv * z[src + uint64(q)]
    return y


# "reassoc": let LLVM split each dot product over vector lanes (a float sum is otherwise one
# serial chain, 8x slower); the result then differs from the twin's in the last bits only.
@njit(cache=True, parallel=True, fastmath={"reassoc"})
def conv2d_direct_weight_grad_numba(x, grad, KH, KW, stride, padding, dilation):
    """Same result as conv2d_direct_weight_grad_reference; images split into DIRECT_CHUNKS
    fixed chunks (the same sums whatever the thread count), partial sums added at the end."""
    N, C, H, W = x.shape
    F, OH, OW = grad.shape[1], grad.shape[2], grad.shape[3]
    SH = stride[0]
    HQ = OH + ((KH - 1) * dilation[0]) // SH
    ZP = KW * SH * HQ * OW
    L = OH * OW
    K = C * KH * KW
    xf = x.reshape(-1)
    gf = grad.reshape(-1)  # grad is C-contiguous: the ops pass np.ascontiguousarray(grad)
    T = max(1, min(N, DIRECT_CHUNKS))
    part_w = np.zeros((T, F, K), dtype=x.dtype)
    part_b = np.zeros((T, F), dtype=x.dtype)
    zero = np.zeros(1, dtype=x.dtype)[0]  # 0 in x's dtype: float32 sums stay float32 (2x the vector lanes)
    for t in prange(T):
        z = np.empty(C * ZP, dtype=x.dtype)
        for n in range(t * N // T, (t + 1) * N // T):
            z[:] = 0
            for c in range(C):
                _gather_plane(z, c * ZP, xf, (n * C + c) * H * W, H, W, KW, stride, padding, dilation, HQ, OW)
            for f in range(F):
                gb = uint64((n * F + f) * L)
                s = zero
                for q in range(L):
                    s += gf[gb + uint64(q)]
                part_b[t, f] += s
                for c in range(C):
                    for kh in range(KH):
                        for kw in range(KW):
                            src = uint64(c * ZP + _run_start(kh, kw, stride, dilation, HQ, OW))
                            s = zero
                            for q in range(L):
                                s += gf[gb + uint64(q)] * z[src + uint64(q)]
                            part_w[t, f, (c * KH + kh) * KW + kw] += s
    return part_w.sum(axis=0).reshape(F, C, KH, KW), part_b.sum(axis=0)


im2col = pick(im2col_numba, im2col_reference)
rows_to_nchw = pick(rows_to_nchw_numba, rows_to_nchw_reference)
nchw_to_rows = pick(nchw_to_rows_numba, nchw_to_rows_reference)
col2im = pick(col2im_numba, col2im_reference)
conv2d_direct = pick(conv2d_direct_numba, conv2d_direct_reference)
conv2d_direct_weight_grad = pick(conv2d_direct_weight_grad_numba, conv2d_direct_weight_grad_reference)
