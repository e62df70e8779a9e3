"""Convolutions: conv2d and conv_transpose2d, each one im2col/col2im plus one GEMM per direction.

Read ops/linalg.py first: a convolution is a matrix product in disguise. im2col copies every
KHxKW window of the input into a column, so that sliding the filters over the image becomes one
GEMM, w (F, C*KH*KW) @ cols (C*KH*KW, N*OH*OW), which BLAS runs near the machine's peak. The
transposed convolution runs the same machinery backwards (GEMM, then col2im), and the two are
adjoints: each one's backward is the other one's forward. The kernels (the byte moving) are in
nanogen/kernels/conv.py. Semantics follow PyTorch exactly (torch.nn.functional.conv2d,
conv_transpose2d), including groups, dilation and output_padding.
Reference: Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016),
ch. 2 (output sizes) and ch. 4 (transposed convolution as the gradient of convolution).
"""

import numbers
import threading

import numpy as np

from .. import threads
from ..autograd import Function
from ..kernels import conv as kernels
from ..kernels import winograd as wkernels
from ..kernels import workspace
from ..kernels.conv import conv_output_size, conv_transpose_output_size
from .checks import check_image, pair


# ---------------------------------------------------------------------------------------------
# Speed: the batch goes through in chunks of images, with scratch memory reused
#
# Written for the whole batch at once (cols = im2col(x) for all N images, one GEMM), every
# temporary is big: 26 MB of columns for the DCGAN's 64->128 layer at batch 128, written by
# im2col, read by the GEMM, read again in backward, plus as much again for its gradient. Such
# buffers live in main memory, not in cache, and each fresh one costs page faults. So the ops
# loop over chunks of `_chunk_size` images: every temporary is a few MB, stays in the CPU's
# L2/L3 cache between the kernel that writes it and the GEMM that reads it, and comes from the
# workspace (nanogen/kernels/workspace.py), the same memory on every call. Backward recomputes
# the columns from x (one im2col per chunk, cache-hot) instead of keeping 26 MB per layer alive
# between forward and backward: less memory, for one more im2col pass per backward (the
# im2col times below). The math is unchanged: each chunk is the whole-batch
# formula applied to its images, and dL/dw sums over chunks.
# Measured (one thread, CPU time, batch 128, each pass over the whole batch; whole batch at once
# -> chunks of CHUNK_BYTES):
#     conv2d 64->128 k4 s2 (14x14):  im2col 5.0 -> 3.3 ms, col2im 5.9 -> 3.2-3.7 ms; the three GEMMs
#                                     10.0 / 12.2 / 9.2 ms either way (they are the floor here)
#     conv2d 16->32 k3 (14x14):      im2col 1.7 -> 0.9 ms, col2im 2.4 -> 1.5 ms, forward GEMM
#                                     2.8 -> 1.9 ms, dL/dx GEMM 2.9 -> 2.0 ms; whole step 17.5 -> 10.5 ms
# and backward no longer holds the columns (26 MB per call of the 64->128 layer) from forward on.
# Chunks also share out the cores: with two threads each one runs whole chunks, im2col, GEMMs
# and col2im on one core (_over_chunks), instead of every small call being split in two.
# Tried and left out: a direct convolution in Numba (channels last, a block of output pixels
# times all output channels accumulated per tap, the way oneDNN's kernels work) ran the 16->32
# 3x3 forward at 4-7.5 GFLOP/s on one core, against ~100 for OpenBLAS's GEMM: Numba has no
# vector types, and LLVM keeps the accumulators in memory (or spills them) instead of in
# registers. One small GEMM per image instead of one per chunk (w @ cols_n, written straight
# into (F, OH*OW) of y, no rows_to_nchw) for the 64->128 layer: 24.9 against 18.7 ms per batch
# (one thread), to save a copy of 0.45 ms: 49 columns are too few for BLAS.
# Not built, by arithmetic: a 4x4 stride-2 layer as a 2x2 stride-1 one on the input's four
# phases (space to depth), run as four GEMMs over the flattened phase grid, each tap a column
# offset (no im2col at all). The offsets need the grid's border: 8x8 positions per image for
# 7x7 outputs, 31% more GEMM work (the GEMMs are two thirds of the layer: +21%), to save at
# most the im2col and col2im passes (15% and 9% of 64->128's time on one thread).
# ---------------------------------------------------------------------------------------------

CHUNK_BYTES = 2 << 20  # bytes of per-chunk temporaries (columns + GEMM rows): about one L2 cache
# (1, 2, 4, 8 MB, in-process A/B, 2 threads, fwd+bwd: conv2d 64->128 47.4 / 44.6 / 43.9 / 46.9 ms,
# conv_transpose2d 128->64 43.6 / 39.9 / 39.3 / 43.2 ms: 2 and 4 MB within the noise)
SUM_SLOTS = 8  # the weight and bias gradients add up over chunks in at least this many fixed parts,
SUM_BYTES = 4 << 20  # or one part per chunk while all the parts fit in this many bytes (_over_chunks)


def _chunk_size(per_image, itemsize):
    """Images per chunk so that one chunk's temporaries (per_image values per image) fit CHUNK_BYTES."""
    return max(1, CHUNK_BYTES // max(1, per_image * itemsize))


def _over_chunks(N, step, body, sums=()):
    """body(n0, n, *partials) for every chunk [n0, n0 + n) of N images, `step` images each; then
    each array of `sums` gets its partial sums added (the bodies add dL/dw, dL/db into them).

    Threads (nanogen.set_num_threads): each thread runs whole chunks, im2col, GEMMs and col2im
    of a chunk on one core (threads.run_in_threads says why). The chunks go, in order, into
    slots of consecutive chunks; a thread takes whole slots, each slot sums into its own
    partials, and the slots are added in order at the end: the same additions in the same
    order whatever the thread count and whichever thread ran a slot, so the gradients do not
    depend on either. Each thread takes the next slot when it is free, rather than a fixed half
    of them: the two cores here do not run equally fast at once, and a thread can start late
    (measured in the DCGAN iteration: one thread idle at the end of a call for 25 ms of 215
    before, 16-21 ms after; 2 threads, the iteration's median over 60 calls in 5 in-process
    A/B runs 1-5% faster, each run within its noise).
    How many slots: the number of slots depends on the shapes only (never on the threads), so
    the bits stay the same. SUM_SLOTS of them, or one per chunk when the partials are small
    (all of them within SUM_BYTES; a forward has none): one chunk per slot lets the threads
    share out the last chunks evenly. For conv2d 16->32 k3 (10 chunks, 32 KB of partials),
    8 -> 10 slots took the layer from 8.05 to 7.42 ms and from 7.09 to 6.63 ms (two in-process
    A/B runs, 2 threads, 40 alternating calls each); the 4x4 layers' backward keeps 8 (512 KB
    of partials: 4 MB already), and their forward did not move (38.03 against 38.06 ms for
    64->128).
    Measured (benchmarks/bench_conv.py, two threads on 2 cores, batch 128, fwd+bwd; BLAS and
    Numba splitting every call -> whole chunks per thread, with the layout kernels of
    kernels/conv.py): conv2d 64->128 k4 s2 27.6 -> 21.3 ms, conv2d 16->32 k3 7.3 -> 5.2 ms,
    conv_transpose2d 128->64 k4 s2 23.2 -> 20.6 ms.
    """
    starts = range(0, N, step)
    part_bytes = sum(a.nbytes for a in sums)
    S = min(len(starts), max(SUM_SLOTS, SUM_BYTES // max(1, part_bytes)))
    parts = [workspace.buffer(f"sum{i}", (S,) + a.shape, a.dtype) for i, a in enumerate(sums)]
    for part in parts:
        part[...] = 0

    lock, queue = threading.Lock(), iter(range(S))

    def next_slot():
        with lock:
            return next(queue, None)

    def run(_):  # each thread takes the next slot whenever it is free
        while (s := next_slot()) is not None:
            for n0 in starts[s * len(starts) // S:(s + 1) * len(starts) // S]:
                body(n0, min(step, N - n0), *(part[s] for part in parts))

    T = max(1, min(threads.get_num_threads(), S))  # an empty batch has no chunks: one (idle) share
    threads.run_in_threads(run, list(range(T)))
    for total, part in zip(sums, parts):
        total += part.sum(axis=0)


def _grouped_matmul(a, b, out):
    """(G, I, K) @ (G, K, J) -> out (G*I, J): one BLAS GEMM per group (just one when G == 1)."""
    if a.shape[0] == 1:
        np.matmul(a[0], b[0], out=out)
    else:
        np.matmul(a, b, out=out.reshape(a.shape[0], a.shape[1], b.shape[2]))
    return out


def _rows_to_nchw(y, out, bias=None):
    """(F, n*L) GEMM rows -> out (n, F, L), batch first (one copy), adding the bias in the same pass."""
    if bias is None:
        bias = np.zeros(out.shape[1], dtype=out.dtype)
    return kernels.rows_to_nchw(y, bias, out)


def _nchw_to_rows(a, name, sums=None):
    """(n, C, H, W) -> (C, n*H*W) in the workspace buffer `name`: channels on rows, the layout
    the GEMMs want (one copy); sums (C,), if given, gets each channel's sum added on the way."""
    n, C, H, W = a.shape
    rows = workspace.buffer(name, (C, n * H * W), a.dtype)
    return kernels.nchw_to_rows(np.ascontiguousarray(a).reshape(n, C, H * W), rows,
                                np.zeros(C, dtype=a.dtype) if sums is None else sums)


def _add_weight_grad(dw_t, cols, g):
    """dw_t (G, J, I) += cols (G, J, M) @ g (G, I, M).T: the weight gradient g @ cols.T over one
    chunk, transposed.

    Computed as its transpose because BLAS runs this orientation (a tall matrix times a thin one
    along the long M axis) faster: the same numbers. Measured (one thread, OpenBLAS 0.3.31
    SkylakeX, per batch of 128): conv2d 16->32 k3: 3.1 -> 1.6 ms; conv2d 64->128 k4 s2:
    10.0-12.1 -> 7.8-8.2 ms.
    """
    part = workspace.buffer("dw_part", dw_t.shape, dw_t.dtype)
    if dw_t.shape[0] == 1:
        np.matmul(cols[0], g[0].T, out=part[0])
    else:
        np.matmul(cols, g.transpose(0, 2, 1), out=part)
    dw_t += part


def _untranspose(dw_t, shape):
    """The weight gradient summed as (G, J, I) -> w's shape (G*I = rows of w, J = the rest)."""
    return np.ascontiguousarray(dw_t.transpose(0, 2, 1)).reshape(shape)


def _col2im_into(cols, out, geometry):
    """out = col2im(cols), written in place (a col2im that returns a new array is copied in)."""
    got = kernels.col2im(cols, out.shape, *geometry, out=out)
    if got is not out:
        out[...] = got


class Conv2d(Function):
    """y[n, f, oh, ow] = b[f] + Σ_{c, kh, kw} w[f, c, kh, kw] * xpad[n, g*Cg + c, oh*SH + kh*DH, ow*SW + kw*DW]

    x: (N, C, H, W)   w: (F, Cg, KH, KW)   b: (F,) or None   ->   y: (N, F, OH, OW)
    G groups: filter f sees only the Cg = C/G input channels of its group g = f // (F/G).
    xpad is x with PH, PW zeros on each side;  OH = (H + 2*PH - DH*(KH - 1) - 1) // SH + 1 (OW alike).
    As matrices (per group):  cols = im2col(x): (C*KH*KW, N*OH*OW),   y = w (F, C*KH*KW) @ cols.
    Backward, with grad = dL/dy laid out as g: (F, N*OH*OW):
        dL/dw = g @ cols.T               (F, N*OH*OW)(N*OH*OW, Cg*KH*KW) -> (F, Cg, KH, KW)
        dL/dx = col2im(w.T @ g)          (C*KH*KW, F)(F, N*OH*OW) -> (N, C, H, W)
        dL/db = grad.sum(axis=(0, 2, 3))                                   (F,)
    Both directions run over chunks of images (see "Speed" above): N above is then the chunk's
    image count, and dL/dw, dL/db add up over the chunks.
    With few taps per output (C*KH*KW <= kernels.DIRECT_MAX_TAPS, groups 1: a first layer on
    1-channel images) the GEMMs are tiny and the layout copies around them dominate, so the
    forward and dL/dw run as direct loops instead (kernels.conv2d_direct*): same math.
    3x3 filters at stride 1 (groups 1, no dilation) take Winograd's route instead of im2col:
    _winograd_forward / _winograd_backward below, the same convolution with 2.25x fewer multiplies.
    """

    @staticmethod
    def forward(ctx, x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        N, C, H, W = x.shape
        F, Cg, KH, KW = w.shape
        G = groups
        OH = conv_output_size(H, KH, stride[0], padding[0], dilation[0])
        OW = conv_output_size(W, KW, stride[1], padding[1], dilation[1])
        L = OH * OW
        x = np.ascontiguousarray(x)
        w3 = w.reshape(G, F // G, Cg * KH * KW)  # rows of cols are (c, kh, kw): group g owns a block
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        ctx.geometry = (KH, KW, stride, padding, dilation, OH, OW)
        # x for dL/dw: backward recomputes the columns from it (x is alive in the graph anyway)
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w3)
        # few taps per output (a first layer on 1-channel images): the direct kernel, no GEMM
        ctx.direct = G == 1 and C * KH * KW <= kernels.DIRECT_MAX_TAPS
        # 3x3 stride 1: Winograd's transforms instead of im2col (see "Winograd" below)
        ctx.winograd = not ctx.direct and _takes_winograd(KH, KW, stride, dilation, G)
        if ctx.winograd:
            return _winograd_forward(ctx, x, w, b, padding, OH, OW)
        if ctx.direct:
            bias = np.ascontiguousarray(b) if b is not None else np.zeros(F, dtype=x.dtype)
            return kernels.conv2d_direct(x, np.ascontiguousarray(w), bias, stride, padding, dilation, OH, OW)
        y = np.empty((N, F, OH, OW), dtype=x.dtype)

        def chunk(n0, n):  # images n0 .. n0 + n - 1
            # BEGIN SOLUTION conv2d_gemm
            cols = kernels.im2col(x[n0:n0 + n], KH, KW, stride, padding, dilation, OH, OW,
                                  out=workspace.buffer("cols", (C * KH * KW, n * L), x.dtype))  # (C*KH*KW, n*L)
            rows = _grouped_matmul(w3, cols.reshape(G, Cg * KH * KW, n * L),
                                   workspace.buffer("rows", (F, n * L), x.dtype))  # (F, n*L)
            _rows_to_nchw(rows, y[n0:n0 + n].reshape(n, F, L), b)
            # END SOLUTION

        _over_chunks(N, _chunk_size((C * KH * KW + F) * L, x.itemsize), chunk)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w3 = ctx.saved  # x is None if dL/dw is not needed
        if ctx.winograd:
            return _winograd_backward(ctx, grad, x)
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        G, Fg, CgK = w3.shape
        N, F, OH, OW = grad.shape
        L = OH * OW
        K = G * CgK  # C*KH*KW
        dtype = grad.dtype
        dw = db = None
        if ctx.direct and needs_w:  # dL/db comes with it
            dw, db = kernels.conv2d_direct_weight_grad(x, np.ascontiguousarray(grad), *ctx.geometry[:5])
            if not needs_x:
                return None, dw, db if needs_b else None
            needs_w = needs_b = False  # done: the chunks below compute dL/dx only
        dx = np.empty(ctx.x_shape, dtype=dtype) if needs_x else None
        if not (needs_x or needs_w or needs_b):
            return dx, dw, db
        # the sums over chunks: dL/dw transposed, (G, Cg*KH*KW, F/G) (see _add_weight_grad), dL/db
        sums = (np.zeros((G, CgK, Fg), dtype=dtype),) if needs_w else ()
        sums += (np.zeros(F, dtype=dtype),) if needs_b else ()

        def chunk(n0, n, *partials):  # images n0 .. n0 + n - 1; partials: this chunk's sums
            # (n, F, OH, OW) -> (F, n*L), adding dL/db = the sum of each row on the way
            g = _nchw_to_rows(grad[n0:n0 + n], "grad_rows", partials[-1] if needs_b else None)
            g = g.reshape(G, Fg, n * L)
            # BEGIN SOLUTION conv2d_gemm
            if needs_w:
                cols = kernels.im2col(x[n0:n0 + n], *ctx.geometry,
                                      out=workspace.buffer("cols", (K, n * L), dtype))  # (C*KH*KW, n*L)
                _add_weight_grad(partials[0], cols.reshape(G, CgK, n * L), g)
            if needs_x:
                dcols = _grouped_matmul(w3.transpose(0, 2, 1), g, workspace.buffer("cols", (K, n * L), dtype))
                _col2im_into(dcols, dx[n0:n0 + n], ctx.geometry)
            # END SOLUTION

        _over_chunks(N, _chunk_size((K + F) * L, grad.itemsize), chunk, sums)
        if needs_w:
            dw = _untranspose(sums[0], ctx.w_shape)
        if needs_b:
            db = sums[-1]
        return dx, dw, db

    @staticmethod
    def backward_graph(ctx, grad, x, w, b, y):
        """The three gradients above as Tensor ops, recorded for create_graph=True (a second text
        because backward works on cols and kernels, which a graph cannot see):
            dL/dx = conv_transpose2d(grad, w)   the input gradient IS a transposed convolution
            dL/dw = conv2d(x, grad) with N as the channel axis, stride and dilation swapped
            dL/db = grad.sum(axis=(0, 2, 3))
        Both convolutions have a backward_graph of their own, so derivatives of any order follow."""
        return _conv_backward_graph(ctx, grad, x, w, transposed=False)


# ---------------------------------------------------------------------------------------------
# Winograd: 3x3 stride-1 convolutions with 2.25x fewer multiplies
#
# A 3x3 stride-1 layer with few channels (the conv autoencoder's 16->32) spends half its time
# outside the GEMMs: im2col writes 9 copies of x for every call, col2im adds 9 back. Winograd's
# F(2x2, 3x3) (nanogen/kernels/winograd.py: the algebra, the transforms and their adjoints)
# replaces them with transforms that write 4 values per input pixel, and the three GEMMs with
# 16 smaller ones each, 16 multiplies per 2x2 outputs instead of 36. Backward is the chain rule
# through the same steps: one transform of dL/dy feeds both dL/dw and dL/dx. A transposed
# convolution is the adjoint of a convolution, so ConvTranspose2d runs the same kernels in the
# other order (its forward is Conv2d's dL/dx, its dL/dx is Conv2d's forward).
# Measured (conv2d 16->32 k3 on 14x14, batch 128, fwd+bwd, in-process A/B, alternating, medians;
# im2col + GEMM -> Winograd): one thread 12.7 -> 9.5 ms, 13.1 -> 9.4 ms; two threads 9.2 -> 7.8,
# 9.1 -> 7.7 ms. The results differ from im2col's in the last bits only.
# Tried and left out: F(2x2, 2x2) on the four phases of the DCGAN's 4x4 stride-2 layers. It has
# 1.36x fewer multiplies (its GEMMs took 42-48 ms instead of 58 for 64->128, one thread), but
# its transforms cost more than im2col and col2im: 72-77 ms against 76-79 for the whole layer on
# one thread, and slower on two. F(4x4, 2x2) on the same phases (25 multiplies per 4x4 outputs
# instead of 64) was tried too: its GEMMs took about 38 ms instead of 58, and the layers alone
# ran 4-16% faster (64->128: 73.5 -> 61.6 ms on one thread, 49.3 -> 45.4 on two, with chunks of
# at least 256 tiles), but the DCGAN iteration did not move (220.9 against 220.5 ms, two
# threads): the copies between NCHW and the transforms' (row, column, image*channel) layout
# cost 1.2-3.8 ms a pass, and the transformed weight gradient, 6.25x the size of w, costs ~3 ms
# to add up. Those layers stay on im2col.
# Tried and left out: F(4x4, 3x3) (Lavin & Gray, sec. 4.1: 6x6 input tiles, 36 positions, 4x
# fewer multiplies than im2col against 2.25x), with the transforms written as matrix-driven row
# loops. Forward alone, per chunk, one thread, F(2x2) -> F(4x4): 128->128 on 7x7 1191 -> 636 us,
# 64->64 on 14x14 430 -> 369 us, 32->32 on 28x28 289 -> 253 us, 16->32 on 14x14 212 -> 296 us.
# But forward + backward (in-process A/B, 12 alternating rounds, batch 128), F(4x4) / F(2x2) on
# one thread: 16->32 @14 1.20, 32->32 @14 1.14, 32->32 @28 1.01, 64->64 @14 0.97, 64->256 @14
# 1.09, 32->64 @7 0.92, 128->128 @7 0.90, 64->64 @7 0.80; on two threads 1.11, 1.17, 0.92, 0.96,
# 1.00, 1.01, 0.97, 0.82. The GEMMs shrink as promised (128->128 @7: 39 -> 26 ms, one thread),
# and the rest takes it back: the larger transforms and their adjoints, and a transformed weight
# gradient 2.25x the size of F(2x2)'s (its per-chunk products and partial sums: 9.6 -> 16 ms).
# Only wide layers on small maps gained clearly. The models' 3x3 layers have 8 to 32 channels
# (conv-ae, super-resolution, the progressive and style-based generators); those measured ran
# 0.92-1.20x as long, and float32 results drift about 5x further from im2col's (relative
# 1e-6 -> 5e-6). Left out.
# Backward recomputes V from x, as the im2col path recomputes its columns. Keeping each chunk's V
# from the forward instead (one array per call, N*TH*TW*16*C values) was slower or equal on every
# layer measured, fwd+bwd: 1.12-2.5x the time for 16->32 on 14x14, 0.99-1.11x for 128->128 on
# 7x7, 2.5-4.1x for 32->32 on 28x28 and 64->64 on 14x14 (in-process A/B, 16 rounds, one and two
# threads, with and without memory.keep_freed_memory). Backward gained what the recompute costs
# (32->32 on 28x28, one thread: 48-55 -> 40-41 ms), but the forward, writing V into an array of
# its own instead of the workspace's cache-sized buffer, took 172-226 ms instead of 22-29.
# ---------------------------------------------------------------------------------------------

WINOGRAD = True  # False: 3x3 stride-1 convolutions go through im2col too (the tests run both)


def _takes_winograd(KH, KW, stride, dilation, groups):
    """3x3 filters, stride 1, no dilation, one group: the shapes kernels/winograd.py computes."""
    return (WINOGRAD and groups == 1 and (KH, KW) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1))


def _winograd_chunk(C_in, C_out, tiles, itemsize):
    """Images per chunk: V (16, T, C_in) and M (16, T, C_out) within CHUNK_BYTES."""
    return _chunk_size(16 * (C_in + C_out) * tiles[0] * tiles[1], itemsize)


def _winograd_conv(x, U, bias, padding, out):
    """out = conv2d(x) + bias for a chunk of images: V = input_transform(x), M[ξ] = V[ξ] @ U[ξ]
    for the 16 positions ξ of the transform, out = output_transform(M) + bias."""
    n, C = x.shape[:2]
    TH, TW = wkernels.tiles(*out.shape[2:])
    T = TH * TW * n
    V = wkernels.input_transform(x, padding[0], padding[1], TH, TW,
                                 workspace.buffer("wino_v", (16, T, C), x.dtype))
    M = np.matmul(V, U, out=workspace.buffer("wino_m", (16, T, U.shape[2]), x.dtype))
    return wkernels.output_transform(M, bias, out)


def _winograd_conv_adjoint(g, UT, padding, out, sums):
    """out = the adjoint of _winograd_conv applied to g (dL/dx of a conv2d, or a transposed
    convolution's forward): Gt = output_transform_adjoint(g) (sums += Σ g per channel on the
    way), dV[ξ] = Gt[ξ] @ UT[ξ], out = input_transform_adjoint(dV) (skipped when out is None).
    Returns Gt, which the weight gradient needs too."""
    TH, TW = wkernels.tiles(*g.shape[2:])
    T = TH * TW * g.shape[0]
    Gt = wkernels.output_transform_adjoint(g, workspace.buffer("wino_m", (16, T, g.shape[1]), g.dtype), sums)
    if out is not None:
        dV = np.matmul(Gt, UT, out=workspace.buffer("wino_dv", (16, T, out.shape[1]), g.dtype))
        wkernels.input_transform_adjoint(dV, padding[0], padding[1], TH, TW, out)
    return Gt


def _add_winograd_weight_grad(du, x, Gt, padding, TH, TW):
    """du[ξ] += V[ξ].T @ Gt[ξ], V = input_transform(x): the filter gradient, still transformed."""
    V = wkernels.input_transform(x, padding[0], padding[1], TH, TW,
                                 workspace.buffer("wino_v", (16, TH * TW * x.shape[0], x.shape[1]), x.dtype))
    du += np.matmul(V.transpose(0, 2, 1), Gt, out=workspace.buffer("wino_du", du.shape, x.dtype))


def _winograd_forward(ctx, x, w, b, padding, OH, OW):
    """Conv2d.forward on the Winograd path: y = conv2d(x, w, b), chunk by chunk."""
    N, C = x.shape[:2]
    F = w.shape[0]
    ctx.U = wkernels.filter_transform(w)  # (16, C, F)
    ctx.padding = tuple(padding)
    bias = b if b is not None else np.zeros(F, dtype=x.dtype)
    y = np.empty((N, F, OH, OW), dtype=x.dtype)
    _over_chunks(N, _winograd_chunk(C, F, wkernels.tiles(OH, OW), x.itemsize),
                 lambda n0, n: _winograd_conv(x[n0:n0 + n], ctx.U, bias, padding, y[n0:n0 + n]))
    return y


def _winograd_backward(ctx, grad, x):
    """Conv2d.backward on the Winograd path, per chunk: Gt = output_transform_adjoint(grad) (and
    dL/db on the way), dL/dx = input_transform_adjoint(Gt @ U.T), dL/dU += V.T @ Gt; at the end
    dL/dw = filter_transform_adjoint(dL/dU)."""
    needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
    N, C = ctx.x_shape[:2]
    F = grad.shape[1]
    tiles = wkernels.tiles(*grad.shape[2:])
    grad = np.ascontiguousarray(grad)
    UT = np.ascontiguousarray(ctx.U.transpose(0, 2, 1))  # (16, F, C): BLAS runs it faster contiguous
    dx = np.empty(ctx.x_shape, dtype=grad.dtype) if needs_x else None
    du, db = np.zeros(ctx.U.shape, dtype=grad.dtype), np.zeros(F, dtype=grad.dtype)

    def chunk(n0, n, du_part, db_part):  # images n0 .. n0 + n - 1
        Gt = _winograd_conv_adjoint(grad[n0:n0 + n], UT, ctx.padding, dx[n0:n0 + n] if needs_x else None, db_part)
        if needs_w:
            _add_winograd_weight_grad(du_part, x[n0:n0 + n], Gt, ctx.padding, *tiles)

    if needs_x or needs_w or needs_b:
        _over_chunks(N, _winograd_chunk(C, F, tiles, grad.itemsize), chunk, (du, db))
    dw = wkernels.filter_transform_adjoint(du) if needs_w else None
    return dx, dw, db if needs_b else None


def _winograd_transpose_forward(ctx, x, w, b, padding, OH, OW):
    """ConvTranspose2d.forward on the Winograd path: the adjoint of the conv2d from (F, OH, OW)
    images to x's (C, H, W), whose weight is w (C, F, 3, 3) as it stands."""
    N, C = x.shape[:2]
    F = w.shape[1]
    ctx.U = wkernels.filter_transform(w)  # (16, F, C)
    ctx.padding = tuple(padding)
    UT = np.ascontiguousarray(ctx.U.transpose(0, 2, 1))  # (16, C, F)
    y = np.empty((N, F, OH, OW), dtype=x.dtype)
    x = np.ascontiguousarray(x)

    def chunk(n0, n):  # (the adjoint's channel sums are not needed here: a throwaway per chunk)
        _winograd_conv_adjoint(x[n0:n0 + n], UT, padding, y[n0:n0 + n], np.zeros(C, dtype=x.dtype))
        if b is not None:
            y[n0:n0 + n] += b[:, None, None]  # while the chunk is in cache

    _over_chunks(N, _winograd_chunk(F, C, wkernels.tiles(*x.shape[2:]), x.itemsize), chunk)
    return y


def _winograd_transpose_backward(ctx, grad, x):
    """ConvTranspose2d.backward on the Winograd path: dL/dx = conv2d(grad, w) (the forward
    kernels), dL/dw from V = input_transform(grad) and Gt = output_transform_adjoint(x)."""
    needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
    N, C = ctx.x_shape[:2]
    F = grad.shape[1]
    tiles = wkernels.tiles(*ctx.x_shape[2:])
    grad = np.ascontiguousarray(grad)
    dx = np.empty(ctx.x_shape, dtype=grad.dtype) if needs_x else None
    du = np.zeros(ctx.U.shape, dtype=grad.dtype)
    zero_bias = np.zeros(C, dtype=grad.dtype)

    def chunk(n0, n, du_part):
        if needs_x:
            _winograd_conv(grad[n0:n0 + n], ctx.U, zero_bias, ctx.padding, dx[n0:n0 + n])
        if needs_w:  # (the adjoint's channel sums: a throwaway per chunk, as above)
            Gt = _winograd_conv_adjoint(x[n0:n0 + n], None, ctx.padding, None, np.zeros(C, dtype=grad.dtype))
            _add_winograd_weight_grad(du_part, grad[n0:n0 + n], Gt, ctx.padding, *tiles)

    if needs_x or needs_w:
        _over_chunks(N, _winograd_chunk(F, C, tiles, grad.itemsize), chunk, (du,))
    dw = wkernels.filter_transform_adjoint(du) if needs_w else None
    db = grad.sum(axis=(0, 2, 3)) if needs_b else None
    return dx, dw, db


class ConvTranspose2d(Function):
    """y = the adjoint of conv2d: every input pixel paints w-weighted copies into the output.

    y[n, g*Fg + f, ih*SH + kh*DH - PH, iw*SW + kw*DW - PW] += x[n, c, ih, iw] * w[c, f, kh, kw]
    (for every input channel c of group g, every tap (kh, kw); positions outside y dropped), + b.
    x: (N, C, H, W)   w: (C, Fg, KH, KW)   b: (F,) or None  ->  y: (N, F, OH, OW),  F = Fg*G
        OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + OPH + 1   (OW alike; OP = output_padding)
    It is the gradient of conv2d with respect to its input: <conv2d(z, w), x> = <z, conv_transpose2d(x, w)>.
    As matrices (per group), with xr = x laid out as (C, N*H*W):
        cols = w.T (F*KH*KW, C) @ xr,   y = col2im(cols).
    Backward, with gcols = im2col(grad): (F*KH*KW, N*H*W), the same windows read back:
        dL/dx = w @ gcols                (C, F*KH*KW)(F*KH*KW, N*H*W) -> (N, C, H, W)
        dL/dw = xr @ gcols.T             (C, N*H*W)(N*H*W, Fg*KH*KW) -> (C, Fg, KH, KW)
        dL/db = grad.sum(axis=(0, 2, 3))                                  (F,)
    Both directions run over chunks of images, as Conv2d does. Where conv2d takes Winograd's path
    (3x3, stride 1), so does its adjoint: _winograd_transpose_forward / _winograd_transpose_backward.
    """

    @staticmethod
    def forward(ctx, x, w, b, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1,
                dilation=(1, 1)):
        N, C, H, W = x.shape
        _, Fg, KH, KW = w.shape
        G = groups
        F = Fg * G
        OH = conv_transpose_output_size(H, KH, stride[0], padding[0], output_padding[0], dilation[0])
        OW = conv_transpose_output_size(W, KW, stride[1], padding[1], output_padding[1], dilation[1])
        w3 = w.reshape(G, C // G, Fg * KH * KW)
        # the windows are those of a conv2d over y producing exactly H x W: pass H, W explicitly
        ctx.geometry = (KH, KW, stride, padding, dilation, H, W)
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w3)
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        ctx.winograd = _takes_winograd(KH, KW, stride, dilation, G)  # as its adjoint conv2d does
        if ctx.winograd:
            return _winograd_transpose_forward(ctx, x, w, b, padding, OH, OW)
        y = np.empty((N, F, OH, OW), dtype=x.dtype)
        L = H * W

        def chunk(n0, n):  # images n0 .. n0 + n - 1
            xr = _nchw_to_rows(x[n0:n0 + n], "x_rows").reshape(G, C // G, n * L)  # (C, n*H*W)
            cols = _grouped_matmul(w3.transpose(0, 2, 1), xr,
                                   workspace.buffer("cols", (F * KH * KW, n * L), x.dtype))  # (F*KH*KW, n*H*W)
            _col2im_into(cols, y[n0:n0 + n], ctx.geometry)
            if b is not None:
                y[n0:n0 + n] += b[:, None, None]  # while the chunk is in cache

        _over_chunks(N, _chunk_size((F * KH * KW + C) * L, x.itemsize), chunk)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w3 = ctx.saved
        if ctx.winograd:
            return _winograd_transpose_backward(ctx, grad, x)
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        G, Cg, FgK = w3.shape
        N, C, H, W = ctx.x_shape
        F = grad.shape[1]
        L = H * W
        dtype = grad.dtype
        dx = dw = db = None
        if needs_b:
            db = grad.sum(axis=(0, 2, 3))
        if not (needs_x or needs_w):
            return dx, dw, db
        grad = np.ascontiguousarray(grad)
        dx = np.empty(ctx.x_shape, dtype=dtype) if needs_x else None
        sums = (np.zeros((G, FgK, Cg), dtype=dtype),) if needs_w else ()  # dL/dw transposed

        def chunk(n0, n, *partials):  # images n0 .. n0 + n - 1
            gcols = kernels.im2col(grad[n0:n0 + n], *ctx.geometry,
                                   out=workspace.buffer("cols", (G * FgK, n * L), dtype)).reshape(G, FgK, n * L)
            if needs_x:
                rows = _grouped_matmul(w3, gcols, workspace.buffer("rows", (C, n * L), dtype))  # (C, n*H*W)
                _rows_to_nchw(rows, dx[n0:n0 + n].reshape(n, C, L))
            if needs_w:
                xr = _nchw_to_rows(x[n0:n0 + n], "x_rows").reshape(G, Cg, n * L)
                _add_weight_grad(partials[0], gcols, xr)

        _over_chunks(N, _chunk_size((G * FgK + C) * L, grad.itemsize), chunk, sums)
        if needs_w:
            dw = _untranspose(sums[0], ctx.w_shape)
        return dx, dw, db

    @staticmethod
    def backward_graph(ctx, grad, x, w, b, y):
        """The gradients above as Tensor ops, for create_graph=True (conv2d's, mirrored):
            dL/dx = conv2d(grad, w)             the adjoint of the adjoint
            dL/dw = conv2d(grad, x) with N as the channel axis, stride and dilation swapped
            dL/db = grad.sum(axis=(0, 2, 3))"""
        return _conv_backward_graph(ctx, grad, x, w, transposed=True)


# ---------------------------------------------------------------------------------------------
# Public functions: check everything, then apply. Errors name the op and both shapes.
# ---------------------------------------------------------------------------------------------


def _check_common(op, x, weight, bias, groups):
    """ndim, dtype and groups checks shared by conv2d and conv_transpose2d."""
    check_image(op, x)
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D, got shape {tuple(weight.shape)}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: x is {x.dtype} but weight is {weight.dtype}; convert one with .float() or .double()")
    if bias is not None and bias.dtype != x.dtype:
        raise TypeError(f"{op}: bias is {bias.dtype} but x is {x.dtype}; convert one with .float() or .double()")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if x.shape[1] % groups:
        raise ValueError(f"{op}: groups={groups} does not divide the {x.shape[1]} input channels of x "
                         f"(shape {tuple(x.shape)})")


def _check_bias(op, bias, F):
    if bias is not None and tuple(bias.shape) != (F,):
        raise ValueError(f"{op}: bias must have shape ({F},) (one per output channel), got {tuple(bias.shape)}")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in PyTorch): see Conv2d for the math.

    x: (N, C, H, W), weight: (F, C/groups, KH, KW), bias: (F,) or None  ->  (N, F, OH, OW).
    stride, padding, dilation: an int or an (h, w) pair.
    """
    op = "conv2d"
    _check_common(op, x, weight, bias, groups)
    stride = pair(op, "stride", stride, 1)
    padding = pair(op, "padding", padding, 0)
    dilation = pair(op, "dilation", dilation, 1)
    N, C, H, W = x.shape
    F, Cg, KH, KW = weight.shape
    if Cg * groups != C:
        raise ValueError(f"{op}: x has {C} channels (shape {tuple(x.shape)}) but weight expects "
                         f"{Cg * groups} = weight.shape[1] * groups (weight shape {tuple(weight.shape)}, "
                         f"groups={groups})")
    if F % groups:
        raise ValueError(f"{op}: groups={groups} does not divide the {F} output channels "
                         f"(weight shape {tuple(weight.shape)})")
    _check_bias(op, bias, F)
    span = (dilation[0] * (KH - 1) + 1, dilation[1] * (KW - 1) + 1)
    padded = (H + 2 * padding[0], W + 2 * padding[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(f"{op}: kernel {KH}x{KW} (dilation {dilation}) spans {span[0]}x{span[1]}, larger than the "
                         f"padded input {padded[0]}x{padded[1]} (x shape {tuple(x.shape)}, padding {padding})")
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=int(groups))


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution (the adjoint of conv2d, as in PyTorch): see ConvTranspose2d.

    x: (N, C, H, W), weight: (C, F/groups, KH, KW), bias: (F,) or None  ->  (N, F, OH, OW)
    with OH = (H - 1)*stride - 2*padding + dilation*(KH - 1) + output_padding + 1.
    output_padding (< stride or < dilation) picks among the output sizes that conv2d maps to H.
    """
    op = "conv_transpose2d"
    _check_common(op, x, weight, bias, groups)
    stride = pair(op, "stride", stride, 1)
    padding = pair(op, "padding", padding, 0)
    dilation = pair(op, "dilation", dilation, 1)
    output_padding = pair(op, "output_padding", output_padding, 0)
    N, C, H, W = x.shape
    Cw, Fg, KH, KW = weight.shape
    if Cw != C:
        raise ValueError(f"{op}: x has {C} channels (shape {tuple(x.shape)}) but weight expects {Cw} = "
                         "weight.shape[0] "
                         f"(weight shape {tuple(weight.shape)} is (C_in, C_out/groups, KH, KW))")
    for i in range(2):
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than stride {stride} "
                             f"or dilation {dilation} in each dimension")
    _check_bias(op, bias, Fg * groups)
    OH = conv_transpose_output_size(H, KH, stride[0], padding[0], output_padding[0], dilation[0])
    OW = conv_transpose_output_size(W, KW, stride[1], padding[1], output_padding[1], dilation[1])
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: output would be {OH}x{OW} for x shape {tuple(x.shape)}, weight shape "
                         f"{tuple(weight.shape)}, stride {stride}, padding {padding}: reduce the padding")
    return ConvTranspose2d.apply(x, weight, bias, stride=stride, padding=padding, output_padding=output_padding,
                                 groups=int(groups), dilation=dilation)


# ---------------------------------------------------------------------------------------------
# Second derivatives: both backward passes written as convolutions of Tensors
# ---------------------------------------------------------------------------------------------


def _conv_backward_graph(ctx, grad, x, w, transposed):
    """Conv2d / ConvTranspose2d backward_graph (groups=1): gradients as recorded convolutions.

    The weight gradient is itself a convolution. For conv2d,
        dL/dw[f, c, kh, kw] = Σ_{n, oh, ow} grad[n, f, oh, ow] * xpad[n, c, oh*S + kh*D, ow*S + kw*D]
    is conv2d over x with the batch axis as channels -- input x^T: (C, N, H, W), filters grad^T:
    (F, N, OH, OW) -- stepping kh by D (stride D) and oh by S (dilation S): the result (C, F, ., .)
    transposed and cropped to (KH, KW) (the ragged rows conv2d's floor dropped are beyond KH).
    conv_transpose2d's weight gradient is the same with x and grad trading places.
    """
    op = "conv_transpose2d" if transposed else "conv2d"
    needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
    KH, KW, stride, padding, dilation = ctx.geometry[:5]
    N, C, H, W = x.shape
    G = (grad.shape[1] // w.shape[1]) if transposed else (C // w.shape[1])
    if G != 1:
        raise RuntimeError(f"{op}: second derivatives (create_graph=True) are written for groups=1 only, "
                           f"got groups={G}")
    dx = dw = db = None
    if needs_x:
        if transposed:  # conv2d of grad maps y's size back to x's (crop if output_padding >= stride)
            dx = Conv2d.apply(grad, w, None, stride=stride, padding=padding, dilation=dilation, groups=1)
            dx = dx if dx.shape == x.shape else dx[:, :, :H, :W]
        else:           # output_padding: the rows of x that the forward's floor division left over
            OH, OW = grad.shape[2:]
            extra = tuple(n + 2 * p - d * (k - 1) - 1 - s * (o - 1)
                          for n, p, d, k, s, o in zip((H, W), padding, dilation, (KH, KW), stride, (OH, OW)))
            dx = ConvTranspose2d.apply(grad, w, None, stride=stride, padding=padding, output_padding=extra,
                                       groups=1, dilation=dilation)
    if needs_w:
        image, filters = (grad, x) if transposed else (x, grad)
        z = Conv2d.apply(image.permute(1, 0, 2, 3), filters.permute(1, 0, 2, 3), None, stride=dilation,
                         padding=padding, dilation=stride, groups=1)       # (C or F, F or C, >= KH, >= KW)
        dw = z.permute(1, 0, 2, 3)
        if dw.shape[2:] != (KH, KW):
            dw = dw[:, :, :KH, :KW]
    if needs_b:
        db = grad.sum(dim=(0, 2, 3))
    return dx, dw, db
