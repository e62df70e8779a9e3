"""DCGAN and the conditional GAN: gan.py's game with convolutional networks, and with labels.

Read gan.py first: the losses and the two steps come from there unchanged; only G and D
differ (gan_recipes.py runs both as `nanogen train dcgan | cgan`). DCGAN (Radford et al. 2015,
"Unsupervised representation learning with deep convolutional GANs", Sec. 3 and 4): G upsamples
with stride-2 transposed convolutions, D downsamples with stride-2 convolutions (no pooling),
batch norm in both (not on G's output nor D's input), ReLU in G, LeakyReLU(0.2) in D, tanh
output, weights ~ N(0, 0.02), Adam with lr 2e-4 and beta1 0.5. For 28x28 MNIST, with C = base_channels = 64:

    G: z (N, Z) -Linear-> (N, 2C*7*7) -BN1d, ReLU, reshape-> (N, 2C, 7, 7)
         -ConvT(2C, C, 4, 2, 1)-> (N, C, 14, 14) -BN2d, ReLU
         -ConvT(C, 1, 4, 2, 1)-> (N, 1, 28, 28) -tanh
    D: x (N, 1, 28, 28) -Conv(1, C, 4, 2, 1)-> (N, C, 14, 14) -LeakyReLU(0.2)
         -Conv(C, 2C, 4, 2, 1)-> (N, 2C, 7, 7) -BN2d, LeakyReLU(0.2)
         -flatten-> (N, 2C*7*7) -Linear-> (N, 1) logits

The conditional GAN (Mirza & Osindero 2014, Sec. 3.2) gives both networks the label y:
    G(z, y): z concatenated with one_hot(y): (N, Z + K) into the same Linear layer
    D(x, y): a learned map per label, Embedding(K, 28*28) -> (N, 1, 28, 28), stacked on x as a
             second input channel, so D judges "is this a real *y*?", and G must draw the digit
             it is asked for: sample with y = 7, get a 7.
With --spectral-norm every weight of D is spectrally normalised and D's batch norm is dropped,
as in Miyato et al. 2018 (Sec. 4, Table 3: the SN discriminators have no batch norm).
Measured with `nanogen eval` (FCD, inception score, class shares; against PyTorch's run of the
same network): docs/results.md. In short, dcgan after 5 epochs matches PyTorch's FCD and draws
every digit, and cgan draws the digit it is asked for most of the time.
Failure modes: as gan.py, plus batch-norm artefacts: samples are drawn in eval mode, on running
statistics, which after one epoch scores about the same FCD as batch statistics (docs/results.md).
"""

import numpy as np

from .. import functional as F
from .. import nn
from ..tensor import as_array
from .gan import maybe_spectral_norm


def dcgan_init_(module, rng=None):
    """Radford et al. 2015, Sec. 4: conv weights ~ N(0, 0.02); batch-norm scales ~ N(1, 0.02),
    shifts 0 (the PyTorch DCGAN example's weights_init). Linear layers keep their default."""
    rng = np.random.default_rng() if rng is None else rng
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.weight.data[...] = rng.normal(0.0, 0.02, m.weight.shape)
            if m.bias is not None:
                m.bias.data[...] = 0
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.data[...] = rng.normal(1.0, 0.02, m.weight.shape)
            m.bias.data[...] = 0
    return module


def _start_size(image_shape, who):
    """S/4, the side of the smallest feature map, for images (C, S, S) with S divisible by 4."""
    C, H, W = image_shape
    if H != W or H % 4 or C not in (1, 3):
        raise ValueError(f"{who}: images must be (1 or 3, S, S) with S divisible by 4 (two stride-2 "
                         f"layers), got {tuple(image_shape)}; e.g. --image-size 28 or 32")
    return H // 4


class DCGANGenerator(nn.Module):
    """G: z (N, Z) [and labels y (N,) when n_classes > 0] -> images (N, C_img, S, S) in [-1, 1]
    (MNIST: (N, 1, 28, 28), from 7x7; at --image-size 32 from 8x8)."""

    def __init__(self, latent_dim=100, base_channels=64, n_classes=0, image_shape=(1, 28, 28), rng=None):
        super().__init__()
        C, S4 = base_channels, _start_size(image_shape, "DCGANGenerator")
        self.latent_dim, self.base_channels, self.n_classes, self.start = latent_dim, C, n_classes, S4
        self.fc = nn.Sequential(nn.Linear(latent_dim + n_classes, 2 * C * S4 * S4, rng=rng),
                                nn.BatchNorm1d(2 * C * S4 * S4), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * C, C, 4, 2, 1, rng=rng), nn.BatchNorm2d(C), nn.ReLU(),   # 7 -> 14
            nn.ConvTranspose2d(C, image_shape[0], 4, 2, 1, rng=rng), nn.Tanh())            # 14 -> 28
        dcgan_init_(self, rng)

    def forward(self, z, y=None):
        N = z.shape[0]
        if self.n_classes:
            if y is None:
                raise ValueError(f"DCGANGenerator: this generator is conditional; call G(z, y) with labels "
                                 f"y (N,) in [0, {self.n_classes})")
            z = F.cat([z, F.one_hot(y, self.n_classes, z.dtype)], dim=1)   # (N, Z) -> (N, Z + K)
        elif y is not None:
            raise ValueError("DCGANGenerator: this generator is unconditional; call G(z) without labels")
        h = self.fc(z)                                                    # (N, 2C*7*7)
        h = h.reshape(N, 2 * self.base_channels, self.start, self.start)  # -> (N, 2C, 7, 7)
        return self.net(h)                                                # -> (N, 1, 28, 28)


class DCGANDiscriminator(nn.Module):
    """D: images (N, C_img, S, S) [and labels y (N,) when n_classes > 0] -> logits (N, 1)
    (MNIST: (N, 1, 28, 28))."""

    def __init__(self, base_channels=64, n_classes=0, spectral_norm=False, image_shape=(1, 28, 28), rng=None):
        super().__init__()
        C, S4 = base_channels, _start_size(image_shape, "DCGANDiscriminator")
        self.n_classes, self.image_shape = n_classes, tuple(image_shape)
        S = 4 * S4
        sn = lambda layer: maybe_spectral_norm(layer, spectral_norm, rng)  # noqa: E731
        if n_classes:
            self.label_map = nn.Embedding(n_classes, S * S, rng=rng)       # one learned 28x28 plane per label
        self.net = nn.Sequential(
            sn(nn.Conv2d(image_shape[0] + (n_classes > 0), C, 4, 2, 1, rng=rng)), nn.LeakyReLU(0.2),   # 28 -> 14
            sn(nn.Conv2d(C, 2 * C, 4, 2, 1, rng=rng)),                                                 # 14 -> 7
            nn.Identity() if spectral_norm else nn.BatchNorm2d(2 * C), nn.LeakyReLU(0.2),
            nn.Flatten(),                                                                    # -> (N, 2C*7*7)
            sn(nn.Linear(2 * C * S4 * S4, 1, rng=rng)))                                      # -> (N, 1)
        dcgan_init_(self, rng)

    def forward(self, x, y=None):
        if self.n_classes:
            if y is None:
                raise ValueError(f"DCGANDiscriminator: this discriminator is conditional; call D(x, y) with "
                                 f"labels y (N,) in [0, {self.n_classes})")
            planes = self.label_map(as_array(y))                                # (N, 784)
            S = self.image_shape[1]
            x = F.cat([x, planes.reshape(x.shape[0], 1, S, S)], dim=1)          # -> (N, 2, 28, 28)
        elif y is not None:
            raise ValueError("DCGANDiscriminator: this discriminator is unconditional; call D(x) without labels")
        return self.net(x)
