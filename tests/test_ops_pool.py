"""Pooling and upsampling ops (nanogen/ops/pool.py): forward against plain loops, backward by
finite differences, errors. Every test runs twice: on the Numba kernels and on the NumPy twins
(the `kernels` fixture swaps the picked kernels, as NANOGEN_KERNELS=numpy would)."""

import numpy as np
import pytest

from nanogen.gradcheck import gradcheck
from nanogen.kernels import pool as pool_kernels
from nanogen.kernels import resample as resample_kernels
from nanogen.ops.pool import adaptive_avg_pool2d, avg_pool2d, interpolate, max_pool2d, upsample
from nanogen.tensor import Tensor


@pytest.fixture(params=["numba", "numpy"])
def kernels(request, monkeypatch):
    """Run the test on the picked kernels, then again with every one replaced by its NumPy twin."""
    if request.param == "numpy":
        for module in (pool_kernels, resample_kernels):
            for name in dir(module):
                if name.endswith("_reference") and hasattr(module, name[: -len("_reference")]):
                    monkeypatch.setattr(module, name[: -len("_reference")], getattr(module, name))
        assert pool_kernels.max_pool2d_forward is pool_kernels.max_pool2d_forward_reference
    return request.param


# ------------------------------------------------------------------- plain-loop references


def pool_loop(x, k, s, p, reduce):
    """The definition: for each output pixel, reduce the window (padding: -inf for max, 0 for mean)."""
    N, C, H, W = x.shape
    fill = -np.inf if reduce == "max" else 0.0
    xp = np.full((N, C, H + 2 * p[0], W + 2 * p[1]), fill)
    xp[:, :, p[0] : p[0] + H, p[1] : p[1] + W] = x
    OH, OW = (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1
    y = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            win = xp[:, :, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
            y[:, :, i, j] = win.max(axis=(2, 3)) if reduce == "max" else win.mean(axis=(2, 3))
    return y


def adaptive_loop(x, OH, OW):
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            hs, he = (i * H) // OH, -(-(i + 1) * H // OH)
            ws, we = (j * W) // OW, -(-(j + 1) * W // OW)
            y[:, :, i, j] = x[:, :, hs:he, ws:we].mean(axis=(2, 3))
    return y


def bilinear_loop(x, SH, SW):
    """PyTorch's upsample_bilinear2d (align_corners=False), pixel by pixel."""
    N, C, H, W = x.shape
    y = np.empty((N, C, H * SH, W * SW))

    def source(dst, size, scale):
        src = max((dst + 0.5) / scale - 0.5, 0.0)
        i0 = int(src)
        return i0, min(i0 + 1, size - 1), src - i0

    for i in range(H * SH):
        h0, h1, a = source(i, H, SH)
        for j in range(W * SW):
            w0, w1, b = source(j, W, SW)
            y[:, :, i, j] = ((1 - a) * ((1 - b) * x[:, :, h0, w0] + b * x[:, :, h0, w1])
                             + a * ((1 - b) * x[:, :, h1, w0] + b * x[:, :, h1, w1]))
    return y


GEOMETRIES = [  # (shape, kernel_size, stride, padding)
    ((2, 3, 8, 6), 2, None, 0),
    ((1, 1, 7, 5), 3, 2, 1),
    ((2, 2, 6, 7), (3, 2), (1, 2), (1, 1)),
    ((3, 1, 5, 5), 2, 1, 0),
]


# ------------------------------------------------------------------- forward


@pytest.mark.parametrize("shape, k, s, p", GEOMETRIES)
def test_max_pool2d_forward_matches_loop(shape, k, s, p, kernels, rng):
    x = rng.standard_normal(shape)
    y = max_pool2d(Tensor(x), k, s, p)
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    expected = pool_loop(x, pair(k), pair(k if s is None else s), pair(p), "max")
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y.data, expected)


@pytest.mark.parametrize("shape, k, s, p", GEOMETRIES)
def test_avg_pool2d_forward_matches_loop(shape, k, s, p, kernels, rng):
    x = rng.standard_normal(shape)
    y = avg_pool2d(Tensor(x), k, s, p)
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    expected = pool_loop(x, pair(k), pair(k if s is None else s), pair(p), "mean")
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)


@pytest.mark.parametrize("output_size", [1, (2, 3), (4, 4), (9, 6)])
def test_adaptive_avg_pool2d_forward_matches_loop(output_size, kernels, rng):
    x = rng.standard_normal((2, 3, 7, 5))
    y = adaptive_avg_pool2d(Tensor(x), output_size)
    OH, OW = (output_size, output_size) if isinstance(output_size, int) else output_size
    np.testing.assert_allclose(y.data, adaptive_loop(x, OH, OW), rtol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, (2, 3), 2.0])
def test_interpolate_nearest_forward_matches_loop(scale, kernels, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    y = interpolate(Tensor(x), scale_factor=scale, mode="nearest")
    SH, SW = (int(scale), int(scale)) if not isinstance(scale, tuple) else scale
    assert y.shape == (2, 3, 4 * SH, 5 * SW)
    for i in range(4 * SH):
        for j in range(5 * SW):
            np.testing.assert_array_equal(y.data[:, :, i, j], x[:, :, i // SH, j // SW])


@pytest.mark.parametrize("scale", [2, 3, (3, 2)])
def test_interpolate_bilinear_forward_matches_loop(scale, kernels, rng):
    x = rng.standard_normal((2, 2, 4, 5))
    y = interpolate(Tensor(x), scale_factor=scale, mode="bilinear")
    SH, SW = (scale, scale) if isinstance(scale, int) else scale
    np.testing.assert_allclose(y.data, bilinear_loop(x, SH, SW), rtol=1e-12, atol=1e-14)


def test_upsample_is_interpolate():
    assert upsample is interpolate


@pytest.mark.parametrize("op", [
    lambda x: max_pool2d(x, 2),
    lambda x: avg_pool2d(x, 3, 2, 1),
    lambda x: adaptive_avg_pool2d(x, 2),
    lambda x: interpolate(x, 2, "nearest"),
    lambda x: interpolate(x, 2, "bilinear"),
])
def test_pool_ops_keep_float32(op, kernels, rng):
    x = Tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    y = op(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == x.shape


def test_pool_ops_take_non_contiguous_input(kernels, rng):
    x = rng.standard_normal((6, 6, 3, 2)).transpose(3, 2, 0, 1)  # (2, 3, 6, 6), not contiguous
    np.testing.assert_array_equal(max_pool2d(x, 2).data, pool_loop(x, (2, 2), (2, 2), (0, 0), "max"))


# ------------------------------------------------------------------- backward


@pytest.mark.parametrize("shape, k, s, p", GEOMETRIES)
def test_max_pool2d_grad(shape, k, s, p, kernels, rng):
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.1  # distinct values: no ties within eps
    gradcheck(lambda x: max_pool2d(x, k, s, p), x)


@pytest.mark.parametrize("shape, k, s, p", GEOMETRIES)
def test_avg_pool2d_grad(shape, k, s, p, kernels, rng):
    gradcheck(lambda x: avg_pool2d(x, k, s, p), rng.standard_normal(shape))


@pytest.mark.parametrize("output_size", [1, (2, 3), (9, 6)])
def test_adaptive_avg_pool2d_grad(output_size, kernels, rng):
    gradcheck(lambda x: adaptive_avg_pool2d(x, output_size), rng.standard_normal((2, 2, 7, 5)))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("scale", [2, 3, (2, 3)])
def test_interpolate_grad(mode, scale, kernels, rng):
    gradcheck(lambda x: interpolate(x, scale, mode), rng.standard_normal((2, 2, 3, 4)))


def test_max_pool2d_backward_routes_to_the_maximum(kernels):
    x = Tensor(np.array([[[[1.0, 5.0], [3.0, 2.0]]]]), requires_grad=True)
    max_pool2d(x, 2).backward(np.array([[[[7.0]]]]))
    np.testing.assert_array_equal(x.grad, [[[[0.0, 7.0], [0.0, 0.0]]]])


# ------------------------------------------------------------------- errors


def test_pool_errors():
    x = Tensor(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"max_pool2d: x must be \(N, C, H, W\), got shape \(4, 4\); add batch"):
        max_pool2d(Tensor(np.zeros((4, 4))), 2)
    with pytest.raises(TypeError, match="avg_pool2d: x must be float32 or float64, got int64"):
        avg_pool2d(np.zeros((1, 1, 4, 4), dtype=np.int64), 2)
    with pytest.raises(ValueError, match="max_pool2d: padding 2 must be at most half the kernel size 3"):
        max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match=r"max_pool2d: input of shape \(1, 1, 4, 4\) .* smaller than the window 5"):
        max_pool2d(x, 5)
    with pytest.raises(ValueError, match="avg_pool2d: stride must be >= 1, got 0"):
        avg_pool2d(x, 2, stride=0)
    with pytest.raises(TypeError, match=r"max_pool2d: kernel_size must be an int or a pair of ints, got \(2, 2, 2\)"):
        max_pool2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be >= 1, got 0"):
        adaptive_avg_pool2d(x, 0)


def test_interpolate_errors():
    x = Tensor(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="interpolate: scale_factor must be a whole number >= 1 .* got 1.5"):
        interpolate(x, 1.5)
    with pytest.raises(ValueError, match="interpolate: mode must be 'nearest' or 'bilinear', got 'bicubic'"):
        interpolate(x, 2, mode="bicubic")
    with pytest.raises(ValueError, match="interpolate: align_corners=True is not supported"):
        interpolate(x, 2, mode="bilinear", align_corners=True)
    with pytest.raises(ValueError, match=r"interpolate: x must be \(N, C, H, W\), got shape \(1, 4, 4\); add a batch"):
        interpolate(Tensor(np.zeros((1, 4, 4))), 2)
