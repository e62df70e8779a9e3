"""Shape ops: reshape/view, flatten, transpose, permute, squeeze, unsqueeze, expand, indexing,
cat, stack, split/chunk, pad, pixel_shuffle/pixel_unshuffle.

Read ops/elementwise.py first. These ops move numbers around without changing them, so each
backward moves the gradient back the same way: reshape's backward reshapes, permute's applies
the inverse permutation, indexing's scatters into zeros (adding where an index repeats), cat's
slices, pad's crops.
For create_graph=True each also has a `backward_graph` doing the same moves with Tensor ops;
indexing's scatter is an op of its own there (IndexAdd), the adjoint of GetItem.
"""

import numpy as np

from ..autograd import Function
from ..tensor import Tensor


class Reshape(Function):
    """y = x with a new shape (same elements, same order)       dL/dx = grad reshaped to x.shape"""

    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.in_shape),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad.reshape(ctx.in_shape),)


class Permute(Function):
    """y = x with axes reordered: y.shape[i] = x.shape[dims[i]]    dL/dx = grad with the inverse order"""

    @staticmethod
    def forward(ctx, x, dims=()):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        return (grad.transpose(np.argsort(ctx.dims)),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad.permute(*(int(d) for d in np.argsort(ctx.dims))),)


class Expand(Function):
    """y = x broadcast to `shape` (a view, no copy)      dL/dx = grad summed back (by the engine)"""

    @staticmethod
    def forward(ctx, x, shape=()):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return (grad,)  # autograd.unbroadcast sums over the expanded axes

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad,)


class GetItem(Function):
    """y = x[index]  (ints, slices, None, Ellipsis, integer arrays, boolean masks)

    dL/dx = zeros with grad written at `index`. With integer arrays an element may be picked
    twice (x[[0, 0]]): np.add.at adds both contributions where plain assignment would keep one.
    """

    @staticmethod
    def forward(ctx, x, index=None):
        ctx.in_shape, ctx.index = x.shape, index
        ctx.advanced = _is_advanced(index)
        return np.asarray(x[index])

    @staticmethod
    def backward(ctx, grad):
        dx = np.zeros(ctx.in_shape, dtype=grad.dtype)
        if ctx.advanced:
            np.add.at(dx, ctx.index, grad)
        else:
            dx[ctx.index] = grad
        return (dx,)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (IndexAdd.apply(grad, shape=ctx.in_shape, index=ctx.index, advanced=ctx.advanced),)


class IndexAdd(Function):
    """y = zeros(shape) with x added at `index`: GetItem's backward as an op of its own, so that
    a recorded gradient can go through it (its backward is GetItem again: the two are adjoints).

    dL/dx = grad[index]
    """

    @staticmethod
    def forward(ctx, x, shape=(), index=None, advanced=False):
        ctx.index = index
        y = np.zeros(shape, dtype=x.dtype)
        if advanced:
            np.add.at(y, index, x)
        else:
            y[index] = x
        return y

    @staticmethod
    def backward(ctx, grad):
        return (np.asarray(grad[ctx.index]),)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (GetItem.apply(grad, index=ctx.index),)


def _is_advanced(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (list, np.ndarray)) for i in items)


class Cat(Function):
    """y = the inputs joined along `dim`         dL/dx_k = the slice of grad that came from x_k"""

    @staticmethod
    def forward(ctx, *xs, dim=0):
        ctx.sizes, ctx.dim = [x.shape[dim] for x in xs], dim
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        cuts = np.cumsum(ctx.sizes)[:-1]
        return tuple(np.split(grad, cuts, axis=ctx.dim))

    @staticmethod
    def backward_graph(ctx, grad, *xs, y):
        out, start = [], 0
        for n in ctx.sizes:  # the slice of grad that came from each input
            index = (slice(None),) * ctx.dim + (slice(start, start + n),)
            out.append(GetItem.apply(grad, index=index))
            start += n
        return tuple(out)


class Stack(Function):
    """y = the inputs stacked along a new axis `dim`      dL/dx_k = grad indexed at k along dim"""

    @staticmethod
    def forward(ctx, *xs, dim=0):
        ctx.dim = dim
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.dim, 0))

    @staticmethod
    def backward_graph(ctx, grad, *xs, y):
        return tuple(GetItem.apply(grad, index=(slice(None),) * ctx.dim + (k,)) for k in range(len(xs)))


class Pad(Function):
    """y = x with `value` added around it: pad = ((before, after) per axis)    dL/dx = grad cropped"""

    @staticmethod
    def forward(ctx, x, pad=(), value=0.0):
        ctx.crop = tuple(slice(b, b + n) for (b, _), n in zip(pad, x.shape))
        return np.pad(x, pad, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return (grad[ctx.crop],)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (GetItem.apply(grad, index=ctx.crop),)


# ---------------------------------------------------------------------------- public functions


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    shape = _shape_arg(shape)
    known = [s for s in shape if s != -1]
    if shape.count(-1) > 1 or (shape.count(-1) == 0 and int(np.prod(shape)) != x.size) or (
        shape.count(-1) == 1 and (int(np.prod(known)) == 0 or x.size % int(np.prod(known)))
    ):
        raise ValueError(f"reshape: cannot view a tensor of shape {x.shape} ({x.size} elements) as {shape}")
    return Reshape.apply(x, shape=shape)


view = reshape


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) with start_dim=1."""
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    shape = x.shape[:s] + (int(np.prod(x.shape[s : e + 1])),) + x.shape[e + 1 :]
    return Reshape.apply(x, shape=shape)


def permute(x, *dims):
    dims = _shape_arg(dims)
    if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Permute.apply(x, dims=tuple(d % x.ndim for d in dims))


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    try:
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    except IndexError:
        raise ValueError(f"transpose: dims ({dim0}, {dim1}) out of range for shape {x.shape}") from None
    return Permute.apply(x, dims=tuple(dims))


def squeeze(x, dim=None):
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        d = dim % x.ndim
        shape = x.shape if x.shape[d] != 1 else x.shape[:d] + x.shape[d + 1 :]
    return Reshape.apply(x, shape=shape)


def unsqueeze(x, dim):
    d = dim % (x.ndim + 1)
    return Reshape.apply(x, shape=x.shape[:d] + (1,) + x.shape[d:])


def expand(x, *shape):
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    target = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    try:
        np.broadcast_shapes(x.shape, target)
        if np.broadcast_shapes(x.shape, target) != target:
            raise ValueError
    except ValueError:
        raise ValueError(f"expand: cannot expand shape {x.shape} to {shape}") from None
    return Expand.apply(x, shape=target)


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    try:
        return GetItem.apply(x, index=index)
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} does not fit a tensor of shape {x.shape}: {e}") from None


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0].shape
    d = dim % len(ref)
    for t in tensors[1:]:
        if len(t.shape) != len(ref) or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref)) if i != d):
            raise ValueError(f"cat: shapes {ref} and {t.shape} differ outside dim {dim}")
    return Cat.apply(*tensors, dim=d)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: all tensors need the same shape, got {tensors[0].shape} and {t.shape}")
    return Stack.apply(*tensors, dim=dim % (tensors[0].ndim + 1))


def split(x, split_size, dim=0):
    """Pieces of `split_size` along dim (the last may be smaller), or of the listed sizes."""
    n = x.shape[dim]
    if isinstance(split_size, int):
        if split_size <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size}")
        sizes = [split_size] * (n // split_size) + ([n % split_size] if n % split_size else [])
    else:
        sizes = list(split_size)
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} add up to {sum(sizes)}, not {n} (dim {dim} of {x.shape})")
    out, start = [], 0
    for s in sizes:
        index = [slice(None)] * x.ndim
        index[dim] = slice(start, start + s)
        out.append(GetItem.apply(x, index=tuple(index)))
        start += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    """`chunks` nearly equal pieces along dim, as torch.chunk."""
    n = x.shape[dim]
    return split(x, max(1, -(-n // chunks)), dim)


def pad(x, pad, value=0.0):
    """PyTorch's F.pad: `pad` lists (before, after) pairs starting from the LAST dim:
    pad=(1, 1, 2, 0) pads the last dim by 1 on both sides and the one before by 2 at the start."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected pairs for at most {x.ndim} dims, got {pad}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding {pad} is not supported")
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad.apply(x, pad=tuple(pairs), value=value)


# ---------------------------------------------------------------------------- sub-pixel convolution


class PixelShuffle(Function):
    """y[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w]       (torch.nn.PixelShuffle)

    x: (N, C*r*r, H, W) -> y: (N, C, H*r, W*r). Each group of r*r channels becomes an r x r block
    of output pixels: the "sub-pixel convolution" of Shi et al. 2016 (Sec. 2.2), which SRGAN uses
    to upsample (a conv makes r*r maps at low resolution, the shuffle tiles them).
    One reshape and one permutation, so the backward is their inverse:
        dL/dx[n, c*r*r + i*r + j, h, w] = grad[n, c, h*r + i, w*r + j]       (pixel_unshuffle of grad)
    """

    @staticmethod
    def forward(ctx, x, r=2):
        N, CRR, H, W = x.shape
        C = CRR // (r * r)
        ctx.r = r
        y = x.reshape(N, C, r, r, H, W)                    # channel c*r*r + i*r + j -> (c, i, j)
        y = y.transpose(0, 1, 4, 2, 5, 3)                  # (N, C, H, r, W, r): row h*r + i, column w*r + j
        return y.reshape(N, C, H * r, W * r)

    @staticmethod
    def backward(ctx, grad):
        return (_unshuffle(grad, ctx.r),)


def _unshuffle(y, r):
    """The inverse of PixelShuffle's forward on raw arrays: (N, C, H*r, W*r) -> (N, C*r*r, H, W)."""
    N, C, HR, WR = y.shape
    H, W = HR // r, WR // r
    x = y.reshape(N, C, H, r, W, r).transpose(0, 1, 3, 5, 2, 4)     # (N, C, r, r, H, W)
    return x.reshape(N, C * r * r, H, W)


class PixelUnshuffle(Function):
    """y = pixel_unshuffle(x, r): (N, C, H*r, W*r) -> (N, C*r*r, H, W), the inverse of PixelShuffle
    (torch.nn.PixelUnshuffle); its backward is PixelShuffle's forward."""

    @staticmethod
    def forward(ctx, x, r=2):
        ctx.r = r
        return _unshuffle(x, r)

    @staticmethod
    def backward(ctx, grad):
        return (PixelShuffle.forward(ctx, grad, r=ctx.r),)


def _check_factor(op, x, r):
    if not isinstance(r, (int, np.integer)) or isinstance(r, bool) or r < 1:
        raise ValueError(f"{op}: the factor must be a positive integer, got {r!r}")
    if x.ndim != 4:
        raise ValueError(f"{op}: x must be (N, C, H, W), got shape {tuple(x.shape)}")


def pixel_shuffle(x, upscale_factor):
    """(N, C*r*r, H, W) -> (N, C, H*r, W*r) with r = upscale_factor; PyTorch's F.pixel_shuffle."""
    r = upscale_factor
    _check_factor("pixel_shuffle", x, r)
    if x.shape[1] % (r * r):
        raise ValueError(f"pixel_shuffle: the channel count {x.shape[1]} must be divisible by "
                         f"upscale_factor**2 = {r * r}; give the conv before it C*{r * r} output channels")
    return PixelShuffle.apply(x, r=int(r))


def pixel_unshuffle(x, downscale_factor):
    """(N, C, H*r, W*r) -> (N, C*r*r, H, W) with r = downscale_factor; PyTorch's F.pixel_unshuffle."""
    r = downscale_factor
    _check_factor("pixel_unshuffle", x, r)
    if x.shape[2] % r or x.shape[3] % r:
        raise ValueError(f"pixel_unshuffle: height and width {tuple(x.shape[2:])} must be divisible by "
                         f"downscale_factor = {r}")
    return PixelUnshuffle.apply(x, r=int(r))
