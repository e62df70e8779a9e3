"""`nanogen train wgan-gp`: wgan.py's critic and gradient penalty as a Recipe.

Read wgan.py first: this file wires it into the training loop (nanogen/train.py), draws its
pictures and evaluates it the way gan_recipes.py's GANs are evaluated (gan_eval.py: FCD,
inception score, class coverage with nanogen's classifier). Flags: the WGANConfig settings in
`flags` (--gp-weight, --n-critic, --critic-norm layer|none, --beta1, --beta2, ...), and GANRecipe's
--n-eval and --classifier.
Figures each epoch, beside gan.py's sample grids: critic.png, the Wasserstein estimate
E f(x) - E f(G(z)) and the mean gradient norm |grad f(x_hat)| at the interpolates (target 1).
"""

import dataclasses
import os

import numpy as np

from ..optim import Adam
from ..tensor import Tensor
from ..train import Recipe
from . import register
from .gan_recipes import GANRecipe
from .wgan import WGANConfig, build, train_step


@register
class WGANGP(GANRecipe):
    """`nanogen train wgan-gp` (Gulrajani et al. 2017): samples, evaluation and checkpoints as the
    other GAN recipes (the generator is dcgan's); the critic and its penalty from wgan.py.
    Measured against dcgan at equal wall-clock time: README, "The models"."""

    name = "wgan-gp"
    help = "Wasserstein GAN with gradient penalty: a batch-norm-free critic, lambda 10, 5 critic steps (Gulrajani et al. 2017)"
    defaults = {"epochs": 5, "batch_size": 64, "lr": 1e-4}
    config_class = WGANConfig
    flags = ("latent_dim", "base_channels", "critic_norm", "gp_weight", "n_critic", "beta1", "beta2")

    def model_config(self, config):
        cfg = Recipe.model_config(self, config)   # not GANRecipe's: no lr_g, lr_d here
        return dataclasses.replace(cfg, lr=config.get("lr") or self.defaults["lr"])

    def __init__(self, config, rng):
        self.config = dict(config)
        self.cfg = self.model_config(config)
        self.G, self.D = build(self.cfg, rng)
        self.modules = {"generator": self.G, "critic": self.D}
        self.optimizers = {"generator": Adam(self.G.parameters(), lr=self.cfg.lr, betas=self.cfg.betas),
                           "critic": Adam(self.D.parameters(), lr=self.cfg.lr, betas=self.cfg.betas)}
        fixed = np.random.default_rng([config.get("seed", 0), 7])   # the same noise every epoch
        self.fixed_z = fixed.standard_normal((self.n_fixed, self.cfg.latent_dim)).astype(np.float32)
        self.fixed_y = None
        self.batches = 0    # counts critic steps: a generator step after every n_critic-th

    def train_step(self, batch, rng):
        x = batch[0]
        N = x.shape[0]
        z = Tensor(rng.standard_normal((N, self.cfg.latent_dim), dtype=np.float32))
        eps = rng.random((N, 1, 1, 1), dtype=np.float32)                 # one U[0, 1] per example
        stats = train_step(self.G, self.D, self.optimizers["generator"], self.optimizers["critic"], x, z, eps,
                           self.cfg, self.batches)
        self.batches += 1
        return stats

    def held_out(self, data, rng):
        """The critic's mean score on held-out real images (a score, not a probability: the critic
        has no sigmoid), beside its scores of the training batches."""
        x = Tensor(data[0] * np.float32(2) - np.float32(1))                  # [0, 1] -> [-1, 1]
        return {"test_critic_real": float(self.D(x).data.mean())}

    def on_epoch_end(self, run_dir, epoch, data):
        super().on_epoch_end(run_dir, epoch, data)     # the sample grids and the loss panels
        metrics = os.path.join(run_dir, "metrics.csv")
        if os.path.exists(metrics):
            critic_curves(metrics, path=os.path.join(run_dir, "critic.png"),
                          title=f"{self.name}: the critic after epoch {epoch}")


def critic_curves(metrics, path=None, title=None, smoothing=0.95):
    """Two panels from metrics.csv: the Wasserstein estimate E f(x) - E f(G(z)) (it should fall as
    G improves) and the critic's mean gradient norm at the interpolates (the penalty pulls it to 1).
    Returns the Figure; writes a PNG when given `path`."""
    from .. import plot
    from ..plot_curves import _plot_series
    from ..plot_images import _figure

    table = plot.read_metrics_csv(metrics)
    for key in ("step", "wasserstein", "grad_norm"):
        if key not in table:
            raise ValueError(f"critic_curves: metrics.csv has no {key!r} column (columns: {list(table)})")
    fig = _figure(9.0, 3.4 + (0.4 if title else 0))
    left, right = fig.subplots(1, 2)
    few = len(table["step"]) < 20                          # too few rows to smooth: draw the points
    for ax, key, label in ((left, "wasserstein", "Wasserstein estimate"), (right, "grad_norm", "|grad f(x_hat)|")):
        _plot_series(ax, table["step"], table[key], label, 0.0 if few else smoothing, "C0")
        ax.set_xlabel("step")
        ax.set_title(label)
    right.axhline(1.0, color="gray", linestyle="--", linewidth=1)
    if title:
        fig.suptitle(title)
    if path is not None:
        plot.save_figure(fig, path)
    return fig
