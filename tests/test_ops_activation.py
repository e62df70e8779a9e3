"""Activations: forward against NumPy formulas, gradients, and stability at extreme inputs."""

import numpy as np
import pytest

import nanogen as ng
import nanogen.functional as F
from nanogen import gradcheck


def _away_from_kink(rng, shape):  # relu-like functions are not differentiable at 0
    return rng.uniform(0.1, 2, shape) * rng.choice([-1, 1], shape)


CASES = [
    ("relu", F.relu, lambda x: np.maximum(x, 0)),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("elu", F.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    ("sigmoid", F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", F.tanh, np.tanh),
    ("softplus", F.softplus, lambda x: np.log1p(np.exp(x))),
    ("softplus_beta", lambda x: F.softplus(x, beta=2.0), lambda x: np.log1p(np.exp(2 * x)) / 2),
    ("softmax", lambda x: F.softmax(x, dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    ("softmax_dim0", lambda x: F.softmax(x, dim=0), lambda x: np.exp(x) / np.exp(x).sum(0, keepdims=True)),
    ("log_softmax", lambda x: F.log_softmax(x, dim=-1), lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
]


@pytest.mark.parametrize("name, fn, ref", CASES, ids=[c[0] for c in CASES])
def test_activation_forward_matches_numpy(name, fn, ref, rng):
    x = _away_from_kink(rng, (3, 5))
    np.testing.assert_allclose(fn(ng.tensor(x, dtype=np.float64)).data, ref(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, fn, ref", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("shape", [(3, 5), (1, 1), (2, 3, 4)])
def test_activation_grad(name, fn, ref, shape, rng):
    gradcheck(fn, _away_from_kink(rng, shape), name=name)


@pytest.mark.parametrize("fn", [F.sigmoid, F.softplus, F.tanh, F.elu, lambda x: F.log_softmax(x, 1),
                                lambda x: F.softmax(x, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_is_finite_at_extremes(fn, dtype):
    x = ng.tensor(np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=dtype), requires_grad=True)
    y = fn(x)
    y.sum().backward()
    assert y.dtype == dtype and np.isfinite(y.data).all() and np.isfinite(x.grad).all()


def test_softplus_large_input_is_identity():
    x = ng.tensor(np.array([50.0, 500.0]))
    np.testing.assert_allclose(F.softplus(x).data, [50.0, 500.0])
