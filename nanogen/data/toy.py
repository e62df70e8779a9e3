"""Toy 2-D distributions: where a GAN's mode collapse can be seen, and counted, in one plot.

    ring8       8 Gaussians on a circle of radius 2, std 0.02      (Metz et al. 2017, Sec. 3.1)
    grid25      5 x 5 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05   (Lin et al. 2018, PacGAN, Sec. 5)
    moons       two interleaved half circles, noise std 0.1
    swiss_roll  the 2-D swiss roll (t cos t, t sin t) / 5, t in [1.5 pi, 4.5 pi], noise std 0.05

`sample(name, n, rng)` draws float32 (n, 2) points; `mode_centres(name)` gives the centres of the
two mixtures, and `mode_coverage(points, centres, std)` counts what a generator got right:
modes with a sample within 3 std of their centre, and the share of such "high-quality" samples
(Srivastava et al. 2017, VEEGAN, Sec. 5.1). Read with models/gan.py and metrics.py.
"""

import numpy as np

from ..random import default_rng
from ..tensor import as_array

__all__ = ["NAMES", "DEFAULT_STD", "sample", "mode_centres", "mode_coverage"]

NAMES = ("ring8", "grid25", "moons", "swiss_roll")
DEFAULT_STD = {"ring8": 0.02, "grid25": 0.05, "moons": 0.1, "swiss_roll": 0.05}
RING_RADIUS = 2.0
GRID_VALUES = (-4.0, -2.0, 0.0, 2.0, 4.0)


def _check_name(name, allowed, op):
    if name not in allowed:
        raise ValueError(f"{op}: unknown distribution {name!r}; expected one of {list(allowed)}")


def mode_centres(name):
    """Centres of the Gaussian mixtures, float64: ring8 (8, 2), grid25 (25, 2)."""
    _check_name(name, ("ring8", "grid25"), "mode_centres")
    if name == "ring8":
        angle = 2 * np.pi * np.arange(8) / 8                       # 0, 45, ..., 315 degrees
        return RING_RADIUS * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    gx, gy = np.meshgrid(GRID_VALUES, GRID_VALUES, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)              # (5, 5) grid -> (25, 2)


def sample(name, n, rng=None, std=None):
    """n points from the named distribution, float32 (n, 2); std defaults to DEFAULT_STD[name]."""
    _check_name(name, NAMES, "sample")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"sample: n must be a non-negative int, got {n!r}")
    std = DEFAULT_STD[name] if std is None else float(std)
    if not std >= 0:
        raise ValueError(f"sample: std must be >= 0, got {std}")
    rng = default_rng(rng)
    if name in ("ring8", "grid25"):
        centres = mode_centres(name)
        k = rng.integers(len(centres), size=n)                    # which Gaussian, uniformly
        x = centres[k]
    elif name == "moons":
        upper = rng.random(n) < 0.5
        t = np.pi * rng.random(n)
        x = np.where(upper[:, None],
                     np.stack([np.cos(t), np.sin(t)], axis=1),               # upper half circle
                     np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1))     # lower, shifted
    else:
        t = 1.5 * np.pi * (1 + 2 * rng.random(n))                   # as sklearn's make_swiss_roll
        x = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5   # /5: fits in about [-3, 3]
    x = x + std * rng.standard_normal((n, 2))
    return x.astype(np.float32)


def mode_coverage(points, centres, std, n_std=3.0, min_count=1, min_fraction=None):
    """How many modes a set of samples covers, and how many samples are good.

    A sample is high-quality if it lies within n_std * std of some centre (Euclidean); it is
    then counted for its nearest centre. A mode is covered if it has at least `min_count`
    high-quality samples, or, when given, at least min_fraction * len(points) of them (PacGAN
    calls a mode lost below 20 of 2500 samples, i.e. min_fraction=0.008).
    points (N, 2), centres (K, 2) -> {"modes": covered count, "n_modes": K,
    "high_quality": share of high-quality samples in [0, 1], "counts": (K,) int64}.
    """
    p = np.asarray(as_array(points), dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    if p.ndim != 2 or c.ndim != 2 or p.shape[1] != c.shape[1]:
        raise ValueError(f"mode_coverage: points (N, D) and centres (K, D) must agree, got shapes "
                         f"{p.shape} and {c.shape}")
    if len(c) == 0:
        raise ValueError("mode_coverage: centres is empty")
    if not std > 0:
        raise ValueError(f"mode_coverage: std must be > 0, got {std}")
    N, K = len(p), len(c)
    d2 = ((p[:, None, :] - c[None, :, :]) ** 2).sum(-1)          # (N, K) squared distances
    nearest = d2.argmin(axis=1) if N else np.zeros(0, dtype=np.int64)
    good = d2[np.arange(N), nearest] <= (n_std * std) ** 2 if N else np.zeros(0, dtype=bool)
    counts = np.bincount(nearest[good], minlength=K).astype(np.int64)
    need = min_count if min_fraction is None else max(1, int(np.ceil(min_fraction * N)))
    return {"modes": int((counts >= need).sum()), "n_modes": K,
            "high_quality": float(good.mean()) if N else 0.0, "counts": counts}
