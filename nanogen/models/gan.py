"""Generative adversarial networks: a generator and a discriminator playing one game.

The idea (Goodfellow et al. 2014, "Generative adversarial nets", Sec. 3). A generator G maps noise
z ~ N(0, I) to an image G(z); a discriminator D maps an image to a logit l, and D(x) = σ(l) is
its probability that x is real. They play the minimax game

    min_G max_D  V(D, G) = E_x[ log D(x) ] + E_z[ log(1 - D(G(z))) ]

For a fixed G the best D is D*(x) = p_data(x) / (p_data(x) + p_G(x)), and against it V equals
-log 4 + 2 JS(p_data || p_G): G minimises a Jensen-Shannon divergence, zero only at p_G = p_data
(Sec. 4.1, Prop. 1 and Thm. 1). Nobody finds D* in practice; we alternate one gradient step each
(Algorithm 1 with k = 1), and that alternation is the whole training loop:

  1. D step (ascend V in D): real batch labelled 1, generated batch labelled 0, BCE from logits
         loss_D = BCE(D(x), 1) + BCE(D(G(z)), 0) = -log D(x) - log(1 - D(G(z)))
     G(z) is a constant here (made under no_grad, or detached), so no gradient reaches G.
  2. G step (descend in G) through D *frozen*: requires_grad off, D's weights get no gradient.
     The minimax term log(1 - D(G(z))) saturates: early on D rejects fakes easily, l << 0, and
         d/dl log(1 - σ(l)) = -σ(l) ≈ 0,
     so G learns nothing exactly when it is worst. The non-saturating loss (Sec. 3, after Eq. 1)
         loss_G = -log D(G(z)) = BCE(D(G(z)), 1),        d/dl = -(1 - σ(l)) ≈ -1
     has the same fixed point and strong gradients while G is bad: G is trained towards "real".

Shapes: z (N, Z); images (N, 1, 28, 28) in [-1, 1] (tanh output; the data is rescaled x*2 - 1);
logits (N, 1). Alternatives and stabilisers, each a flag of `nanogen train gan|dcgan|cgan`:
hinge loss (Lim & Ye 2017; Miyato et al. 2018, Eq. 16-17), least squares (Mao et al. 2017,
Eq. 2), one-sided label smoothing (Salimans et al. 2016, Sec. 3.4), separate learning rates
(Heusel et al. 2017, TTUR), skipping D steps while D is far ahead, spectral normalisation of D
(Miyato et al. 2018, Sec. 2.1 and Algorithm 1), the R1 gradient penalty on real data (Mescheder
et al. 2018, Eq. 9; a second derivative, see wgan.py for the gradient penalty's lecture).
Failure modes, stated plainly: mode collapse (G maps most z to a few outputs that fool the
current D -- Goodfellow 2016, NIPS tutorial Sec. 5.1.1; see gan_toy.py and demos/mode_collapse.py);
D winning (d_real -> 1, d_fake -> 0, loss_G climbing); oscillation. The losses do not measure
sample quality: gan_eval.py does, with a classifier trained by nanogen.
Read after vae.py; dcgan.py (convolutional and conditional GANs) builds on this file, and
gan_recipes.py plugs both into `nanogen train`.
"""

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import grad, no_grad
from ..settings import setting
from ..tensor import Tensor

LOSSES = ("bce", "hinge", "lsgan")


@dataclass
class GANConfig:
    """The game's settings. Fields made with setting(default, help) are `nanogen train` flags
    (gan_recipes.py); the others are fixed by the lesson."""

    latent_dim: int = setting(100, "Z, size of the noise vector z", is_positive=True)
    hidden_dims: tuple = setting((256, 512, 1024), "MLP generator widths; the discriminator uses them reversed",
                                 is_positive=True)
    d_dropout: float = setting(0.3, "MLP discriminator: dropout after each hidden layer (Goodfellow et al. 2014)")
    base_channels: int = setting(64, "DCGAN: C, channels of D's first conv (G: 2C -> C -> 1)", is_positive=True)
    n_classes: int = 10                    # conditional GAN: number of labels
    image_shape: tuple = (1, 28, 28)       # (C, H, W) of the images; DCGAN needs H = W divisible by 4
    loss: str = setting("bce", "bce (non-saturating), hinge or lsgan (least squares)", choices=LOSSES)
    real_label: float = setting(1.0, "one-sided label smoothing: D's target for real images, e.g. 0.9",
                                flag="--label-smoothing")
    lr_g: float = setting(None, "generator learning rate (default: --lr)", is_positive=True)
    lr_d: float = setting(None, "discriminator learning rate (default: --lr; TTUR: make it larger)",
                          is_positive=True)
    beta1: float = setting(0.5, "Adam beta1; 0.5 as in Radford et al. 2015, Sec. 4")
    beta2: float = 0.999                   # Adam beta2
    d_skip_below: float = setting(None, "skip D's update whenever loss_d is already below this")
    spectral_norm: bool = setting(False, "spectral normalisation W / σ(W) on every weight of D (Miyato et al. 2018)")
    r1: float = setting(0.0, "R1 penalty on real images: GAMMA/2 * E|grad_x D(x)|^2 (Mescheder et al. 2018); 0 is off")

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"GANConfig: loss must be one of {LOSSES}, got {self.loss!r}")
        if not 0.0 < self.real_label <= 1.0:
            raise ValueError(f"GANConfig: real_label (label smoothing) must be in (0, 1], got {self.real_label}")
        if self.loss == "hinge" and self.real_label != 1.0:
            raise ValueError("GANConfig: label smoothing applies to the bce and lsgan losses; "
                             "the hinge loss has margins, not targets (drop --label-smoothing)")
        if not 0.0 <= self.d_dropout < 1.0:
            raise ValueError(f"GANConfig: d_dropout is a probability in [0, 1), got {self.d_dropout}")
        self.hidden_dims, self.image_shape = tuple(self.hidden_dims), tuple(self.image_shape)


# ---------------------------------------------------------------------------- spectral normalisation


class SpectralNorm(nn.Module):
    """A Linear or Conv2d layer whose weight is used as W_sn = W / σ(W), σ = largest singular value.

    W: (O, I) or (O, I, KH, KW), viewed as the matrix (O, I*KH*KW). σ is estimated by power
    iteration (Miyato et al. 2018, Algorithm 1) with buffers u: (O,) and v: (I*KH*KW,). Every
    forward in training mode first does one iteration on the current weights, without gradient:
        v <- W^T u / |W^T u|,        u <- W v / |W v|
    then computes σ = u^T W v = Σ_ij W_ij u_i v_j with differentiable ops, u and v held fixed.
    So the gradient flows through σ too: dσ/dW = u v^T and (Miyato et al. 2018, Eq. 12)
        dL/dW = (dL/dW_sn - (Σ dL/dW_sn * W_sn) u v^T) / σ.
    Each layer of D then has a Lipschitz constant of about 1, which keeps D's gradients for G
    bounded. In eval mode u and v stay fixed, so the layer is a fixed function of W.
    """

    def __init__(self, layer, n_power_iterations=1, eps=1e-12, rng=None):
        super().__init__()
        if not isinstance(layer, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"SpectralNorm: wraps a Linear or Conv2d layer, got {type(layer).__name__}")
        self.layer = layer
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        rng = np.random.default_rng(0) if rng is None else rng
        w = layer.weight.data.reshape(layer.weight.shape[0], -1)       # (O, ...) -> (O, I*KH*KW)
        u = rng.standard_normal(w.shape[0]).astype(w.dtype)
        self.register_buffer("u", Tensor(u / np.linalg.norm(u)))
        self.register_buffer("v", Tensor(np.zeros(w.shape[1], dtype=w.dtype)))
        self._power_iteration(15)  # start from a good estimate of σ (as torch's spectral_norm does)

    def _power_iteration(self, n):
        w = self.layer.weight.data.reshape(self.u.shape[0], -1)        # (O, I*KH*KW)
        u, v = self.u.data, self.v.data
        for _ in range(n):
            v[...] = w.T @ u                                           # in place: the buffers keep their arrays
            v /= max(np.linalg.norm(v), self.eps)
            u[...] = w @ v
            u /= max(np.linalg.norm(u), self.eps)

    def sigma(self):
        """σ(W) ≈ u^T W v as a Tensor: differentiable in W, u and v constants."""
        w = self.layer.weight
        uv = np.outer(self.u.data, self.v.data).reshape(w.shape)        # u v^T, shaped like W
        return (w * uv).sum()

    def forward(self, x):
        if self.training:
            self._power_iteration(self.n_power_iterations)
        layer = self.layer
        w_sn = layer.weight / self.sigma()                             # W / σ(W): one graph, through σ too
        if isinstance(layer, nn.Linear):
            return F.linear(x, w_sn, layer.bias)
        return F.conv2d(x, w_sn, layer.bias, stride=layer.stride, padding=layer.padding,
                        dilation=layer.dilation, groups=layer.groups)


def maybe_spectral_norm(layer, enabled, rng=None):
    """`layer` wrapped in SpectralNorm when enabled, else unchanged."""
    return SpectralNorm(layer, rng=rng) if enabled else layer


# ---------------------------------------------------------------------------- the MLP generator and discriminator


class MLPGenerator(nn.Module):
    """G: z (N, Z) -> images (N, 1, 28, 28) in [-1, 1].

    Linear + LeakyReLU(0.2) for each hidden width, then Linear to 784 and tanh (the data lives in
    [-1, 1], so the output layer can reach every pixel value without saturating at 0 or 1).
    """

    def __init__(self, latent_dim=100, hidden_dims=(256, 512, 1024), image_shape=(1, 28, 28), rng=None):
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        dims = [latent_dim, *hidden_dims]
        layers = []
        for i, o in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(i, o, rng=rng), nn.LeakyReLU(0.2)]
        layers += [nn.Linear(dims[-1], int(np.prod(image_shape)), rng=rng), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, y=None):
        if y is not None:
            raise ValueError("MLPGenerator is unconditional: call it as G(z) without labels (cgan is conditional)")
        x = self.net(z)                                    # (N, Z) -> (N, 784)
        return x.reshape(z.shape[0], *self.image_shape)    # (N, 784) -> (N, 1, 28, 28)


class MLPDiscriminator(nn.Module):
    """D: images (N, 1, 28, 28) -> logits (N, 1); Linear + LeakyReLU(0.2) + Dropout per hidden width.

    LeakyReLU, not ReLU: a dead unit passes no gradient back to G (Radford et al. 2015, Sec. 3).
    Dropout, as in Goodfellow et al. 2014 (Sec. 5), makes D's job noisier so G is pushed less
    hard onto the few images D currently accepts. Without it the easiest digit, 1, takes a far
    larger share of the samples (docs/results.md) -- partial mode collapse, which the classifier's
    digit histogram shows and the losses do not.
    No sigmoid at the end: the losses take logits (stable BCE, hinge, least squares).
    """

    def __init__(self, hidden_dims=(1024, 512, 256), image_shape=(1, 28, 28), spectral_norm=False, dropout=0.3,
                 rng=None):
        super().__init__()
        dims = [int(np.prod(image_shape)), *hidden_dims]
        layers = []
        for i, o in zip(dims[:-1], dims[1:]):
            layers += [maybe_spectral_norm(nn.Linear(i, o, rng=rng), spectral_norm, rng), nn.LeakyReLU(0.2)]
            if dropout:
                layers.append(nn.Dropout(dropout, rng=rng))
        layers += [maybe_spectral_norm(nn.Linear(dims[-1], 1, rng=rng), spectral_norm, rng)]
        self.net = nn.Sequential(*layers)

    def forward(self, x, y=None):
        if y is not None:
            raise ValueError("MLPDiscriminator is unconditional: call it as D(x) without labels")
        return self.net(x.reshape(x.shape[0], -1))          # (N, 1, 28, 28) -> (N, 784) -> (N, 1)


# ---------------------------------------------------------------------------- the losses


def _full(logits, value):
    return np.full(logits.shape, value, dtype=logits.dtype)


def discriminator_loss(real_logits, fake_logits, loss="bce", real_label=1.0):
    """loss_D from D's logits on a real and a generated batch, both (N, 1):

        bce:    BCE(l_real, real_label) + BCE(l_fake, 0)    = -log D(x) - log(1 - D(G(z)))
        hinge:  mean relu(1 - l_real) + mean relu(1 + l_fake)
        lsgan:  ½ mean (l_real - real_label)^2 + ½ mean l_fake^2
    real_label < 1 is one-sided label smoothing: D is never rewarded for being over-confident
    on real data, while fakes keep the target 0 (smoothing them too would reward G's mistakes).
    """
    if loss == "bce":
        return (F.binary_cross_entropy_with_logits(real_logits, _full(real_logits, real_label))
                + F.binary_cross_entropy_with_logits(fake_logits, _full(fake_logits, 0.0)))
    if loss == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    if loss == "lsgan":
        return 0.5 * (F.mse_loss(real_logits, _full(real_logits, real_label)) + (fake_logits * fake_logits).mean())
    raise ValueError(f"discriminator_loss: loss must be one of {LOSSES}, got {loss!r}")


def generator_loss(fake_logits, loss="bce"):
    """loss_G from D's logits on generated images (N, 1); D is frozen while this is minimised.

        bce:    BCE(l_fake, 1) = -log D(G(z))      the non-saturating loss (module docstring)
        hinge:  -mean l_fake
        lsgan:  ½ mean (l_fake - 1)^2
    """
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, _full(fake_logits, 1.0))
    if loss == "hinge":
        return -fake_logits.mean()
    if loss == "lsgan":
        return 0.5 * F.mse_loss(fake_logits, _full(fake_logits, 1.0))
    raise ValueError(f"generator_loss: loss must be one of {LOSSES}, got {loss!r}")


def minimax_generator_loss(fake_logits):
    """G's term of V as written, mean log(1 - D(G(z))) = -BCE(l_fake, 0). Saturates; kept to show why."""
    return -F.binary_cross_entropy_with_logits(fake_logits, _full(fake_logits, 0.0))


def r1_penalty(real_logits, x_real):
    """R1 (Mescheder et al. 2018, Eq. 9): E_x |∇_x D(x)|², the squared gradient norm of D's logit
    at the real images, per example, averaged. x_real: the (N, 1, 28, 28) leaf D was called on
    (requires_grad); real_logits: (N, 1). D's loss adds γ/2 times this: near the data D is made
    flat, so G is not pushed past it (the oscillation the paper analyses, Sec. 4). The gradient is
    recorded (create_graph=True): the penalty's own gradient is a second derivative of D.
    With batch norm in D (dcgan) the rows of ∇ mix the batch a little; the penalty still works."""
    (g,) = grad(real_logits.sum(), x_real, create_graph=True)       # (N, 1, 28, 28)
    g = g.reshape(g.shape[0], -1)                                  # (N, 784)
    return (g * g).sum(dim=1).mean()


def d_output_probability(logits, loss="bce"):
    """Mean of D's output read as "probability real", for the diagnostics d_real and d_fake:
    σ(l) for bce and hinge (decision boundary at l = 0), l clipped to [0, 1] for lsgan (targets 0, 1)."""
    l = logits.data.astype(np.float64)
    if loss == "lsgan":
        return float(np.clip(l, 0.0, 1.0).mean())
    return float(np.mean(0.5 * (1.0 + np.tanh(0.5 * l))))  # σ(l), written without exp overflow


def grad_norm(parameters):
    """|g|: the Euclidean norm of all gradients together (0 for parameters with none)."""
    return float(np.sqrt(sum(float(np.sum(np.square(p.grad, dtype=np.float64)))
                             for p in parameters if p.grad is not None)))


# ---------------------------------------------------------------------------- the two steps


def d_step(D, opt_d, x_real, x_fake, cfg, y=None):
    """One update of D. x_real, x_fake: (N, 1, 28, 28); x_fake must carry no graph (made under
    no_grad or detached), so this backward stops at D's input and G gets nothing.
    y: labels (N,) for a conditional D, else None. Returns the diagnostics of this step."""
    # BEGIN SOLUTION gan_discriminator_step
    opt_d.zero_grad()
    r1 = getattr(cfg, "r1", 0.0)                          # Configs of other lessons may have no R1 setting
    if r1:
        x_real = Tensor(x_real.data, requires_grad=True)  # R1 differentiates D at the real images
    real_logits = D(x_real, y)                            # (N, 1)
    fake_logits = D(x_fake, y)                            # (N, 1)
    loss = discriminator_loss(real_logits, fake_logits, cfg.loss, cfg.real_label)
    stats = {"loss_d": loss.item(), "d_real": d_output_probability(real_logits, cfg.loss),
             "d_fake": d_output_probability(fake_logits, cfg.loss), "grad_norm_d": 0.0}
    if r1:
        penalty = r1_penalty(real_logits, x_real)
        loss = loss + 0.5 * r1 * penalty
        stats["r1"] = penalty.item()
    if cfg.d_skip_below is not None:
        stats["skipped_d"] = float(loss.item() < cfg.d_skip_below)
        if stats["skipped_d"]:
            return stats                                  # D is far ahead: let G catch up
    loss.backward()
    stats["grad_norm_d"] = grad_norm(D.parameters())
    opt_d.step()
    return stats
    # END SOLUTION


def g_step(G, D, opt_g, x_fake, cfg, y=None):
    """One update of G. x_fake = G(z) *with* its graph. D is frozen for this backward: its
    parameters stop requiring grad, so the gradient passes through D's layers into x_fake and
    on into G, while D's weights get no .grad and the optimizer of D is never called."""
    # BEGIN SOLUTION gan_generator_step
    opt_g.zero_grad()
    D.requires_grad_(False)
    try:
        fake_logits = D(x_fake, y)                        # (N, 1)
        loss = generator_loss(fake_logits, cfg.loss)
        loss.backward()
    finally:
        D.requires_grad_(True)
    stats = {"loss_g": loss.item(), "grad_norm_g": grad_norm(G.parameters())}
    opt_g.step()
    return stats
    # END SOLUTION


def train_step(G, D, opt_g, opt_d, x, z, cfg, y=None):
    """One iteration of Algorithm 1 (Goodfellow et al. 2014) with k = 1: a D step, then a G step.

    x: real images (N, 1, 28, 28) in [-1, 1];  z: noise (N, Z), passed in;  y: labels or None.
    """
    x_fake = G(z, y)                                      # (N, Z) -> (N, 1, 28, 28), graph kept for step 2
    stats = d_step(D, opt_d, x, x_fake.detach(), cfg, y)  # 1. detach(): D's gradient stops at G's output
    stats.update(g_step(G, D, opt_g, x_fake, cfg, y))     # 2. through the frozen D into G
    return stats


def generate(G, z, y=None):
    """Images in [0, 1] from noise z (N, Z) (and labels y), in eval mode (batch norm on its running
    statistics, so a sample does not depend on the rest of its batch), without a graph."""
    was_training = G.training
    G.eval()
    try:
        with no_grad():
            z = Tensor(np.asarray(z, dtype=_dtype(G)))
            x = G(z) if y is None else G(z, y)             # (N, 1, 28, 28) in [-1, 1]
    finally:
        G.train(was_training)
    return np.clip((x.data + 1) / 2, 0, 1)                # [-1, 1] -> [0, 1]


def _dtype(module):
    return next(module.parameters()).dtype
