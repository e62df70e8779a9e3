"""Autoencoders: squeeze an image through a bottleneck and learn to rebuild it, with no labels.

An encoder f maps an image x (N, 1, 28, 28) to a code z = f(x) (N, Z) with Z much smaller than
784 pixels; a decoder g maps the code back to an image x̂ = g(z). Training minimises
    L(x) = d(x, g(f(x)))      d = binary cross-entropy (pixels read as Bernoulli probabilities,
                                  taken from logits) or the squared error
so the image is its own target. To rebuild 784 pixels from 32 numbers the network has to find
what digits share (strokes, slant, thickness): the code is a learned, non-linear compression.
(A linear autoencoder with squared error learns the principal subspace: Baldi & Hornik 1989.)

Each variant below exists because the plain one has a weakness:
  ae            784 -> hidden -> Z -> hidden -> 784. Only the narrow bottleneck stops it from
                copying its input; one hidden layer composes few features.
  stacked-ae    784-512-256-64 and back: depth builds features from features (Hinton &
                Salakhutdinov 2006, Science 313, "Reducing the dimensionality of data...").
  sparse-ae     a code wider than the input (overcomplete) could just copy x; a penalty on the
                code's activity forbids that, so each unit learns a part (a stroke) that is active
                for few digits (Ng 2011, CS294A "Sparse autoencoder" notes, §2.3):
                  L1:  Ω = mean |z|
                  KL:  ρ̂_j = mean over the batch of z_j,  Ω = mean_j KL(ρ ‖ ρ̂_j)
                       KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1 − ρ) log((1 − ρ)/(1 − ρ̂))   (z_j in (0, 1): sigmoid)
                loss = d(x, x̂) + β Ω. L1 pressed hard switches most units off for every digit
                (dead units); KL fixes each unit's *mean*, so every unit stays alive but fires rarely.
  denoising-ae  rebuild the clean x from a corrupted x̃ ~ q(x̃ | x): copying x̃ no longer pays, so
                the model must learn where digits live and pull x̃ back there (Vincent et al.
                2008, ICML, §2.3 masking noise; Vincent et al. 2010, JMLR 11, §4.2 Gaussian):
                  mask:      x̃ = x ⊙ m,  m_i ~ Bernoulli(1 − p)   (each pixel zeroed with prob. p)
                  gaussian:  x̃ = clip(x + σ ε, 0, 1),  ε ~ N(0, I)
                loss = d(x, g(f(x̃))), against the clean x.
  conv-ae       pixels have neighbours: convolutions reuse one small filter at every position
                (Masci et al. 2011, "Stacked convolutional auto-encoders", §2).
                (N,1,28,28) -conv,pool-> (N,16,14,14) -conv,pool-> (N,32,7,7) = z, mirrored by
                stride-2 transposed convolutions; sigmoid output, squared error.
Failure modes: reconstructions are blurry (under uncertainty the best guess is the average of
the plausible digits); the codes fill their space unevenly, with holes, so decoding a random z
gives no digit: an autoencoder compresses but does not generate (the VAE, vae.py, fixes that).
Read after nn/ and optim/. autoencoder_recipes.py plugs each variant into `nanogen train`.
"""

import math
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..autograd import no_grad
from ..nn import Conv2d, ConvTranspose2d, Linear, MaxPool2d, Module, ReLU, Sequential, Sigmoid
from ..random import default_rng
from ..settings import setting
from ..tensor import Tensor, as_array


SPARSITY_WEIGHT = {"none": 0.0, "l1": 0.1, "kl": 0.5}  # β when the config gives none; L1 at 0.5 kills most units


@dataclass
class AEConfig:
    """Which autoencoder: the network, the code, the reconstruction error, its penalty or noise.
    The fields made with setting(default, help) are `nanogen train` flags (autoencoder_recipes.py)."""

    arch: str = "mlp"                 # "mlp" (fully connected) | "conv" (convolutional)
    image_shape: tuple = (1, 28, 28)  # (C, H, W) of one image; conv needs H, W divisible by 4
    hidden_dims: tuple = setting((256,), "mlp: encoder hidden widths, input side first; the decoder mirrors them",
                                 is_positive=True)
    latent_dim: int = setting(32, "mlp: Z, the width of the code (> 784 is overcomplete)", is_positive=True)
    channels: tuple = setting((16, 32), "conv: channels after the first and the second conv stage",
                              flag="--conv-channels",
                              is_positive=True, nargs=2)
    code_activation: str = "none"     # mlp: "none" (linear code) | "relu" | "sigmoid" (z in (0, 1))
    loss: str = setting("bce", "reconstruction error d: bce (from logits when mlp) or mse", choices=("bce", "mse"))
    penalty: str = setting("none", "sparsity penalty on the code", choices=("none", "l1", "kl"))
    sparsity_weight: float = setting(None, "β in loss = d + β Ω (default by penalty: kl 0.5, l1 0.1; "
                                           "L1 at 0.5 leaves most units dead)")
    rho: float = setting(0.05, "KL penalty: the target mean activation ρ of each code unit")
    noise: str = setting("none", "corruption of the encoder's input: zero pixels (mask) or add Gaussian noise",
                         choices=("none", "mask", "gaussian"))
    noise_level: float = setting(0.0, "mask: probability that a pixel is zeroed; gaussian: the std σ")

    def __post_init__(self):
        def choice(field, value, options):
            if value not in options:
                raise ValueError(f"AEConfig: {field} must be one of {options}, got {value!r}")

        choice("arch", self.arch, ("mlp", "conv"))
        choice("code_activation", self.code_activation, ("none", "relu", "sigmoid"))
        choice("loss", self.loss, ("bce", "mse"))
        choice("penalty", self.penalty, ("none", "l1", "kl"))
        choice("noise", self.noise, ("none", "mask", "gaussian"))
        self.image_shape, self.hidden_dims, self.channels = (tuple(self.image_shape), tuple(self.hidden_dims),
                                                             tuple(self.channels))
        if self.penalty == "kl" and (self.arch != "mlp" or self.code_activation != "sigmoid"):
            raise ValueError("AEConfig: the KL sparsity penalty needs code activations in (0, 1): "
                             "use arch='mlp' with code_activation='sigmoid'")
        if self.penalty != "none" and self.arch != "mlp":
            raise ValueError("AEConfig: the sparsity penalties are implemented for arch='mlp' codes only")
        if not 0 < self.rho < 1:
            raise ValueError(f"AEConfig: rho must lie strictly between 0 and 1, got {self.rho}")
        if self.sparsity_weight is None:
            self.sparsity_weight = SPARSITY_WEIGHT[self.penalty]
        if self.sparsity_weight < 0:
            raise ValueError(f"AEConfig: sparsity_weight must be >= 0, got {self.sparsity_weight}")
        if self.noise == "mask" and not 0 <= self.noise_level < 1:
            raise ValueError(f"AEConfig: masking noise level is a probability in [0, 1), got {self.noise_level}")
        if self.noise_level < 0:
            raise ValueError(f"AEConfig: noise_level must be >= 0, got {self.noise_level}")
        if self.arch == "conv" and (self.image_shape[1] % 4 or self.image_shape[2] % 4 or len(self.channels) != 2):
            raise ValueError(f"AEConfig: conv needs H and W divisible by 4 (two 2x2 poolings) and two "
                             f"channel counts, got image_shape {self.image_shape}, channels {self.channels}")


# ---------------------------------------------------------------------------- corruption


def corrupt(x, noise, level, rng=None):
    """x̃ ~ q(x̃ | x): the denoising autoencoder's input. Same type (Tensor or ndarray) and dtype as x.

    mask:      x̃ = x ⊙ m,  m_i ~ Bernoulli(1 − level)   (each pixel zeroed with probability `level`)
    gaussian:  x̃ = clip(x + level ε, 0, 1),  ε ~ N(0, I)   (clipped: x̃ stays an image)
    none:      x̃ = x.
    The noise is data, not a parameter: no gradient flows into it. Pass `rng` to fix it (tests do).
    """
    # BEGIN SOLUTION denoising_corruption
    if noise == "none":
        return x
    a = as_array(x)
    rng = default_rng(rng)
    if noise == "mask":
        out = a * (rng.random(a.shape) >= level)                 # bool mask: dtype of x is kept
    elif noise == "gaussian":
        out = np.clip(a + level * rng.standard_normal(a.shape, dtype=a.dtype), 0, 1)
    else:
        raise ValueError(f"corrupt: noise must be 'none', 'mask' or 'gaussian', got {noise!r}")
    return Tensor(out) if isinstance(x, Tensor) else out
    # END SOLUTION


# ---------------------------------------------------------------------------- the networks


def _mlp(dims, dtype, rng, last=None):
    """Linear layers dims[0] -> dims[1] -> ... -> dims[-1], ReLU between them, `last` after the end."""
    layers = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(Linear(d_in, d_out, dtype=dtype, rng=rng))
        if i < len(dims) - 2:
            layers.append(ReLU())
    if last is not None:
        layers.append(last)
    return Sequential(*layers)


class Autoencoder(Module):
    """The fully connected autoencoder (ae, stacked-ae, sparse-ae and denoising-ae differ only in config).

    x: (N, C, H, W) -> flatten (N, D), D = C*H*W -> encoder -> z: (N, Z) -> decoder -> logits (N, D)
    -> (N, C, H, W). forward returns logits (the BCE is computed from them, stably); decode and
    reconstruct apply the sigmoid and return images in (0, 1).
    """

    returns_logits = True

    def __init__(self, config, dtype=np.float32, rng=None):
        super().__init__()
        self.config = config
        D = int(np.prod(config.image_shape))
        dims = [D, *config.hidden_dims, config.latent_dim]
        code = {"none": None, "relu": ReLU(), "sigmoid": Sigmoid()}[config.code_activation]
        self.encoder = _mlp(dims, dtype, rng, last=code)      # D -> ... -> Z
        self.decoder = _mlp(dims[::-1], dtype, rng)           # Z -> ... -> D, mirrored, no output activation

    def encode(self, x):
        N = x.shape[0]
        return self.encoder(x.reshape(N, -1))                 # (N, C, H, W) -> (N, D) -> (N, Z)

    def decode_logits(self, z):
        return self.decoder(z).reshape(z.shape[0], *self.config.image_shape)   # (N, D) -> (N, C, H, W)

    def decode(self, z):
        return F.sigmoid(self.decode_logits(z))

    def forward(self, x):
        return self.decode_logits(self.encode(x))

    def reconstruct(self, x):
        return self.decode(self.encode(x))


class ConvAutoencoder(Module):
    """The convolutional autoencoder, layer for layer the usual PyTorch one (same state_dict keys).

    x: (N, C, H, W) -> Conv2d(C, c1, 3, padding=1), ReLU, MaxPool2d(2) -> (N, c1, H/2, W/2)
                    -> Conv2d(c1, c2, 3, padding=1), ReLU, MaxPool2d(2) -> z: (N, c2, H/4, W/4)
    z -> ConvTranspose2d(c2, c1, 2, stride=2), ReLU -> (N, c1, H/2, W/2)
      -> ConvTranspose2d(c1, C, 2, stride=2), Sigmoid -> x̂: (N, C, H, W) in (0, 1)
    With c1, c2 = 16, 32 on MNIST the code has 32*7*7 = 1568 numbers: more than the 784 pixels,
    but the pooling forces it to be spatially coarse.
    """

    returns_logits = False

    def __init__(self, config, dtype=np.float32, rng=None):
        super().__init__()
        self.config = config
        C = config.image_shape[0]
        c1, c2 = config.channels
        self.encoder = Sequential(
            Conv2d(C, c1, 3, padding=1, dtype=dtype, rng=rng), ReLU(), MaxPool2d(2),
            Conv2d(c1, c2, 3, padding=1, dtype=dtype, rng=rng), ReLU(), MaxPool2d(2))
        self.decoder = Sequential(
            ConvTranspose2d(c2, c1, 2, stride=2, dtype=dtype, rng=rng), ReLU(),
            ConvTranspose2d(c1, C, 2, stride=2, dtype=dtype, rng=rng), Sigmoid())

    def encode(self, x):
        return self.encoder(x)                                # (N, C, H, W) -> (N, c2, H/4, W/4)

    def decode(self, z):
        return self.decoder(z)                                # (N, c2, H/4, W/4) -> (N, C, H, W)

    def forward(self, x):
        return self.decode(self.encode(x))

    reconstruct = forward


def build_model(config, dtype=np.float32, rng=None):
    """The network a config describes: Autoencoder (arch 'mlp') or ConvAutoencoder (arch 'conv')."""
    return (ConvAutoencoder if config.arch == "conv" else Autoencoder)(config, dtype=dtype, rng=rng)


# ---------------------------------------------------------------------------- the loss


def reconstruction_error(model, z, x):
    """d(x, g(z)), the mean over pixels: BCE (from logits when the model gives them) or squared error."""
    if model.config.loss == "bce":
        if model.returns_logits:
            return F.binary_cross_entropy_with_logits(model.decode_logits(z), x)
        return F.binary_cross_entropy(model.decode(z), x)     # logs clamped at -100, as PyTorch
    return F.mse_loss(model.decode(z), x)


def l1_activity(z):
    """Ω = mean |z|: pushes every code value toward 0 (Goodfellow et al. 2016, Deep Learning, §14.2.1)."""
    return F.abs(z).mean()


def kl_bernoulli(rho, rho_hat):
    """KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1 − ρ) log((1 − ρ)/(1 − ρ̂)), elementwise; ρ a number, ρ̂ a Tensor."""
    # BEGIN SOLUTION sparse_penalty
    return rho * (math.log(rho) - F.log(rho_hat)) + (1 - rho) * (math.log(1 - rho) - F.log(1 - rho_hat))
    # END SOLUTION


def kl_sparsity(z, rho, eps=1e-6):
    """Ω = mean_j KL(ρ ‖ ρ̂_j), ρ̂_j = mean activation of code unit j over the batch.   z: (N, Z) in (0, 1)

    Averaged over the Z units (Ng sums them) so one weight β suits any code width. The clamp keeps
    log finite when a float32 sigmoid saturates to exactly 0 or 1.
    """
    # BEGIN SOLUTION sparse_penalty
    rho_hat = F.clamp(z.mean(dim=0), eps, 1 - eps)           # (N, Z) -> (Z,)
    return kl_bernoulli(rho, rho_hat).mean()
    # END SOLUTION


def autoencoder_loss(model, x, rng=None):
    """The whole training loss as named terms: {"loss", "recon"} and, with a penalty, "sparsity".

    x: the clean images (N, C, H, W). The encoder sees x̃ = corrupt(x) (x itself unless the config
    asks for noise); the reconstruction is always compared with the clean x.
    """
    cfg = model.config
    x_in = corrupt(x, cfg.noise, cfg.noise_level, rng)       # x̃ ~ q(x̃ | x)
    z = model.encode(x_in)
    recon = reconstruction_error(model, z, x)
    if cfg.penalty == "none":
        return {"loss": recon, "recon": recon}
    sparsity = l1_activity(z) if cfg.penalty == "l1" else kl_sparsity(z, cfg.rho)
    return {"loss": recon + cfg.sparsity_weight * sparsity, "recon": recon, "sparsity": sparsity}


def train_step(model, opt, x, rng=None):
    """One update: forget old gradients, loss, backward, step. Returns the terms as floats."""
    opt.zero_grad()
    terms = autoencoder_loss(model, x, rng)
    terms["loss"].backward()
    opt.step()
    return {k: float(v.data) for k, v in terms.items()}


# ---------------------------------------------------------------------------- using a trained model


def encode_all(model, x, batch_size=500):
    """Codes of many images as one flat array (N, features), batch by batch, no graph kept."""
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            z = model.encode(Tensor(x[i : i + batch_size])).data
            out.append(z.reshape(z.shape[0], -1))             # conv codes (n, c2, h, w) -> (n, c2*h*w)
    return np.concatenate(out)


def reconstruction_errors(model, x, x_in=None, batch_size=500):
    """Per-image errors of rebuilding x (from x_in, default x):  {"mse": (N,), "bce": (N,)}.

    mse: mean over pixels of (x̂ − x)²;  bce: summed over pixels (nats per image). These are the
    anomaly scores of demos/anomaly.py: a digit unlike the training digits is rebuilt badly.
    """
    x_in = x if x_in is None else x_in
    mse, bce = [], []
    with no_grad():
        for i in range(0, len(x), batch_size):
            xb, zb = Tensor(x[i : i + batch_size]), model.encode(Tensor(x_in[i : i + batch_size]))
            if model.returns_logits:
                logits = model.decode_logits(zb)
                x_hat = F.sigmoid(logits).data
                b = F.binary_cross_entropy_with_logits(logits, xb, reduction="none").data
            else:
                p = model.decode(zb)
                x_hat = p.data
                b = F.binary_cross_entropy(p, xb, reduction="none").data
            axes = tuple(range(1, x_hat.ndim))
            mse.append(np.mean((x_hat - xb.data) ** 2, axis=axes))
            bce.append(np.sum(b, axis=axes))
    return {"mse": np.concatenate(mse), "bce": np.concatenate(bce)}
