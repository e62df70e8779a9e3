"""Latent-space figures: 2-D scatters of codes (PCA when Z > 2), the decoded manifold of a 2-D
latent space, and straight-line interpolations between codes.

Read plot.py and plot_images.py first. pca_2d, normal_quantiles and interpolate are pure NumPy and
useful on their own (interpolate: linear or spherical, Shoemake 1985 / White 2016).
"""

import math

import numpy as np

from .plot_images import _check_range, _done, _figure, _image_inches, _show, make_grid
from .tensor import as_array


# ----------------------------------------------------------------------------------------------
# latent spaces

def pca_2d(z):
    """Project points onto their two principal axes.   z: (N, Z), Z >= 2 -> ((N, 2), explained (2,))

    Centre, then z_c = U S V^T (thin SVD); the coordinates are z_c V[:, :2] and the fraction of the
    variance each axis explains is S_i^2 / sum S^2. Each axis's sign is fixed so its largest
    loading is positive, so the picture does not flip between runs.
    """
    z = as_array(z).astype(np.float64)
    if z.ndim != 2 or z.shape[1] < 2 or z.shape[0] < 2:
        raise ValueError(f"pca_2d: z must be (N, Z) with N >= 2 and Z >= 2, got shape {z.shape}")
    zc = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(zc, full_matrices=False)         # vt: (min(N, Z), Z)
    v = vt[:2].T                                              # (Z, 2) principal directions
    v = v * np.sign(v[np.abs(v).argmax(axis=0), [0, 1]])      # largest loading positive
    total = np.sum(s**2)
    explained = s[:2] ** 2 / total if total > 0 else np.zeros(2)
    return zc @ v, explained                                  # (N, Z)(Z, 2) -> (N, 2)


def _project(z, method, op):
    """(N, Z) -> (N, 2) coordinates and axis names. Z == 2 is drawn as is, whatever the method."""
    z = as_array(z)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"{op}: z must be (N, Z) with Z >= 2, got shape {z.shape}")
    if method not in ("pca", "first2"):
        raise ValueError(f"{op}: method must be 'pca' or 'first2', got {method!r}")
    if z.shape[1] == 2 or method == "first2":
        return z[:, :2], ("z[0]", "z[1]")
    xy, ev = pca_2d(z)
    return xy, (f"PC 1 ({100 * ev[0]:.0f}% of variance)", f"PC 2 ({100 * ev[1]:.0f}% of variance)")


def latent_scatter(z, labels=None, path=None, title=None, ax=None, method="pca", legend=True):
    """Latent codes as a 2-D scatter, coloured by label (digit).

    z: (N, Z). Z == 2 is drawn directly; wider latents through PCA (method="pca") or their first
    two coordinates (method="first2"). labels: (N,) integers -> one colour per class and a legend
    (up to 10 classes), otherwise a colour bar. ax: draw into an existing Axes (its figure is
    returned and saved when path is given).
    """
    xy, (xname, yname) = _project(z, method, "latent_scatter")
    N = xy.shape[0]
    if ax is None:
        fig = _figure(6.2, 5.0)
        ax = fig.add_subplot()
    fig = ax.figure
    size = float(np.clip(2e4 / N, 1.5, 20))                  # many points -> smaller dots
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=size, alpha=0.6, linewidths=0, rasterized=True)
    else:
        lab = as_array(labels)
        if lab.shape != (N,):
            raise ValueError(f"latent_scatter: labels must have shape ({N},) like z, got {lab.shape}")
        classes = np.unique(lab)
        is_int = np.issubdtype(lab.dtype, np.integer) or np.all(lab == np.round(lab))
        if is_int and len(classes) <= 10:
            colours = [f"C{i}" for i in range(10)]            # matplotlib's tab10 cycle
            for i, c in enumerate(classes):
                m = lab == c
                ax.scatter(xy[m, 0], xy[m, 1], s=size, alpha=0.6, color=colours[i], linewidths=0,
                           label=str(int(c)), rasterized=True)
            if legend:
                ax.legend(title="label", loc="center left", bbox_to_anchor=(1.0, 0.5),
                          markerscale=max(1.0, 6 / math.sqrt(size)), frameon=False)
        else:
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=lab, s=size, alpha=0.7, cmap="viridis",
                            linewidths=0, rasterized=True)
            if legend:
                fig.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel(xname)
    ax.set_ylabel(yname)
    if title:
        ax.set_title(title)
    return _done(fig, path)


def side_by_side_latent(z_a, z_b, labels, titles=("autoencoder", "VAE"), path=None, method="pca"):
    """Two latent scatters next to each other, same labels (e.g. AE vs VAE codes of one test set)."""
    fig = _figure(11.0, 5.0)
    ax_a, ax_b = fig.subplots(1, 2)
    latent_scatter(z_a, labels, title=titles[0], ax=ax_a, method=method, legend=False)
    latent_scatter(z_b, labels, title=titles[1], ax=ax_b, method=method, legend=True)
    return _done(fig, path)


def normal_quantiles(p):
    """Phi^-1(p), the standard normal quantiles, for p in (0, 1).   (K,) -> (K,) float64

    Inverts Phi(x) = (1 + erf(x / sqrt 2)) / 2 by bisection on [-40, 40]: 100 halvings shrink the
    bracket below float64 resolution. Slow in theory, instant for a plot's 20 values.
    """
    p = np.asarray(p, dtype=np.float64)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError("normal_quantiles: p must lie strictly between 0 and 1")
    cdf = np.vectorize(lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0)))   # erfc: accurate in the tails
    lo, hi = np.full_like(p, -40.0), np.full_like(p, 40.0)
    for _ in range(100):
        mid = (lo + hi) / 2
        below = cdf(mid) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def latent_manifold(decode, grid_size=20, bounds=(-3, 3), use_normal_quantiles=False,
                    image_shape=(28, 28), path=None, title=None, value_range=(0, 1), batch_size=None):
    """Decode a grid of points of a 2-D latent space and tile the images where their z lies.

    decode: callable (M, 2) float32 -> (M, H, W), (M, 1, H, W), (M, 3, H, W) or flat (M, H*W).
    The grid is evenly spaced over `bounds` in each coordinate, or, with use_normal_quantiles,
    at the normal quantiles Phi^-1((i + 1/2) / grid_size) so that each cell holds an equal
    share of the prior's mass (Kingma & Welling 2013, Fig. 4). z[0] grows to the right, z[1] upward.
    """
    op = "latent_manifold"
    if not callable(decode):
        raise TypeError(f"{op}: decode must be a callable from (M, 2) z to images, got {type(decode).__name__}")
    if not isinstance(grid_size, (int, np.integer)) or grid_size < 2:
        raise ValueError(f"{op}: grid_size must be an integer >= 2, got {grid_size!r}")
    G = int(grid_size)
    if use_normal_quantiles:
        ticks = normal_quantiles((np.arange(G) + 0.5) / G)
    else:
        lo, hi = _check_range(bounds, op)
        ticks = np.linspace(lo, hi, G)
    zx, zy = np.meshgrid(ticks, ticks[::-1])                  # row 0 at the top = largest z[1]
    z = np.stack([zx.ravel(), zy.ravel()], axis=1).astype(np.float32)   # (G*G, 2), row by row
    step = batch_size or len(z)
    parts = [as_array(decode(z[i : i + step])) for i in range(0, len(z), step)]
    x = np.concatenate(parts)
    if x.shape[0] != G * G:
        raise ValueError(f"{op}: decode must return one image per z row ({G * G}), got shape {x.shape}")
    if x.ndim == 2:                                           # flat (M, H*W) -> (M, H, W)
        if x.shape[1] != int(np.prod(image_shape)):
            raise ValueError(f"{op}: decode returned flat images of size {x.shape[1]}, which do not "
                             f"fit image_shape {tuple(image_shape)}; pass the right image_shape")
        x = x.reshape((-1,) + tuple(image_shape))
    grid = make_grid(x, nrow=G, padding=0, value_range=value_range)
    H, W = grid.shape[0] // G, grid.shape[1] // G
    w, h = _image_inches(*grid.shape[:2])
    fig = _figure(w + 0.9, h + (0.9 if title else 0.6))
    ax = fig.add_subplot()
    _show(ax, grid)
    shown = np.unique(np.linspace(0, G - 1, 5).round().astype(int))
    label = lambda v: f"{np.round(v, 6) + 0.0:.2g}"          # + 0.0: no "-0" or "-7e-17" at the centre
    ax.set_xticks(shown * W + W / 2, labels=[label(ticks[i]) for i in shown])
    ax.set_yticks(shown * H + H / 2, labels=[label(ticks[::-1][i]) for i in shown])
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    if title:
        ax.set_title(title)
    return _done(fig, path)


def interpolate(z0, z1, steps, method="linear"):
    """Points on the way from z0 to z1, both ends included, along the last axis.

    z0, z1: (..., Z), same shape.   ->   (..., steps, Z), dtype of z0.   t = 0, 1/(steps-1), ..., 1.
    linear: (1 - t) z0 + t z1.
    slerp:  sin((1 - t) w) / sin(w) z0 + sin(t w) / sin(w) z1, w = angle between z0 and z1
            (White 2016, "Sampling generative networks"): keeps the norm that Gaussian samples
            have in high dimension instead of cutting through the low-density middle. Falls back
            to linear where z0 and z1 are (anti)parallel or zero, as sin(w) -> 0 there.
    """
    op = "interpolate"
    a, b = as_array(z0), as_array(z1)
    if a.shape != b.shape or a.ndim == 0:
        raise ValueError(f"{op}: z0 and z1 must have the same shape (..., Z), got {a.shape} and {b.shape}")
    if not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"{op}: steps must be an integer >= 2, got {steps!r}")
    if method not in ("linear", "slerp"):
        raise ValueError(f"{op}: method must be 'linear' or 'slerp', got {method!r}")
    dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64
    a64, b64 = a.astype(np.float64)[..., None, :], b.astype(np.float64)[..., None, :]   # (..., 1, Z)
    t = np.linspace(0.0, 1.0, steps)[:, None]                 # (steps, 1)
    out = (1 - t) * a64 + t * b64                             # (..., steps, Z)
    if method == "slerp":
        na, nb = np.linalg.norm(a64, axis=-1, keepdims=True), np.linalg.norm(b64, axis=-1, keepdims=True)
        cos = np.sum(a64 * b64, axis=-1, keepdims=True) / np.maximum(na * nb, 1e-300)
        w = np.arccos(np.clip(cos, -1.0, 1.0))                # (..., 1, 1)
        sin_w = np.sin(w)
        ok = sin_w > 1e-7
        safe = np.where(ok, sin_w, 1.0)
        slerp = (np.sin((1 - t) * w) * a64 + np.sin(t * w) * b64) / safe
        out = np.where(ok, slerp, out)
    return out.astype(dtype)


def interpolation_strip(images, path=None, title=None, row_labels=None, value_range=(0, 1)):
    """Rows of interpolated images, t from 0 (left) to 1 (right).

    images: one strip (S, H, W) / (S, C, H, W) with C in {1, 3}; several as (R, S, H, W),
    (R, S, C, H, W) or a list of strips. A 4-D array whose axis 1 has size 1 or 3 is read as one
    strip of (S, C, H, W) images; interpolate(...) then decode gives (R, S, ...) directly.
    """
    op = "interpolation_strip"
    if isinstance(images, (list, tuple)):
        rows = [as_array(r) for r in images]
    else:
        x = as_array(images)
        if x.ndim == 3 or (x.ndim == 4 and x.shape[1] in (1, 3)):
            rows = [x]
        elif x.ndim in (4, 5):
            rows = list(x)
        else:
            raise ValueError(f"{op}: images must be (S, H, W), (S, C, H, W), (R, S, H, W) or "
                             f"(R, S, C, H, W), got shape {x.shape}")
    S = rows[0].shape[0]
    if any(r.shape != rows[0].shape for r in rows):
        raise ValueError(f"{op}: every row must have the same shape, got {[r.shape for r in rows]}")
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"{op}: row_labels must have one entry per row ({len(rows)}), got {len(row_labels)}")
    grid = make_grid(np.concatenate(rows), nrow=S, value_range=value_range)
    H, W = rows[0].shape[-2:]
    w, h = _image_inches(*grid.shape[:2])
    fig = _figure(w + (1.3 if row_labels is not None else 0.3), h + (0.9 if title else 0.6))
    ax = fig.add_subplot()
    _show(ax, grid)
    shown = np.arange(S) if S <= 10 else np.unique(np.linspace(0, S - 1, 5).round().astype(int))
    ax.set_xticks(2 + shown * (W + 2) + W / 2,
                  labels=[f"t={i / (S - 1):.2g}" if S > 1 else "t=0" for i in shown])
    ax.tick_params(axis="x", length=0)
    if row_labels is not None:
        ax.set_yticks([2 + i * (H + 2) + H / 2 for i in range(len(rows))], labels=[str(r) for r in row_labels])
        ax.tick_params(axis="y", length=0)
    if title:
        ax.set_title(title)
    return _done(fig, path)
