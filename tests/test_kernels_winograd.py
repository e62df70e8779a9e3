"""Winograd F(2x2, 3x3) kernels (nanogen/kernels/winograd.py): each Numba kernel against its NumPy
twin, each transform against its adjoint, and the whole chain against the plain convolution."""

import numpy as np
import pytest

from nanogen.kernels import winograd as kw
from nanogen.kernels.conv import im2col_reference

# n, C, F, H, W, (ph, pw): odd and even outputs, every padding the transforms allow, one pixel
CASES = [
    (2, 3, 4, 5, 6, (1, 1)),
    (3, 2, 5, 7, 7, (0, 2)),
    (1, 4, 3, 8, 8, (1, 1)),
    (2, 1, 2, 3, 4, (0, 0)),
    (2, 2, 2, 6, 3, (2, 1)),
    (1, 1, 1, 1, 1, (1, 1)),
]


def _ids(case):
    n, C, F, H, W, p = case
    return f"{n}x{C}x{H}x{W}-F{F}-p{p[0]}{p[1]}"


def _geometry(case):
    n, C, F, H, W, (ph, pw) = case
    OH, OW = H + 2 * ph - 2, W + 2 * pw - 2
    TH, TW = kw.tiles(OH, OW)
    return OH, OW, TH, TW, TH * TW * n


def _conv_by_im2col(x, w, b, padding):
    """The convolution Winograd must reproduce, written the plain way: w @ im2col(x) + b."""
    n, F = x.shape[0], w.shape[0]
    OH, OW = x.shape[2] + 2 * padding[0] - 2, x.shape[3] + 2 * padding[1] - 2
    cols = im2col_reference(x, 3, 3, (1, 1), padding, (1, 1), OH, OW)
    y = (w.reshape(F, -1) @ cols).reshape(F, n, OH, OW).transpose(1, 0, 2, 3)
    return y + b[None, :, None, None]


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("impl", ["numba", "reference"])
def test_transforms_compute_the_convolution(case, impl, rng):
    """output_transform(input_transform(x) @ filter_transform(w)) + b == conv2d(x, w, b), float64."""
    n, C, F, H, W, (ph, pw) = case
    OH, OW, TH, TW, T = _geometry(case)
    x, w, b = rng.standard_normal((n, C, H, W)), rng.standard_normal((F, C, 3, 3)), rng.standard_normal(F)
    V = getattr(kw, f"input_transform_{impl}")(x, ph, pw, TH, TW, np.empty((16, T, C)))
    y = getattr(kw, f"output_transform_{impl}")(V @ kw.filter_transform(w), b, np.empty((n, F, OH, OW)))
    np.testing.assert_allclose(y, _conv_by_im2col(x, w, b, (ph, pw)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_adjoints(case, rng):
    """<A a, b> == <a, A^T b> for every transform and its adjoint (the backward pass is built from
    the adjoints), and the output adjoint adds up dL/db."""
    n, C, F, H, W, (ph, pw) = case
    OH, OW, TH, TW, T = _geometry(case)
    x, v = rng.standard_normal((n, C, H, W)), rng.standard_normal((16, T, C))
    V = kw.input_transform_reference(x, ph, pw, TH, TW, np.empty((16, T, C)))
    dx = kw.input_transform_adjoint_reference(v, ph, pw, TH, TW, np.full((n, C, H, W), np.nan))
    assert np.vdot(V, v) == pytest.approx(np.vdot(x, dx), rel=1e-12)

    m, g, sums = rng.standard_normal((16, T, F)), rng.standard_normal((n, F, OH, OW)), np.ones(F)
    y = kw.output_transform_reference(m, np.zeros(F), np.empty((n, F, OH, OW)))
    gt = kw.output_transform_adjoint_reference(g, np.empty((16, T, F)), sums)
    assert np.vdot(y, g) == pytest.approx(np.vdot(m, gt), rel=1e-12)
    np.testing.assert_allclose(sums, 1 + g.sum(axis=(0, 2, 3)), rtol=1e-12)

    w, du = rng.standard_normal((F, C, 3, 3)), rng.standard_normal((16, C, F))
    assert np.vdot(kw.filter_transform(w), du) == pytest.approx(np.vdot(w, kw.filter_transform_adjoint(du)),
                                                                 rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES + [(13, 16, 32, 14, 14, (1, 1))], ids=_ids)
def test_numba_kernels_match_reference(case, dtype, rng):
    n, C, F, H, W, (ph, pw) = case
    OH, OW, TH, TW, T = _geometry(case)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    x = rng.standard_normal((n, C, H, W)).astype(dtype)
    v = rng.standard_normal((16, T, C)).astype(dtype)
    m = rng.standard_normal((16, T, F)).astype(dtype)
    g = rng.standard_normal((n, F, OH, OW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    for name, args, out in [
        ("input_transform", (x, ph, pw, TH, TW), (16, T, C)),
        ("input_transform_adjoint", (v, ph, pw, TH, TW), (n, C, H, W)),
        ("output_transform", (m, b), (n, F, OH, OW)),
    ]:
        got = getattr(kw, f"{name}_numba")(*args, np.full(out, np.nan, dtype))
        want = getattr(kw, f"{name}_reference")(*args, np.full(out, np.nan, dtype))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **tol, err_msg=name)
    sums = [np.ones(F, dtype), np.ones(F, dtype)]
    got = kw.output_transform_adjoint_numba(g, np.full((16, T, F), np.nan, dtype), sums[0])
    want = kw.output_transform_adjoint_reference(g, np.full((16, T, F), np.nan, dtype), sums[1])
    np.testing.assert_allclose(got, want, **tol)
    exact = 1 + g.astype(np.float64).sum(axis=(0, 2, 3))
    bound = 4 * np.finfo(dtype).eps * (1 + np.abs(g).astype(np.float64).sum(axis=(0, 2, 3)))  # summation error
    for s in sums:  # the two add in different orders: each within rounding of the exact sum
        assert np.all(np.abs(s - exact) <= bound)
