"""Pooling kernels (nanogen/kernels/pool.py): each Numba kernel equals its NumPy twin.

The twins are the specification, so they are also checked on their own: max pooling against a
plain loop, and the linear maps (average, adaptive average) against their adjoint identity
<grad, f(x)> = <f_backward(grad), x>, which any correct backward of a linear map satisfies.
"""

import numpy as np
import pytest

from nanogen.kernels import pool as K

# (shape, (KH, KW), (SH, SW), (PH, PW)): odd and non-square sizes, stride != kernel, padding,
# overlapping windows, batch 1, one channel; the first two take the 2x2 fast path.
GEOMETRIES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0)),
    ((2, 3, 7, 5), (2, 2), (2, 2), (0, 0)),
    ((1, 1, 5, 5), (3, 3), (1, 1), (1, 1)),
    ((2, 2, 9, 7), (3, 2), (2, 1), (1, 1)),
    ((3, 1, 6, 11), (2, 3), (3, 2), (0, 1)),
    ((1, 2, 4, 4), (4, 4), (1, 1), (2, 2)),
    ((2, 1, 6, 6), (2, 2), (1, 1), (0, 0)),
]
DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def out_size(shape, k, s, p):
    return ((shape[2] + 2 * p[0] - k[0]) // s[0] + 1, (shape[3] + 2 * p[1] - k[1]) // s[1] + 1)


@pytest.mark.parametrize("shape, k, s, p", GEOMETRIES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_matches_reference(shape, k, s, p, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    y_ref, idx_ref = K.max_pool2d_forward_reference(x, *k, *s, *p)
    y, idx = K.max_pool2d_forward_numba(x, *k, *s, *p)
    assert y.shape == idx.shape == shape[:2] + out_size(shape, k, s, p)
    assert y.dtype == dtype and idx.dtype == np.int32
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    grad = rng.standard_normal(y.shape).astype(dtype)
    dx_ref = K.max_pool2d_backward_reference(grad, idx_ref, *shape[2:])
    dx = K.max_pool2d_backward_numba(grad, idx, *shape[2:])
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, dx_ref, **tol(dtype))


@pytest.mark.parametrize("shape, k, s, p", GEOMETRIES)
def test_max_pool2d_ties_and_nan_match_reference(shape, k, s, p, rng):
    x = rng.integers(0, 3, size=shape).astype(np.float64)  # many ties: the first maximum must win
    x.flat[rng.choice(x.size, size=3, replace=False)] = np.nan  # NaN is the maximum, as in PyTorch
    y_ref, idx_ref = K.max_pool2d_forward_reference(x, *k, *s, *p)
    y, idx = K.max_pool2d_forward_numba(x, *k, *s, *p)
    np.testing.assert_array_equal(y, y_ref)  # treats NaN == NaN
    np.testing.assert_array_equal(idx, idx_ref)


def test_max_pool2d_all_minus_inf_window_points_inside_the_plane():
    x = np.full((1, 1, 4, 4), -np.inf)
    for forward in (K.max_pool2d_forward_numba, K.max_pool2d_forward_reference):
        y, idx = forward(x, 3, 3, 2, 2, 1, 1)
        assert np.all(y == -np.inf)
        assert idx[0, 0].tolist() == [[0, 1], [4, 5]]  # each window's first real pixel, never the padding


def test_max_pool2d_reference_matches_loop(rng):
    shape, (KH, KW), (SH, SW), (PH, PW) = (2, 2, 7, 6), (3, 2), (2, 1), (1, 1)
    x = rng.standard_normal(shape)
    y, idx = K.max_pool2d_forward_reference(x, KH, KW, SH, SW, PH, PW)
    N, C, H, W = shape
    for n in range(N):
        for c in range(C):
            for i in range(y.shape[2]):
                for j in range(y.shape[3]):
                    best, where = -np.inf, None
                    for h in range(i * SH - PH, i * SH - PH + KH):
                        for w in range(j * SW - PW, j * SW - PW + KW):
                            if 0 <= h < H and 0 <= w < W and x[n, c, h, w] > best:
                                best, where = x[n, c, h, w], h * W + w
                    assert y[n, c, i, j] == best and idx[n, c, i, j] == where


def test_max_pool2d_backward_adds_shared_maxima():
    # stride 1, window 2: the centre 9 is the maximum of all four windows and collects all four grads
    x = np.array([[[[0.0, 1, 0], [1, 9, 1], [0, 1, 0]]]])
    y, idx = K.max_pool2d_forward_numba(x, 2, 2, 1, 1, 0, 0)
    grad = np.array([[[[1.0, 2], [3, 4]]]])
    for backward in (K.max_pool2d_backward_numba, K.max_pool2d_backward_reference):
        dx = backward(grad, idx, 3, 3)
        assert dx[0, 0, 1, 1] == 10 and dx.sum() == 10


@pytest.mark.parametrize("shape, k, s, p", GEOMETRIES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool2d_matches_reference(shape, k, s, p, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    y_ref = K.avg_pool2d_forward_reference(x, *k, *s, *p)
    y = K.avg_pool2d_forward_numba(x, *k, *s, *p)
    assert y.shape == shape[:2] + out_size(shape, k, s, p) and y.dtype == y_ref.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tol(dtype))
    grad = rng.standard_normal(y.shape).astype(dtype)
    dx_ref = K.avg_pool2d_backward_reference(grad, *shape[2:], *k, *s, *p)
    dx = K.avg_pool2d_backward_numba(grad, *shape[2:], *k, *s, *p)
    assert dx.shape == shape and dx.dtype == dx_ref.dtype == dtype
    np.testing.assert_allclose(dx, dx_ref, **tol(dtype))


@pytest.mark.parametrize("shape, k, s, p", GEOMETRIES)
def test_avg_pool2d_reference_backward_is_adjoint(shape, k, s, p, rng):
    x = rng.standard_normal(shape)
    y = K.avg_pool2d_forward_reference(x, *k, *s, *p)
    grad = rng.standard_normal(y.shape)
    dx = K.avg_pool2d_backward_reference(grad, *shape[2:], *k, *s, *p)
    np.testing.assert_allclose(np.vdot(grad, y), np.vdot(dx, x), rtol=1e-12)


def test_avg_pool2d_counts_padding_as_zeros():
    x = np.ones((1, 1, 2, 2))
    y = K.avg_pool2d_forward_numba(x, 2, 2, 2, 2, 1, 1)  # each window holds one real pixel
    np.testing.assert_allclose(y, np.full((1, 1, 2, 2), 0.25))


OUTPUT_SIZES = [(1, 1), (2, 3), (3, 3), (7, 5), (9, 8)]


@pytest.mark.parametrize("out", OUTPUT_SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_avg_pool2d_matches_reference(out, dtype, rng):
    shape = (2, 3, 7, 5)
    x = rng.standard_normal(shape).astype(dtype)
    y_ref = K.adaptive_avg_pool2d_forward_reference(x, *out)
    y = K.adaptive_avg_pool2d_forward_numba(x, *out)
    assert y.shape == shape[:2] + out and y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tol(dtype))
    grad = rng.standard_normal(y.shape).astype(dtype)
    dx_ref = K.adaptive_avg_pool2d_backward_reference(grad, *shape[2:])
    dx = K.adaptive_avg_pool2d_backward_numba(grad, *shape[2:])
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, dx_ref, **tol(dtype))
    np.testing.assert_allclose(np.vdot(grad, y_ref), np.vdot(dx_ref, x), rtol=1e-4 if dtype == np.float32 else 1e-12)


def test_adaptive_avg_pool2d_to_one_is_global_mean(rng):
    x = rng.standard_normal((2, 3, 5, 4))
    np.testing.assert_allclose(K.adaptive_avg_pool2d_forward_numba(x, 1, 1)[:, :, 0, 0], x.mean(axis=(2, 3)))


def test_adaptive_bounds_are_pytorchs():
    # H = 5 into 3: windows [0, 2), [1, 4), [3, 5) (floor(i*5/3), ceil((i+1)*5/3))
    start, end = K.adaptive_bounds(5, 3)
    assert start.tolist() == [0, 1, 3] and end.tolist() == [2, 4, 5]
