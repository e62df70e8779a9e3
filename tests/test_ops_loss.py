"""Losses: forward against NumPy formulas (or PyTorch's documented ones), gradients for every
differentiable input and every reduction, and stability for any logit."""

import numpy as np
import pytest

import nanogen as ng
import nanogen.functional as F
from nanogen import gradcheck

REDUCTIONS = ["mean", "sum", "none"]


def _t(a):
    return ng.tensor(a, dtype=np.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1(reduction, rng):
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    np.testing.assert_allclose(F.mse_loss(_t(x), _t(t), reduction).data, red((x - t) ** 2))
    np.testing.assert_allclose(F.l1_loss(_t(x), _t(t), reduction).data, red(np.abs(x - t)))
    gradcheck(lambda a, b: F.mse_loss(a, b, reduction), x, t)
    gradcheck(lambda a, b: F.l1_loss(a, b, reduction), x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_formula_and_grad(reduction, rng):
    z, t = rng.standard_normal((4, 5)) * 3, rng.random((4, 5))
    p = 1 / (1 + np.exp(-z))
    ref = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(_t(z), _t(t), reduction).data, red(ref), rtol=1e-10)
    gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction), z, t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_stable_for_any_logit(dtype):
    z = ng.tensor(np.array([-1e4, -200.0, -30.0, 0.0, 30.0, 200.0, 1e4], dtype=dtype), requires_grad=True)
    t = ng.tensor(np.array([1.0, 1.0, 0.0, 0.5, 1.0, 0.0, 0.0], dtype=dtype))
    loss = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert np.isfinite(loss.data).all()
    np.testing.assert_allclose(loss.data[[0, 1, 5, 6]], [1e4, 200.0, 200.0, 1e4], rtol=1e-6)
    loss.sum().backward()
    assert np.isfinite(z.grad).all()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_from_probabilities(reduction, rng):
    p, t = rng.uniform(0.05, 0.95, (3, 4)), rng.random((3, 4))
    ref = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    np.testing.assert_allclose(F.binary_cross_entropy(_t(p), _t(t), reduction).data, red(ref))
    gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction), p, t)
    with pytest.raises(ValueError, match="probabilities in"):
        F.binary_cross_entropy(_t(p + 1), _t(t))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_and_nll(reduction, rng):
    z, y = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    np.testing.assert_allclose(F.cross_entropy(_t(z), y, reduction).data, red(-logp[np.arange(5), y]))
    np.testing.assert_allclose(F.nll_loss(_t(logp), y, reduction).data, red(-logp[np.arange(5), y]))
    gradcheck(lambda a: F.cross_entropy(a, y, reduction), z)
    gradcheck(lambda a: F.nll_loss(F.log_softmax(a, 1), y, reduction), z)


def test_cross_entropy_label_errors():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        F.cross_entropy(ng.ones(2, 3), np.array([0, 3]))
    with pytest.raises(TypeError, match="integer class labels"):
        F.cross_entropy(ng.ones(2, 3), np.array([0.0, 1.0]))


@pytest.mark.parametrize("reduction", ["sum", "batchmean", "none", "mean"])
def test_kl_standard_normal_formula_and_grad(reduction, rng):
    mu, lv = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)) * 0.5
    ref = -0.5 * (1 + lv - mu**2 - np.exp(lv))
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a, "batchmean": lambda a: a.sum() / 3}[reduction]
    np.testing.assert_allclose(F.kl_normal_standard(_t(mu), _t(lv), reduction).data, red(ref))
    gradcheck(lambda a, b: F.kl_normal_standard(a, b, reduction), mu, lv)


def test_kl_standard_normal_matches_monte_carlo(rng):
    mu, lv = np.array([0.5, -1.0]), np.array([-0.3, 0.4])
    sd = np.exp(0.5 * lv)
    z = mu + sd * rng.standard_normal((400_000, 2))
    log_q = -0.5 * (((z - mu) / sd) ** 2 + lv + np.log(2 * np.pi))
    log_p = -0.5 * (z**2 + np.log(2 * np.pi))
    mc = (log_q - log_p).mean(0)
    np.testing.assert_allclose(F.kl_normal_standard(_t(mu), _t(lv), "none").data, mc, atol=5e-3)


def test_kl_normal_normal_reduces_to_standard_and_grad(rng):
    mu, lv = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    zeros = np.zeros((2, 3))
    np.testing.assert_allclose(F.kl_normal_normal(_t(mu), _t(lv), _t(zeros), _t(zeros)).data,
                               F.kl_normal_standard(_t(mu), _t(lv)).data)
    gradcheck(lambda a, b, c, d: F.kl_normal_normal(a, b, c, d), mu, lv, rng.standard_normal((2, 3)),
              rng.standard_normal((2, 3)))


@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll(full, rng):
    x, t, v = rng.standard_normal(5), rng.standard_normal(5), rng.uniform(0.5, 2, 5)
    ref = 0.5 * (np.log(v) + (x - t) ** 2 / v) + (0.5 * np.log(2 * np.pi) if full else 0)
    np.testing.assert_allclose(F.gaussian_nll_loss(_t(x), _t(t), _t(v), full=full, reduction="none").data, ref)
    gradcheck(lambda a, b, c: F.gaussian_nll_loss(a, b, c, full=full), x, t, v)


def test_loss_shape_and_reduction_errors():
    with pytest.raises(ValueError, match=r"mse_loss: input has shape \(2, 3\) but target has shape \(3, 2\)"):
        F.mse_loss(ng.ones(2, 3), ng.ones(3, 2))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(ng.ones(2), ng.ones(2), reduction="avg")
