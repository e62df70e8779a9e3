"""Reductions over all dims, one dim, several dims, with keepdim: forward against NumPy and
finite-difference gradients."""

import numpy as np
import pytest

import nanogen as ng
from nanogen import gradcheck

DIMS = [None, 0, 1, -1, (0, 2), (1,)]


def _scipy_free_logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


CASES = [
    ("sum", lambda x, d, k: x.sum(d, k), lambda x, d, k: np.sum(x, axis=d, keepdims=k)),
    ("mean", lambda x, d, k: x.mean(d, k), lambda x, d, k: np.mean(x, axis=d, keepdims=k)),
    ("var", lambda x, d, k: x.var(d, k), lambda x, d, k: np.var(x, axis=d, keepdims=k, ddof=1)),
    ("std", lambda x, d, k: x.std(d, k), lambda x, d, k: np.std(x, axis=d, keepdims=k, ddof=1)),
    ("logsumexp", lambda x, d, k: x.logsumexp(d, k), _scipy_free_logsumexp),
    ("amax", lambda x, d, k: ng.amax(x, d, k), lambda x, d, k: np.max(x, axis=d, keepdims=k)),
    ("amin", lambda x, d, k: ng.amin(x, d, k), lambda x, d, k: np.min(x, axis=d, keepdims=k)),
]


@pytest.mark.parametrize("name, fn, ref", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reduction_forward_and_grad(name, fn, ref, dim, keepdim, rng):
    x = rng.standard_normal((3, 4, 2))
    out = fn(ng.tensor(x, dtype=np.float64), dim, keepdim)
    np.testing.assert_allclose(out.data, ref(x, dim, keepdim), rtol=1e-12)
    assert out.shape == np.shape(ref(x, dim, keepdim))
    gradcheck(lambda t: fn(t, dim, keepdim), x, name=f"{name}(dim={dim}, keepdim={keepdim})")


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_gives_values_and_indices(reduce, keepdim, rng):
    x = rng.standard_normal((3, 5))
    values, indices = getattr(ng.tensor(x, dtype=np.float64), reduce)(dim=1, keepdim=keepdim)
    np.testing.assert_array_equal(values.data, getattr(np, reduce)(x, axis=1, keepdims=keepdim))
    np.testing.assert_array_equal(indices.data, getattr(np, "arg" + reduce)(x, axis=1, keepdims=keepdim))
    gradcheck(lambda t: getattr(t, reduce)(dim=1, keepdim=keepdim).values, x)


def test_max_all_splits_gradient_between_ties():
    x = ng.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5])


def test_zero_dim_tensor_reductions():
    x = ng.tensor(2.0, dtype=np.float64)
    assert x.sum().item() == 2.0 and x.mean(0).item() == 2.0
    gradcheck(lambda t: t.sum() * t.mean(), np.array(1.5))


def test_logsumexp_is_stable_for_huge_inputs():
    x = ng.tensor(np.array([1000.0, 1000.0]), requires_grad=True)
    y = x.logsumexp()
    np.testing.assert_allclose(y.item(), 1000.0 + np.log(2.0), rtol=1e-6)
    y.backward()
    np.testing.assert_allclose(x.grad, [0.5, 0.5])


def test_bad_dim_is_refused():
    with pytest.raises(ValueError, match=r"sum: dim 3 is out of range for a tensor of shape \(2, 3\)"):
        ng.ones(2, 3).sum(3)
