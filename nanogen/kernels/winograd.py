"""Winograd's minimal filtering F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25x fewer multiplies.

Read nanogen/ops/conv.py first ("Winograd" there says when the ops take this path and what it
gained). im2col + GEMM spends 9 multiply-adds per input channel on every output pixel. Winograd
cuts the image into overlapping 4x4 tiles d (stride 2) and gets each tile's 2x2 output from 16
multiplies per channel pair instead of 36, by working in a transformed space:

    y_tile = A^T [ (G w G^T) ⊙ (B^T d B) ] A         w: 3x3 filter, d: 4x4 input tile

    B^T = | 1  0 -1  0 |     G = | 1    0    0  |     A^T = | 1  1  1  0 |
          | 0  1  1  0 |         | 1/2  1/2  1/2|           | 0  1 -1 -1 |
          | 0 -1  1  0 |         | 1/2 -1/2  1/2|
          | 0  1  0 -1 |         | 0    0    1  |

(check it on one row: y0 = (d0 - d2) g0 + (d1 + d2)(g0 + g1 + g2)/2 + (d2 - d1)(g0 - g1 + g2)/2
= d0 g0 + d1 g1 + d2 g2.) The sum over input channels happens in the transformed space, so for
each of the 16 positions ξ of the 4x4 transform the channel sum is one GEMM:

    V[ξ, c, t] = (B^T d_{c,t} B)[ξ]     the input transform, every tile t of every image
    U[ξ, f, c] = (G w_{f,c} G^T)[ξ]     the filter transform (tiny, once per call)
    M[ξ] = U[ξ] @ V[ξ]                  (F, C) @ (C, T): 16 GEMMs of a 16th of the work each
    y_t = A^T M_t A + b                 the output transform

Backward is the chain rule through those four steps, each step's adjoint in reverse order:
Gt = A g_t A^T (the output transform's adjoint, applied to dL/dy), then dL/dU[ξ] = Gt[ξ] @ V[ξ].T
and dL/dV[ξ] = U[ξ].T @ Gt[ξ] (two GEMMs again), dL/dw = G^T dL/dU G, and dL/dx = the input
transform's adjoint, B dL/dV_t B^T added back where each (overlapping) tile came from.

The layouts put the tiles on rows and the channels on columns: V is (16, T, C), U (16, C, F),
M and Gt (16, T, F), so each GEMM is (T, C) @ (C, F), the orientation BLAS runs fastest here.
The T = TH*TW*n tiles of a chunk of n images go in the order (tile row, tile column, image):
then for one tile position the n*C values of all images and channels are contiguous, and the
transforms below run as long vector loops over them. TH x TW tiles per image, TH = ceil(OH / 2);
tiles that reach past the padded image read zeros, outputs past OH x OW are dropped.

Each kernel comes twice, `<name>_reference` (NumPy, the specification) and `<name>_numba`.
Reference: Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016), sec. 4.
"""

import numpy as np

from nanogen.kernels import njit, pick, uint64

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


def tiles(OH, OW):
    """(TH, TW): 2x2 output tiles per image, enough to cover OH x OW."""
    return (OH + 1) // 2, (OW + 1) // 2


# ---------------------------------------------------------------------------------------------
# The filter transform and its adjoint: tiny (F*C 3x3 filters), NumPy only.
#
# G w G^T is linear in the 9 taps of w: U[(r, s)] = Σ_(a, b) G[r, a] G[s, b] w[a, b], a 16x9
# matrix GG = kron(G, G) times the filter as a 9-vector. So both transforms are one small GEMM
# over all F*C filters at once, plus a transpose. The same sums as einsum("ra,fcab,sb->rscf"),
# which spends most of its time choosing a contraction order: for the 16->32 layer's filters,
# 157 -> 31 us (transform) and 124 -> 29 us (adjoint) per call, about 2% of the layer's forward
# and backward on two threads.
# ---------------------------------------------------------------------------------------------

GG = np.kron(G, G)  # (16, 9): GG[4 r + s, 3 a + b] = G[r, a] * G[s, b]


def filter_transform(w):
    """U[(r, s), c, f] = (G w[f, c] G^T)[r, s].   w: (F, C, 3, 3) -> U: (16, C, F)."""
    F, C = w.shape[:2]
    u = GG.astype(w.dtype) @ w.reshape(F * C, 9).T  # (16, F*C)
    return np.ascontiguousarray(u.reshape(16, F, C).transpose(0, 2, 1))


def filter_transform_adjoint(du):
    """dL/dw[f, c] = G^T dL/dU[:, c, f] G.   du: (16, C, F) -> (F, C, 3, 3)."""
    _, C, F = du.shape
    dw = GG.T.astype(du.dtype) @ du.transpose(0, 2, 1).reshape(16, F * C)  # (9, F*C)
    return np.ascontiguousarray(dw.T).reshape(F, C, 3, 3)


# ---------------------------------------------------------------------------------------------
# NumPy references: every tile at once, with sliding windows and einsum.
# ---------------------------------------------------------------------------------------------


def input_transform_reference(x, ph, pw, TH, TW, out):
    """out[(r, s), (ty, tx, i), c] = (B^T d B)[r, s], d = the 4x4 tile of xpad[i, c] at
    (2 ty, 2 tx).   x: (n, C, H, W), out: (16, TH*TW*n, C)."""
    n, C, H, W = x.shape
    xp = np.zeros((n, C, 2 * TH + 2, 2 * TW + 2), dtype=x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x  # 2*TH + 2 >= OH + 2 = H + 2*ph: the padded image fits
    d = np.lib.stride_tricks.sliding_window_view(xp, (4, 4), axis=(2, 3))[:, :, ::2, ::2]  # (n, C, TH, TW, 4, 4)
    bt = BT.astype(x.dtype)
    out.reshape(4, 4, TH, TW, n, C)[...] = np.einsum("ra,ncyxab,sb->rsyxnc", bt, d, bt, optimize=True)
    return out


def input_transform_adjoint_reference(dv, ph, pw, TH, TW, out):
    """out = the adjoint of input_transform: each tile's B dv_t B^T added back where the tile
    came from, the padding dropped.   dv: (16, TH*TW*n, C), out: (n, C, H, W) (overwritten)."""
    n, C, H, W = out.shape
    bt = BT.astype(dv.dtype)
    # (n, C, TH, TW, 4, 4): each tile's B dv_t B^T
    dd = np.einsum("ra,rsyxnc,sb->ncyxab", bt, dv.reshape(4, 4, TH, TW, n, C), bt, optimize=True)
    xp = np.zeros((n, C, 2 * TH + 2, 2 * TW + 2), dtype=dv.dtype)
    for a in range(4):  # tiles overlap by 2: add them in tap by tap
        for b in range(4):
            xp[:, :, a:a + 2 * TH:2, b:b + 2 * TW:2] += dd[..., a, b]
    out[...] = xp[:, :, ph:ph + H, pw:pw + W]
    return out


def output_transform_reference(m, bias, out):
    """out[i, f, 2 ty + u, 2 tx + v] = (A^T m_t A)[u, v] + bias[f], inside OH x OW.
    m: (16, TH*TW*n, F), bias: (F,), out: (n, F, OH, OW)."""
    n, F, OH, OW = out.shape
    TH, TW = tiles(OH, OW)
    at = AT.astype(m.dtype)
    y = np.einsum("ur,rsyxnf,vs->nfyuxv", at, m.reshape(4, 4, TH, TW, n, F), at, optimize=True)  # (n, F, TH, 2, TW, 2)
    out[...] = y.reshape(n, F, 2 * TH, 2 * TW)[:, :, :OH, :OW] + bias[:, None, None]
    return out


def output_transform_adjoint_reference(g, out, sums):
    """out[(r, s), t, f] = (A g_t A^T)[r, s], g_t = the 2x2 tile t of g[i, f] (zeros past
    OH x OW), and sums[f] += Σ g[:, f] (dL/db on the way).   g: (n, F, OH, OW), out: (16, TH*TW*n, F)."""
    n, F, OH, OW = g.shape
    TH, TW = tiles(OH, OW)
    gp = np.zeros((n, F, 2 * TH, 2 * TW), dtype=g.dtype)
    gp[:, :, :OH, :OW] = g
    at = AT.astype(g.dtype)
    out.reshape(4, 4, TH, TW, n, F)[...] = np.einsum("ur,nfyuxv,vs->rsyxnf", at, gp.reshape(n, F, TH, 2, TW, 2), at,
                                                     optimize=True)
    sums += g.sum(axis=(0, 2, 3))
    return out


# ---------------------------------------------------------------------------------------------
# Numba: the chunk is first copied into a zero-padded (row, column, image*channel) scratch, so
# that every step after it is a vector loop over the n*C values of one position; at the end it
# is copied back to (n, C, H, W). One thread each (nogil): the ops run them on chunks of
# images, one chunk per thread, as they do im2col.
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _to_hwc(x, ph, pw, xh):
    """xh[ph + h, pw + w, i*C + c] = x[i, c, h, w] (the rest of xh untouched).

    A transpose, one input row at a time (i, h), every channel's run of W values into it. Going
    through each channel's whole plane before the next (c outside h, as before) jumps n*C values
    between writes all over xh; measured per chunk, one thread, before -> after:
    (13, 32, 14, 14) 50 -> 43 us, (6, 64, 14, 14) 172 -> 40 us, (4, 128, 14, 14) 348 -> 53 us,
    (13, 16, 28, 28) 188 -> 77 us; 1 to 16 channels moved by at most 2.3 us either way. Of the
    three orders measured it is the one never slower than before: channels innermost was faster
    still from 16 channels up (32: 26 us, 64: 21 us) but 2-3x slower with 1 to 4 channels."""
    n, C, H, W = x.shape
    n, C, H, W, ph, pw = uint64(n), uint64(C), uint64(H), uint64(W), uint64(ph), uint64(pw)  # see _from_hwc
    for i in range(n):
        for h in range(H):
            for c in range(C):
                q = i * C + c
                for w in range(W):
                    xh[ph + h, pw + w, q] = x[i, c, h, w]


@njit(cache=True, nogil=True)
def _add_channel_sums(xh, sums):
    """sums[c] += Σ xh[:, :, i*C + c] over rows, columns and images i (C = len(sums)). One vector
    of Q = n*C partial sums added position by position, folded at the end: a running scalar sum
    is one serial chain of adds that no vector unit can split (measured: the whole output
    adjoint of conv2d 16->32, per batch of 128 on one thread, took 1.8 ms with it, 1.3 without)."""
    C, Q = sums.shape[0], xh.shape[2]
    acc = np.zeros(Q, dtype=xh.dtype)
    for h in range(xh.shape[0]):
        for w in range(xh.shape[1]):
            for q in range(Q):
                acc[q] += xh[h, w, q]
    for q in range(Q):
        sums[q % C] += acc[q]


@njit(cache=True, nogil=True)
def _from_hwc(xh, ph, pw, bias, out):
    """out[i, c, h, w] = xh[ph + h, pw + w, i*C + c] + bias[c]. The transpose back, in _to_hwc's
    loop order (measured the same way: (6, 64, 14, 14) 88 -> 48 us, (4, 128, 14, 14) 108 -> 64 us,
    (13, 16, 28, 28) 116 -> 96 us; 4 to 32 channels on 14x14 within 4.1 us, the one slower case
    1 channel on 28x28: 8.0 -> 8.4 us)."""
    n, C, H, W = out.shape
    # Unsigned indices, as im2col's (kernels/conv.py): Numba checks a signed index for "negative
    # means from the end", and LLVM cannot drop that check for ph + h. Measured the same way,
    # signed -> unsigned: (13, 32, 14, 14) 84 -> 61 us, (6, 64, 14, 14) 78 -> 52 us,
    # (13, 16, 28, 28) 114 -> 65 us, (13, 1, 28, 28) 7.0 -> 5.6 us.
    n, C, H, W, ph, pw = uint64(n), uint64(C), uint64(H), uint64(W), uint64(ph), uint64(pw)
    for i in range(n):
        for h in range(H):
            for c in range(C):
                q = i * C + c
                bc = bias[c]
                for w in range(W):
                    out[i, c, h, w] = xh[ph + h, pw + w, q] + bc


# The tile kernels below work on whole rows of Q = n*C values (one position of every image and
# channel of the chunk): each step is one of the small row loops here, which writes one row and
# reads at most three. Written as one loop over q that reads a tile's 4 or 16 rows and writes
# all its outputs at once, the same arithmetic ran scalar: LLVM vectorizes a loop only after
# checking at run time that its arrays do not overlap, and it gives up when a loop touches that
# many of them. inline="always" puts the row loops into the kernels (no call per row).
# Measured (one thread, float32, per chunk of the conv2d 16->32 layer, Q = 208 | 416; the single
# loop -> row loops; the results are bit for bit the same): input tiles 57 -> 35 | 146 -> 65 us,
# their adjoint 78 -> 39 | 181 -> 91 us, output tiles 43 -> 15 | 86 -> 35 us, their adjoint
# 63 -> 27 | 146 -> 53 us. For a 1-channel chunk (Q = 13) the rows are too short to gain, and
# the four kernels take 3-8 us either way. The price is compile time, paid once per machine
# (cache=True): every inlined row loop is compiled where it is called, and a conv-ae's first
# step from an empty Numba cache went from 29 to 45 s.


@njit(cache=True, nogil=True, inline="always")
def _sub(out, a, b):  # out = a - b, row by row
    for q in range(out.shape[0]):
        out[q] = a[q] - b[q]


@njit(cache=True, nogil=True, inline="always")
def _add(out, a, b):  # out = a + b
    for q in range(out.shape[0]):
        out[q] = a[q] + b[q]


@njit(cache=True, nogil=True, inline="always")
def _copy(out, a):  # out = a
    for q in range(out.shape[0]):
        out[q] = a[q]


@njit(cache=True, nogil=True, inline="always")
def _neg(out, a):  # out = -a
    for q in range(out.shape[0]):
        out[q] = -a[q]


@njit(cache=True, nogil=True, inline="always")
def _add3(out, a, b, c):  # out = a + b + c
    for q in range(out.shape[0]):
        out[q] = a[q] + b[q] + c[q]


@njit(cache=True, nogil=True, inline="always")
def _sub3(out, a, b, c):  # out = a - b - c
    for q in range(out.shape[0]):
        out[q] = a[q] - b[q] - c[q]


@njit(cache=True, nogil=True, inline="always")
def _acc(out, a):  # out += a
    for q in range(out.shape[0]):
        out[q] += a[q]


@njit(cache=True, nogil=True, inline="always")
def _acc_neg(out, a):  # out -= a
    for q in range(out.shape[0]):
        out[q] -= a[q]


@njit(cache=True, nogil=True, inline="always")
def _acc_pmp(out, a, b, c):  # out += a - b + c
    for q in range(out.shape[0]):
        out[q] += a[q] - b[q] + c[q]


@njit(cache=True, nogil=True, inline="always")
def _acc_ppm(out, a, b, c):  # out += a + b - c
    for q in range(out.shape[0]):
        out[q] += a[q] + b[q] - c[q]


@njit(cache=True, nogil=True)
def _input_tiles(xh, o):
    """o[(r, s), (ty, tx), q] = (B^T d B)[r, s], d = xh[2 ty : 2 ty + 4, 2 tx : 2 tx + 4, q]."""
    TH, TW, Q = (xh.shape[0] - 2) // 2, (xh.shape[1] - 2) // 2, xh.shape[2]
    rows = np.empty((4, 2 * TW + 2, Q), dtype=xh.dtype)
    for ty in range(TH):
        y0 = 2 * ty
        for j in range(2 * TW + 2):  # B^T d for the whole row of tiles at once
            d0, d1, d2, d3 = xh[y0, j], xh[y0 + 1, j], xh[y0 + 2, j], xh[y0 + 3, j]
            _sub(rows[0, j], d0, d2)
            _add(rows[1, j], d1, d2)
            _sub(rows[2, j], d2, d1)
            _sub(rows[3, j], d1, d3)
        for tx in range(TW):  # (B^T d) B: the same combinations of each tile's 4 columns
            t, x0 = ty * TW + tx, 2 * tx
            for r in range(4):
                e0, e1, e2, e3 = rows[r, x0], rows[r, x0 + 1], rows[r, x0 + 2], rows[r, x0 + 3]
                _sub(o[4 * r, t], e0, e2)
                _add(o[4 * r + 1, t], e1, e2)
                _sub(o[4 * r + 2, t], e2, e1)
                _sub(o[4 * r + 3, t], e1, e3)


@njit(cache=True, nogil=True)
def _input_tiles_adjoint(v, xh):
    """xh (zeroed before) += every tile's B v_t B^T at its place: the adjoint of _input_tiles."""
    TH, TW, Q = (xh.shape[0] - 2) // 2, (xh.shape[1] - 2) // 2, xh.shape[2]
    rows = np.empty((4, 2 * TW + 2, Q), dtype=xh.dtype)
    for ty in range(TH):
        rows[...] = 0
        for tx in range(TW):  # v_t B^T: each tile's 4 columns added into the row of tiles
            t = ty * TW + tx
            for r in range(4):
                e0, e1, e2, e3 = v[4 * r, t], v[4 * r + 1, t], v[4 * r + 2, t], v[4 * r + 3, t]
                _acc(rows[r, 2 * tx], e0)
                _acc_pmp(rows[r, 2 * tx + 1], e1, e2, e3)
                _acc_ppm(rows[r, 2 * tx + 2], e1, e2, e0)
                _acc_neg(rows[r, 2 * tx + 3], e3)
        y0 = 2 * ty
        for j in range(2 * TW + 2):  # B (...): the row combinations, added into the tile rows
            e0, e1, e2, e3 = rows[0, j], rows[1, j], rows[2, j], rows[3, j]
            _acc(xh[y0, j], e0)
            _acc_pmp(xh[y0 + 1, j], e1, e2, e3)
            _acc_ppm(xh[y0 + 2, j], e1, e2, e0)
            _acc_neg(xh[y0 + 3, j], e3)


@njit(cache=True, nogil=True)
def _output_tiles(mm, yh):
    """yh[2 ty + u, 2 tx + v, q] = (A^T m_t A)[u, v] for every tile t = (ty, tx), mm: (16, TH*TW, Q)."""
    TH, TW, Q = yh.shape[0] // 2, yh.shape[1] // 2, yh.shape[2]
    a = np.empty((4, Q), dtype=mm.dtype)  # A^T m, column j of the tile: top row a[j], bottom row b[j]
    b = np.empty((4, Q), dtype=mm.dtype)
    for ty in range(TH):
        for tx in range(TW):
            t = ty * TW + tx
            for j in range(4):
                _add3(a[j], mm[j, t], mm[4 + j, t], mm[8 + j, t])
                _sub3(b[j], mm[4 + j, t], mm[8 + j, t], mm[12 + j, t])
            _add3(yh[2 * ty, 2 * tx], a[0], a[1], a[2])  # (A^T m) A
            _sub3(yh[2 * ty, 2 * tx + 1], a[1], a[2], a[3])
            _add3(yh[2 * ty + 1, 2 * tx], b[0], b[1], b[2])
            _sub3(yh[2 * ty + 1, 2 * tx + 1], b[1], b[2], b[3])


@njit(cache=True, nogil=True)
def _output_tiles_adjoint(gh, o):
    """o[(r, s), (ty, tx), q] = (A g_t A^T)[r, s], g_t = gh[2 ty : 2 ty + 2, 2 tx : 2 tx + 2, q]."""
    TH, TW, Q = gh.shape[0] // 2, gh.shape[1] // 2, gh.shape[2]
    p = np.empty((4, Q), dtype=gh.dtype)  # g_t A^T: row u of the tile becomes (g_u0, g_u0 + g_u1, g_u0 - g_u1, -g_u1)
    r = np.empty((4, Q), dtype=gh.dtype)  # p for the top row u = 0, r for the bottom row u = 1
    for ty in range(TH):
        for tx in range(TW):
            t = ty * TW + tx
            g00, g01 = gh[2 * ty, 2 * tx], gh[2 * ty, 2 * tx + 1]
            g10, g11 = gh[2 * ty + 1, 2 * tx], gh[2 * ty + 1, 2 * tx + 1]
            _copy(p[0], g00)
            _add(p[1], g00, g01)
            _sub(p[2], g00, g01)
            _neg(p[3], g01)
            _copy(r[0], g10)
            _add(r[1], g10, g11)
            _sub(r[2], g10, g11)
            _neg(r[3], g11)
            for j in range(4):  # A (...): the same down the rows
                _copy(o[j, t], p[j])
                _add(o[4 + j, t], p[j], r[j])
                _sub(o[8 + j, t], p[j], r[j])
                _neg(o[12 + j, t], r[j])


@njit(cache=True, nogil=True)
def input_transform_numba(x, ph, pw, TH, TW, out):
    """Same result as input_transform_reference (x and out C-contiguous)."""
    n, C = x.shape[:2]
    xh = np.zeros((2 * TH + 2, 2 * TW + 2, n * C), dtype=x.dtype)  # the padding stays 0
    _to_hwc(x, ph, pw, xh)
    _input_tiles(xh, out.reshape(16, TH * TW, n * C))
    return out


@njit(cache=True, nogil=True)
def input_transform_adjoint_numba(dv, ph, pw, TH, TW, out):
    """Same result as input_transform_adjoint_reference (dv and out C-contiguous)."""
    n, C = out.shape[:2]
    xh = np.zeros((2 * TH + 2, 2 * TW + 2, n * C), dtype=dv.dtype)
    _input_tiles_adjoint(dv.reshape(16, TH * TW, n * C), xh)
    _from_hwc(xh, ph, pw, np.zeros(C, dtype=dv.dtype), out)
    return out


@njit(cache=True, nogil=True)
def output_transform_numba(m, bias, out):
    """Same result as output_transform_reference (m and out C-contiguous)."""
    n, F, OH, OW = out.shape
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    yh = np.empty((2 * TH, 2 * TW, n * F), dtype=m.dtype)
    _output_tiles(m.reshape(16, TH * TW, n * F), yh)
    _from_hwc(yh, 0, 0, bias, out)
    return out


@njit(cache=True, nogil=True)
def output_transform_adjoint_numba(g, out, sums):
    """Same result as output_transform_adjoint_reference (g and out C-contiguous)."""
    n, F, OH, OW = g.shape
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    gh = np.zeros((2 * TH, 2 * TW, n * F), dtype=g.dtype)  # past OH x OW: stays 0
    _to_hwc(g, 0, 0, gh)
    _add_channel_sums(gh, sums)  # dL/db: the padding past OH x OW adds zeros
    _output_tiles_adjoint(gh, out.reshape(16, TH * TW, n * F))
    return out


input_transform = pick(input_transform_numba, input_transform_reference)
input_transform_adjoint = pick(input_transform_adjoint_numba, input_transform_adjoint_reference)
output_transform = pick(output_transform_numba, output_transform_reference)
output_transform_adjoint = pick(output_transform_adjoint_numba, output_transform_adjoint_reference)
