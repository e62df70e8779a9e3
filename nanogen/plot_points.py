"""Point figures for the 2-D toy GANs: where the samples land relative to the modes, step by step.

Read plot.py and plot_images.py first; models/gan_toy.py and demos/mode_collapse.py use these.
"""

import numpy as np

from .plot_images import _done, _figure
from .tensor import as_array


# ----------------------------------------------------------------------------------------------
# 2-D toy GANs: where do the samples land relative to the modes?

def _points(p, name, op):
    p = as_array(p)
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
