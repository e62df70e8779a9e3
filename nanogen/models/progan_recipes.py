"""`nanogen train progan`: the progressively grown GAN of progan.py as a Recipe.

Read progan.py first. The step is gan.py's train_step unchanged, the rest gan_recipes.py's GANRecipe; this recipe only moves the
schedule on (the stage and alpha follow from the number of training images seen, kept in G's
`images_seen` buffer and so in the checkpoint) and shows the real images to D at the stage's
resolution. Flags: gan's (--loss, --label-smoothing, --lr-g, --lr-d, --beta1, --d-skip-below,
--n-eval, --classifier; Adam's betas default to the paper's (0, 0.99)), --phase-images, --channels.
Figures, besides gan's progression (every stage shown at 28x28, pixels repeated):
    stages.png     the fixed noise batch at the end of every phase: 7x7, the fades, 14x14, 28x28
    fade_in.png    the same z through each grown block at alpha = 0, 0.25, 0.5, 0.75, 1
Per step the metrics add stage, alpha and resolution.
"""

import os

import numpy as np

from ..tensor import Tensor
from . import register
from .gan import generate, train_step
from .gan_recipes import GANRecipe
from .progan import (RESOLUTIONS, FullResolution, ProDiscriminator, ProGANConfig, ProGenerator, real_images, schedule,
                     to_full_resolution)

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
PHASE_NAMES = ("7x7", "14x14 fade-in", "14x14", "28x28 fade-in", "28x28")


@register
class ProGAN(GANRecipe):
    name = "progan"
    help = "progressive growing: 7x7 -> 14x14 -> 28x28 with fade-in (Karras et al. 2018)"
    defaults = {**GANRecipe.defaults, "epochs": 3, "lr": 1e-3}
    config_class = ProGANConfig
    variant = {"beta1": 0.0, "beta2": 0.99}                 # Karras et al. 2018, Sec. A.1
    flags = ("latent_dim", "loss", "real_label", "lr_g", "lr_d", "beta1", "d_skip_below", "channels", "phase_images")
    n_fixed = 64
    grid_cols = 8

    def __init__(self, config, rng):
        super().__init__(config, rng)                       # G, D from build() below
        self.generator = self.G                             # the one trained and saved
        self.G = FullResolution(self.generator)             # what gan's pictures, sample() and eval draw from
        self._phase_rows = {}                               # phase index -> fixed-noise images at its end

    def build(self, cfg, rng):
        G = ProGenerator(cfg.latent_dim, cfg.channels, rng=rng)
        D = ProDiscriminator(cfg.channels, cfg.mbstd_group, rng=rng)
        return G, D

    # ------------------------------------------------------------------ the schedule

    @property
    def images_seen(self):
        return int(self.generator.images_seen.data)

    def position(self):
        """(stage, alpha) of the schedule now; sets both networks to it."""
        stage, alpha = schedule(self.images_seen, self.cfg.phase_images)
        self.generator.set_stage(stage, alpha)
        self.D.set_stage(stage, alpha)
        return stage, alpha

    def train_step(self, batch, rng):
        x, _ = batch
        N = x.shape[0]
        stage, alpha = self.position()
        x = Tensor(real_images(x.data, stage, alpha))                    # (N, 1, R, R), as D sees reals now
        z = Tensor(rng.standard_normal((N, self.cfg.latent_dim), dtype=np.float32))
        stats = train_step(self.generator, self.D, self.optimizers["generator"], self.optimizers["discriminator"],
                           x, z, self.cfg)
        phase = self.images_seen // self.cfg.phase_images
        self.generator.images_seen.data[...] = self.images_seen + N
        if self.images_seen // self.cfg.phase_images != phase and phase < len(PHASE_NAMES) - 1:
            self._phase_rows[phase] = to_full_resolution(generate(self.generator, self.fixed_z[: self.grid_cols]))
        stats.update(stage=float(stage), alpha=float(alpha), resolution=float(RESOLUTIONS[stage]))
        return stats

    def sample(self, n, rng, labels=None):
        self.position()
        return super().sample(n, rng, labels)

    def evaluate(self, data, rng):
        stage, alpha = self.position()
        out = super().evaluate(data, rng)
        out.update(stage=stage, alpha=alpha, resolution=RESOLUTIONS[stage], images_seen=self.images_seen)
        return out

    # ------------------------------------------------------------------ pictures

    def on_epoch_end(self, run_dir, epoch, data):
        from .. import plot

        stage, alpha = self.position()
        super().on_epoch_end(run_dir, epoch, data)
        self._stages_figure(run_dir, plot, stage, alpha)
        if stage > 0:
            self._fade_figure(run_dir, plot, stage)
        self.position()

    def _stages_figure(self, run_dir, plot, stage, alpha):
        path = os.path.join(run_dir, "stages.npz")
        rows = {}
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as f:
                rows = {int(k.split("_")[1]): f[k] for k in f.files}
        rows.update(self._phase_rows)
        self._phase_rows = {}
        np.savez(path, **{f"phase_{p}": v for p, v in rows.items()})
        now = to_full_resolution(generate(self.generator, self.fixed_z[: self.grid_cols]))
        keys = sorted(rows)
        images = np.concatenate([rows[p] for p in keys] + [now])
        names = [f"end of {PHASE_NAMES[p]}" for p in keys]
        names.append(f"now: {RESOLUTIONS[stage]}x{RESOLUTIONS[stage]}" + (f", alpha {alpha:.2f}" if alpha < 1 else ""))
        labels = [name if j == 0 else "" for name in names for j in range(self.grid_cols)]
        plot.image_grid(images, nrow=self.grid_cols, labels=labels, path=os.path.join(run_dir, "stages.png"),
                        title=f"{self.name}: the same noise at the end of each phase (shown at 28x28)")

    def _fade_figure(self, run_dir, plot, stage, n_rows=3):
        images, labels = [], []
        for s in range(1, stage + 1):
            R = RESOLUTIONS[s]
            for i in range(n_rows):
                for j, a in enumerate(ALPHAS):
                    self.generator.set_stage(s, a)
                    images.append(to_full_resolution(generate(self.generator, self.fixed_z[i : i + 1]))[0])
                    labels.append(f"{R // 2}->{R}" if i == j == 0 else "")
        columns = ", ".join(f"{a:g}" for a in ALPHAS)
        plot.image_grid(np.stack(images), nrow=len(ALPHAS), labels=labels, path=os.path.join(run_dir, "fade_in.png"),
                        title=f"{self.name} fade-in: alpha = {columns}")
