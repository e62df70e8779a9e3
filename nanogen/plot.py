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

One file per figure family; this file is their index, so `from nanogen import plot;
plot.image_grid(...)` reaches every figure (model-specific figures live in models/*_recipes.py):
    plot_images.py   image grids, reconstruction rows, filters, style panels; saving a Figure
    plot_latent.py   latent scatters (PCA), 2-D manifolds, interpolations
    plot_curves.py   metrics.csv, loss curves, GAN diagnostics, ROC curves
    plot_points.py   2-D toy GAN samples against their modes
"""

# isort: skip_file
from .plot_images import DPI, save_figure, make_grid, image_grid, reconstructions, denoising_rows, filters, style_panel
from .plot_latent import (pca_2d, latent_scatter, side_by_side_latent, normal_quantiles, latent_manifold, interpolate,
                          interpolation_strip)
from .plot_curves import INDEX_COLUMNS, read_metrics_csv, ema_smooth, loss_curves, gan_diagnostics, roc_curve_plot
from .plot_points import toy_points, toy_progression

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
