"""Tensor: an ndarray, its gradient, and the op that made it.

The first file to read. A Tensor holds
    data           the values (a numpy.ndarray; float32 unless you ask for float64)
    grad           dL/d(data) after backward(), same shape and dtype, or None
    requires_grad  whether ops on it are recorded so backward() can reach it
    _node          the recorded op (autograd.Node) that produced it; None for a leaf
Every operator below (`+`, `@`, `.sum()`, ...) is a plain method that calls one Function from
nanogen/ops/, so `grep "def __add__"` shows you exactly where `a + b` goes. autograd.py has the
Function base class and the backward walk; ops/ has the math of each op.
"""

import numpy as np

from . import random as _random

_FLOATS = (np.float32, np.float64)


def _as_array(data, dtype=None):
    """Turn user data into an ndarray: floats become float32 unless float64 was given explicitly."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data)  # keep the dtype given: float64 stays float64, int64 labels stay int64
    a = np.asarray(data)
    if a.dtype.kind == "f" or a.dtype == np.float16:
        a = a.astype(np.float32)  # Python floats default to float32, as in PyTorch
    return a


class Tensor:
    """An n-dimensional array that can record the operations applied to it."""

    __slots__ = ("data", "grad", "requires_grad", "_node", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # `ndarray + Tensor` calls Tensor.__radd__, not NumPy's loop

    @classmethod
    def _wrap(cls, array):
        """A Tensor around an op's output, with no conversion (the hot path of Function.apply)."""
        t = object.__new__(cls)
        t.data = array if type(array) is np.ndarray else np.asarray(array)  # NumPy may hand back a 0-d scalar
        t.grad = None
        t.requires_grad = False
        t._node = None
        t._retains_grad = False
        return t

    def __init__(self, data, requires_grad=False, dtype=None, _copy=False):
        a = _as_array(data, dtype)
        if _copy:
            a = a.copy()
        if requires_grad and a.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require grad, got dtype {a.dtype}; "
                            "convert with .float() or pass dtype=np.float32")
        self.data = a
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._retains_grad = False

    # ------------------------------------------------------------------ basic properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        """Name of the Function that made this tensor, or None for a leaf."""
        return None if self._node is None else self._node.fn.__name__

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2, separator=", ",
                               prefix="tensor(")
        extra = f", grad_fn={self.grad_fn}" if self._node is not None else (
            ", requires_grad=True" if self.requires_grad else "")
        return f"tensor({body}, shape={self.shape}, dtype={self.dtype}{extra})"

    def numpy(self):
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a Python number, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        """The same data, cut from the graph (no copy)."""
        return Tensor(self.data)

    def requires_grad_(self, flag=True):
        if flag and self.dtype.kind != "f":
            raise TypeError(f"requires_grad_: dtype {self.dtype} cannot require grad")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep .grad on this intermediate tensor too (leaves always keep it)."""
        self._retains_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    def astype(self, dtype):
        """Differentiable dtype conversion (float32 <-> float64)."""
        from .ops.elementwise import Cast

        if np.dtype(dtype) == self.dtype:
            return self
        return Cast.apply(self, dtype=np.dtype(dtype))

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def long(self):
        return Tensor(self.data.astype(np.int64))

    # ------------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph=False):
        """Compute d(self)/d(leaf) for every leaf that requires grad; see autograd.backward."""
        from .autograd import backward

        backward(self, grad, retain_graph=retain_graph)

    def graph(self, format="text", path=None):
        """The graph backward() will walk from here: as indented text (default), as Graphviz DOT
        source (format="dot"), or drawn to `path` (format="png"/"svg"; needs the optional
        `graphviz` package and Graphviz's `dot` program)."""
        from .autograd import graph_dot, graph_text

        if format == "text":
            return graph_text(self)
        if format == "dot":
            return graph_dot(self)
        try:
            import graphviz
        except ImportError:
            raise ImportError("graph(format=...): drawing needs `pip install graphviz` and Graphviz's dot; "
                              "graph('dot') gives the DOT source without them") from None
        if path is None:
            raise ValueError("graph: give path= to draw into, e.g. graph('png', path='graph')")
        return graphviz.Source(graph_dot(self)).render(path, format=format, cleanup=True)

    # ------------------------------------------------------------------ arithmetic operators
    def __add__(self, other):
        return E.add(self, other)

    def __radd__(self, other):
        return E.add(other, self)

    def __sub__(self, other):
        return E.sub(self, other)

    def __rsub__(self, other):
        return E.sub(other, self)

    def __mul__(self, other):
        return E.mul(self, other)

    def __rmul__(self, other):
        return E.mul(other, self)

    def __truediv__(self, other):
        return E.div(self, other)

    def __rtruediv__(self, other):
        return E.div(other, self)

    def __pow__(self, other):
        return E.pow(self, other)

    def __rpow__(self, other):
        return E.pow(other, self)

    def __neg__(self):
        return E.neg(self)

    def __matmul__(self, other):
        return L.matmul(self, other)

    def __rmatmul__(self, other):
        return L.matmul(other, self)

    def __getitem__(self, index):
        return S.getitem(self, index)

    # comparisons give boolean tensors with no gradient (masks, accuracy)
    def __eq__(self, other):
        return Tensor(self.data == as_array(other))

    def __ne__(self, other):
        return Tensor(self.data != as_array(other))

    def __lt__(self, other):
        return Tensor(self.data < as_array(other))

    def __le__(self, other):
        return Tensor(self.data <= as_array(other))

    def __gt__(self, other):
        return Tensor(self.data > as_array(other))

    def __ge__(self, other):
        return Tensor(self.data >= as_array(other))

    __hash__ = object.__hash__  # identity, so tensors can be dict keys and set members

    # ------------------------------------------------------------------ math methods
    def exp(self):
        return E.exp(self)

    def log(self):
        return E.log(self)

    def sqrt(self):
        return E.sqrt(self)

    def abs(self):
        return E.abs(self)

    def clamp(self, min=None, max=None):
        return E.clamp(self, min, max)

    def relu(self):
        return A.relu(self)

    def sigmoid(self):
        return A.sigmoid(self)

    def tanh(self):
        return A.tanh(self)

    def softmax(self, dim=-1):
        return A.softmax(self, dim)

    def log_softmax(self, dim=-1):
        return A.log_softmax(self, dim)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False):
        return R.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return R.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return R.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return R.min(self, dim, keepdim)

    def var(self, dim=None, keepdim=False, correction=1):
        return R.var(self, dim, keepdim, correction=correction)

    def std(self, dim=None, keepdim=False, correction=1):
        return R.std(self, dim, keepdim, correction=correction)

    def logsumexp(self, dim=None, keepdim=False):
        return R.logsumexp(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return Tensor(np.argmax(self.data, axis=dim, keepdims=keepdim))

    def argmin(self, dim=None, keepdim=False):
        return Tensor(np.argmin(self.data, axis=dim, keepdims=keepdim))

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape):
        return S.reshape(self, *shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        return S.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return S.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return S.permute(self, *dims)

    def squeeze(self, dim=None):
        return S.squeeze(self, dim)

    def unsqueeze(self, dim):
        return S.unsqueeze(self, dim)

    def expand(self, *shape):
        return S.expand(self, *shape)

    def split(self, split_size, dim=0):
        return S.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return S.chunk(self, chunks, dim)

    @property
    def T(self):
        """Reversed axes, as ndarray.T (for a matrix: the transpose)."""
        return S.permute(self, *reversed(range(self.ndim)))


def as_array(x):
    """The ndarray behind x: x.data for a Tensor, np.asarray(x) for anything else (an ndarray
    comes back as it is, not copied). The one way nanogen unwraps a Tensor to an array."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


# ---------------------------------------------------------------------------- creation


def tensor(data, dtype=None, requires_grad=False):
    """A new leaf tensor from a list, number or ndarray (copied). Floats default to float32."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, _copy=True)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape, value, dtype=np.float32, requires_grad=False):
    return Tensor(np.full(_shape((shape,)), value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor(np.zeros_like(as_array(t), dtype=dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor(np.ones_like(as_array(t), dtype=dtype), requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None):
    a = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is not None:
        a = a.astype(dtype)
    elif a.dtype.kind == "f":
        a = a.astype(np.float32)
    return Tensor(a)


def eye(n, m=None, dtype=np.float32, requires_grad=False):
    return Tensor(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, requires_grad=False, rng=None):
    """Standard normal samples from `rng` (or nanogen's global generator, see manual_seed)."""
    rng = _random.default_rng(rng)
    return Tensor(rng.standard_normal(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def rand(*shape, dtype=np.float32, requires_grad=False, rng=None):
    """Uniform [0, 1) samples from `rng` (or nanogen's global generator)."""
    rng = _random.default_rng(rng)
    return Tensor(rng.random(_shape(shape), dtype=dtype), requires_grad=requires_grad)


# The op modules import autograd, which imports this file; they are bound here, at the end, and
# used inside the methods above only when called.
from .ops import activation as A  # noqa: E402
from .ops import elementwise as E  # noqa: E402
from .ops import linalg as L  # noqa: E402
from .ops import reduce as R  # noqa: E402
from .ops import shape as S  # noqa: E402
