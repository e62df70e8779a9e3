"""nanogen/data/toy.py: the 2-D toy distributions and the mode-coverage count."""

import numpy as np
import pytest

from nanogen.data import toy


@pytest.mark.parametrize("name", toy.NAMES)
@pytest.mark.parametrize("n", [0, 1, 257])
def test_sample_shape_and_dtype(name, n, rng):
    x = toy.sample(name, n, rng=rng)
    assert x.shape == (n, 2) and x.dtype == np.float32
    assert np.all(np.isfinite(x))


@pytest.mark.parametrize("name", toy.NAMES)
def test_sample_is_reproducible(name):
    a = toy.sample(name, 50, rng=np.random.default_rng(4))
    b = toy.sample(name, 50, rng=np.random.default_rng(4))
    c = toy.sample(name, 50, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_mode_centres():
    ring = toy.mode_centres("ring8")
    assert ring.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0)
    angles = np.sort(np.mod(np.arctan2(ring[:, 1], ring[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(np.diff(angles), np.pi / 4)
    grid = toy.mode_centres("grid25")
    assert grid.shape == (25, 2) and len({tuple(p) for p in grid}) == 25
    assert set(grid.ravel()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    with pytest.raises(ValueError, match="unknown distribution 'moons'"):
        toy.mode_centres("moons")


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_samples_cover_every_mode(name, rng):
    x = toy.sample(name, 2000, rng=rng)
    cov = toy.mode_coverage(x, toy.mode_centres(name), toy.DEFAULT_STD[name])
    assert cov["modes"] == cov["n_modes"] == len(toy.mode_centres(name))
    assert cov["high_quality"] > 0.98                        # 3 std in 2-D holds 98.9%
    assert cov["counts"].sum() <= 2000
    wide = toy.sample(name, 2000, rng=rng, std=1.0)          # far too wide: most samples off-mode
    assert toy.mode_coverage(wide, toy.mode_centres(name), toy.DEFAULT_STD[name])["high_quality"] < 0.2


def test_moons_and_swiss_roll_geometry(rng):
    m = toy.sample("moons", 1000, rng=rng, std=0.0).astype(np.float64)
    on_upper = np.isclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5) & (m[:, 1] >= -1e-6)
    on_lower = np.isclose(np.linalg.norm(m - [1.0, 0.5], axis=1), 1.0, atol=1e-5) & (m[:, 1] <= 0.5 + 1e-6)
    assert np.all(on_upper | on_lower) and 0.4 < on_upper.mean() < 0.6
    s = toy.sample("swiss_roll", 1000, rng=rng, std=0.0).astype(np.float64)
    r = np.linalg.norm(s, axis=1)
    assert r.min() >= 1.5 * np.pi / 5 - 1e-5 and r.max() <= 4.5 * np.pi / 5 + 1e-5


def test_mode_coverage_on_constructed_points():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    std = 0.1
    points = np.array([[0.0, 0.0],
                       [0.05, 0.0],
                       [10.0 + 0.29, 0.0],        # 2.9 std from centre 1: high quality
                       [10.0, 0.31],              # 3.1 std: not
                       [5.0, 5.0]])               # far from everything
    cov = toy.mode_coverage(points, centres, std)
    assert cov["modes"] == 2 and cov["n_modes"] == 3
    assert cov["high_quality"] == pytest.approx(3 / 5)
    np.testing.assert_array_equal(cov["counts"], [2, 1, 0])
    assert toy.mode_coverage(points, centres, std, min_count=2)["modes"] == 1
    assert toy.mode_coverage(points, centres, std, min_fraction=0.4)["modes"] == 1   # needs 2 of 5
    assert toy.mode_coverage(points, centres, std, min_fraction=0.5)["modes"] == 0   # needs 3 of 5
    assert toy.mode_coverage(points, centres, std, n_std=3.2)["counts"][1] == 2


def test_mode_coverage_errors_and_empty():
    centres = toy.mode_centres("ring8")
    with pytest.raises(ValueError, match=r"shapes \(4, 3\) and \(8, 2\)"):
        toy.mode_coverage(np.zeros((4, 3)), centres, 0.02)
    with pytest.raises(ValueError, match="std must be > 0"):
        toy.mode_coverage(np.zeros((4, 2)), centres, 0.0)
    empty = toy.mode_coverage(np.zeros((0, 2)), centres, 0.02)
    assert empty["modes"] == 0 and empty["high_quality"] == 0.0


def test_sample_errors():
    with pytest.raises(ValueError, match="unknown distribution 'ring9'"):
        toy.sample("ring9", 10)
    with pytest.raises(ValueError, match="non-negative int"):
        toy.sample("ring8", -1)
    with pytest.raises(ValueError, match="non-negative int"):
        toy.sample("ring8", 2.0)
    with pytest.raises(ValueError, match="std must be >= 0"):
        toy.sample("ring8", 3, std=-0.1)
