"""GANs on 2-D toy distributions: mode collapse you can see, and count, in seconds.

Read gan.py first: this file reuses its losses and its two-step `train_step` unchanged, only the
networks are small MLPs on points (N, 2) instead of images. The data are nanogen.data.toy's
mixtures of Gaussians (ring of 8, 5 x 5 grid): every mode has a known centre, so after training
we can say exactly which modes the generator reaches and how many of its samples are good
(within 3 std of a centre: Srivastava et al. 2017, VEEGAN, Sec. 5.1).

Mode collapse (Goodfellow 2016, NIPS tutorial Sec. 5.1.1; Metz et al. 2017, Unrolled GANs,
Sec. 3.1 and Fig. 1): G finds a few points that the current D accepts and sends most of z
there; D then learns to reject that mode, G hops to another, and the pair circles around the
ring instead of converging. Which settings collapse and which cover every mode is an empirical
matter; the two named configurations below were measured (demos/mode_collapse.py draws both).
"""

import time
from dataclasses import dataclass

import numpy as np

from .. import nn
from ..data import toy
from ..optim import Adam
from ..tensor import Tensor
from .gan import GANConfig, maybe_spectral_norm, train_step


@dataclass
class ToyGANConfig:
    dataset: str = "ring8"         # a nanogen.data.toy mixture: "ring8" or "grid25"
    latent_dim: int = 2            # Z
    hidden_dim: int = 128          # width of every hidden layer of G and D
    n_layers: int = 2              # hidden layers in each network
    batch_size: int = 256          # real and generated points per step
    steps: int = 2000              # training iterations (one D step + one G step each)
    loss: str = "bce"              # as in gan.py: "bce", "hinge" or "lsgan"
    lr_g: float = 1e-3             # Adam step size of G
    lr_d: float = 1e-3             # ... and of D
    betas: tuple = (0.5, 0.999)    # Adam betas
    data_std: float = None         # std of each Gaussian (default: nanogen.data.toy.DEFAULT_STD)
    spectral_norm: bool = False    # spectral normalisation on D's layers (gan.SpectralNorm)
    final_lr_fraction: float = 1.0 # both learning rates decay linearly to this fraction by the last step


# Two configurations for ring8, measured over several seeds (docs/results.md has the numbers;
# demos/mode_collapse.py reruns them):
# COLLAPSING: G's learning rate 8x D's. G jumps onto whatever point the current D likes best, D
#   learns to reject it, G jumps to the next mode: "mode hopping" (Metz et al. 2017, Fig. 1),
#   one blob of samples at a time, a few modes reached at most.
# COVERING: equal learning rates, decaying to 5% (late steps refine, not hop): nearly every mode
#   reached and well covered.
COLLAPSING = ToyGANConfig(latent_dim=16, steps=1600, lr_g=4e-3, lr_d=5e-4)
COVERING = ToyGANConfig(latent_dim=16, steps=1600, lr_g=2e-3, lr_d=2e-3, final_lr_fraction=0.05)


class ToyGenerator(nn.Module):
    """G: z (N, Z) -> points (N, 2). ReLU MLP with a linear output (points are unbounded)."""

    def __init__(self, latent_dim=2, hidden_dim=128, n_layers=2, rng=None):
        super().__init__()
        dims = [latent_dim] + [hidden_dim] * n_layers
        layers = []
        for i, o in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(i, o, rng=rng), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], 2, rng=rng))

    def forward(self, z, y=None):
        return self.net(z)


class ToyDiscriminator(nn.Module):
    """D: points (N, 2) -> logits (N, 1). LeakyReLU(0.2) MLP."""

    def __init__(self, hidden_dim=128, n_layers=2, spectral_norm=False, rng=None):
        super().__init__()
        dims = [2] + [hidden_dim] * n_layers
        layers = []
        for i, o in zip(dims[:-1], dims[1:]):
            layers += [maybe_spectral_norm(nn.Linear(i, o, rng=rng), spectral_norm, rng), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, maybe_spectral_norm(nn.Linear(dims[-1], 1, rng=rng), spectral_norm, rng))

    def forward(self, x, y=None):
        return self.net(x)


def coverage(points, dataset="ring8", std=None):
    """How well generated points (N, 2) cover the dataset's modes (nanogen.data.toy.mode_coverage):
        "modes"         modes reached: with at least one high-quality sample (within 3 std)
        "modes_1pct"    modes well covered: holding at least 1% of the samples (PacGAN, Lin et al.
                        2018, Sec. 5, calls a mode lost below 20 of 2500 = 0.8%)
        "n_modes", "high_quality" (share of samples within 3 std of a centre), "counts" (K,)."""
    std = toy.DEFAULT_STD[dataset] if std is None else std
    centres = toy.mode_centres(dataset)
    reached = toy.mode_coverage(points, centres, std, n_std=3.0, min_count=1)
    reached["modes_1pct"] = toy.mode_coverage(points, centres, std, n_std=3.0, min_fraction=0.01)["modes"]
    return reached


def train_toy_gan(cfg=ToyGANConfig(), rng=None, snapshot_steps=(), n_samples=1000, time_limit=None):
    """Train a toy GAN; returns {"snapshots": [(step, points (n_samples, 2))], "coverage": dict,
    "steps": steps done, "seconds": float, "history": [(step, loss_d, loss_g)]}.

    rng: numpy Generator for weights, data and noise. snapshot_steps: steps after which to draw
    n_samples points from a fixed noise batch (step 0 = before training). time_limit: stop after
    this many seconds even if cfg.steps is not reached (the coverage is then of the last step).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    G = ToyGenerator(cfg.latent_dim, cfg.hidden_dim, cfg.n_layers, rng=rng)
    D = ToyDiscriminator(cfg.hidden_dim, cfg.n_layers, cfg.spectral_norm, rng=rng)
    opt_g = Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    game = GANConfig(latent_dim=cfg.latent_dim, loss=cfg.loss)  # the loss settings train_step reads
    fixed_z = rng.standard_normal((n_samples, cfg.latent_dim)).astype(np.float32)
    snapshots, history = [], []
    wanted = set(snapshot_steps)
    if 0 in wanted:
        snapshots.append((0, _points(G, fixed_z)))
    t0 = time.perf_counter()
    step = 0
    while step < cfg.steps:
        x = Tensor(toy.sample(cfg.dataset, cfg.batch_size, rng, std=cfg.data_std))       # (B, 2) real
        z = Tensor(rng.standard_normal((cfg.batch_size, cfg.latent_dim), dtype=np.float32))  # (B, Z)
        decay = 1.0 - (1.0 - cfg.final_lr_fraction) * step / max(1, cfg.steps - 1)
        opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"] = cfg.lr_g * decay, cfg.lr_d * decay
        stats = train_step(G, D, opt_g, opt_d, x, z, game)
        step += 1
        if step % 50 == 0:
            history.append((step, stats["loss_d"], stats["loss_g"]))
        if step in wanted:
            snapshots.append((step, _points(G, fixed_z)))
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
    final = _points(G, fixed_z)
    return {"snapshots": snapshots, "coverage": coverage(final, cfg.dataset, cfg.data_std), "points": final,
            "steps": step, "seconds": time.perf_counter() - t0, "history": history}


def _points(G, z):
    """Generated points (N, 2) for noise z, as float64 (generate() maps images to [0, 1]; not here)."""
    from ..autograd import no_grad

    with no_grad():
        return G(Tensor(z)).data.astype(np.float64)


