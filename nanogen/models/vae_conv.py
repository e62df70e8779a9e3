"""The convolutional VAE: the same ELBO as vae.py, with convolutions in the encoder and
transposed convolutions in the decoder.

Read vae.py first: everything but the two networks is shared (reparameterize, elbo, the
Likelihood, iwae_bound, train_step). Neighbouring pixels are correlated, so a filter reused at
every position (Conv2d) needs far fewer weights than a dense layer over all 784 pixels, and a
stride-2 ConvTranspose2d undoes a stride-2 Conv2d's halving (Dumoulin & Visin 2016, §4):
    encoder  x (N, C, 28, 28) -conv 4x4 s2-> (N, C1, 14, 14) -conv 4x4 s2-> (N, C2, 7, 7)
             -flatten-> (N, C2*49) -linear-> h (N, H) -> mu, logvar (N, Z)
    decoder  z (N, Z) -linear-> (N, H) -linear-> (N, C2*49) -> (N, C2, 7, 7)
             -convT 4x4 s2-> (N, C1, 14, 14) -convT 4x4 s2-> logits (N, C, 28, 28) -> (N, D)
with ReLU after every layer but the heads and the last. A cvae's one-hot label joins the dense
part on both sides. H and W must be divisible by 4.
"""

import numpy as np

from .. import functional as F
from ..nn import Conv2d, ConvTranspose2d, Linear, Module
from .vae import VAE, VAEConfig


class ConvEncoder(Module):
    """q(z|x):  x (N, C, H, W) [, c (N, K)] -> mu, logvar (N, Z)."""

    def __init__(self, config, dtype=np.float32, rng=None):
        super().__init__()
        C, H, W = config.image_shape
        C1, C2 = config.channels
        self.image_shape = (C, H, W)
        self.conv1 = Conv2d(C, C1, 4, stride=2, padding=1, dtype=dtype, rng=rng)       # H -> H/2
        self.conv2 = Conv2d(C1, C2, 4, stride=2, padding=1, dtype=dtype, rng=rng)      # H/2 -> H/4
        self.fc = Linear(C2 * (H // 4) * (W // 4) + config.n_classes, config.hidden_dim, dtype=dtype, rng=rng)
        self.fc_mu = Linear(config.hidden_dim, config.latent_dim, dtype=dtype, rng=rng)
        self.fc_logvar = Linear(config.hidden_dim, config.latent_dim, dtype=dtype, rng=rng)

    def forward(self, x, c=None):
        N = x.shape[0]
        h = x.reshape(N, *self.image_shape)                   # (N, D) or (N, C, H, W) -> (N, C, H, W)
        h = F.relu(self.conv1(h))                             # (N, C1, H/2, W/2)
        h = F.relu(self.conv2(h))                             # (N, C2, H/4, W/4)
        h = h.reshape(N, -1)                                  # (N, C2*H*W/16)
        if c is not None:
            h = F.cat([h, c], dim=1)                          # (N, C2*H*W/16 + K)
        h = F.relu(self.fc(h))                                # (N, hidden)
        return self.fc_mu(h), self.fc_logvar(h)


class ConvDecoder(Module):
    """p(x|z):  z (N, Z) [, c (N, K)] -> logits (N, D), D = C*H*W."""

    def __init__(self, config, dtype=np.float32, rng=None):
        super().__init__()
        C, H, W = config.image_shape
        C1, C2 = config.channels
        self.start = (C2, H // 4, W // 4)
        self.fc1 = Linear(config.latent_dim + config.n_classes, config.hidden_dim, dtype=dtype, rng=rng)
        self.fc2 = Linear(config.hidden_dim, C2 * (H // 4) * (W // 4), dtype=dtype, rng=rng)
        self.deconv1 = ConvTranspose2d(C2, C1, 4, stride=2, padding=1, dtype=dtype, rng=rng)   # H/4 -> H/2
        self.deconv2 = ConvTranspose2d(C1, C, 4, stride=2, padding=1, dtype=dtype, rng=rng)    # H/2 -> H

    def forward(self, z, c=None):
        N = z.shape[0]
        if c is not None:
            z = F.cat([z, c], dim=1)                          # (N, Z + K)
        h = F.relu(self.fc1(z))                               # (N, hidden)
        h = F.relu(self.fc2(h)).reshape(N, *self.start)       # (N, C2*H*W/16) -> (N, C2, H/4, W/4)
        h = F.relu(self.deconv1(h))                           # (N, C1, H/2, W/2)
        return self.deconv2(h).reshape(N, -1)                 # (N, C, H, W) -> (N, D) logits


def build_vae(config=None, dtype=np.float32, rng=None):
    """The VAE the config asks for: the MLP of vae.py (arch "mlp") or the networks above ("conv")."""
    config = config or VAEConfig()
    if config.arch == "mlp":
        return VAE(config, dtype, rng)
    C, H, W = config.image_shape
    if H % 4 or W % 4 or len(config.channels) != 2:
        raise ValueError(f"build_vae: the conv VAE needs H and W divisible by 4 and two channel counts, "
                         f"got image_shape {config.image_shape}, channels {config.channels}")
    encoder = ConvEncoder(config, dtype, rng)
    decoder = ConvDecoder(config, dtype, rng)
    return VAE(config, dtype, rng, encoder=encoder, decoder=decoder)
