"""Image figures: grids of digits, rows of originals against reconstructions, learned filters,
style-transfer panels; and what every figure shares (the Agg canvas, sizes, saving).

Read plot.py first (the index of the figure families). Images come as (N, H, W) or (N, 1, H, W)
grayscale, or (N, 3, H, W) colour, values in [0, 1] (clipped); pass value_range=(-1, 1) for tanh
outputs of a GAN. make_grid is pure NumPy and tested exactly.
"""

import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .serialize import atomic_write
from .tensor import as_array


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
    x = as_array(images)
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
    x = as_array(images)
    N = x.shape[0]
    H, W = x.shape[-2:]
    C = min(nrow or math.ceil(math.sqrt(N)), N)
    if labels is not None and len(labels) != N:
        raise ValueError(f"image_grid: labels must have one entry per image ({N}), got {len(labels)}")
    w, h = _image_inches(*grid.shape[:2])
    fig = _figure(w + 0.2, h + (0.5 if title else 0.2))
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
        r = as_array(r)
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


def filters(weights, path=None, nrow=None, image_shape=None, title=None):
    """Learned first-layer filters, each scaled to [0, 1] on its own (min -> black, max -> white).

    weights: (O, D) of a Linear layer on flat images (D = H*W; a square D needs no image_shape),
    or (O, 1, KH, KW) / (O, 3, KH, KW) of a Conv2d layer. Per-filter scaling shows each filter's
    pattern; it hides their relative strengths. A constant filter is drawn mid-grey.
    """
    op = "filters"
    w = as_array(weights).astype(np.float64)
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
    a = as_array(x)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[0] not in (1, 3) and a.shape[-1] == 3:
        a = a.transpose(2, 0, 1)                              # (H, W, 3) -> (3, H, W)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ValueError(f"{op}: {name} must be one image (H, W), (C, H, W) or (1, C, H, W) with C in "
                         f"{{1, 3}}, got shape {as_array(x).shape}")
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
