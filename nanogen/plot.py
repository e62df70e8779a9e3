"""Pictures of what the models learned: image grids, reconstructions, latent spaces, manifolds,
interpolations, loss curves, 2-D GAN samples, ROC curves, filters, style transfer panels.

Every function takes NumPy arrays (a nanogen Tensor's `.data` works too), returns a matplotlib
Figure, and writes a PNG when given `path` (to a temporary name, then renamed, so an interrupted
run never leaves half a picture). Figures are made with matplotlib.figure.Figure on the Agg
canvas, never through pyplot: no global state, nothing to close, works with no display (CI,
servers). In a notebook, a returned Figure displays itself.

Images come as (N, H, W) or (N, 1, H, W) grayscale, or (N, 3, H, W) colour, values in [0, 1]
(clipped); pass value_range=(-1, 1) for tanh outputs of a GAN. The pure-NumPy helpers
(make_grid, interpolate, pca_2d, ema_smooth, read_metrics_csv) are tested exactly and useful on
their own. Read after models/ and metrics.py.
"""

import csv
import math
import os
import textwrap

import numpy as np
from matplotlib import rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .serialize import atomic_write

__all__ = [
    "save_figure",
    "make_grid",
    "image_grid",
    "reconstructions",
    "denoising_rows",
    "pca_2d",
    "latent_scatter",
    "side_by_side_latent",
    "normal_quantiles",
    "latent_manifold",
    "interpolate",
    "interpolation_strip",
    "read_metrics_csv",
    "ema_smooth",
    "loss_curves",
    "gan_diagnostics",
    "toy_points",
    "toy_progression",
    "roc_curve_plot",
    "filters",
    "style_panel",
]

DPI = 100                       # figure inches * DPI = PNG pixels
PX_PER_IMAGE_PIXEL = 3          # a 28 x 28 digit is drawn about 84 screen pixels wide
MIN_SIDE, MAX_SIDE = 3.0, 10.0  # inches: the image area of a figure is scaled into this range


# ----------------------------------------------------------------------------------------------
# figures and files

def _figure(width, height):
    """A new Figure on the Agg canvas (no pyplot), laid out by matplotlib's constrained layout.

    The size is rounded to whole pixels at DPI, so the PNG is exactly width * DPI by height * DPI.
    """
    width, height = round(width * DPI) / DPI, round(height * DPI) / DPI
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path):
    """Write `fig` to `path` atomically: render to a temporary file beside it, then os.replace.

    The format follows the extension (.png unless given otherwise); missing directories are made.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower() or ".png"
    with atomic_write(path) as f:
        fig.savefig(f, format=ext[1:], dpi=DPI)
    return path


def _done(fig, path):
    if path is not None:
        save_figure(fig, path)
    return fig


def _numpy(x):
    """An ndarray from an ndarray, a nanogen Tensor (its .data) or a nested list."""
    if isinstance(x, np.ndarray):
        return x
    data = getattr(x, "data", None)
    if isinstance(data, np.ndarray):
        return data
    return np.asarray(x)


def _image_inches(h_px, w_px):
    """Inches for an image area of h_px x w_px pixels: PX_PER_IMAGE_PIXEL screen pixels per image
    pixel, then scaled (keeping the aspect) so the longer side lies in [MIN_SIDE, MAX_SIDE]."""
    w, h = w_px * PX_PER_IMAGE_PIXEL / DPI, h_px * PX_PER_IMAGE_PIXEL / DPI
    longer = max(w, h)
    scale = min(max(longer, MIN_SIDE), MAX_SIDE) / longer
    w, h = w * scale, h * scale
    return max(w, 0.6), max(h, 0.6)                  # a 1-row strip stays tall enough to see


# ----------------------------------------------------------------------------------------------
# images: (N, H, W) / (N, 1, H, W) / (N, 3, H, W) -> a grid

def _check_range(value_range, op):
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: value_range must be a pair (low, high), got {value_range!r}") from None
    if not hi > lo:
        raise ValueError(f"{op}: value_range must have high > low, got {value_range!r}")
    return lo, hi


def _display_images(images, value_range, op):
    """Images scaled to [0, 1] and laid out for imshow.

    (N, H, W) or (N, 1, H, W) -> (N, H, W);   (N, 3, H, W) -> (N, H, W, 3).
    Floating input keeps its dtype; integer input (e.g. uint8 with value_range=(0, 255)) becomes float32.
    """
    x = _numpy(images)
    if x.ndim == 4 and x.shape[1] in (1, 3):
        x = x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1)   # (N, C, H, W) -> (N, H, W[, 3])
    elif x.ndim != 3:
        hint = ""
        if x.ndim == 2:
            side = int(round(math.sqrt(x.shape[1])))
            hint = (f"; flat images? reshape with x.reshape(-1, 1, {side}, {side})"
                    if side * side == x.shape[1] else "; reshape flat images to (N, 1, H, W)")
        raise ValueError(f"{op}: images must be (N, H, W), (N, 1, H, W) or (N, 3, H, W), "
                         f"got shape {x.shape}{hint}")
    if x.shape[0] == 0:
        raise ValueError(f"{op}: got no images (N = 0)")
    dt = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)
    lo, hi = _check_range(value_range, op)
    x = x.astype(dt, copy=False)
    if (lo, hi) != (0.0, 1.0):
        x = (x - dt.type(lo)) / dt.type(hi - lo)              # scalars of x's dtype: no promotion
    return np.clip(x, 0, 1)


def make_grid(images, nrow=None, padding=2, pad_value=1.0, value_range=(0, 1)):
    """Tile images into one array, row by row, `padding` pixels of `pad_value` around each.

    images: (N, H, W), (N, 1, H, W) or (N, 3, H, W).   nrow: images per row (torchvision's name),
    default ceil(sqrt(N)). With C = min(nrow, N) columns and R = ceil(N / C) rows:
        -> (R (H + padding) + padding, C (W + padding) + padding)        grayscale
        -> (R (H + padding) + padding, C (W + padding) + padding, 3)     colour
    Image k sits at row k // C, column k % C; unused cells keep pad_value. Values are mapped from
    value_range to [0, 1] and clipped.
    """
    x = _display_images(images, value_range, "make_grid")
    N, H, W = x.shape[:3]
    if nrow is None:
        nrow = math.ceil(math.sqrt(N))
    if not isinstance(nrow, (int, np.integer)) or nrow < 1:
        raise ValueError(f"make_grid: nrow must be a positive integer, got {nrow!r}")
    if not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"make_grid: padding must be a non-negative integer, got {padding!r}")
    C = min(int(nrow), N)
    R = math.ceil(N / C)
    p = int(padding)
    grid = np.full((R * (H + p) + p, C * (W + p) + p) + x.shape[3:], pad_value, dtype=x.dtype)
    for k in range(N):
        i, j = divmod(k, C)
        top, left = p + i * (H + p), p + j * (W + p)
        grid[top : top + H, left : left + W] = x[k]
    return grid


def _show(ax, grid):
    """imshow a grid from make_grid: gray colour map on [0, 1], square pixels, no ticks."""
    if grid.ndim == 2:
        ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def image_grid(images, nrow=None, path=None, title=None, labels=None, value_range=(0, 1), padding=2):
    """A grid of images (samples, a batch of data), optionally a small label in each cell.

    images: (N, H, W), (N, 1, H, W) or (N, 3, H, W);  labels: N strings or numbers, or None.
    """
    grid = make_grid(images, nrow=nrow, padding=padding, value_range=value_range)
    x = _numpy(images)
    N = x.shape[0]
    H, W = x.shape[-2:]
    C = min(nrow or math.ceil(math.sqrt(N)), N)
    if labels is not None and len(labels) != N:
        raise ValueError(f"image_grid: labels must have one entry per image ({N}), got {len(labels)}")
    w, h = _image_inches(*grid.shape[:2])
    if title:   # wrapped to the figure's width: a long title on a narrow grid would be cut off
        chars = (w + 0.1) * 72 / (0.6 * 1.2 * rcParams["font.size"])   # inches -> points / ~width of a "large" char
        title = "\n".join(textwrap.wrap(title, width=max(20, int(chars)), break_on_hyphens=False))
    fig = _figure(w + 0.2, h + (0.3 + 0.25 * (title.count("\n") + 1) if title else 0.2))
    ax = fig.add_subplot()
    _show(ax, grid)
    if labels is not None:
        cell_points = h * 72 / math.ceil(N / C)                # height of one cell in points
        size = float(np.clip(cell_points * 0.22, 5, 11))
        for k, lab in enumerate(labels):
            i, j = divmod(k, C)
            ax.text(padding + j * (W + padding) + 0.5, padding + i * (H + padding) + 0.5, str(lab),
                    color="white", fontsize=size, va="top", ha="left",
                    bbox=dict(facecolor="black", alpha=0.55, pad=0.8, linewidth=0))
    if title:
        ax.set_title(title)
    return _done(fig, path)


def _rows_figure(rows, names, n, path, title, value_range, op):
    """Several equally long rows of images, one name per row on the left."""
    shown = []
    for name, r in zip(names, rows):
        r = _numpy(r)
        if r.ndim < 3:
            raise ValueError(f"{op}: {name} must be (N, H, W), (N, 1, H, W) or (N, 3, H, W), "
                             f"got shape {r.shape}")
        shown.append(r[:n])
    k = min(len(r) for r in shown)
    if any(r.shape[1:] != shown[0].shape[1:] for r in shown):
        raise ValueError(f"{op}: {', '.join(names)} must have the same image shape, got "
                         + ", ".join(str(r.shape[1:]) for r in shown))
    x = np.concatenate([r[:k] for r in shown])                # (rows * k, ...) row by row
    grid = make_grid(x, nrow=k, value_range=value_range)
    H = x.shape[-2]
    w, h = _image_inches(*grid.shape[:2])
    fig = _figure(w + 1.3, h + (0.6 if title else 0.3))
    ax = fig.add_subplot()
    _show(ax, grid)
    ax.set_yticks([2 + i * (H + 2) + H / 2 for i in range(len(rows))], labels=list(names))
    ax.tick_params(axis="y", length=0)
    if title:
        ax.set_title(title)
    return _done(fig, path)


def reconstructions(originals, recons, path=None, n=10, title=None, value_range=(0, 1)):
    """First n originals in the top row, their reconstructions in the row below."""
    return _rows_figure([originals, recons], ["original", "reconstruction"], n, path, title,
                        value_range, "reconstructions")


def denoising_rows(noisy, recon, clean, path=None, n=10, title=None, value_range=(0, 1)):
    """Three rows for a denoising autoencoder: the noisy input, the model's output, the clean image."""
    return _rows_figure([noisy, recon, clean], ["noisy input", "denoised", "clean"], n, path, title,
                        value_range, "denoising_rows")


# ----------------------------------------------------------------------------------------------
# latent spaces

def pca_2d(z):
    """Project points onto their two principal axes.   z: (N, Z), Z >= 2 -> ((N, 2), explained (2,))

    Centre, then z_c = U S V^T (thin SVD); the coordinates are z_c V[:, :2] and the fraction of the
    variance each axis explains is S_i^2 / sum S^2. Each axis's sign is fixed so its largest
    loading is positive, so the picture does not flip between runs.
    """
    z = _numpy(z).astype(np.float64)
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
    z = _numpy(z)
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
        lab = _numpy(labels)
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
    parts = [_numpy(decode(z[i : i + step])) for i in range(0, len(z), step)]
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
    a, b = _numpy(z0), _numpy(z1)
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
        rows = [_numpy(r) for r in images]
    else:
        x = _numpy(images)
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


# ----------------------------------------------------------------------------------------------
# training curves

INDEX_COLUMNS = ("step", "epoch", "iter", "iteration", "batch")


def read_metrics_csv(path):
    """Read a metrics.csv written by the training loop: a header row, then one row per log line.

    -> dict column -> float64 (rows,) array when every filled cell is a number (empty cells become
    NaN: metrics logged once an epoch leave gaps in per-step rows), else a list of strings.
    """
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise ValueError(f"read_metrics_csv: {path} is empty; expected a header row like epoch,step,loss")
        rows = [r for r in reader if r]
    out = {}
    for j, name in enumerate(header):
        cells = [r[j].strip() if j < len(r) else "" for r in rows]
        try:
            out[name] = np.array([float(c) if c else np.nan for c in cells], dtype=np.float64)
        except ValueError:
            out[name] = cells
    return out


def _metrics_table(metrics, op):
    """A path to metrics.csv or a dict of lists -> dict of float64 arrays (numeric columns only)."""
    if isinstance(metrics, (str, os.PathLike)):
        metrics = read_metrics_csv(metrics)
    if not isinstance(metrics, dict):
        raise TypeError(f"{op}: metrics must be a path to metrics.csv or a dict of lists, "
                        f"got {type(metrics).__name__}")
    table = {}
    for k, v in metrics.items():
        cells = v if isinstance(v, np.ndarray) else [np.nan if e is None or e == "" else e for e in v]
        try:
            a = np.asarray(cells, dtype=np.float64)
        except (TypeError, ValueError):
            continue                                          # a text column (e.g. a phase name)
        if a.ndim == 1 and a.size and not np.all(np.isnan(a)):
            table[str(k)] = a
    if not table:
        raise ValueError(f"{op}: found no numeric columns in metrics (got columns {list(metrics)})")
    return table


def ema_smooth(y, weight):
    """Exponential moving average with bias correction (as TensorBoard's smoothing slider).

        s_t = weight s_(t-1) + (1 - weight) y_t,   shown as s_t / (1 - weight^n_t)
    with n_t the number of values seen so far: without the correction, the curve would start
    near 0. NaN entries are skipped (and stay NaN). weight = 0 returns y unchanged.
    """
    y = np.asarray(y, dtype=np.float64)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"ema_smooth: weight must be in [0, 1), got {weight!r}")
    out = np.full_like(y, np.nan)
    s, n = 0.0, 0
    for i, v in enumerate(y):
        if np.isnan(v):
            continue
        s, n = weight * s + (1 - weight) * v, n + 1
        out[i] = s / (1 - weight**n)
    return out


def _x_axis(table, x, op):
    if x is None:
        x = next((c for c in ("step", "epoch") if c in table), None)
    if x is None:
        n = max(len(v) for v in table.values())
        return np.arange(n, dtype=np.float64), "row"
    if x not in table:
        raise ValueError(f"{op}: x column {x!r} not in metrics columns {list(table)}")
    return table[x], x


def _plot_series(ax, xs, y, label, smoothing, colour):
    m = ~np.isnan(y)
    if smoothing > 0:
        ax.plot(xs[m], y[m], color=colour, alpha=0.25, linewidth=1)
        ax.plot(xs[m], ema_smooth(y[m], smoothing), color=colour, linewidth=1.6, label=label)
    else:
        ax.plot(xs[m], y[m], color=colour, linewidth=1.4, label=label,
                marker="o" if m.sum() <= 30 else None, markersize=3)


def loss_curves(metrics, keys=None, path=None, x=None, smoothing=0.0, logy=False, title=None):
    """One panel per logged number (loss, recon, kl, accuracy, ...) against step (or epoch).

    metrics: path to metrics.csv or a dict of equally long lists.  keys: the columns to draw,
    default every numeric column except the step/epoch counters.  smoothing: EMA weight in [0, 1)
    (the raw curve stays in the background).  x: column for the horizontal axis, default "step",
    else "epoch", else the row number.  A held-out column test_<key> (one value per epoch, see
    nanogen/train.py) is drawn as points in <key>'s panel, so training and held-out numbers meet.
    """
    op = "loss_curves"
    table = _metrics_table(metrics, op)
    xs, xname = _x_axis(table, x, op)
    if keys is None:
        keys = [k for k in table if k not in INDEX_COLUMNS and k != xname
                and not (k.startswith("test_") and k[5:] in table)]
    missing = [k for k in keys if k not in table]
    if missing or not keys:
        raise ValueError(f"{op}: keys {missing or keys} not among the numeric columns {list(table)}")
    for k in keys:
        if len(table[k]) != len(xs):
            raise ValueError(f"{op}: column {k!r} has {len(table[k])} values but {xname!r} has {len(xs)}")
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = _figure(4.2 * ncols, 3.0 * nrows + (0.4 if title else 0))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, k in enumerate(keys):
        ax = axes[i]
        _plot_series(ax, xs, table[k], k, smoothing, f"C{i % 10}")
        held = table.get("test_" + k)
        if held is not None and len(held) == len(xs):
            m = ~np.isnan(held)
            ax.plot(xs[m], held[m], "o-", color="black", markersize=4, linewidth=1, label="held out")
            ax.legend(loc="best", fontsize="small")
        ax.set_title(k)
        ax.set_xlabel(xname)
        ax.grid(alpha=0.3)
        if logy and np.nanmin(table[k]) > 0:
            ax.set_yscale("log")
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return _done(fig, path)


def _is_d_output(k):
    k = k.lower()
    return (k.startswith(("d_", "d(")) or "real_score" in k or "fake_score" in k) \
        and "loss" not in k and "grad" not in k


GAN_PANELS = (
    ("losses", lambda k: "loss" in k.lower()),
    ("discriminator outputs", _is_d_output),
    ("gradient norms", lambda k: "grad" in k.lower()),
)


def gan_diagnostics(metrics, path=None, x=None, smoothing=0.0, title=None):
    """The health of a GAN run in three panels, each drawn when metrics has matching columns:

    losses (columns containing "loss": loss_d, loss_g), discriminator outputs (columns starting
    with "d_" or "D(": d_real = mean D(x), d_fake = mean D(G(z)); a dashed line at 0.5, where the
    two meet at equilibrium), gradient norms (columns containing "grad", log scale).
    Reading it: d_real -> 1 and d_fake -> 0 with loss_g rising means D has won and G's gradient
    vanished; loss_d near log 4 = 1.386 with both outputs near 0.5 is the balanced case.
    """
    op = "gan_diagnostics"
    table = _metrics_table(metrics, op)
    xs, xname = _x_axis(table, x, op)
    panels = []
    for name, match in GAN_PANELS:
        keys = [k for k in table if k not in INDEX_COLUMNS and k != xname and match(k)]
        if keys:
            panels.append((name, keys))
    if not panels:
        raise ValueError(f"{op}: no loss (*loss*), discriminator output (d_*) or gradient norm "
                         f"(*grad*) columns in metrics; got columns {list(table)}")
    fig = _figure(4.4 * len(panels), 3.4 + (0.4 if title else 0))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, keys) in zip(axes, panels):
        for i, k in enumerate(keys):
            if len(table[k]) != len(xs):
                raise ValueError(f"{op}: column {k!r} has {len(table[k])} values but {xname!r} has {len(xs)}")
            _plot_series(ax, xs, table[k], k, smoothing, f"C{i % 10}")
        if name == "discriminator outputs":
            ax.axhline(0.5, color="gray", linestyle="--", linewidth=1)
            ax.set_ylim(-0.02, 1.02)
        if name == "gradient norms" and all(np.nanmin(table[k]) > 0 for k in keys):
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel(xname)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _done(fig, path)


# ----------------------------------------------------------------------------------------------
# 2-D toy GANs: where do the samples land relative to the modes?

def _points(p, name, op):
    p = _numpy(p)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"{op}: {name} must be (N, 2) points, got shape {p.shape}")
    return p


def _limits(point_sets):
    """Square-ish axis limits around the given (N, 2) sets, with a 15% margin (1st-99th percentile
    of samples, so a few far-flung points do not shrink the picture)."""
    allp = np.concatenate(point_sets)
    lo, hi = np.percentile(allp, 1, axis=0), np.percentile(allp, 99, axis=0)
    if len(allp) <= 50:
        lo, hi = allp.min(axis=0), allp.max(axis=0)
    centre, half = (lo + hi) / 2, np.max(hi - lo) / 2 * 1.15 + 1e-3
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


def toy_points(points, centres=None, path=None, ax=None, title=None, real=None, limits=None):
    """Generated 2-D points (blue), the true modes' centres (red crosses), real samples (grey).

    points: (N, 2);  centres: (K, 2) or None;  real: (M, 2) or None;  limits: ((x0, x1), (y0, y1)).
    A collapsed generator shows as all blue points on one or two of the crosses.
    """
    op = "toy_points"
    p = _points(points, "points", op)
    c = None if centres is None else _points(centres, "centres", op)
    r = None if real is None else _points(real, "real", op)
    if ax is None:
        fig = _figure(4.6, 4.6)
        ax = fig.add_subplot()
    fig = ax.figure
    if r is not None:
        ax.scatter(r[:, 0], r[:, 1], s=4, color="0.75", linewidths=0, label="real", rasterized=True)
    ax.scatter(p[:, 0], p[:, 1], s=5, color="C0", alpha=0.6, linewidths=0, label="generated",
               rasterized=True)
    if c is not None:
        ax.scatter(c[:, 0], c[:, 1], s=70, marker="x", color="C3", linewidths=2, label="mode centres")
    if limits is None:
        anchors = [a for a in (c, r) if a is not None]
        limits = _limits(anchors if anchors else [p])
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return _done(fig, path)


def toy_progression(list_of_points, steps, centres=None, path=None, real=None, title=None):
    """Generated points at several training steps, side by side on the same axes limits."""
    op = "toy_progression"
    sets = [_points(p, "each entry of list_of_points", op) for p in list_of_points]
    if not sets:
        raise ValueError(f"{op}: list_of_points is empty")
    if len(steps) != len(sets):
        raise ValueError(f"{op}: steps must have one entry per panel ({len(sets)}), got {len(steps)}")
    c = None if centres is None else _points(centres, "centres", op)
    r = None if real is None else _points(real, "real", op)
    anchors = [a for a in (c, r) if a is not None]
    limits = _limits(anchors if anchors else sets)
    n = len(sets)
    fig = _figure(3.3 * n, 3.6 + (0.4 if title else 0))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, p, s in zip(axes, sets, steps):
        toy_points(p, c, ax=ax, title=f"step {s}", real=r, limits=limits)
    if title:
        fig.suptitle(title)
    return _done(fig, path)


# ----------------------------------------------------------------------------------------------
# other pictures: ROC, filters, style transfer

def roc_curve_plot(fpr, tpr, auroc=None, path=None, title=None, label=None, ax=None):
    """An ROC curve (from metrics.roc_curve) with the chance diagonal; AUROC in the legend."""
    f, t = _numpy(fpr), _numpy(tpr)
    if f.ndim != 1 or f.shape != t.shape or f.size < 2:
        raise ValueError(f"roc_curve_plot: fpr and tpr must be (T,) arrays of the same length >= 2, "
                         f"got shapes {f.shape} and {t.shape}")
    if ax is None:
        fig = _figure(4.8, 4.6)
        ax = fig.add_subplot()
    fig = ax.figure
    name = label or "model"
    if auroc is not None:
        name = f"{name} (AUROC {auroc:.3f})"
    ax.plot(f, t, color="C0", linewidth=2, label=name, drawstyle="default")
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    return _done(fig, path)


def filters(weights, path=None, nrow=None, image_shape=None, title=None):
    """Learned first-layer filters, each scaled to [0, 1] on its own (min -> black, max -> white).

    weights: (O, D) of a Linear layer on flat images (D = H*W; a square D needs no image_shape),
    or (O, 1, KH, KW) / (O, 3, KH, KW) of a Conv2d layer. Per-filter scaling shows each filter's
    pattern; it hides their relative strengths. A constant filter is drawn mid-grey.
    """
    op = "filters"
    w = _numpy(weights).astype(np.float64)
    if w.ndim == 2:
        O, D = w.shape
        if image_shape is None:
            side = int(round(math.sqrt(D)))
            if side * side != D:
                raise ValueError(f"{op}: Linear weights (O, {D}): {D} is not a square; pass image_shape=(H, W)")
            image_shape = (side, side)
        if int(np.prod(image_shape)) != D:
            raise ValueError(f"{op}: image_shape {tuple(image_shape)} does not hold D = {D} inputs")
        w = w.reshape((O, 1) + tuple(image_shape))            # (O, D) -> (O, 1, H, W)
    elif w.ndim != 4 or w.shape[1] not in (1, 3):
        raise ValueError(f"{op}: weights must be (O, D) from Linear or (O, 1|3, KH, KW) from Conv2d, "
                         f"got shape {w.shape}; for more input channels show one, e.g. weights[:, :1]")
    flat = w.reshape(w.shape[0], -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    span = hi - lo
    scaled = np.where(span[:, None] > 0, (flat - lo[:, None]) / np.where(span > 0, span, 1)[:, None], 0.5)
    grid = make_grid(scaled.reshape(w.shape), nrow=nrow, padding=1)
    wi, hi_in = _image_inches(*grid.shape[:2])
    fig = _figure(wi + 0.2, hi_in + (0.5 if title else 0.2))
    ax = fig.add_subplot()
    _show(ax, grid)
    if title:
        ax.set_title(title)
    return _done(fig, path)


def _one_image(x, name, value_range, op):
    """A single image, (H, W), (C, H, W), (1, C, H, W) or (H, W, 3) -> (H, W) or (H, W, 3) in [0, 1]."""
    a = _numpy(x)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[0] not in (1, 3) and a.shape[-1] == 3:
        a = a.transpose(2, 0, 1)                              # (H, W, 3) -> (3, H, W)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ValueError(f"{op}: {name} must be one image (H, W), (C, H, W) or (1, C, H, W) with C in "
                         f"{{1, 3}}, got shape {_numpy(x).shape}")
    return _display_images(a[None], value_range, op)[0]


def style_panel(content, style, result, path=None, titles=("content", "style", "result"),
                value_range=(0, 1)):
    """Neural style transfer at a glance: content image, style image, and the result, side by side."""
    op = "style_panel"
    imgs = [_one_image(x, n, value_range, op) for x, n in zip((content, style, result), titles)]
    widths = [im.shape[1] / im.shape[0] for im in imgs]       # aspect of each panel
    fig = _figure(3.2 * sum(widths) + 0.4, 3.7)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": widths})
    for ax, im, t in zip(axes, imgs, titles):
        _show(ax, im)
        ax.set_title(t)
    return _done(fig, path)
