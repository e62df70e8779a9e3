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
Measured with `nanogen eval` (10,000 samples, nanogen's classifier; FCD floor of the test set
against itself, half vs half: 32.7): dcgan after 5 epochs FCD 196, inception score 6.0, digits
from 3.3% (1s) to 17.7% (0s) of the samples -- PyTorch's run of the same network, same weights,
batches and noise: FCD 205, 3.8% to 17.9%; cgan after 3 epochs FCD 82, inception score 8.4,
every digit 8.8-11.9%, and the classifier reads the requested digit in 85% of the samples.
Failure modes: as gan.py, plus batch-norm artefacts: samples are drawn in eval mode, on running
statistics (measured after one epoch: FCD 441.0, against 440.3 with batch statistics).
"""

import numpy as np

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from .gan import maybe_spectral_norm


def one_hot(y, n_classes, dtype):
    """Labels (N,) -> (N, K) rows of zeros with a 1 at the label; a constant, no gradient."""
    y = np.asarray(getattr(y, "data", y))
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"one_hot: labels must be an (N,) integer array, got shape {y.shape}, dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {n_classes}), got {y.min()} .. {y.max()}")
    out = np.zeros((y.shape[0], n_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


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


class DCGANGenerator(nn.Module):
    """G: z (N, Z) [and labels y (N,) when n_classes > 0] -> images (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim=100, base_channels=64, n_classes=0, rng=None):
        super().__init__()
        C = base_channels
        self.latent_dim, self.base_channels, self.n_classes = latent_dim, C, n_classes
        self.fc = nn.Sequential(nn.Linear(latent_dim + n_classes, 2 * C * 7 * 7, rng=rng),
                                nn.BatchNorm1d(2 * C * 7 * 7), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * C, C, 4, 2, 1, rng=rng), nn.BatchNorm2d(C), nn.ReLU(),   # 7 -> 14
            nn.ConvTranspose2d(C, 1, 4, 2, 1, rng=rng), nn.Tanh())                          # 14 -> 28
        dcgan_init_(self, rng)

    def forward(self, z, y=None):
        N = z.shape[0]
        if self.n_classes:
            if y is None:
                raise ValueError(f"DCGANGenerator: this generator is conditional; call G(z, y) with labels "
                                 f"y (N,) in [0, {self.n_classes})")
            z = F.cat([z, Tensor(one_hot(y, self.n_classes, z.dtype))], dim=1)   # (N, Z) -> (N, Z + K)
        elif y is not None:
            raise ValueError("DCGANGenerator: this generator is unconditional; call G(z) without labels")
        h = self.fc(z)                                                    # (N, 2C*7*7)
        h = h.reshape(N, 2 * self.base_channels, 7, 7)                    # -> (N, 2C, 7, 7)
        return self.net(h)                                                # -> (N, 1, 28, 28)


class DCGANDiscriminator(nn.Module):
    """D: images (N, 1, 28, 28) [and labels y (N,) when n_classes > 0] -> logits (N, 1)."""

    def __init__(self, base_channels=64, n_classes=0, spectral_norm=False, rng=None):
        super().__init__()
        C = base_channels
        self.n_classes = n_classes
        sn = lambda layer: maybe_spectral_norm(layer, spectral_norm, rng)  # noqa: E731
        if n_classes:
            self.label_map = nn.Embedding(n_classes, 28 * 28, rng=rng)     # one learned 28x28 plane per label
        self.net = nn.Sequential(
            sn(nn.Conv2d(1 + (n_classes > 0), C, 4, 2, 1, rng=rng)), nn.LeakyReLU(0.2),      # 28 -> 14
            sn(nn.Conv2d(C, 2 * C, 4, 2, 1, rng=rng)),                                       # 14 -> 7
            nn.Identity() if spectral_norm else nn.BatchNorm2d(2 * C), nn.LeakyReLU(0.2),
            nn.Flatten(),                                                                    # -> (N, 2C*7*7)
            sn(nn.Linear(2 * C * 7 * 7, 1, rng=rng)))                                        # -> (N, 1)
        dcgan_init_(self, rng)

    def forward(self, x, y=None):
        if self.n_classes:
            if y is None:
                raise ValueError(f"DCGANDiscriminator: this discriminator is conditional; call D(x, y) with "
                                 f"labels y (N,) in [0, {self.n_classes})")
            planes = self.label_map(np.asarray(getattr(y, "data", y)))          # (N, 784)
            x = F.cat([x, planes.reshape(x.shape[0], 1, 28, 28)], dim=1)        # -> (N, 2, 28, 28)
        elif y is not None:
            raise ValueError("DCGANDiscriminator: this discriminator is unconditional; call D(x) without labels")
        return self.net(x)
