"""Gradients of gradients: nanogen.grad, backward(create_graph=True), gradgradcheck (and a test
that it can fail), a second-derivative check of every op that has one, on the Numba kernels and
on their NumPy twins, and agreement with PyTorch in float64 (skipped without torch; each such
test has a torch-free twin beside it)."""

import numpy as np
import pytest

import nanogen as ng
import nanogen.functional as F
import nanogen.kernels.conv as kconv
import nanogen.kernels.elementwise as kel
import nanogen.kernels.norm as knorm
from nanogen.autograd import Function
from nanogen.gradcheck import GradcheckError, gradgradcheck
from nanogen.tensor import Tensor


@pytest.fixture(params=["numba", "numpy"])
def kernels(request, monkeypatch):
    """Run the test on the picked kernels, then with every one replaced by its NumPy twin
    (as NANOGEN_KERNELS=numpy would)."""
    if request.param == "numpy":
        for module in (kconv, kel, knorm):
            for name in dir(module):
                if name.endswith("_reference") and hasattr(module, name[: -len("_reference")]):
                    monkeypatch.setattr(module, name[: -len("_reference")], getattr(module, name))
        assert kconv.im2col is kconv.im2col_reference
    return request.param


# ---------------------------------------------------------------------------- the API


def test_grad_returns_tensors_and_leaves_dot_grad_alone(rng):
    x = Tensor(rng.standard_normal(4), requires_grad=True)
    (g,) = ng.grad((x * x).sum(), x)
    assert isinstance(g, Tensor) and not g.requires_grad
    np.testing.assert_allclose(g.data, 2 * x.data)
    assert x.grad is None


def test_hessian_vector_product_of_a_cubic(rng):
    """f = Σ x^3: grad 3x^2, Hessian diag(6x), so H v = 6 x v."""
    x = Tensor(rng.standard_normal(5), requires_grad=True)
    v = rng.standard_normal(5)
    (g,) = ng.grad((x * x * x).sum(), x, create_graph=True)
    assert g.requires_grad
    (hv,) = ng.grad((g * v).sum(), x)
    np.testing.assert_allclose(hv.data, 6 * x.data * v, rtol=1e-12)


def test_backward_create_graph_leaves_a_differentiable_grad(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    (x.exp().sum()).backward(create_graph=True)
    assert isinstance(x.grad, Tensor) and x.grad.requires_grad
    g = x.grad
    x.grad = None
    (g * g).sum().backward()                      # d/dx Σ exp(x)^2 = 2 exp(2x)
    np.testing.assert_allclose(np.asarray(x.grad), 2 * np.exp(2 * x.data), rtol=1e-12)


def test_grad_with_grad_outputs_and_several_outputs(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    a, b = x * 2.0, x * x
    va, vb = rng.standard_normal(3), rng.standard_normal(3)
    (g,) = ng.grad([a, b], [x], grad_outputs=[va, vb])
    np.testing.assert_allclose(g.data, 2 * va + 2 * x.data * vb, rtol=1e-12)


def test_grad_errors_name_the_problem(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    unused = Tensor(rng.standard_normal(3), requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="input 1 .* was not used"):
        ng.grad(y, [x, unused], retain_graph=True)
    gx, gu = ng.grad(y, [x, unused], allow_unused=True)
    assert gu is None and gx is not None
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        ng.grad((x * 2).sum(), [Tensor(np.ones(3))])
    with pytest.raises(RuntimeError, match="one element"):
        ng.grad(x * 2, x)


def test_grad_finds_an_unused_input_before_running_any_backward(rng):
    ran = []

    class Loud(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            ran.append(True)
            return grad * 2

    x = Tensor(rng.standard_normal(3), requires_grad=True)
    unused = Tensor(rng.standard_normal(3), requires_grad=True)
    y = Loud.apply(x).sum()
    with pytest.raises(RuntimeError, match="input 1 .* was not used"):
        ng.grad(y, [x, unused])
    assert ran == []
    gx, gu = ng.grad(y, [x, unused], allow_unused=True)
    assert ran == [True] and gu is None
    np.testing.assert_array_equal(gx.data, np.full(3, 2.0))


def test_grad_walks_only_towards_the_inputs(rng):
    """d/dx of w*x must not compute (or touch) the gradient of w."""
    seen = []

    class Spy(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):
            seen.append(ctx.needs_input_grad)
            a, b = ctx.saved
            return grad * b, grad * a

    x = Tensor(rng.standard_normal(3), requires_grad=True)
    w = Tensor(rng.standard_normal(3), requires_grad=True)
    ng.grad(Spy.apply(w, x).sum(), x)
    assert seen == [(False, True)] and w.grad is None


def test_an_op_without_second_derivative_names_itself(rng):
    x = Tensor(rng.standard_normal((1, 1, 4, 4)), requires_grad=True)
    y = F.max_pool2d(x, 2).sum()
    with pytest.raises(RuntimeError, match="MaxPool2d has no second derivative"):
        ng.grad(y, x, create_graph=True)
    (g,) = ng.grad(F.max_pool2d(x, 2).sum(), x)   # first order is unaffected
    assert g.shape == x.shape


def test_first_order_backward_records_nothing(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    (x.tanh().sum()).backward()
    assert type(x.grad) is np.ndarray


# ---------------------------------------------------------------------------- testing the tester


class ExpWithDetachedSecondDerivative(Function):
    """exp with a planted bug: backward_graph has the right value but treats y as a constant."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return (grad * y,)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad * y.data,)           # wrong: d/dx of this misses grad * y


class ExpWithWrongRecordedValue(ExpWithDetachedSecondDerivative):
    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad * y * 1.001,)


def test_gradgradcheck_catches_a_detached_second_derivative(rng):
    x = rng.standard_normal(4)
    with pytest.raises(GradcheckError, match="gradgradcheck failed|gradcheck failed for gradient of"):
        gradgradcheck(ExpWithDetachedSecondDerivative.apply, x)
    assert gradgradcheck(F.exp, x)


def test_gradgradcheck_catches_a_recorded_value_that_differs_from_backward(rng):
    with pytest.raises(GradcheckError, match="differs from backward's"):
        gradgradcheck(ExpWithWrongRecordedValue.apply, rng.standard_normal(4))


def test_gradgradcheck_passes_reused_tensors_and_refuses_float32(rng):
    x = rng.standard_normal(5)
    assert gradgradcheck(lambda x: x * x + x, x)
    with pytest.raises(TypeError, match="float64"):
        gradgradcheck(F.exp, x.astype(np.float32))


# ---------------------------------------------------------------------------- every op, twice differentiated


def _pos(rng, *shape):
    return rng.uniform(0.5, 2.0, shape)


ELEMENTWISE = {
    "add": (lambda a, b: a + b, ((3, 4), (4,))),
    "sub": (lambda a, b: a - b, ((3, 4), (3, 1))),
    "mul": (lambda a, b: a * b, ((3, 4), (4,))),
    "div": (lambda a, b: a / b, ((3, 4), (3, 4))),
    "pow": (lambda a, b: a ** b, ((3, 4), (3, 4))),
    "pow_scalar": (lambda a: a ** 3.0, ((3, 4),)),
    "sqrt": (lambda a: a.sqrt(), ((3, 4),)),
    "neg": (lambda a: -a, ((3, 4),)),
    "exp": (lambda a: a.exp(), ((3, 4),)),
    "log": (lambda a: a.log(), ((3, 4),)),
    "relu": (lambda a: F.relu(a - 1.2), ((3, 4),)),
    "leaky_relu": (lambda a: F.leaky_relu(a - 1.2, 0.2) * a, ((3, 4),)),
    "elu": (lambda a: F.elu(a - 1.2) * a, ((3, 4),)),
    "tanh": (F.tanh, ((3, 4),)),
    "sigmoid": (F.sigmoid, ((3, 4),)),
    "softplus": (lambda a: F.softplus(a, beta=2.0), ((3, 4),)),
    "softmax": (lambda a: F.softmax(a, dim=1), ((3, 4),)),
    "log_softmax": (lambda a: F.log_softmax(a, dim=0), ((3, 4),)),
    "sum": (lambda a: (a.sum(dim=1) ** 2.0), ((3, 4),)),
    "sum_keepdim": (lambda a: (a.sum(dim=(0, 1), keepdim=True) ** 2.0), ((3, 4),)),
    "mean": (lambda a: (a.mean(dim=0) ** 2.0), ((3, 4),)),
    "var": (lambda a: a.var(dim=1), ((3, 4),)),
    "logsumexp": (lambda a: a.logsumexp(dim=1), ((3, 4),)),
    "reshape_flatten": (lambda a: (a.reshape(2, 6) * a.flatten().reshape(2, 6)), ((3, 4),)),
    "transpose": (lambda a, b: a.transpose(0, 1) * b, ((3, 4), (4, 3))),
    "cat": (lambda a, b: F.cat([a * a, b], dim=1) ** 2.0, ((3, 4), (3, 2))),
    "stack_getitem": (lambda a: F.stack([a, a * a], dim=1)[:, 1, 1:3] * a[0, :2], ((3, 4),)),
    "matmul": (lambda a, b: (a @ b) ** 2.0, ((3, 4), (4, 2))),
    "matmul_vector": (lambda a, b: (a @ b) ** 2.0, ((3, 4), (4,))),
    "linear": (lambda x, w, b: F.linear(x, w, b) ** 2.0, ((3, 4), (2, 4), (2,))),
    "bce_with_logits": (lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction="none"), ((3, 4), (3, 4))),
    "mse": (lambda x, t: F.mse_loss(x, t, reduction="none"), ((3, 4), (3, 4))),
    "cross_entropy": (lambda z: F.cross_entropy(z, np.array([0, 3, 1]), reduction="none"), ((3, 4),)),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_op_gradgrad(name, kernels, rng):
    fn, shapes = ELEMENTWISE[name]
    gradgradcheck(fn, *[_pos(rng, *s) for s in shapes], name=name)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_conv2d_gradgrad(stride, padding, kernels, rng):
    x = rng.standard_normal((2, 2, 7, 6))     # N, C, H, W: odd sizes on purpose
    w = rng.standard_normal((3, 2, 3, 2))     # F, C, KH, KW
    b = rng.standard_normal(3)
    gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding).tanh(), x, w, b,
                  max_elements=30)


def test_conv2d_gradgrad_dilation(kernels, rng):
    x = rng.standard_normal((1, 1, 7, 6))
    w = rng.standard_normal((2, 1, 2, 3))
    gradgradcheck(lambda x, w: F.sigmoid(F.conv2d(x, w, None, stride=(2, 1), padding=(0, 2), dilation=(2, 1))),
                  x, w, max_elements=30)


@pytest.mark.parametrize("stride, padding, output_padding", [(1, 0, 0), (2, 1, 1), (3, 1, 0)])
def test_conv_transpose2d_gradgrad(stride, padding, output_padding, kernels, rng):
    x = rng.standard_normal((2, 3, 4, 3))
    w = rng.standard_normal((3, 2, 3, 3))     # C, F, KH, KW
    b = rng.standard_normal(2)
    gradgradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=stride, padding=padding,
                                                     output_padding=output_padding).tanh(), x, w, b,
                  max_elements=30)


def test_layer_norm_gradgrad(kernels, rng):
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    gradgradcheck(lambda x, w, b: F.layer_norm(x, (2, 4), w, b) ** 2.0, x, w, b)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradgrad(training, kernels, rng):
    x, w, b = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    gradgradcheck(lambda x, w, b: F.batch_norm(x, mean.copy(), var.copy(), w, b, training=training) ** 2.0,
                  x, w, b, max_elements=30)


def test_groups_refused_with_a_clear_error(rng):
    x = Tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    w = Tensor(rng.standard_normal((2, 1, 3, 3)))
    y = F.conv2d(x, w, groups=2).sum()  # outside pytest.raises: only the refusal is under test
    with pytest.raises(RuntimeError, match="conv2d: second derivatives .* groups=1 only"):
        ng.grad(y, x, create_graph=True)


# ---------------------------------------------------------------------------- against PyTorch (float64)


def _mlp_critic(params, x):
    w1, b1, w2, b2 = params
    return F.linear(F.leaky_relu(F.linear(x, w1, b1), 0.2), w2, b2)


def _conv_critic(params, x):
    w1, b1, w2, b2, g, beta, w3, b3 = params
    h = F.leaky_relu(F.conv2d(x, w1, b1, stride=2, padding=1), 0.2)
    h = F.leaky_relu(F.layer_norm(F.conv2d(h, w2, b2, stride=2, padding=1), g.shape, g, beta), 0.2)
    return F.linear(h.flatten(1), w3, b3)


def _critic_params(kind, rng):
    if kind == "mlp":
        shapes = [(6, 8), (6,), (1, 6), (1,)]
        return [rng.standard_normal(s) * 0.5 for s in shapes], rng.standard_normal((5, 8))
    shapes = [(3, 1, 4, 4), (3,), (4, 3, 4, 4), (4,), (4, 2, 2), (4, 2, 2), (1, 16), (1,)]
    return [rng.standard_normal(s) * 0.5 for s in shapes], rng.standard_normal((3, 1, 8, 8))


def _penalty(critic, params, x_hat):
    """WGAN-GP's penalty, mean (|grad_x f(x)| - 1)^2, as a function of the critic's parameters."""
    scores = critic(params, x_hat)
    (g,) = ng.grad(scores.sum(), x_hat, create_graph=True)
    norms = ((g.reshape(g.shape[0], -1) ** 2.0).sum(dim=1) + 1e-12).sqrt()
    return ((norms - 1) ** 2.0).mean()


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_penalty_param_grad_matches_finite_differences(kind, kernels, rng):
    """The torch-free check: d penalty / d params against finite differences."""
    params, x = _critic_params(kind, rng)
    critic = _mlp_critic if kind == "mlp" else _conv_critic

    def penalty(*ps):
        with ng.enable_grad():  # the checker's differences run under no_grad(); the penalty needs a graph
            return _penalty(critic, list(ps), Tensor(x, requires_grad=True))

    ng.directional_gradcheck(penalty, *params, n_directions=4)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_penalty_param_grad_matches_torch(kind, rng):
    torch = pytest.importorskip("torch", reason="PyTorch (the optional bench extra) is not installed")
    tf = torch.nn.functional
    params, x = _critic_params(kind, rng)
    critic = _mlp_critic if kind == "mlp" else _conv_critic
    ps = [Tensor(p, requires_grad=True) for p in params]
    _penalty(critic, ps, Tensor(x, requires_grad=True)).backward()

    tp = [torch.tensor(p, requires_grad=True) for p in params]
    tx = torch.tensor(x, requires_grad=True)
    if kind == "mlp":
        scores = tf.linear(tf.leaky_relu(tf.linear(tx, tp[0], tp[1]), 0.2), tp[2], tp[3])
    else:
        h = tf.leaky_relu(tf.conv2d(tx, tp[0], tp[1], stride=2, padding=1), 0.2)
        h = tf.leaky_relu(tf.layer_norm(tf.conv2d(h, tp[2], tp[3], stride=2, padding=1), (4, 2, 2), tp[4], tp[5]), 0.2)
        scores = tf.linear(h.flatten(1), tp[6], tp[7])
    (g,) = torch.autograd.grad(scores.sum(), tx, create_graph=True)
    norms = ((g.reshape(g.shape[0], -1) ** 2).sum(1) + 1e-12).sqrt()
    ((norms - 1) ** 2).mean().backward()
    for p, q in zip(ps, tp):   # a parameter the penalty does not reach (the last bias) has no grad
        ours = np.zeros(p.shape) if p.grad is None else np.asarray(p.grad)
        theirs = np.zeros(p.shape) if q.grad is None else q.grad.numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert sum(p.grad is not None for p in ps) >= len(ps) - 2


def _hvp(params, x, v):
    loss = (_mlp_critic(params, x).tanh() ** 2.0).sum()
    gs = ng.grad(loss, params, create_graph=True)
    dot = sum(((g * u).sum() for g, u in zip(gs, v)), Tensor(np.zeros(())))
    return [h.data for h in ng.grad(dot, params)]


def test_hessian_vector_product_matches_finite_differences(rng):
    params, x = _critic_params("mlp", rng)
    v = [rng.standard_normal(p.shape) for p in params]
    hv = _hvp([Tensor(p, requires_grad=True) for p in params], x, v)

    def gradient(shift):
        ps = [Tensor(p + shift * u, requires_grad=True) for p, u in zip(params, v)]
        return [g.data for g in ng.grad((_mlp_critic(ps, x).tanh() ** 2.0).sum(), ps)]

    h = 1e-5
    for a, up, down in zip(hv, gradient(h), gradient(-h)):
        np.testing.assert_allclose(a, (up - down) / (2 * h), rtol=1e-5, atol=1e-7)


def test_hessian_vector_product_matches_torch(rng):
    torch = pytest.importorskip("torch", reason="PyTorch (the optional bench extra) is not installed")
    tf = torch.nn.functional
    params, x = _critic_params("mlp", rng)
    v = [rng.standard_normal(p.shape) for p in params]
    hv = _hvp([Tensor(p, requires_grad=True) for p in params], x, v)
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    out = tf.linear(tf.leaky_relu(tf.linear(torch.tensor(x), tp[0], tp[1]), 0.2), tp[2], tp[3])
    gs = torch.autograd.grad((out.tanh() ** 2).sum(), tp, create_graph=True)
    th = torch.autograd.grad(sum((g * torch.tensor(u)).sum() for g, u in zip(gs, v)), tp)
    for a, b in zip(hv, th):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-9, atol=1e-12)
