"""`nanogen train stylegan`: the style-based generator of stylegan.py as a Recipe, and its figures.

Read stylegan.py first: this file only wires it into gan_recipes.GANRecipe (two Adam optimizers, the
fixed noise batch, progression and diagnostics figures, `nanogen eval` with the classifier) and
draws what is particular to styles. Flags beyond the GAN ones (`nanogen train stylegan --help`):
    --w-dim W, --mapping-layers L, --mapping-lr-mul M    the mapping network f: z -> w
    --channels C7 C14 C28       synthesis channels per resolution
    --mixing-prob P             share of batches trained with two styles (0 turns mixing off)
    --no-spectral-norm          DCGAN's discriminator with batch norm instead of the spectrally normalised one
    --truncation PSI            psi of the truncation trick for `nanogen sample` and `nanogen eval` (default 1)
Figures, at the end of every epoch, besides gan.py's:
    style_mixing.png        coarse styles (7x7 layers) from the row sources, the rest from the column
                            sources; and with the crossover after the 14x14 layers
    noise.png               one w, eight draws of the noise, and the per-pixel standard deviation
    truncation.png          the same z at psi = 0, 0.25, 0.5, 0.75, 1
`stylegan_figures(recipe, run_dir)` draws them for any loaded run (demos/stylegan.py uses it).
"""

import argparse
import os

import numpy as np

from . import register
from . import stylegan as sg
from .gan_recipes import GANRecipe

PSIS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--truncation must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"--truncation must be in [0, 1], got {v}")
    return v


@register
class StyleGANRecipe(GANRecipe):
    """stylegan: StyleGenerator (stylegan.py) against dcgan's discriminator, spectrally normalised."""

    name = "stylegan"
    help = "style-based generator: mapping network, AdaIN styles, noise inputs, style mixing (Karras et al. 2019)"
    defaults = {**GANRecipe.defaults, "epochs": 5}
    config_class = sg.StyleGANConfig
    flags = GANRecipe.flags + ("base_channels", "w_dim", "mapping_layers", "mapping_lr_mul", "channels", "mixing_prob")

    @classmethod
    def add_arguments(cls, parser):
        super().add_arguments(parser)
        parser.add_argument("--truncation", type=_fraction, default=1.0, metavar="PSI",
                            help="truncation psi for `nanogen sample` and `nanogen eval` (default %(default)s: none)")

    def build(self, cfg, rng):
        return sg.build_generator(cfg, rng), sg.build_discriminator(cfg, rng)

    def train_step(self, batch, rng):
        x = batch[0]
        return sg.train_step(self.G, self.D, self.optimizers["generator"], self.optimizers["discriminator"],
                             x, rng, self.cfg)

    def sample(self, n, rng, labels=None):
        """n images (n, 1, 28, 28) in [0, 1], fresh noise, truncated with the run's psi."""
        psi = float(self.config.get("truncation") or 1.0)
        out = []
        for i in range(0, n, 500):                                    # bounded memory for n = 10,000
            m = min(500, n - i)
            z = rng.standard_normal((m, self.cfg.latent_dim))
            w = sg.mapped(self.G, z, psi)
            out.append(sg.synthesize(self.G, [w] * self.G.n_styles, self.G.draw_noise(m, rng)))
        return np.concatenate(out)

    def on_epoch_end(self, run_dir, epoch, data):
        super().on_epoch_end(run_dir, epoch, data)
        stylegan_figures(self, run_dir, tag=f"{self.name}, epoch {epoch}")


# ---------------------------------------------------------------------------- figures


def _mixing_panel(fig, spec, rows, cols, cells, title):
    """One style-mixing grid into a subplot: the column sources on top, the row sources on the left."""
    from .. import plot_images as plot

    R, K = len(rows), len(cols)
    blank = np.ones_like(rows[:1])
    top = np.concatenate([blank, cols])
    body = [np.concatenate([rows[i : i + 1], cells[i * K : (i + 1) * K]]) for i in range(R)]
    grid = plot.make_grid(np.concatenate([top, *body]), nrow=K + 1)
    ax = fig.add_subplot(spec)
    plot._show(ax, grid)
    ax.axhline(31.0, color="tab:red", lw=1.0)
    ax.axvline(31.0, color="tab:red", lw=1.0)
    ax.set_title(title, fontsize=9)


def style_mixing_figure(G, rng, path=None, n_rows=5, n_cols=6, crossovers=(2, 4), title=None):
    """The style-mixing grids (Karras et al. 2019, Fig. 3), one panel per crossover layer."""
    from .. import plot_images as plot

    z_rows = rng.standard_normal((n_rows, G.latent_dim))
    z_cols = rng.standard_normal((n_cols, G.latent_dim))
    names = {2: "7x7", 4: "7x7 and 14x14"}
    fig = plot._figure(4.2 * len(crossovers), 4.0 + (0.3 if title else 0))
    gs = fig.add_gridspec(1, len(crossovers))
    for k, crossover in enumerate(crossovers):
        rows, cols, cells = sg.style_mixing_grid(G, z_rows, z_cols, crossover)
        coarse = names.get(crossover, f"layers < {crossover}")
        _mixing_panel(fig, gs[0, k], rows, cols, cells, f"{coarse} styles from the rows,\nthe rest from the columns")
    if title:
        fig.suptitle(title, fontsize=10)
    return plot._done(fig, path)


def noise_figure(G, rng, path=None, n_sources=3, n_draws=8, title=None):
    """Stochastic variation (Fig. 4): per source, n_draws images of one w with fresh noise, and the
    per-pixel standard deviation over 100 draws (bright where the noise changes the image)."""
    from .. import plot_images as plot

    fig = plot._figure(1.0 * (n_draws + 1) + 0.6, 1.05 * n_sources + (0.4 if title else 0.1))
    gs = fig.add_gridspec(n_sources, 2, width_ratios=[n_draws, 1.25])
    for i in range(n_sources):
        z = rng.standard_normal((1, G.latent_dim))
        images, _ = sg.stochastic_variation(G, z, n_draws, rng)
        _, std = sg.stochastic_variation(G, z, 100, rng)
        ax = fig.add_subplot(gs[i, 0])
        plot._show(ax, plot.make_grid(images, nrow=n_draws))
        ax = fig.add_subplot(gs[i, 1])
        im = ax.imshow(std, cmap="magma", vmin=0.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.08, pad=0.02).ax.tick_params(labelsize=6)
        if i == 0:
            ax.set_title("std", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return plot._done(fig, path)


def truncation_figure(G, rng, path=None, n_rows=6, psis=PSIS, title=None):
    """The truncation trick: each row one z, each column one psi (0 = the average w)."""
    from .. import plot_images as plot

    z = rng.standard_normal((n_rows, G.latent_dim))
    images = sg.truncation_sweep(G, z, psis)
    labels = [f"psi {p:g}" if r == 0 else "" for r in range(n_rows) for p in psis]
    return plot.image_grid(images, nrow=len(psis), labels=labels, path=path, title=title)


def stylegan_figures(recipe, run_dir, tag="stylegan", seed=0):
    """style_mixing.png, noise.png and truncation.png of a recipe's generator into run_dir."""
    G = recipe.G
    path = lambda name: os.path.join(run_dir, f"{name}.png")   # noqa: E731
    style_mixing_figure(G, np.random.default_rng([seed, 1]), path=path("style_mixing"),
                        title=f"{tag}: style mixing")
    noise_figure(G, np.random.default_rng([seed, 2]), path=path("noise"),
                 title=f"{tag}: one w, fresh noise; per-pixel std over 100 draws")
    truncation_figure(G, np.random.default_rng([seed, 3]), path=path("truncation"),
                      title=f"{tag}: truncation psi")
