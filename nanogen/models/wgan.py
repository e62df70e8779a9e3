"""Wasserstein GAN with gradient penalty (WGAN-GP): a critic, an earth-mover distance, and a
penalty that needs the gradient of a gradient.

The idea (Arjovsky et al. 2017, "Wasserstein GAN", Sec. 3). Instead of a discriminator's
probability, train a *critic* f: images -> real numbers, and measure the distance between the data
and the generator by the Wasserstein-1 (earth mover's) distance, in its Kantorovich-Rubinstein
dual form
    W(p_data, p_G) = sup over 1-Lipschitz f of  E_x[ f(x) ] - E_z[ f(G(z)) ]
Unlike the Jensen-Shannon divergence of gan.py, W shrinks smoothly as p_G moves towards p_data
even when the two do not overlap, so the critic's gradient guides G everywhere and the critic may
be trained to optimality: n_critic = 5 critic steps per generator step (Algorithm 1).

The constraint "1-Lipschitz" is the hard part. Gulrajani et al. 2017 ("Improved training of
Wasserstein GANs", Prop. 1) show that the optimal critic has gradient norm 1 almost everywhere on
straight lines between data points and generated points, and enforce that softly (Algorithm 1):
    x_hat = eps * x + (1 - eps) * G(z),   eps ~ U[0, 1] per example      (random interpolates)
    L_critic = E f(G(z)) - E f(x) + lambda * E (|grad_x_hat f(x_hat)|_2 - 1)^2,   lambda = 10
    L_G      = -E f(G(z))
The penalty contains a gradient, grad_x_hat f, so its own gradient with respect to the critic's
weights is a second derivative: nanogen.grad(..., create_graph=True) records the backward pass
of f so that loss.backward() can go through it (docs/double_backward.md).
Each f(x_hat_i) must depend on x_hat_i alone for the per-example norm to mean anything, so the
critic has no batch norm (Sec. 4, "no critic batch normalization"); layer norm is the drop-in
the paper suggests. Settings as in the paper: Adam(lr 1e-4, betas (0.5, 0.9)) -- Algorithm 1
uses beta1 = 0; 0.5 is its DCGAN-style experiments' choice.

Shapes: z (N, Z); images (N, 1, 28, 28) in [-1, 1]; critic scores (N, 1); eps (N, 1, 1, 1).
Diagnostics: the Wasserstein estimate E f(x) - E f(G(z)) (it falls as G improves: the one GAN
loss that tracks sample quality, Arjovsky et al. Fig. 3) and the mean gradient norm at x_hat
(it should sit near 1). Failure modes: a slow start (5 critic steps per G step); a critic whose
penalty dominates (gradient norms stuck far from 1: lower lambda or the learning rate).
Read after gan.py and dcgan.py: the generator is dcgan.py's, the two-step game is gan.py's.
"""

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..autograd import grad, no_grad
from ..settings import setting
from ..tensor import Tensor
from .dcgan import DCGANGenerator, dcgan_init_


@dataclass
class WGANConfig:
    """WGAN-GP's settings. Fields made with setting(default, help) are `nanogen train wgan-gp`
    flags (wgan_recipes.py); the others are fixed by the lesson."""

    latent_dim: int = setting(100, "Z, size of the noise vector z", is_positive=True)
    base_channels: int = setting(64, "C: the critic's first conv (then 2C); the generator as dcgan's",
                                 is_positive=True)
    critic_norm: str = setting("layer", "what the critic has where DCGAN's D has batch norm: layer norm or none",
                               choices=("layer", "none"))
    gp_weight: float = setting(10.0, "lambda, the gradient penalty's weight (Gulrajani et al. 2017, Alg. 1)")
    n_critic: int = setting(5, "critic steps per generator step", is_positive=True)
    lr: float = 1e-4                 # Adam step size, critic and generator alike (the common --lr)
    beta1: float = setting(0.5, "Adam beta1 (Algorithm 1 uses 0; 0.5 in the paper's DCGAN-style runs)")
    beta2: float = setting(0.9, "Adam beta2")

    @property
    def betas(self):
        return (self.beta1, self.beta2)

    def __post_init__(self):
        if self.critic_norm not in ("layer", "none"):
            raise ValueError(f"WGANConfig: critic_norm must be 'layer' or 'none' (batch norm would mix the "
                             f"examples whose gradient norms are penalised), got {self.critic_norm!r}")
        if self.n_critic < 1:
            raise ValueError(f"WGANConfig: n_critic must be >= 1, got {self.n_critic}")
        if self.gp_weight < 0:
            raise ValueError(f"WGANConfig: gp_weight must be >= 0, got {self.gp_weight}")


class Critic(nn.Module):
    """f: images (N, 1, 28, 28) -> scores (N, 1), any real number (no sigmoid: not a probability).

    DCGAN's discriminator with layer norm (or nothing) where it had batch norm:
        Conv(1, C, 4, 2, 1) -> LeakyReLU(0.2)                 (N, C, 14, 14)
        Conv(C, 2C, 4, 2, 1) -> LayerNorm((2C, 7, 7)) -> LeakyReLU(0.2)   (N, 2C, 7, 7)
        flatten -> Linear(2C*7*7, 1)                          (N, 1)
    """

    def __init__(self, base_channels=64, critic_norm="layer", rng=None):
        super().__init__()
        C = base_channels
        norm = nn.LayerNorm((2 * C, 7, 7)) if critic_norm == "layer" else nn.Identity()
        self.net = nn.Sequential(
            nn.Conv2d(1, C, 4, 2, 1, rng=rng), nn.LeakyReLU(0.2),                  # 28 -> 14
            nn.Conv2d(C, 2 * C, 4, 2, 1, rng=rng), norm, nn.LeakyReLU(0.2),        # 14 -> 7
            nn.Flatten(),                                                          # -> (N, 2C*7*7)
            nn.Linear(2 * C * 7 * 7, 1, rng=rng))                                  # -> (N, 1)
        dcgan_init_(self, rng)

    def forward(self, x):
        return self.net(x)


# ---------------------------------------------------------------------------- the losses, named after the math


def interpolates(x_real, x_fake, eps):
    """x_hat = eps * x + (1 - eps) * x_fake: points on the lines between real and generated images.

    x_real, x_fake: (N, 1, 28, 28) arrays; eps: (N, 1, 1, 1), one U[0, 1] draw per example.
    Returns a leaf Tensor that requires grad: the penalty differentiates the critic at it.
    """
    return Tensor(eps * x_real + (1 - eps) * x_fake, requires_grad=True)


def gradient_penalty(critic, x_hat):
    """(|grad_x_hat f(x_hat)|_2 - 1)^2, averaged over the batch, and the norms (N,) as a Tensor.

    f(x_hat_i) depends on x_hat_i only (no batch norm), so the gradient of Σ_i f(x_hat_i) has the
    per-example gradients as its rows. create_graph=True records that backward pass, so the
    penalty is a function of the critic's weights that loss.backward() can differentiate.
    """
    # BEGIN SOLUTION gradient_penalty
    N = x_hat.shape[0]
    scores = critic(x_hat)                                        # (N, 1)
    (g,) = grad(scores.sum(), x_hat, create_graph=True)           # (N, 1, 28, 28), with a graph
    g = g.reshape(N, -1)                                          # (N, 784)
    norms = ((g * g).sum(dim=1) + 1e-12).sqrt()                   # (N,); + 1e-12: sqrt is not differentiable at 0
    return ((norms - 1) * (norms - 1)).mean(), norms
    # END SOLUTION


def critic_loss(critic, x_real, x_fake, eps, gp_weight=10.0):
    """L_critic = E f(x_fake) - E f(x_real) + gp_weight * gradient_penalty, and its parts.

    x_real, x_fake: (N, 1, 28, 28) Tensors without graph; eps: (N, 1, 1, 1). Returns
    {"loss", "wasserstein" (E f(x) - E f(x_fake), a Tensor), "penalty", "grad_norm" (mean norm)}.
    """
    wasserstein = critic(x_real).mean() - critic(x_fake).mean()
    penalty, norms = gradient_penalty(critic, interpolates(x_real.data, x_fake.data, eps))
    return {"loss": -wasserstein + gp_weight * penalty, "wasserstein": wasserstein, "penalty": penalty,
            "grad_norm": norms.mean()}


def generator_loss(critic, x_fake):
    """L_G = -E f(G(z)): push the critic's score of generated images up."""
    return -critic(x_fake).mean()


# ---------------------------------------------------------------------------- the two steps


def critic_step(critic, opt_c, x_real, x_fake, eps, cfg):
    """One critic update; x_fake carries no graph, so G gets nothing. Returns the diagnostics."""
    opt_c.zero_grad()
    terms = critic_loss(critic, x_real, x_fake, eps, cfg.gp_weight)
    terms["loss"].backward()          # through the recorded backward of the penalty, too
    opt_c.step()
    return {"loss_c": terms["loss"].item(), "wasserstein": terms["wasserstein"].item(),
            "penalty": terms["penalty"].item(), "grad_norm": terms["grad_norm"].item()}


def generator_step(G, critic, opt_g, z):
    """One generator update through the frozen critic (its weights get no .grad)."""
    opt_g.zero_grad()
    critic.requires_grad_(False)
    try:
        loss = generator_loss(critic, G(z))
        loss.backward()
    finally:
        critic.requires_grad_(True)
    opt_g.step()
    return loss.item()


def train_step(G, critic, opt_g, opt_c, x, z, eps, cfg, step):
    """Algorithm 1 of Gulrajani et al. 2017, one batch at a time: a critic step on every batch, and
    a generator step after every n_critic-th (step counts batches from 0).

    x: real images (N, 1, 28, 28) in [-1, 1];  z: noise (N, Z);  eps: (N, 1, 1, 1) in [0, 1].
    """
    with no_grad():
        x_fake = G(z)                                     # a constant for the critic step
    stats = critic_step(critic, opt_c, x, x_fake, eps, cfg)
    if (step + 1) % cfg.n_critic == 0:
        stats["loss_g"] = generator_step(G, critic, opt_g, z)
    return stats


def build(cfg, rng=None):
    """(G, critic): dcgan.py's generator and the batch-norm-free critic above."""
    return DCGANGenerator(cfg.latent_dim, cfg.base_channels, rng=rng), Critic(cfg.base_channels, cfg.critic_norm, rng)


