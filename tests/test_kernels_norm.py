"""Normalization kernels (nanogen/kernels/norm.py): each Numba kernel equals its NumPy twin.

Batch norm sees x as (N, C, L): L = H*W for images and L = 1 for (N, C) features, which take a
separate row-wise loop in the Numba kernels, so both are covered. The sums are reassociated
(vectorized) in the Numba kernels, hence allclose rather than bit equality.
"""

import numpy as np
import pytest

from nanogen.kernels import norm as K

BN_SHAPES = [(5, 3, 7), (4, 6, 1), (1, 1, 9), (2, 4, 1), (3, 2, 30)]
LN_SHAPES = [(5, 7), (3, 1), (1, 9), (40, 33)]  # 40 rows > the 16 row blocks of the backward
DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def assert_all_close(got, expected, dtype):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype == dtype
        np.testing.assert_allclose(g, e, **tol(dtype))


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_train_forward_matches_reference(shape, dtype, rng):
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)  # off-centre: a one-pass variance would lose digits
    w = rng.standard_normal(shape[1]).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    expected = K.batch_norm_train_forward_reference(x, w, b, 1e-5)
    got = K.batch_norm_train_forward_numba(x, w, b, 1e-5)
    assert_all_close(got, expected, dtype)
    assert got[0].shape == shape and got[1].shape == (shape[1],)


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_eval_forward_matches_reference(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    mean, w, b = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(3))
    var = rng.random(shape[1]).astype(dtype) + 0.5
    expected = K.batch_norm_eval_forward_reference(x, mean, var, w, b, 1e-5)
    got = K.batch_norm_eval_forward_numba(x, mean, var, w, b, 1e-5)
    assert_all_close([got], [expected], dtype)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_backward_matches_reference(shape, dtype, training, rng):
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    _, mean, _, invstd = K.batch_norm_train_forward_reference(x, w, np.zeros_like(w), 1e-5)
    expected = K.batch_norm_backward_reference(grad, x, mean, invstd, w, training)
    got = K.batch_norm_backward_numba(grad, x, mean, invstd, w, training)
    assert_all_close(got, expected, dtype)


def test_batch_norm_backward_reference_is_the_derivative(rng):
    # directional derivative of L = <grad, y(x)> by central differences, against <dx, v>
    x, grad, v = (rng.standard_normal((4, 3, 5)) for _ in range(3))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    _, mean, _, invstd = K.batch_norm_train_forward_reference(x, w, b, 1e-5)
    dx, dw, db = K.batch_norm_backward_reference(grad, x, mean, invstd, w, True)
    eps = 1e-6

    def loss(x, w, b):
        return np.vdot(grad, K.batch_norm_train_forward_reference(x, w, b, 1e-5)[0])

    numeric = (loss(x + eps * v, w, b) - loss(x - eps * v, w, b)) / (2 * eps)
    np.testing.assert_allclose(np.vdot(dx, v), numeric, rtol=1e-6)
    u = rng.standard_normal(3)
    numeric_w = (loss(x, w + eps * u, b) - loss(x, w - eps * u, b)) / (2 * eps)
    numeric_b = (loss(x, w, b + eps * u) - loss(x, w, b - eps * u)) / (2 * eps)
    np.testing.assert_allclose(np.vdot(dw, u), numeric_w, rtol=1e-6)
    np.testing.assert_allclose(np.vdot(db, u), numeric_b, rtol=1e-6)


@pytest.mark.parametrize("shape", LN_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_matches_reference(shape, dtype, rng):
    x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    expected = K.layer_norm_forward_reference(x, w, b, 1e-5)
    got = K.layer_norm_forward_numba(x, w, b, 1e-5)
    assert_all_close(got, expected, dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    expected = K.layer_norm_backward_reference(grad, x, expected[1], expected[2], w)
    got = K.layer_norm_backward_numba(grad, x, got[1], got[2], w)
    assert_all_close(got, expected, dtype)


def test_layer_norm_backward_reference_is_the_derivative(rng):
    x, grad, v = (rng.standard_normal((3, 6)) for _ in range(3))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    _, mean, invstd = K.layer_norm_forward_reference(x, w, b, 1e-5)
    dx, _, _ = K.layer_norm_backward_reference(grad, x, mean, invstd, w)
    eps = 1e-6

    def loss(x):
        return np.vdot(grad, K.layer_norm_forward_reference(x, w, b, 1e-5)[0])

    np.testing.assert_allclose(np.vdot(dx, v), (loss(x + eps * v) - loss(x - eps * v)) / (2 * eps), rtol=1e-6)
