"""A style-based generator: a constant input, styles from a mapping network, and noise.

The idea (Karras et al. 2019, "A style-based generator architecture for generative adversarial
networks", Sec. 2, Fig. 1b). A traditional generator feeds z into its first layer and hopes the
layers untangle it. The style-based generator never shows z to the convolutions at all:
  * the synthesis network g starts from a *learned constant* 7x7 block (Sec. 2: "we found it
    beneficial to omit the input layer and start from a learned constant"), and
  * a mapping network f: z -> w (an MLP) produces an intermediate latent w, which a learned affine
    map A per layer turns into a style y = (y_s, y_b) that controls adaptive instance normalisation
        AdaIN(x_i, y) = y_s,i * (x_i - mu(x_i)) / sigma(x_i) + y_b,i            (Eq. 1)
    after every convolution. AdaIN throws away each channel's statistics and imposes the style's:
    a style acts on one layer only, until the next AdaIN overrides it. That locality is what makes
    style mixing work: take w1 for the coarse layers and w2 for the fine ones, and the image gets
    w1's pose and shape and w2's stroke (Sec. 3.1);
  * every layer also gets per-pixel Gaussian noise, one single-channel image broadcast to all
    channels with learned per-channel scales B (Sec. 2, 3.2). The noise carries the stochastic
    detail (for digits: the exact wobble and thickness of a stroke), so w need not.
Training (Sec. 3.1, "mixing regularization"): for 90% of the batches two latents z1, z2 are
mapped and a random crossover layer k splits the layers: w1 before k, w2 from k on. The network
cannot rely on neighbouring layers sharing a style, so the styles localise.
Sampling: the truncation trick in W (Sec. 3.1, Eq. 2 of App. B): w' = w_avg + psi (w - w_avg)
with w_avg the running mean of the mapping network's outputs; psi = 0 gives the "average digit",
psi = 1 the untruncated distribution, in between trades variety for typical-looking samples.

AdaIN, not weight modulation/demodulation (StyleGAN2, Karras et al. 2020, Sec. 2.2): demodulation
was introduced against the "droplet" artefacts that AdaIN's per-channel normalisation causes at
high resolutions (the generator sneaks a strong local spike past the normalisation to carry
signal). At 28x28 with six style layers they have little room to appear; AdaIN is the paper this
lecture reads, it is one line on top of instance norm (nn/style_layers.py), and it keeps the
convolution an ordinary shared-weight conv (demodulation needs a different weight per sample).

The discriminator and the game are gan.py's, unchanged: non-saturating logistic loss (the loss of
the paper, App. C), gan.d_step and gan.g_step, and by default the DCGAN discriminator of dcgan.py,
so a comparison with `dcgan` measures the generator alone. The paper stabilises D with the R1
penalty, gamma/2 * E_x |grad_x D(x)|^2 on real images (Mescheder et al. 2018), whose gradient needs
the gradient of a gradient. nanogen's backward is first-order (README, "Honest limits"), so R1 is
replaced by a first-order stabiliser that already exists here: spectral normalisation of D's
weights (gan.SpectralNorm, Miyato et al. 2018), which bounds D's Lipschitz constant directly where
R1 penalises D's input gradient on the data (on by default; `--no-spectral-norm` turns it off).

Shapes: z (N, Z); w (N, W); styles: a list of n_styles = 6 tensors (N, W), two per resolution;
noise: a list of 6 arrays (N, 1, R, R), R = 7, 7, 14, 14, 28, 28; images (N, 1, 28, 28), the data
rescaled to [-1, 1] as in gan.py.
Where the MNIST-scale choices differ from the paper (1024x1024 faces, days on 8 GPUs):
  * 7x7 constant and three resolutions 7 -> 14 -> 28 (the paper: 4x4 -> ... -> 1024, 18 styles);
    coarse = the 7x7 styles, middle = 14x14, fine = 28x28;
  * mapping network of 4 layers of width 64 (paper: 8 of 512), z and w 64-dimensional (512);
  * channels 32, 16, 8 (paper: 512 down to 32), chosen so that one iteration costs about 1.3
    dcgan iterations; nearest-neighbour upsampling without the paper's bilinear blur;
  * plain convolutions with PyTorch's initialisation (AdaIN renormalises every layer, so their
    scale matters little); equalized lr (nn/gan_layers.EqualizedLinear) in the mapping network and
    in AdaIN's affine maps, where the scale of the styles does matter. The mapping network's lr_mul
    is 0.1, not 0.01: times our lr 2e-4 that is a step of 2e-5, near the paper's 0.01 x 0.001;
  * no progressive growing (the paper grows from 8x8 up);
  * R1 replaced by spectral normalisation (above); batch 128, Adam(2e-4, betas 0.5, 0.999) as dcgan.
Measured results: docs/results.md (against dcgan at an equal CPU budget; early in training the
style-based generator is behind, having to learn styles from a constant before digits appear).
Failure modes: those of gan.py; and without mixing regularisation neighbouring styles stay
correlated, so mixed images degrade (the paper's Table 2; not measured here).
Read after gan.py, dcgan.py and nn/style_layers.py; stylegan_recipes.py wires it into the CLI
(its StyleGANRecipe subclasses gan_recipes.GANRecipe).
"""

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import no_grad
from ..nn.gan_layers import EqualizedLinear
from ..nn.style_layers import AdaIN, NoiseInjection
from ..settings import setting
from ..tensor import Tensor
from . import gan
from .gan import GANConfig

RESOLUTIONS = (7, 14, 28)           # the synthesis network's resolutions; two style layers each


@dataclass
class StyleGANConfig(GANConfig):
    """gan.py's settings (loss, learning rates, D's base_channels, ...) and the style-based
    generator's. Fields made with setting(default, help) are `nanogen train stylegan` flags."""

    latent_dim: int = setting(64, "Z, size of z", is_positive=True)
    w_dim: int = setting(64, "W, size of the intermediate latent w", is_positive=True)
    mapping_layers: int = setting(4, "layers of the mapping network f: z -> w", is_positive=True)
    mapping_lr_mul: float = setting(0.1, "learning-rate multiplier of the mapping network", is_positive=True)
    channels: tuple = setting((32, 16, 8), "synthesis channels at 7x7, 14x14 and 28x28", is_positive=True, nargs=3)
    mixing_prob: float = setting(0.9, "share of batches trained with two styles (mixing regularisation; 0: off)")
    w_avg_beta: float = 0.995              # w_avg <- beta * w_avg + (1 - beta) * mean of the batch's w
    spectral_norm: bool = setting(True, "spectral normalisation of D, in place of the paper's R1 penalty")

    def __post_init__(self):
        super().__post_init__()
        self.channels = tuple(self.channels)
        if len(self.channels) != len(RESOLUTIONS):
            raise ValueError(f"StyleGANConfig: channels needs one width per resolution {RESOLUTIONS}, "
                             f"got {self.channels}")
        if not 0.0 <= self.mixing_prob <= 1.0:
            raise ValueError(f"StyleGANConfig: mixing_prob must be in [0, 1], got {self.mixing_prob}")


# ---------------------------------------------------------------------------- the mapping network f: z -> w


def normalize_2nd_moment(z, eps=1e-8):
    """z / sqrt(mean(z^2) + eps) per row: (N, Z) -> (N, Z). The paper normalises z before f
    (official code; the pixel norm of the progressive GAN applied to the latent)."""
    return z / ((z * z).mean(dim=1, keepdim=True) + eps).sqrt()


class MappingNetwork(nn.Module):
    """f: z (N, Z) -> w (N, W): normalise z, then n_layers of EqualizedLinear + LeakyReLU(0.2).

    Gain sqrt(2) (He) keeps w about as large as the normalised z, so different z give clearly
    different styles from the first step."""

    def __init__(self, latent_dim, w_dim, n_layers, lr_mul=0.1, rng=None):
        super().__init__()
        dims = [latent_dim] + [w_dim] * n_layers
        layers = []
        for i, o in zip(dims[:-1], dims[1:]):
            layers += [EqualizedLinear(i, o, gain=np.sqrt(2), lr_mul=lr_mul, rng=rng), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(normalize_2nd_moment(z))


# ---------------------------------------------------------------------------- the synthesis network g


class StyleLayer(nn.Module):
    """One layer of g: [conv 3x3 ->] + noise -> LeakyReLU(0.2) -> AdaIN(., style).

    x: (N, C_in, R, R) -> (N, C, R, R); the very first layer has no conv (it acts on the constant).
    """

    def __init__(self, in_channels, channels, w_dim, conv=True, rng=None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3, padding=1, rng=rng) if conv else None
        self.noise = NoiseInjection(channels)
        self.act = nn.LeakyReLU(0.2)
        self.adain = AdaIN(w_dim, channels, rng=rng)

    def forward(self, x, w, noise):
        if self.conv is not None:
            x = self.conv(x)
        return self.adain(self.act(self.noise(x, noise)), w)


class SynthesisNetwork(nn.Module):
    """g: styles (6 tensors (N, W)) and noise (6 arrays (N, 1, R, R)) -> images (N, 1, 28, 28).

        const (1, C0, 7, 7)  -[noise, AdaIN w_0]-[conv, noise, AdaIN w_1]->            (N, C0, 7, 7)
        upsample x2 -[conv, noise, AdaIN w_2]-[conv, noise, AdaIN w_3]->                (N, C1, 14, 14)
        upsample x2 -[conv, noise, AdaIN w_4]-[conv, noise, AdaIN w_5]->                (N, C2, 28, 28)
        toRGB: conv 1x1 -> (N, 1, 28, 28), linear output as in the paper (no tanh)
    """

    def __init__(self, w_dim, channels=(32, 16, 8), rng=None):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        C0 = channels[0]
        R0 = RESOLUTIONS[0]
        # random, not ones: instance norm of a constant plane would divide 0 by sqrt(eps)
        self.const = nn.Parameter(rng.standard_normal((1, C0, R0, R0)).astype(np.float32))
        layers, c_in = [], C0
        for i, C in enumerate(channels):
            layers.append(StyleLayer(c_in, C, w_dim, conv=i > 0, rng=rng))
            layers.append(StyleLayer(C, C, w_dim, rng=rng))
            c_in = C
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.Conv2d(c_in, 1, 1, rng=rng)
        self.n_styles = len(layers)
        self.noise_shapes = [(1, 1, R, R) for R in RESOLUTIONS for _ in range(2)]
        # a fixed noise image per layer, used when the caller passes none (sampling, `generate`): the
        # same z then always gives the same image (the official code's noise_mode="const")
        for i, shape in enumerate(self.noise_shapes):
            self.register_buffer(f"noise_const_{i}", Tensor(rng.standard_normal(shape).astype(np.float32)))

    def draw_noise(self, N, rng, dtype=np.float32):
        """Fresh noise for a batch: a list of n_styles arrays (N, 1, R, R) ~ N(0, 1)."""
        return [rng.standard_normal((N, 1, s[2], s[3])).astype(dtype) for s in self.noise_shapes]

    def forward(self, styles, noise=None):
        if len(styles) != self.n_styles:
            raise ValueError(f"SynthesisNetwork: needs {self.n_styles} styles (one per layer), got {len(styles)}")
        if noise is None:
            noise = [getattr(self, f"noise_const_{i}") for i in range(self.n_styles)]
        elif len(noise) != self.n_styles:
            raise ValueError(f"SynthesisNetwork: needs {self.n_styles} noise images (one per layer), got {len(noise)}")
        N = styles[0].shape[0]
        x = self.const.expand(N, *self.const.shape[1:])             # (1, C0, 7, 7) -> (N, C0, 7, 7)
        for i, (layer, w, n) in enumerate(zip(self.layers, styles, noise)):
            if i > 0 and i % 2 == 0:
                x = F.interpolate(x, scale_factor=2)                 # (N, C, R, R) -> (N, C, 2R, 2R)
            x = layer(x, w, n)
        return self.to_rgb(x)                                        # (N, C2, 28, 28) -> (N, 1, 28, 28)


# ---------------------------------------------------------------------------- the generator: f, then g


def mix_styles(w1, w2, crossover, n_styles):
    """Style mixing: w1 for layers 0 .. crossover-1 (coarse), w2 for the rest (fine). -> list of n_styles."""
    if not 0 <= crossover <= n_styles:
        raise ValueError(f"mix_styles: crossover must be in [0, {n_styles}], got {crossover}")
    return [w1] * crossover + [w2] * (n_styles - crossover)


def truncate(w, w_avg, psi):
    """The truncation trick in W: w' = w_avg + psi (w - w_avg). psi = 1 leaves w as it is."""
    return w if psi == 1 else w_avg + psi * (w - w_avg)


class StyleGenerator(nn.Module):
    """G(z) = g([f(z)] * 6, noise): the style-based generator of Fig. 1b.

    z: (N, Z) -> images (N, 1, 28, 28). noise: a list from draw_noise, or None for the fixed noise;
    psi < 1 truncates w towards w_avg (a buffer: the running mean of f's outputs during training).
    """

    def __init__(self, latent_dim=64, w_dim=64, mapping_layers=4, channels=(32, 16, 8), mapping_lr_mul=0.1,
                 w_avg_beta=0.995, rng=None):
        super().__init__()
        self.latent_dim, self.w_dim, self.w_avg_beta = latent_dim, w_dim, w_avg_beta
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, lr_mul=mapping_lr_mul, rng=rng)
        self.synthesis = SynthesisNetwork(w_dim, channels, rng=rng)
        self.n_styles = self.synthesis.n_styles
        self.register_buffer("w_avg", Tensor(np.zeros(w_dim, dtype=np.float32)))

    def map(self, z):
        """w = f(z), (N, Z) -> (N, W); in training mode also moves w_avg towards the batch mean."""
        z = z if isinstance(z, Tensor) else Tensor(np.asarray(z, dtype=self.w_avg.dtype))
        w = self.mapping(z)
        if self.training:
            b = self.w_avg_beta
            self.w_avg.data[...] = b * self.w_avg.data + (1 - b) * w.data.mean(axis=0)
        return w

    def draw_noise(self, N, rng):
        return self.synthesis.draw_noise(N, rng, dtype=self.w_avg.dtype)

    def forward(self, z, y=None, noise=None, psi=1.0):
        if y is not None:
            raise ValueError("StyleGenerator is unconditional: call it as G(z) without labels")
        w = truncate(self.map(z), self.w_avg, psi)
        return self.synthesis([w] * self.n_styles, noise)


def build_generator(cfg, rng=None):
    return StyleGenerator(cfg.latent_dim, cfg.w_dim, cfg.mapping_layers, cfg.channels, cfg.mapping_lr_mul,
                          cfg.w_avg_beta, rng=rng)


def build_discriminator(cfg, rng=None):
    """dcgan.py's discriminator: the comparison with `dcgan` then differs in the generator only."""
    from .dcgan import DCGANDiscriminator

    return DCGANDiscriminator(cfg.base_channels, spectral_norm=cfg.spectral_norm, rng=rng)


# ---------------------------------------------------------------------------- one training iteration


def mixed_fake_batch(G, N, rng, mixing_prob):
    """G's images for a batch of N, with mixing regularisation (Sec. 3.1): with probability
    mixing_prob two latents and a crossover layer drawn uniformly from 1 .. n_styles-1; fresh noise.
    Returns (x_fake (N, 1, 28, 28) with its graph, crossover or n_styles when not mixed)."""
    Z, L = G.latent_dim, G.n_styles
    w1 = G.map(rng.standard_normal((N, Z)))
    crossover = L
    if rng.random() < mixing_prob:
        crossover = int(rng.integers(1, L))
        styles = mix_styles(w1, G.map(rng.standard_normal((N, Z))), crossover, L)
    else:
        styles = [w1] * L
    return G.synthesis(styles, G.draw_noise(N, rng)), crossover


def train_step(G, D, opt_g, opt_d, x, rng, cfg):
    """One iteration: a D step and a G step of gan.py on a style-mixed fake batch.

    x: real images (N, 1, 28, 28) in [-1, 1]; rng draws z, the mixing and the noise.
    """
    x_fake, crossover = mixed_fake_batch(G, x.shape[0], rng, cfg.mixing_prob)
    stats = gan.d_step(D, opt_d, x, x_fake.detach(), cfg)            # 1. D on real vs (constant) fakes
    stats.update(gan.g_step(G, D, opt_g, x_fake, cfg))                # 2. G through the frozen D
    stats["crossover"] = float(crossover)
    return stats


# ---------------------------------------------------------------------------- what the figures show


def synthesize(G, styles, noise=None):
    """Images in [0, 1] from a list of styles, in eval mode and without a graph. -> (N, 1, 28, 28)."""
    was = G.training
    G.eval()
    try:
        with no_grad():
            x = G.synthesis(styles, noise)
    finally:
        G.train(was)
    return np.clip((x.data + 1) / 2, 0, 1)


def mapped(G, z, psi=1.0):
    """w (N, W) for z (N, Z), truncated with psi, without a graph and without touching w_avg."""
    was = G.training
    G.eval()
    try:
        with no_grad():
            return truncate(G.map(z), G.w_avg, psi)
    finally:
        G.train(was)


def style_mixing_grid(G, z_rows, z_cols, crossover):
    """The mixing figure (Fig. 3): cell (i, j) takes layers < crossover (coarse) from row source i
    and the rest (fine) from column source j. Returns (rows, cols, cells) images in [0, 1]:
    rows (R, 1, 28, 28), cols (K, 1, 28, 28), cells (R*K, 1, 28, 28) row-major."""
    L = G.n_styles
    w_r, w_c = mapped(G, z_rows), mapped(G, z_cols)                 # (R, W), (K, W)
    R, K = w_r.shape[0], w_c.shape[0]
    rows = synthesize(G, [w_r] * L)
    cols = synthesize(G, [w_c] * L)
    w_rr = Tensor(np.repeat(w_r.data, K, axis=0))                     # (R*K, W): row source i, K times
    w_cc = Tensor(np.tile(w_c.data, (R, 1)))                          # (R*K, W): the K column sources, R times
    cells = synthesize(G, mix_styles(w_rr, w_cc, crossover, L))
    return rows, cols, cells


def stochastic_variation(G, z, n, rng):
    """Sec. 3.2, Fig. 4: one w, n draws of the noise. z: (1, Z) -> (n images (n, 1, 28, 28),
    per-pixel standard deviation over the draws (28, 28))."""
    w = mapped(G, z)                                                   # (1, W)
    w = Tensor(np.repeat(w.data, n, axis=0))                           # (n, W): the same w n times
    images = synthesize(G, [w] * G.n_styles, G.draw_noise(n, rng))
    return images, images[:, 0].std(axis=0)


def truncation_sweep(G, z, psis):
    """Images for each z (R, Z) at each psi: (R * len(psis), 1, 28, 28), one row per z."""
    out = [synthesize(G, [mapped(G, z, psi)] * G.n_styles) for psi in psis]   # each (R, 1, 28, 28)
    return np.stack(out, axis=1).reshape(-1, *out[0].shape[1:])               # (R, P, ...) -> (R*P, ...)
