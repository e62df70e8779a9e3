"""Reverse-mode automatic differentiation: Function, the graph, and the backward walk.

Read tensor.py first: a Tensor is an ndarray plus the Function node that made it. This file owns
everything that happens *between* ops:
- `Function`: one differentiable operation. Subclasses write `forward(ctx, *arrays)` and
  `backward(ctx, grad)` on raw ndarrays; `Function.apply` wraps them for Tensors and records the
  node. Because forward/backward never see Tensors, the first-order path stays cheap.
- `backward(root, grad)`: the reverse walk, in topological order, iterative (a 10,000-op-deep
  graph is fine), accumulating gradients where a tensor feeds several ops and undoing NumPy
  broadcasting in one place (`unbroadcast`), so no op has to.
- `grad(outputs, inputs, create_graph=...)`: the same walk, returning the gradients; with
  create_graph=True the walk is itself recorded (each op's `backward_graph`), so gradients can
  be differentiated again (docs/double_backward.md, "gradients of gradients").
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

    __slots__ = ("fn", "ctx", "inputs", "constants")

    def __init__(self, fn, ctx, inputs, constants):
        self.fn = fn  # the Function subclass
        self.ctx = ctx
        self.inputs = inputs  # tuple: a Tensor or None per positional input of forward
        self.constants = constants  # tuple: the raw positional inputs (what backward_graph gets for a None)


class Function:
    """Base class of every differentiable op.

    A subclass defines two static methods on raw ndarrays:
        forward(ctx, *inputs, **params) -> ndarray
        backward(ctx, grad) -> one gradient (ndarray or None) per positional input
    and, if the op has a second derivative, a third one on Tensors (see _walk):
        backward_graph(ctx, grad, *inputs, y) -> one gradient (Tensor or None) per input
    and is used through `Op.apply(*inputs, **params)`, which takes Tensors (or plain arrays and
    None, treated as constants) and returns a Tensor that remembers how it was made.
    """

    @staticmethod
    def forward(ctx, *inputs, **params):
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs, **params)")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    backward_graph = None  # no second derivative unless the op writes one

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
            result._node = Node(cls, ctx, tuple(t if isinstance(t, Tensor) else None for t in inputs), inputs)
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
    so backward adds up the gradient over exactly those axes, in one sum, and the reshape puts
    the size-1 axes back.  (2, 3, 4) -> (3, 1): sum over axes 0 and 2, then reshape (3,) -> (3, 1).
    `grad` is an ndarray on the first-order path, or a Tensor when the gradient is recorded
    (create_graph=True): then the sum and the reshape are ops of the graph. Both spell
    "sum over these axes" as grad.sum(axes) (NumPy's axis, the Tensor's dim), so one text serves.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead >= 0:
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                          if n == 1 and grad.shape[lead + i] != 1)
        if axes:
            grad = grad.sum(axes)
    return grad.reshape(shape)  # a gradient that cannot be summed down raises ValueError here


def topological_order(root):
    """Tensors reachable from `root` (a Tensor or a list of them) through recorded nodes, each
    after all of its inputs.

    Iterative depth-first search with an explicit stack (a recursive one would overflow Python's
    stack on deep graphs, e.g. an RNN unrolled 10,000 steps).
    """
    order, visited = [], set()
    roots = root if isinstance(root, (list, tuple)) else [root]
    stack = [(r, False) for r in reversed(roots)]
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


def backward(root, grad=None, retain_graph=None, create_graph=False):
    """Fill `.grad` of every leaf tensor that `root` depends on with d(root)/d(leaf).

    grad: dL/d(root), same shape as root; may be omitted only when root has one element
    (then it is 1). Leaf gradients *accumulate* (+=) across calls, as in PyTorch: call
    zero_grad() between steps. Intermediate tensors keep no .grad unless retain_grad() was
    called on them. Unless retain_graph=True, the saved arrays are freed as the walk passes.
    create_graph=True records the backward pass itself (see _walk): each .grad is then a Tensor
    with its own graph, which can be differentiated again. retain_graph defaults to create_graph.
    """
    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                           "create the leaves with requires_grad=True")
    grad = _root_grad("backward", root, grad, create_graph)
    _walk([root], [grad], create_graph if retain_graph is None else retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """d(outputs)/d(inputs), returned (a tuple of Tensors, one per input) instead of written to .grad.

    outputs: a Tensor or a list of them; grad_outputs: dL/d(output) for each (None: 1 for a
    one-element output), so the result is the vector-Jacobian product Σ_k grad_outputs[k] ·
    d(outputs[k])/d(input). Only the part of the graph between outputs and inputs is walked.
    create_graph=True records that walk, so the returned gradients are Tensors with a graph and
    can be differentiated again: a gradient penalty, a Hessian-vector product. An input that
    the outputs do not depend on raises, unless allow_unused=True (its gradient is then None).
    The same signature as torch.autograd.grad.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs; give one per output")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad; create it with requires_grad=True "
                               "(or requires_grad_()) before computing the outputs")
    roots, root_grads = [], []
    for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"grad: output {k} does not require grad (it does not depend on any input that does)")
        roots.append(out)
        root_grads.append(_root_grad("grad", out, g, create_graph))
    found = _walk(roots, root_grads, create_graph if retain_graph is None else retain_graph, create_graph,
                  wanted=inputs, allow_unused=allow_unused)
    result = []
    for i, t in enumerate(inputs):
        g = found.get(id(t))
        if g is None and not allow_unused:  # in the graph, but no gradient reached it
            raise RuntimeError(_unused_message(i, t))
        if g is not None and not isinstance(g, Tensor):
            g = Tensor._wrap(g)
        result.append(g)
    return tuple(result)


def _unused_message(i, t):
    return (f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
            "pass allow_unused=True to get None for it")


def _root_grad(name, root, grad, create_graph):
    """The starting gradient dL/d(root): ones for a one-element root, else the given one, checked."""
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"{name}: grad can be implicit only for a tensor with one element, "
                               f"got shape {root.shape}; pass grad= of that shape or reduce first "
                               "(e.g. loss.sum().backward())")
        grad = np.ones_like(root.data)
    elif isinstance(grad, Tensor):
        grad = grad if create_graph else grad.data  # a Tensor grad may carry a graph of its own
    else:
        grad = np.asarray(grad, dtype=root.dtype)
    if grad.shape != root.shape:
        raise ValueError(f"{name}: grad has shape {grad.shape}, expected {root.shape} (the tensor's shape)")
    if create_graph and not isinstance(grad, Tensor):
        grad = Tensor._wrap(grad)
    return grad


def _walk(roots, root_grads, retain_graph, create_graph, wanted=None, allow_unused=True):
    """The reverse walk shared by backward() and grad().

    First-order (create_graph=False): each node's `backward(ctx, grad)` runs on plain arrays,
    nothing is recorded -- the fast path, unchanged. With create_graph=True the gradients are
    Tensors, and each node runs `backward_graph(ctx, grad, *inputs, y=output)` instead: the same
    derivative written with Tensor ops, so every step of this walk is itself recorded by
    Function.apply and the results can be differentiated again. An op without backward_graph
    stops the walk with an error naming it.
    wanted: grad() mode -- return {id(tensor): gradient} for these tensors and leave .grad
    alone; only the nodes on a path to one of them run, and each is told (needs_input_grad)
    which of its inputs lead there, so no work is spent on gradients nobody asked for. A wanted
    tensor outside the graph raises before any backward runs, unless allow_unused.
    """
    order = topological_order(roots)
    relevant = None
    if wanted is not None:
        wanted_ids = {id(t) for t in wanted}
        relevant = set()
        for t in order:  # inputs first: a tensor is relevant if it is wanted or feeds one that is
            if id(t) in wanted_ids or (t._node is not None and any(
                    p is not None and id(p) in relevant for p in t._node.inputs)):
                relevant.add(id(t))
        for i, t in enumerate(wanted):  # only the tensors of the graph entered `relevant`
            if id(t) not in relevant and not allow_unused:
                raise RuntimeError(_unused_message(i, t))
        found = {}
    grads = {}
    for r, g in zip(roots, root_grads):
        grads[id(r)] = g if id(r) not in grads else grads[id(r)] + g
    for t in reversed(order):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        node = t._node
        if wanted is not None:
            if id(t) in wanted_ids:
                found[id(t)] = g
        elif node is None or t._retains_grad:
            t.grad = g if t.grad is None else t.grad + g  # new array: g may alias another gradient
        if node is None:
            continue
        ctx = node.ctx
        if ctx.released:
            raise RuntimeError(f"backward: trying to go through {node.fn.__name__} a second time, but its "
                               "saved arrays were freed after the first backward; pass retain_graph=True "
                               "to the first backward() if you need to call it twice")
        if relevant is None and not create_graph:  # the first-order path, as cheap as it ever was
            input_grads = node.fn.backward(ctx, g)
        else:
            needs = ctx.needs_input_grad
            if relevant is not None:  # grad(): only the inputs on a path to a wanted tensor
                ctx.needs_input_grad = tuple(p is not None and p.requires_grad and id(p) in relevant
                                             for p in node.inputs)
            try:
                input_grads = _backward_graph(node, ctx, g, t) if create_graph else node.fn.backward(ctx, g)
            finally:
                ctx.needs_input_grad = needs
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
            if relevant is not None and id(parent) not in relevant:
                continue
            if pg.shape != parent.shape:
                try:
                    pg = unbroadcast(pg, parent.shape)
                except ValueError:
                    raise RuntimeError(f"{node.fn.__name__}.backward returned a gradient of shape {pg.shape} "
                                       f"for an input of shape {parent.shape}") from None
            if _anomaly_mode:
                _check_finite(node.fn.__name__, "backward gradient", pg.data if create_graph else pg,
                              [p.data for p in node.inputs if p is not None])
            key = id(parent)
            prev = grads.get(key)
            grads[key] = pg if prev is None else prev + pg  # never +=: pg may be a view of g
    return found if wanted is not None else None


def _backward_graph(node, ctx, grad, y):
    """One node's backward, recorded: its backward_graph on Tensors (constants become Tensors
    without grad, Python numbers stay numbers), every result a Tensor."""
    fn = node.fn
    if fn.backward_graph is None:
        raise RuntimeError(f"{fn.__name__} has no second derivative: create_graph=True reached it while "
                           "recording the backward pass. Compute the penalty or Hessian from ops that have "
                           f"one (docs/double_backward.md lists them), or give {fn.__name__} a backward_graph")
    inputs = [p if p is not None else (Tensor._wrap(c) if isinstance(c, np.ndarray) else c)
              for p, c in zip(node.inputs, node.constants)]
    with _set_grad_enabled(True):  # the recorded backward may run inside no_grad() code
        out = fn.backward_graph(ctx, grad, *inputs, y=y)
    if not isinstance(out, tuple):
        out = (out,)
    return tuple(o if o is None or isinstance(o, Tensor) else Tensor._wrap(np.asarray(o)) for o in out)


def composite_backward(forward, grad, *inputs):
    """backward_graph of a fused op, derived from the same math spelled out in simpler ops.

    forward(*inputs) recomputes the op's output with differentiable ops (layer norm as mean,
    subtract, divide, ...); the engine's own reverse walk, recorded, gives the gradients at
    `inputs` as Tensors with a graph. The fused kernel stays the fast first-order path; this is
    the slow, obviously right one for gradients of gradients. Inputs that are None or do not
    require grad get None.
    """
    live = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not live:
        return tuple(None for _ in inputs)
    # fresh leaves standing in for the inputs: the walk must stop at them (a local derivative),
    # and Identity connects each back to the real input so the result stays in the outer graph
    stand_ins = {id(x): Identity.apply(x) for x in live}
    y = forward(*[stand_ins.get(id(x), x) if isinstance(x, Tensor) else x for x in inputs])
    found = _walk([y], [grad], retain_graph=True, create_graph=True, wanted=list(stand_ins.values()))
    return tuple(found.get(id(stand_ins[id(x)])) if isinstance(x, Tensor) and id(x) in stand_ins else None
                 for x in inputs)


class Identity(Function):
    """y = x (a new node)          dL/dx = grad"""

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return (grad,)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad,)


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
