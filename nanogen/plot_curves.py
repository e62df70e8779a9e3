"""Curve figures: the training loop's metrics.csv as loss curves, the discriminator-vs-generator
diagnostics of a GAN, and ROC curves.

Read plot.py and plot_images.py first. read_metrics_csv and ema_smooth are pure NumPy and tested
exactly.
"""

import csv
import math
import os

import numpy as np

from .plot_images import _done, _figure
from .tensor import as_array


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
    else "epoch", else the row number.
    """
    op = "loss_curves"
    table = _metrics_table(metrics, op)
    xs, xname = _x_axis(table, x, op)
    if keys is None:
        keys = [k for k in table if k not in INDEX_COLUMNS and k != xname]
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
# ROC curves

def roc_curve_plot(fpr, tpr, auroc=None, path=None, title=None, label=None, ax=None):
    """An ROC curve (from metrics.roc_curve) with the chance diagonal; AUROC in the legend."""
    f, t = as_array(fpr), as_array(tpr)
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
