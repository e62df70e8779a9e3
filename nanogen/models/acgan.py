"""The auxiliary-classifier GAN: a discriminator that also says which digit it sees.

Read gan.py and dcgan.py first: the game, the losses and the networks come from there. AC-GAN
(Odena, Olah & Shlens 2017, "Conditional image synthesis with auxiliary classifier GANs", Sec. 3)
asks for a class c as the conditional GAN does, G(z, c), but D is *not* shown the label.
Instead D has two heads on one trunk and answers two questions about every image:

    P(S | X)   source: real or generated             (the usual logit l, shape (N, 1))
    P(C | X)   class: which of the K digits            (class logits k, shape (N, K))

and the objective splits into the log-likelihood of the right source and of the right class:

    L_S = E[log P(S = real | X_real)] + E[log P(S = fake | X_fake)]
    L_C = E[log P(C = c | X_real)]    + E[log P(C = c | X_fake)]

D is trained to maximise L_S + L_C, G to maximise L_C - L_S (Sec. 3). As losses to minimise,
with gan.py's non-saturating form for G's source term and a weight λ on the class terms:

    loss_D = loss_D^source(l_real, l_fake) + λ (CE(k_real, y) + CE(k_fake, c))
    loss_G = loss_G^source(l_fake)         + λ CE(k_fake, c)

So G is pushed towards images that look real *and* that D's classifier reads as c. The cgan of
dcgan.py only gets "is this a real c?" from D; here the class is a separate, dense signal, and
the paper credits it with samples that obey their label.
What it trades (Shu, Bui & Ermon 2017; Gong et al. 2019, "Twin auxiliary classifiers GAN"):
the fake-class term rewards G for images that are *easy* to classify, far from other classes, so
AC-GAN's samples of a class cluster on its most typical shapes and lose the in-between ones:
less diversity within each class. `nanogen eval` measures both sides: label_accuracy (does the
classifier read the requested digit?) and fcd_class_k (Frechet distance of the samples asked for
digit k to the real k's; the per-class floor is fcd_within_class_floor).
A subtler weakness of the fake-class term in loss_D: on the fakes D and G minimise the *same*
cross-entropy, so they can agree on any code that separates G's classes, digit-like or not.
Here that term is off by default (ACGANConfig.fake_class_loss = False; `--fake-class-loss` puts
it back): D's class head learns from real digits only and G has to draw what a real-digit
classifier recognises. Measured (README): with it, 85.6% of the samples read as the digit asked
for after 60 minutes of a shared machine (cgan: 87.0%); without it, 95.9% after 45 minutes.

Where the MNIST scale differs from the paper: the paper trains 128x128 ImageNet (100 AC-GANs, 10
classes each) with its own deep networks; we use dcgan.py's two-layer networks at 28x28 so that
only D's heads differ from cgan: G is the conditional DCGAN generator (label as a one-hot
concatenated to z), D is the DCGAN discriminator without its label plane, whose last layer is
replaced by two Linear heads. The fake images are asked for the labels of the real batch beside
them (the paper draws c from the class prior; on MNIST the two are close). λ = 1, as in the paper.
D's class loss covers the real images only unless --fake-class-loss (below).
Shapes: z (N, Z), labels (N,) ints in [0, K), images (N, 1, 28, 28) in [-1, 1].
"""

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import nn
from ..settings import setting
from .dcgan import DCGANDiscriminator
from .gan import GANConfig, d_output_probability, discriminator_loss, generator_loss, grad_norm


@dataclass
class ACGANConfig(GANConfig):
    """gan.py's settings and λ."""

    aux_weight: float = setting(1.0, "λ, the weight of the class terms in both losses (the paper: 1)",
                                is_positive=True)
    fake_class_loss: bool = setting(False, "D also learns to name the class of the fakes, as the paper's L_C "
                                           "(default: of the real images only)")

    def __post_init__(self):
        super().__post_init__()
        if not self.aux_weight >= 0:
            raise ValueError(f"ACGANConfig: aux_weight (λ) must be >= 0, got {self.aux_weight}")


class ACGANDiscriminator(nn.Module):
    """D: images (N, 1, 28, 28) -> (source logits (N, 1), class logits (N, K)). No label input.

    The trunk is dcgan.py's discriminator up to its flattened features (N, 2C*7*7); two Linear
    heads read them: one the real/fake logit, one the K class logits.
    """

    def __init__(self, base_channels=64, n_classes=10, spectral_norm=False, rng=None):
        super().__init__()
        C = base_channels
        dcgan_d = DCGANDiscriminator(base_channels, spectral_norm=spectral_norm, rng=rng)
        self.trunk = dcgan_d.net[:-1]                                  # without its Linear(2C*7*7, 1)
        self.source = dcgan_d.net[-1]                                  # that Linear, now the source head
        self.classes = nn.Linear(2 * C * 7 * 7, n_classes, rng=rng)    # the auxiliary classifier head
        self.n_classes = n_classes

    def forward(self, x, y=None):
        if y is not None:
            raise ValueError("ACGANDiscriminator: D is not shown the label; call D(x), it predicts the class itself")
        h = self.trunk(x)                                              # (N, 1, 28, 28) -> (N, 2C*7*7)
        return self.source(h), self.classes(h)                         # (N, 1), (N, K)


# ---------------------------------------------------------------------------- the two losses


def auxiliary_discriminator_loss(real_logits, real_class_logits, fake_logits, fake_class_logits, y_real, y_fake,
                                 cfg):
    """loss_D = loss_D^source + λ (CE(k_real, y_real) + CE(k_fake, y_fake)), with its two parts.

    logits (N, 1); class logits (N, K); y_real: the data's labels (N,); y_fake: the labels G was
    asked for (N,). With cfg.fake_class_loss off, the CE(k_fake, y_fake) term is left out: D's
    class head then learns real digits only, and G cannot agree with D on a code of its own
    (on the fakes both players minimise the same term). Returns (loss, source part, class part),
    each a scalar Tensor."""
    # BEGIN SOLUTION acgan_auxiliary_loss
    source = discriminator_loss(real_logits, fake_logits, cfg.loss, cfg.real_label)
    classes = F.cross_entropy(real_class_logits, y_real)
    if cfg.fake_class_loss:
        classes = classes + F.cross_entropy(fake_class_logits, y_fake)
    return source + cfg.aux_weight * classes, source, classes
    # END SOLUTION


def auxiliary_generator_loss(fake_logits, fake_class_logits, y_fake, cfg):
    """loss_G = loss_G^source + λ CE(k_fake, y_fake): look real, and look like the digit asked for.
    Returns (loss, source part, class part)."""
    # BEGIN SOLUTION acgan_auxiliary_loss
    source = generator_loss(fake_logits, cfg.loss)
    classes = F.cross_entropy(fake_class_logits, y_fake)
    return source + cfg.aux_weight * classes, source, classes
    # END SOLUTION


def class_accuracy(class_logits, y):
    """How often D's class head picks the label y (N,): a diagnostic, no gradient."""
    return float(np.mean(class_logits.data.argmax(axis=1) == np.asarray(y)))


# ---------------------------------------------------------------------------- the two steps (gan.py's, two heads)


def d_step(D, opt_d, x_real, x_fake, y_real, y_fake, cfg):
    """One update of D on a real batch (with its labels) and a generated one (with the labels asked
    for); x_fake carries no graph, as in gan.d_step."""
    opt_d.zero_grad()
    real_logits, real_class = D(x_real)                                # (N, 1), (N, K)
    fake_logits, fake_class = D(x_fake)
    loss, source, classes = auxiliary_discriminator_loss(real_logits, real_class, fake_logits, fake_class,
                                                         y_real, y_fake, cfg)
    loss.backward()
    opt_d.step()
    return {"loss_d": loss.item(), "loss_d_source": source.item(), "loss_d_class": classes.item(),
            "d_real": d_output_probability(real_logits, cfg.loss), "d_fake": d_output_probability(fake_logits, cfg.loss),
            "d_class_acc_real": class_accuracy(real_class, y_real),
            "d_class_acc_fake": class_accuracy(fake_class, y_fake), "grad_norm_d": grad_norm(D.parameters())}


def g_step(G, D, opt_g, x_fake, y_fake, cfg):
    """One update of G through the frozen D (as gan.g_step): both of D's heads judge x_fake = G(z, c)."""
    opt_g.zero_grad()
    D.requires_grad_(False)
    try:
        fake_logits, fake_class = D(x_fake)
        loss, source, classes = auxiliary_generator_loss(fake_logits, fake_class, y_fake, cfg)
        loss.backward()
    finally:
        D.requires_grad_(True)
    stats = {"loss_g": loss.item(), "loss_g_source": source.item(), "loss_g_class": classes.item(),
             "grad_norm_g": grad_norm(G.parameters())}
    opt_g.step()
    return stats


def train_step(G, D, opt_g, opt_d, x, y, z, cfg):
    """A D step, then a G step (gan.train_step's order). x: real images (N, 1, 28, 28) in [-1, 1]
    with labels y (N,); z: noise (N, Z). The fakes are asked for the same labels y."""
    x_fake = G(z, y)                                                   # (N, Z) + (N,) -> (N, 1, 28, 28)
    stats = d_step(D, opt_d, x, x_fake.detach(), y, y, cfg)
    stats.update(g_step(G, D, opt_g, x_fake, y, cfg))
    return stats
