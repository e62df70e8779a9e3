"""`nanogen train gan | dcgan | cgan`: the GANs of gan.py and dcgan.py as Recipes.

Read gan.py and dcgan.py first: this file only wires their networks and their two-step game into
the training loop (nanogen/train.py), draws the pictures (the fixed noise batch every epoch, its
progression, the D-vs-G diagnostics) and evaluates samples with gan_eval.py. GANRecipe is the base
a new GAN lesson subclasses: write `build(cfg, rng) -> (G, D)`, and override `train_step` when the
game itself changes (a gradient penalty, a different update schedule).
Flags: the GANConfig settings listed in `flags` (their defaults live in GANConfig), plus
--n-eval and --classifier for `nanogen eval`.
"""

import dataclasses
import os

import numpy as np

from ..optim import Adam
from ..serialize import atomic_write
from ..tensor import Tensor
from ..train import Recipe
from . import register
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .gan import GANConfig, MLPDiscriminator, MLPGenerator, d_output_probability, generate, train_step


class GANRecipe(Recipe):
    """What gan, dcgan and cgan share: two Adam optimizers, the two-step iteration, a fixed noise
    batch drawn every epoch, GAN diagnostics and evaluation with the classifier (gan_eval.py).
    Subclasses write `build(cfg, rng) -> (G, D)`."""

    defaults = {**Recipe.defaults, "epochs": 20, "lr": 2e-4}
    config_class = GANConfig
    flags = ("latent_dim", "loss", "real_label", "lr_g", "lr_d", "beta1", "d_skip_below", "spectral_norm")
    drop_last = True        # batch norm (dcgan) dislikes a last batch of 1; the MLP loses nothing
    conditional = False
    n_fixed = 64            # size of the fixed noise batch rendered every epoch
    grid_cols = 8           # images per row in the pictures (cgan: 10, one per digit)
    resumable = Recipe.resumable + ("lr_g", "lr_d", "n_eval", "classifier")

    @classmethod
    def add_arguments(cls, parser):
        from .gan_eval import add_classifier_flag  # at call time: gan_eval imports the classifier's recipe

        super().add_arguments(parser)
        parser.add_argument("--n-eval", type=int, default=10000, help="generated images for `nanogen eval`")
        add_classifier_flag(parser)

    def model_config(self, config):
        if "real_label" not in config and config.get("label_smoothing"):   # runs saved before the rename
            config = {**config, "real_label": config["label_smoothing"]}
        cfg = super().model_config(config)
        lr = config.get("lr") or self.defaults["lr"]
        return dataclasses.replace(cfg, lr_g=cfg.lr_g or lr, lr_d=cfg.lr_d or lr)   # unset: the common --lr

    def __init__(self, config, rng):
        self.config = dict(config)
        self.cfg = self.model_config(config)
        self.G, self.D = self.build(self.cfg, rng)
        self.modules = {"generator": self.G, "discriminator": self.D}
        betas = (self.cfg.beta1, self.cfg.beta2)
        self.optimizers = {"generator": Adam(self.G.parameters(), lr=self.cfg.lr_g, betas=betas),
                           "discriminator": Adam(self.D.parameters(), lr=self.cfg.lr_d, betas=betas)}
        # the fixed batch depends on the seed only, so a resumed run renders the same digits
        fixed = np.random.default_rng([config.get("seed", 0), 7])
        self.fixed_z = fixed.standard_normal((self.n_fixed, self.cfg.latent_dim)).astype(np.float32)
        self.fixed_y = np.arange(self.n_fixed) % self.cfg.n_classes if self.conditional else None

    def build(self, cfg, rng):
        """(G, D) for this recipe: each subclass (gan, dcgan, cgan) builds its own pair."""
        raise NotImplementedError(f"{type(self).__name__} must define build(cfg, rng) -> (G, D)")

    def training_arrays(self, x, y):
        return x * np.float32(2) - np.float32(1), y           # [0, 1] -> [-1, 1], the range of tanh

    def train_step(self, batch, rng):
        x, y = batch
        z = Tensor(rng.standard_normal((x.shape[0], self.cfg.latent_dim), dtype=np.float32))
        labels = y.data if self.conditional else None
        return train_step(self.G, self.D, self.optimizers["generator"], self.optimizers["discriminator"],
                          x, z, self.cfg, labels)

    def held_out(self, data, rng):
        """D's mean output on held-out real images, beside d_real of the training batches: a D that
        memorises its training set scores held-out reals lower (Karras et al. 2020, Sec. 3)."""
        x, y = data
        x = Tensor(x * np.float32(2) - np.float32(1))                  # [0, 1] -> [-1, 1], as in training
        logits = self.D(x, y) if self.conditional else self.D(x)
        return {"test_d_real": d_output_probability(logits, self.cfg.loss)}

    def sample(self, n, rng, labels=None):
        """n images (n, C, H, W) in [0, 1]; a conditional model draws digits 0..9 in turn unless
        `labels` (n,) asks for others."""
        z = rng.standard_normal((n, self.cfg.latent_dim)).astype(np.float32)
        if self.conditional and labels is None:
            labels = np.arange(n) % self.cfg.n_classes
        out = []
        for i in range(0, n, 500):                            # bounded memory for n = 10,000
            out.append(generate(self.G, z[i : i + 500], None if labels is None else labels[i : i + 500]))
        return np.concatenate(out)

    def on_epoch_end(self, run_dir, epoch, data):
        from .. import plot

        images = generate(self.G, self.fixed_z, self.fixed_y)
        k = self.grid_cols
        plot.image_grid(images, nrow=k, path=os.path.join(run_dir, f"progress_epoch_{epoch:02d}.png"),
                        title=f"{self.name}: the fixed noise batch after epoch {epoch}")
        # the first k fixed samples of every epoch so far, one row per epoch: the progression
        path = os.path.join(run_dir, "progress.npz")
        rows = {}
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as f:
                rows = {key: f[key] for key in f.files if int(key.split("_")[1]) < epoch}
        rows[f"epoch_{epoch:03d}"] = images[:k]
        with atomic_write(path) as f:
            np.savez(f, **rows)
        keys = sorted(rows)
        labels = [f"ep {int(key.split('_')[1])}" if j == 0 else "" for key in keys for j in range(k)]
        plot.image_grid(np.concatenate([rows[key] for key in keys]), nrow=k, labels=labels,
                        path=os.path.join(run_dir, "progression.png"),
                        title=f"{self.name}: the same noise, epoch by epoch")
        metrics = os.path.join(run_dir, "metrics.csv")
        if os.path.exists(metrics):
            plot.gan_diagnostics(metrics, path=os.path.join(run_dir, "gan_diagnostics.png"), smoothing=0.9,
                                 title=f"{self.name}: discriminator vs generator")

    def evaluate(self, data, rng):
        from .gan_eval import evaluate_generator

        shape = getattr(self.cfg, "image_shape", (1, 28, 28))     # GAN lessons fixed at 28x28 have no such field
        if shape != (1, 28, 28) or self.config.get("dataset", "mnist") != "mnist":
            raise ValueError(f"nanogen eval scores a GAN's samples with nanogen's MNIST digit classifier "
                             f"(FCD, inception score, coverage); this run trained on "
                             f"{self.config.get('dataset')} at {shape}: look at its samples "
                             f"(nanogen sample RUN) instead")
        return evaluate_generator(self, data, rng, n=int(self.config.get("n_eval") or 10000),
                                  classifier=self.config.get("classifier"))


@register
class GAN(GANRecipe):
    """`nanogen train gan`: the MLPs of gan.py. Measured results: docs/results.md."""

    name = "gan"
    help = "MLP GAN on flattened MNIST (Goodfellow et al. 2014)"
    flags = GANRecipe.flags + ("hidden_dims", "d_dropout")

    def build(self, cfg, rng):
        G = MLPGenerator(cfg.latent_dim, cfg.hidden_dims, image_shape=cfg.image_shape, rng=rng)
        D = MLPDiscriminator(tuple(reversed(cfg.hidden_dims)), spectral_norm=cfg.spectral_norm, dropout=cfg.d_dropout,
                             rng=rng)
        return G, D


@register
class DCGAN(GANRecipe):
    """`nanogen train dcgan`: the convolutional G and D of dcgan.py. Measured results: docs/results.md."""

    name = "dcgan"
    help = "DCGAN on MNIST: transposed-conv generator, strided-conv discriminator (Radford et al. 2015)"
    defaults = {**GANRecipe.defaults, "epochs": 5}
    flags = GANRecipe.flags + ("base_channels", "r1")
    image_flags = True

    def build(self, cfg, rng):
        G = DCGANGenerator(cfg.latent_dim, cfg.base_channels, image_shape=cfg.image_shape, rng=rng)
        D = DCGANDiscriminator(cfg.base_channels, spectral_norm=cfg.spectral_norm, image_shape=cfg.image_shape,
                               rng=rng)
        return G, D


@register
class CGAN(DCGAN):
    """`nanogen train cgan`: dcgan.py's networks given the digit label. Measured results: docs/results.md."""

    name = "cgan"
    help = "conditional DCGAN: ask for a digit, get it (Mirza & Osindero 2014)"
    conditional = True
    n_fixed = 80            # 8 rows of the digits 0..9
    grid_cols = 10

    def build(self, cfg, rng):
        G = DCGANGenerator(cfg.latent_dim, cfg.base_channels, n_classes=cfg.n_classes, image_shape=cfg.image_shape,
                           rng=rng)
        D = DCGANDiscriminator(cfg.base_channels, n_classes=cfg.n_classes, spectral_norm=cfg.spectral_norm,
                               image_shape=cfg.image_shape, rng=rng)
        return G, D
