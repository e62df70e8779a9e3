"""batch_norm, layer_norm and dropout (nanogen/ops/norm.py): forward against NumPy written out
here, backward by finite differences, the running statistics, dropout's randomness, errors.
Every test runs on the Numba kernels and again on their NumPy twins (the `kernels` fixture)."""

import numpy as np
import pytest

from nanogen.gradcheck import gradcheck
from nanogen.kernels import elementwise as elementwise_kernels
from nanogen.kernels import norm as norm_kernels
from nanogen.ops.norm import batch_norm, dropout, layer_norm
from nanogen.tensor import Tensor


@pytest.fixture(params=["numba", "numpy"])
def kernels(request, monkeypatch):
    """Run the test on the picked kernels, then again with every one replaced by its NumPy twin."""
    if request.param == "numpy":
        for module in (norm_kernels, elementwise_kernels):
            for name in dir(module):
                if name.endswith("_reference") and hasattr(module, name[: -len("_reference")]):
                    monkeypatch.setattr(module, name[: -len("_reference")], getattr(module, name))
        assert norm_kernels.batch_norm_backward is norm_kernels.batch_norm_backward_reference
    return request.param


def bn_numpy(x, mean, var, w, b, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * w + b with the per-channel vectors on axis 1."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) + b.reshape(shape)


def channel_axes(x):
    return (0,) + tuple(range(2, x.ndim))


# ------------------------------------------------------------------- batch norm

BN_SHAPES = [(4, 3, 5, 6), (6, 5), (2, 1, 3, 3), (1, 2, 2, 3)]


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_train_forward_and_running_stats(shape, kernels, rng):
    x = rng.standard_normal(shape) * 2 + 1
    C = shape[1]
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.random(C) + 0.5
    rm0, rv0 = running_mean.copy(), running_var.copy()
    y = batch_norm(Tensor(x), running_mean, running_var, Tensor(w), Tensor(b), training=True, momentum=0.2)
    axes = channel_axes(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    np.testing.assert_allclose(y.data, bn_numpy(x, mean, var, w, b), rtol=1e-10, atol=1e-12)
    M = x.size // C
    np.testing.assert_allclose(running_mean, 0.8 * rm0 + 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(running_var, 0.8 * rv0 + 0.2 * var * M / (M - 1), rtol=1e-12)  # unbiased


def test_batch_norm_updates_running_stat_tensors_in_place(kernels, rng):
    x = rng.standard_normal((8, 3)).astype(np.float32)
    running_mean, running_var = Tensor(np.zeros(3, np.float32)), Tensor(np.ones(3, np.float32))
    data = running_mean.data
    batch_norm(x, running_mean, running_var, training=True)
    assert running_mean.data is data  # the same array, changed in place
    np.testing.assert_allclose(running_mean.data, 0.1 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(running_var.data, 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-5)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_eval_uses_running_stats(shape, kernels, rng):
    x = rng.standard_normal(shape)
    C = shape[1]
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.random(C) + 0.5
    rm0, rv0 = running_mean.copy(), running_var.copy()
    y = batch_norm(x, running_mean, running_var, w, b, training=False)
    np.testing.assert_allclose(y.data, bn_numpy(x, rm0, rv0, w, b), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(running_mean, rm0)  # eval leaves them alone
    np.testing.assert_array_equal(running_var, rv0)


def test_batch_norm_without_weight_and_bias_normalizes(kernels, rng):
    x = (rng.standard_normal((16, 3, 4, 4)) * 5 + 3).astype(np.float32)
    y = batch_norm(Tensor(x), None, None, training=True).data
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 2, 3, 4), (5, 3), (1, 2, 2, 2)])
def test_batch_norm_grad(shape, training, kernels, rng):
    C = shape[1]
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.random(C) + 0.5
    gradcheck(lambda x, w, b: batch_norm(x, running_mean, running_var, w, b, training=training), x, w, b)


def test_batch_norm_grad_without_affine(kernels, rng):
    gradcheck(lambda x: batch_norm(x, None, None, training=True), rng.standard_normal((4, 3, 2, 2)))


def test_batch_norm_float32_grads_keep_dtype(kernels, rng):
    x = Tensor(rng.standard_normal((4, 3, 2, 2)).astype(np.float32), requires_grad=True)
    w = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.zeros(3, np.float32), requires_grad=True)
    (batch_norm(x, None, None, w, b, training=True) * x).sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_batch_norm_errors(rng):
    x = Tensor(rng.standard_normal((4, 3, 2, 2)))
    stats = (np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm: x must be \(N, C\) or \(N, C, H, W\), got shape \(4, 3, 2\)"):
        batch_norm(Tensor(np.zeros((4, 3, 2))), *stats)
    with pytest.raises(ValueError, match=r"batch_norm: x has 3 channels in dim 1 but weight has shape \(4,\)"):
        batch_norm(x, *stats, weight=Tensor(np.ones(4)))
    with pytest.raises(TypeError, match="batch_norm: bias is float32 but x is float64"):
        batch_norm(x, *stats, bias=Tensor(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match=r"batch_norm: x has 3 channels in dim 1 but running_mean is \(2,\)"):
        batch_norm(x, np.zeros(2), np.ones(3))
    with pytest.raises(TypeError, match="batch_norm: running_var is float32 but x is float64"):
        batch_norm(x, np.zeros(3), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"batch_norm: running_var is needed in evaluation mode"):
        batch_norm(x, np.zeros(3), None, training=False)
    with pytest.raises(ValueError, match="batch_norm: training needs more than one value per channel"):
        batch_norm(Tensor(np.zeros((1, 3))), *stats, training=True)
    with pytest.raises(ValueError, match="batch_norm: momentum must be a number in"):
        batch_norm(x, *stats, training=True, momentum=None)
    running_mean = np.zeros(3)
    with pytest.raises(ValueError):
        batch_norm(x, running_mean, np.ones(3), weight=Tensor(np.ones(4)), training=True)
    assert not running_mean.any()  # checked before any state changed


# ------------------------------------------------------------------- layer norm


@pytest.mark.parametrize("shape, normalized_shape", [((4, 6), 6), ((2, 3, 4, 5), (4, 5)), ((3, 7), (7,)),
                                                      ((2, 3, 4), (2, 3, 4))])
def test_layer_norm_forward_matches_numpy(shape, normalized_shape, kernels, rng):
    x = rng.standard_normal(shape) * 3 - 1
    S = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    w, b = rng.standard_normal(S), rng.standard_normal(S)
    axes = tuple(range(x.ndim - len(S), x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    y = layer_norm(Tensor(x), normalized_shape, Tensor(w), Tensor(b))
    np.testing.assert_allclose(y.data, (x - mean) / np.sqrt(var + 1e-5) * w + b, rtol=1e-10, atol=1e-12)
    y0 = layer_norm(x, normalized_shape)
    np.testing.assert_allclose(y0.data, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, normalized_shape", [((3, 5), 5), ((2, 3, 2, 3), (2, 3)), ((1, 4), 4)])
def test_layer_norm_grad(shape, normalized_shape, kernels, rng):
    S = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    x, w, b = rng.standard_normal(shape), rng.standard_normal(S), rng.standard_normal(S)
    gradcheck(lambda x, w, b: layer_norm(x, normalized_shape, w, b), x, w, b)
    gradcheck(lambda x: layer_norm(x, normalized_shape), x)


def test_layer_norm_errors():
    x = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"layer_norm: expected x of shape \(\.\.\., 3\), ending in normalized_shape \(3,\)"):
        layer_norm(x, 3)
    with pytest.raises(ValueError, match=r"layer_norm: weight must have shape \(3, 4\)"):
        layer_norm(x, (3, 4), weight=Tensor(np.ones(4)))
    with pytest.raises(TypeError, match="layer_norm: x must be float32 or float64, got int64"):
        layer_norm(np.zeros((2, 3), dtype=np.int64), 3)


# ------------------------------------------------------------------- dropout


def test_dropout_eval_and_p0_are_identity(rng):
    x = Tensor(rng.standard_normal((4, 5)), requires_grad=True)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0, training=True) is x


def test_dropout_train_zeroes_and_scales(kernels, rng):
    x = rng.standard_normal((200, 100)).astype(np.float32)
    p = 0.3
    y = dropout(Tensor(x), p, training=True, rng=np.random.default_rng(1)).data
    assert y.dtype == np.float32
    kept = y != 0
    assert abs(1 - kept.mean() - p) < 0.01  # 20,000 draws: the standard error is 0.003
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)


def test_dropout_preserves_the_mean(kernels):
    x = np.full(100_000, 2.0)
    y = dropout(x, 0.5, rng=np.random.default_rng(3)).data
    assert abs(y.mean() - 2.0) < 0.03  # std of the mean: 2 * 1 / sqrt(1e5) = 0.006


def test_dropout_seeded_is_reproducible(kernels, rng):
    x = rng.standard_normal((30, 40))
    a = dropout(x, 0.5, rng=np.random.default_rng(7)).data
    b = dropout(x, 0.5, rng=np.random.default_rng(7)).data
    c = dropout(x, 0.5, rng=np.random.default_rng(8)).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dropout_same_mask_on_both_kernel_paths(rng):
    x = rng.standard_normal((30, 40)).astype(np.float32)
    u = np.random.default_rng(5).random(x.shape, dtype=np.float32)
    y_fast, _ = elementwise_kernels.dropout_forward_numba(x, u, 0.4)
    y_ref, _ = elementwise_kernels.dropout_forward_reference(x, u, 0.4)
    np.testing.assert_array_equal(y_fast, y_ref)
    np.testing.assert_array_equal(dropout(x, 0.4, rng=np.random.default_rng(5)).data, y_ref)


def test_dropout_backward_is_the_mask(kernels, rng):
    x = Tensor(rng.standard_normal((10, 10)), requires_grad=True)
    y = dropout(x, 0.25, rng=np.random.default_rng(2))
    y.backward(np.ones((10, 10)))
    np.testing.assert_allclose(x.grad, np.where(y.data != 0, 1 / 0.75, 0.0))
    gradcheck(lambda x: dropout(x, 0.25, rng=np.random.default_rng(2)), rng.standard_normal((4, 5)))


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"dropout: p must be a probability in \[0, 1\)"):
        dropout(Tensor(np.ones(3)), p)
