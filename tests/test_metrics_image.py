"""PSNR and SSIM (nanogen/metrics.py) against their definitions written out window by window."""

import numpy as np
import pytest

from nanogen.metrics import psnr, ssim


def ssim_loop(a, b, window=7, sigma=1.5, L=1.0):
    """Wang et al. 2004, Eq. 13, one window at a time, with a 2-D Gaussian weight."""
    t = np.arange(window) - (window - 1) / 2
    w = np.exp(-0.5 * (t[:, None] ** 2 + t[None, :] ** 2) / sigma ** 2)
    w /= w.sum()
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    H, W = a.shape
    vals = []
    for i in range(H - window + 1):
        for j in range(W - window + 1):
            pa, pb = a[i : i + window, j : j + window], b[i : i + window, j : j + window]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return np.mean(vals)


def test_ssim_matches_window_by_window_definition(rng):
    x = rng.uniform(0, 1, (2, 1, 9, 11))                  # odd sizes on purpose
    y = np.clip(x + 0.2 * rng.standard_normal(x.shape), 0, 1)
    got = ssim(x, y)
    assert got.shape == (2,)
    for n in range(2):
        assert got[n] == pytest.approx(ssim_loop(x[n, 0], y[n, 0]), rel=1e-9)


def test_ssim_is_one_for_equal_images_and_falls_with_noise(rng):
    x = rng.uniform(0, 1, (3, 1, 28, 28))
    np.testing.assert_allclose(ssim(x, x), 1.0)
    small = ssim(x, np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1))
    large = ssim(x, np.clip(x + 0.3 * rng.standard_normal(x.shape), 0, 1))
    assert np.all(large < small) and np.all(small < 1)


def test_psnr_definition(rng):
    x = rng.uniform(0, 1, (2, 1, 4, 4))
    y = x + 0.1                                           # MSE 0.01 -> 20 dB
    np.testing.assert_allclose(psnr(x, y), 20.0)
    np.testing.assert_allclose(psnr(x, x), 100.0)                # capped: equal images
    np.testing.assert_allclose(psnr(2 * x, 2 * y, data_range=2.0), 20.0)    # scale-free: MSE 0.04, peak 2


def test_image_metrics_reject_bad_shapes():
    with pytest.raises(ValueError, match="one shape"):
        psnr(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4, 5)))
    with pytest.raises(ValueError, match="at least 7 x 7"):
        ssim(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 5, 5)))
