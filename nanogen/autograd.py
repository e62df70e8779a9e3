"""Reverse-mode automatic differentiation: Function, the graph, and the backward walk.

Read tensor.py first: a Tensor is an ndarray plus the Function node that made it. This file owns
everything that happens *between* ops:
- `Function`: one differentiable operation. Subclasses write `forward(ctx, *arrays)` and
  `backward(ctx, grad)` on raw ndarrays; `Function.apply` wraps them for Tensors and records the
  node. Because forward/backward never see Tensors, the graph stays first-order and cheap.
- `backward(root, grad)`: the reverse walk, in topological order, iterative (a 10,000-op-deep
  graph is fine), accumulating gradients where a tensor feeds several ops and undoing NumPy
  broadcasting in one place (`unbroadcast`), so no op has to.
- `no_grad()` / `enable_grad()` and `detect_anomaly()`: global switches.
Reference: Griewank & Walther, "Evaluating Derivatives" (2008), ch. 3 (the reverse mode);
the Function/ctx shape is PyTorch's torch.autograd.Function.
"""

import contextlib

import numpy as np

# --------------------------------------------------------------------------- global switches

_grad_enabled = True
_anomaly_mode = False


def is_grad_enabled():
    """True when new ops record the graph (the default)."""
    return _grad_enabled


@contextlib.contextmanager
def _set_grad_enabled(mode):
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, mode
    try:
        yield
    finally:
        _grad_enabled = previous


def no_grad():
    """Context manager: ops inside record no graph (evaluation, sampling, optimizer updates)."""
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager: turn graph recording back on inside a no_grad() block."""
    return _set_grad_enabled(True)


class AnomalyError(FloatingPointError):
    """Raised inside detect_anomaly() at the first op that produced NaN or Inf."""


@contextlib.contextmanager
def detect_anomaly():
    """Check every op's forward output and backward gradients for NaN/Inf and name the first culprit.

    Slower (one np.isfinite per op), so it is off by default; wrap a training step in it when a
    loss turns into nan and you want to know which op did it first.
    """
    global _anomaly_mode
    previous, _anomaly_mode = _anomaly_mode, True
    try:
        yield
    finally:
        _anomaly_mode = previous


def _shapes(arrays):
    return ", ".join(str(getattr(a, "shape", type(a).__name__)) for a in arrays)


# --------------------------------------------------------------------------- Function and ctx


class Context:
    """Scratch space an op's forward leaves for its backward.

    `save_for_backward(*arrays)` stores arrays (read back as `ctx.saved`); any other attribute
    (`ctx.stride = 2`) works too. The engine frees `saved` after backward unless the graph is
    retained, so a big activation is not kept alive by a finished step.
    """

    __slots__ = ("saved", "needs_input_grad", "released", "__dict__")

    def __init__(self):
        self.saved = ()
        self.needs_input_grad = ()
        self.released = False

    def save_for_backward(self, *arrays):
        self.saved = arrays


class Node:
    """One recorded op in the graph: which Function, its ctx, and the input Tensors."""

    __slots__ = ("fn", "ctx", "inputs")

    def __init__(self, fn, ctx, inputs):
        self.fn = fn  # the Function subclass
        self.ctx = ctx
        self.inputs = inputs  # tuple: a Tensor or None per positional input of forward


class Function:
    """Base class of every differentiable op.

    A subclass defines two static methods on raw ndarrays:
        forward(ctx, *inputs, **params) -> ndarray
        backward(ctx, grad) -> one gradient (ndarray or None) per positional input
    and is used through `Op.apply(*inputs, **params)`, which takes Tensors (or plain arrays and
    None, treated as constants) and returns a Tensor that remembers how it was made.
    """

    @staticmethod
    def forward(ctx, *inputs, **params):
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs, **params)")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    @classmethod
    def apply(cls, *inputs, **params):
        arrays = []
        needs = []
        any_needs = False
        for t in inputs:
            if isinstance(t, Tensor):
                arrays.append(t.data)
                needs.append(t.requires_grad)
                any_needs = any_needs or t.requires_grad
            else:
                arrays.append(t)  # a constant: ndarray, Python number or None
                needs.append(False)
        ctx = Context()
        ctx.needs_input_grad = tuple(needs)
        out = cls.forward(ctx, *arrays, **params)
        if _anomaly_mode:
            _check_finite(cls.__name__, "forward output", out, arrays)
        result = Tensor._wrap(out)
        if any_needs and _grad_enabled:
            result.requires_grad = True
            result._node = Node(cls, ctx, tuple(t if isinstance(t, Tensor) else None for t in inputs))
        return result


def _check_finite(name, what, array, arrays):
    if isinstance(array, np.ndarray) and array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = "NaN" if np.isnan(array).any() else "Inf"
        raise AnomalyError(f"{name}: {what} of shape {array.shape} holds {bad} "
                           f"(inputs of shapes {_shapes(arrays)})")


# --------------------------------------------------------------------------- the backward walk


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`: the adjoint of NumPy broadcasting.

    Forward broadcasting copies x along new leading axes and along axes where x has size 1,
    so backward adds up the gradient over exactly those axes.  (2, 3, 4) -> (3, 1): sum axis 0,
    then axis 2 with keepdims.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead > 0:
        grad = grad.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def topological_order(root):
    """Tensors reachable from `root` through recorded nodes, each after all of its inputs.

    Iterative depth-first search with an explicit stack (a recursive one would overflow Python's
    stack on deep graphs, e.g. an RNN unrolled 10,000 steps).
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t._node is not None:
            for parent in t._node.inputs:
                if parent is not None and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order  # inputs first, root last


def backward(root, grad=None, retain_graph=False):
    """Fill `.grad` of every leaf tensor that `root` depends on with d(root)/d(leaf).

    grad: dL/d(root), same shape as root; may be omitted only when root has one element
    (then it is 1). Leaf gradients *accumulate* (+=) across calls, as in PyTorch: call
    zero_grad() between steps. Intermediate tensors keep no .grad unless retain_grad() was
    called on them. Unless retain_graph=True, the saved arrays are freed as the walk passes.
    """
    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                           "create the leaves with requires_grad=True")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward: grad can be implicit only for a tensor with one element, "
                               f"got shape {root.shape}; pass grad= of that shape or reduce first "
                               "(e.g. loss.sum().backward())")
        grad = np.ones_like(root.data)
    else:
        grad = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward: grad has shape {grad.shape}, expected {root.shape} (the tensor's shape)")

    grads = {id(root): grad}
    for t in reversed(topological_order(root)):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        node = t._node
        if node is None or t._retains_grad:
            t.grad = g if t.grad is None else t.grad + g  # new array: g may alias another gradient
        if node is None:
            continue
        ctx = node.ctx
        if ctx.released:
            raise RuntimeError(f"backward: trying to go through {node.fn.__name__} a second time, but its "
                               "saved arrays were freed after the first backward; pass retain_graph=True "
                               "to the first backward() if you need to call it twice")
        input_grads = node.fn.backward(ctx, g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if not retain_graph:
            ctx.saved = ()
            ctx.released = True
        if len(input_grads) != len(node.inputs):
            raise RuntimeError(f"{node.fn.__name__}.backward returned {len(input_grads)} gradients "
                               f"for {len(node.inputs)} inputs")
        for parent, pg in zip(node.inputs, input_grads):
            if parent is None or pg is None or not parent.requires_grad:
                continue
            if pg.shape != parent.shape:
                try:
                    pg = unbroadcast(pg, parent.shape)
                except ValueError:
                    raise RuntimeError(f"{node.fn.__name__}.backward returned a gradient of shape {pg.shape} "
                                       f"for an input of shape {parent.shape}") from None
            if _anomaly_mode:
                _check_finite(node.fn.__name__, "backward gradient", pg, [p.data for p in node.inputs if p is not None])
            key = id(parent)
            prev = grads.get(key)
            grads[key] = pg if prev is None else prev + pg  # never +=: pg may be a view of g


def graph_text(root):
    """A text picture of what backward will walk, one line per op, inputs indented below."""
    lines = []
    seen = {}
    stack = [(root, 0)]
    while stack:
        t, depth = stack.pop()
        pad = "  " * depth
        label = f"{t._node.fn.__name__}" if t._node is not None else ("leaf" if t.requires_grad else "constant")
        if id(t) in seen:
            lines.append(f"{pad}{label} {t.shape} (see #{seen[id(t)]})")
            continue
        seen[id(t)] = len(seen)
        lines.append(f"{pad}#{seen[id(t)]} {label} {t.shape} {t.dtype}")
        if t._node is not None:
            for parent in reversed(t._node.inputs):
                if parent is not None:
                    stack.append((parent, depth + 1))
    return "\n".join(lines)


def graph_dot(root):
    """The same graph in Graphviz's DOT language: `dot -Tpng graph.dot -o graph.png` draws it,
    and so does the `graphviz` Python package when it is installed (Tensor.graph("png", path))."""
    lines = ["digraph nanogen {", '  rankdir="BT"; node [fontname="monospace", fontsize=10];']
    ids = {}
    stack = [root]
    while stack:
        t = stack.pop()
        if id(t) in ids:
            continue
        ids[id(t)] = f"t{len(ids)}"
        if t._node is not None:
            label, shape = f"{t._node.fn.__name__}\\n{t.shape}", "box"
        else:
            label, shape = f"{'leaf' if t.requires_grad else 'constant'}\\n{t.shape} {t.dtype}", "ellipse"
        lines.append(f'  {ids[id(t)]} [label="{label}", shape={shape}];')
        if t._node is not None:
            stack.extend(p for p in t._node.inputs if p is not None)
    stack, seen = [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen or t._node is None:
            continue
        seen.add(id(t))
        for p in t._node.inputs:
            if p is not None:
                lines.append(f"  {ids[id(p)]} -> {ids[id(t)]};")
                stack.append(p)
    lines.append("}")
    return "\n".join(lines)


# Tensor needs Function (above) at class-creation time, and Function.apply needs Tensor at call
# time; importing it last breaks the cycle. nanogen/__init__.py imports this module first.
from .tensor import Tensor  # noqa: E402
