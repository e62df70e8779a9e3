"""Finite-difference gradient checking: is an op's backward the derivative of its forward?

Read after ops/. For a scalar function L(x), the central difference
    (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)
approximates dL/dx_i with error O(eps^2); in float64 with eps = 1e-6 that leaves about 1e-9 of
truncation and rounding error, far below any real bug. A Tensor-valued f is turned into the
scalar L = Σ f(x) * v with a fixed random v, so one backward (with grad = v) gives the whole
analytic gradient to compare with. Tolerances follow torch.autograd.gradcheck: an element
passes when |analytic - numeric| <= atol + rtol * |numeric|.

Public on purpose: write an op, then `gradcheck(my_op, x)` before you trust it; write a model,
then `gradcheck_module(model, loss_fn, x)` checks its whole loss against every parameter.
"""

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """A gradient check failed; the message names the input, the element and both values."""


def _name(fn):
    return getattr(fn, "__name__", type(fn).__name__)


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, max_elements=None, seed=0,
              check_zero_grad=True, check_repeat=True, name=None, input_names=None):
    """Check fn's analytic gradients against central finite differences, in float64.

    fn:      called as fn(*tensors) and returns a Tensor (any shape).
    inputs:  float64 ndarrays (or Tensors) -- each becomes a leaf with requires_grad=True;
             None and non-float values are passed through unchanged and not checked.
    max_elements: check at most this many elements per input (chosen at random, seeded);
             None checks every element.
    Also checks that each gradient has its input's shape, that a zero upstream gradient gives
    zero gradients, and that a second backward gives the same gradients.
    input_names: what to call each input in the messages (gradcheck_module: "parameter fc1.weight").
    Returns True, or raises GradcheckError with the input, index, analytic and numeric values.
    """
    label = name or _name(fn)
    which = lambda i: input_names[i] if input_names else f"input {i}"  # noqa: E731
    if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
        inputs = tuple(inputs[0])
    arrays = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            x = x.data
        if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.dtype != np.float64:
            raise TypeError(f"gradcheck({label}): input {i} is {x.dtype}; finite differences need float64 "
                            "(pass x.astype(np.float64)); float32 rounding (1e-7) swamps the differences")
        arrays.append(x.copy() if isinstance(x, np.ndarray) else x)
    checked = [i for i, x in enumerate(arrays) if isinstance(x, np.ndarray) and x.dtype == np.float64]
    if not checked:
        raise TypeError(f"gradcheck({label}): no float64 ndarray among the inputs, nothing to check")

    def leaves():
        return [Tensor(a, requires_grad=True) if i in checked else a for i, a in enumerate(arrays)]

    def run(ts):
        out = fn(*ts)
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck({label}): fn must return a Tensor, got {type(out).__name__}")
        return out

    # analytic: one backward of L = Σ out * v
    ts = leaves()
    out = run(ts)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(out.shape)
    if out.dtype != np.float64:
        raise GradcheckError(f"gradcheck({label}): output dtype is {out.dtype} for float64 inputs; "
                             "the op must keep the dtype")
    out.backward(v, retain_graph=check_repeat)
    analytic = {}
    for i in checked:
        g = ts[i].grad
        if g is None:
            g = np.zeros_like(arrays[i])  # input does not influence the output
        if g.shape != arrays[i].shape:
            raise GradcheckError(f"gradcheck({label}): gradient of {which(i)} has shape {g.shape}, "
                                 f"expected {arrays[i].shape} (the input's shape)")
        analytic[i] = np.array(g, dtype=np.float64)

    if check_repeat:  # backward through the same graph again must give the same numbers
        for i in checked:
            ts[i].grad = None
        out.backward(v)
        for i in checked:
            g = ts[i].grad if ts[i].grad is not None else np.zeros_like(arrays[i])
            if not np.allclose(g, analytic[i], rtol=1e-12, atol=1e-12):
                raise GradcheckError(f"gradcheck({label}): a second backward gave different gradients for {which(i)}")

    if check_zero_grad:
        ts0 = leaves()
        out0 = run(ts0)
        out0.backward(np.zeros(out0.shape))
        for i in checked:
            g = ts0[i].grad
            if g is not None and np.any(g != 0):
                raise GradcheckError(f"gradcheck({label}): a zero upstream gradient gave a non-zero "
                                     f"gradient for {which(i)}")

    # numeric: central differences of L, element by element
    def loss():
        with no_grad():
            return float(np.sum(run([Tensor(a) if i in checked else a for i, a in enumerate(arrays)]).data * v))

    for i in checked:
        x = arrays[i]
        flat = x.reshape(-1)  # a view: writing flat[j] perturbs x, which loss() reads
        idx = np.arange(flat.size)
        if max_elements is not None and flat.size > max_elements:
            idx = np.sort(rng.choice(flat.size, max_elements, replace=False))
        numeric = np.empty(len(idx))
        for k, j in enumerate(idx):
            orig = flat[j]
            flat[j] = orig + eps
            up = loss()
            flat[j] = orig - eps
            down = loss()
            flat[j] = orig
            numeric[k] = (up - down) / (2 * eps)
        a = analytic[i].reshape(-1)[idx]
        err = np.abs(a - numeric)
        bound = atol + rtol * np.abs(numeric)
        if np.any(err > bound):
            worst = int(np.argmax(err - bound))
            where = np.unravel_index(idx[worst], x.shape)
            where = tuple(int(w) for w in where)
            n_bad = int(np.sum(err > bound))
            raise GradcheckError(
                f"gradcheck failed for {label}, {which(i)} at index {where}: analytic {a[worst]:.6g}, "
                f"numeric {numeric[worst]:.6g}, |diff| {err[worst]:.2e} > atol + rtol*|numeric| "
                f"({bound[worst]:.2e}); {n_bad} of {len(idx)} checked elements disagree")
    return True


def directional_gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, n_directions=3, seed=0, name=None):
    """Random-projection check for whole models: compare v·J·u (analytic) with finite differences
    of L = Σ fn(x) * v along random directions u of all inputs at once.

    One pair of forward passes per direction instead of two per element, so a network with
    thousands of parameters is checked in a second. Same input rules as gradcheck.
    """
    label = name or _name(fn)
    arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
    checked = [i for i, x in enumerate(arrays) if isinstance(x, np.ndarray) and x.dtype == np.float64]
    for i, x in enumerate(arrays):
        if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.dtype != np.float64:
            raise TypeError(f"directional_gradcheck({label}): input {i} is {x.dtype}; use float64")
    rng = np.random.default_rng(seed)
    ts = [Tensor(a, requires_grad=True) if i in checked else a for i, a in enumerate(arrays)]
    out = fn(*ts)
    v = rng.standard_normal(out.shape)
    out.backward(v)
    grads = {i: (ts[i].grad if ts[i].grad is not None else np.zeros_like(arrays[i])) for i in checked}

    def loss(shift):
        with no_grad():
            xs = [Tensor(a + shift[i]) if i in checked else a for i, a in enumerate(arrays)]
            return float(np.sum(fn(*xs).data * v))

    for d in range(n_directions):
        u = {i: rng.standard_normal(arrays[i].shape) for i in checked}
        analytic = sum(float(np.sum(grads[i] * u[i])) for i in checked)
        numeric = (loss({i: eps * u[i] for i in checked}) - loss({i: -eps * u[i] for i in checked})) / (2 * eps)
        if abs(analytic - numeric) > atol + rtol * abs(numeric):
            raise GradcheckError(
                f"directional gradcheck failed for {label}, direction {d}: analytic v·J·u {analytic:.6g}, "
                f"numeric {numeric:.6g}, |diff| {abs(analytic - numeric):.2e} > atol + rtol*|numeric|")
    return True


def gradcheck_module(model, loss_fn, *inputs, check_inputs=True, directional=False, name=None, **options):
    """Check a whole model: the gradient of loss_fn(model, *inputs) with respect to every parameter
    (and every float64 input) against finite differences. One line for a student's own model:

        model = MyVAE(config).double()                       # float64: finite differences need it
        gradcheck_module(model, lambda m, x: m.loss(x, eps)["loss"], x)

    loss_fn(model, *inputs) returns a Tensor (the loss, any shape). Any noise it draws must be the
    same at every call (pass it in, or make a fresh seeded generator inside loss_fn): the finite
    differences call it again and again. The parameters are swapped for the perturbed Tensors with
    nn.functional_call and put back afterwards. check_inputs=False keeps the inputs constant (only
    the parameters are checked). directional=True runs directional_gradcheck (a few random
    directions through all parameters at once: seconds for a large model); otherwise `options`
    (max_elements, atol, rtol, eps, seed, ...) go to gradcheck, whose errors name the parameter.
    """
    from .nn import Module, functional_call  # here, not at the top: nn/ is read (and imported) after this file

    named = list(model.named_parameters())
    if not named:
        raise ValueError(f"gradcheck_module: {type(model).__name__} has no parameters to check")
    for n, p in named:
        if p.dtype != np.float64:
            raise TypeError(f"gradcheck_module: parameter {n!r} is {p.dtype}; call model.double() first "
                            "(finite differences need float64)")

    class WholeLoss(Module):
        """loss_fn as the forward of a module holding the model, so functional_call can swap its weights."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *xs):
            return loss_fn(self.model, *xs)

    wrapper = WholeLoss()
    names = ["model." + n for n, _ in named]
    k = len(inputs) if check_inputs else 0

    def whole_loss(*ts):
        xs = ts[:k] if check_inputs else inputs
        return functional_call(wrapper, dict(zip(names, ts[k:])), tuple(xs))

    label = name or f"{type(model).__name__} loss"
    args = (*(inputs if check_inputs else ()), *[p.data for _, p in named])
    if directional:
        return directional_gradcheck(whole_loss, *args, name=label, **options)
    input_names = [f"input {i}" for i in range(k)] + [f"parameter {n}" for n, _ in named]
    return gradcheck(whole_loss, *args, name=label, input_names=input_names, **options)
