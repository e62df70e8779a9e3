"""Super-resolution with a GAN (SRGAN): from a 7 x 7 thumbnail back to a sharp 28 x 28 digit.

Read gan.py, classifier.py and pix2pix.py first. Ledig et al. 2017, "Photo-realistic single image
super-resolution using a generative adversarial network":

The problem (Sec. 1). A low-resolution image I_LR (here the 28 x 28 digit averaged down by a
factor r = 4 to 7 x 7, or r = 2 to 14 x 14) fits many high-resolution images I_HR. A network
trained on pixel MSE predicts their *mean*: high PSNR, but blurry, "overly smooth" (Sec. 1.1,
Fig. 2). SRGAN changes the loss, not only the network (Sec. 2.2, Eq. 3):

    l_SR = l_X + 10^-3 l_Gen
    l_X   = 1 / (W H) sum (phi(I_HR) - phi(G(I_LR)))^2     the content loss on a network's features
    l_Gen = -log D(G(I_LR))                                the adversarial loss (non-saturating, gan.py)

phi is the feature map of a pretrained classifier (VGG19 in the paper, Sec. 2.2.2: "phi_i,j is the
feature map of the j-th convolution (after activation) before the i-th maxpooling layer"). Two
images with the same strokes give the same features even if they differ by a fraction of a pixel,
so the content loss lets G draw a sharp stroke where MSE would average two positions. Here phi
is nanogen's MNIST classifier (classifier.py), phi_2,1: the ReLU of its second conv, before the
second max-pooling, (N, 64, 14, 14). No downloaded VGG.

Generator (Sec. 2.1, Fig. 4): a residual network at low resolution, then sub-pixel upsampling:

    I_LR (N, 1, 28/r, 28/r) -Conv(1, C, 5, pad 2), ReLU->                      h0 (N, C, 7, 7)
      -B residual blocks: h + BN(Conv(ReLU(BN(Conv(h)))))  (3 x 3 convs)->    (N, C, 7, 7)
      -Conv(C, C, 3), BN, + h0 (the long skip)->                              (N, C, 7, 7)
      -log2(r) times: Conv(C, 4C, 3), pixel_shuffle(2), ReLU->                (N, C, 28, 28)
      -Conv(C, 1, 5, pad 2), tanh->                                           I_SR (N, 1, 28, 28)

pixel_shuffle (ops/shape.py; Shi et al. 2016) turns 4C channels at 7 x 7 into C channels at
14 x 14: the upsampling is a learned convolution at low resolution, never a fixed interpolation.
Discriminator (Sec. 2.1, Fig. 4): 3 x 3 convs with LeakyReLU(0.2), stride 2 to halve the size,
batch norm after all but the first, then two dense layers to one logit (C = d_channels here):

    I (N, 1, 28, 28) -Conv(1, C, 3, 1, 1), LReLU -Conv(C, C, 3, 2, 1), BN, LReLU->    (N, C, 14, 14)
      -Conv(C, 2C, 3, 1, 1), BN, LReLU -Conv(2C, 2C, 3, 2, 1), BN, LReLU->           (N, 2C, 7, 7)
      -flatten, Linear(2C*49, 256), LReLU, Linear(256, 1)->                          logits (N, 1)

Where this MNIST-scale version differs from the paper: 28 x 28 digits, r = 4 or 2 (the paper:
r = 4 on 96 x 96 crops); C = 32 and B = 4 residual blocks in G, C = 16 in D (the paper: 64, 16, 64); ReLU instead of
PReLU (nanogen has no PReLU); 5 x 5 outer convs (the paper: 9 x 9, as wide as a 7 x 7 image's
neighbourhood needs); phi from nanogen's small MNIST classifier instead of VGG19, with a weight
(content_weight) in place of the paper's 1/12.75 rescaling; the pixel MSE stays in the loss
(pixel_weight) instead of the paper's separate SRResNet pre-training, because a run of minutes
has no room for two phases; the low-resolution input is the r x r block average (the paper:
bicubic downsampling). The MSE-only twin (`--mse-only`) is the paper's SRResNet-MSE.
Caution in reading the numbers: the classifier whose features the content loss matches is also
the one `nanogen eval` asks whether the digit is right; the MSE-only twin never sees it.
Measured results, against bicubic, bilinear and the MSE-only twin: docs/results.md, superres.
Failure modes: high-frequency artefacts (ripples along strokes) when the adversarial or content
weight is too large; a confidently drawn *wrong* digit when the thumbnail is ambiguous (a 7 x 7
4 and 9 can be the same picture) -- sharper is not always more correct.
"""

import math
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import no_grad
from ..settings import setting
from ..tensor import Tensor
from .classifier import MNIST_MEAN, MNIST_STD
from .gan import d_step, generate, generator_loss, grad_norm

SCALES = (2, 4)


@dataclass
class SRConfig:
    """SRGAN's settings; fields made with setting(default, help) are `nanogen train superres` flags."""

    scale: int = setting(4, "r, the upscaling factor: the input is 28/r x 28/r", choices=SCALES)
    channels: int = setting(32, "C, width of G's residual trunk", is_positive=True)
    d_channels: int = setting(16, "D's first width (the paper: 64)", is_positive=True)
    n_res_blocks: int = setting(4, "B, residual blocks in G", is_positive=True)
    pixel_weight: float = setting(1.0, "weight of the pixel MSE")
    content_weight: float = setting(0.1, "weight of l_X, the classifier-feature MSE (0: no content loss)")
    adv_weight: float = setting(1e-3, "weight of l_Gen, the adversarial loss (10^-3 as the paper, Eq. 3)")
    adversarial: bool = True          # False (with content_weight 0): the MSE-only twin, no D (--mse-only)
    lr: float = 5e-4                  # Adam step size of G and D (the --lr flag)
    betas: tuple = (0.5, 0.999)       # Adam betas (the GAN setting of gan.py)
    loss: str = "bce"                 # for gan.d_step: the BCE game
    real_label: float = 1.0           # for gan.d_step: no label smoothing
    d_skip_below: float = None        # for gan.d_step: never skip D's update

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"SRConfig: scale must be one of {SCALES} (28 x 28 divides by them), got {self.scale}")
        for name in ("pixel_weight", "content_weight", "adv_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"SRConfig: {name} must be >= 0, got {getattr(self, name)}")


# ---------------------------------------------------------------------------- low resolution, and the baselines


def downsample(x, r):
    """The low-resolution image: the mean of each r x r block.   (N, C, H, W) -> (N, C, H/r, W/r)"""
    N, C, H, W = x.shape
    if H % r or W % r:
        raise ValueError(f"downsample: image size {H} x {W} must be divisible by the scale {r}")
    return x.reshape(N, C, H // r, r, W // r, r).mean(axis=(3, 5))    # (N, C, H/r, r, W/r, r): blocks


def _cubic(t, a=-0.75):
    """Keys' cubic convolution kernel with a = -0.75 (PyTorch's and OpenCV's choice), |t| < 2."""
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))


def bicubic_matrix(n_in, r):
    """The (n_in*r, n_in) matrix A with y = A x resizing one axis bicubically by r, as PyTorch's
    F.interpolate(mode="bicubic", align_corners=False): output pixel o samples the input at
    s = (o + 0.5) / r - 0.5, weights _cubic(s - k) for the 4 nearest k, indices clamped to the edge."""
    A = np.zeros((n_in * r, n_in))
    for o in range(n_in * r):
        s = (o + 0.5) / r - 0.5
        k0 = math.floor(s)
        for k in range(k0 - 1, k0 + 3):
            A[o, min(max(k, 0), n_in - 1)] += _cubic(s - k)
    return A


def bicubic_upsample(x, r):
    """Bicubic resizing by r: y = Ah x Aw^T per plane.   (N, C, H, W) -> (N, C, H*r, W*r), same dtype.
    Checked against torch.nn.functional.interpolate(x, scale_factor=r, mode="bicubic") (max |diff| < 1e-6)."""
    N, C, H, W = x.shape
    Ah, Aw = bicubic_matrix(H, r), bicubic_matrix(W, r)
    return np.einsum("ih,nchw,jw->ncij", Ah, x, Aw).astype(x.dtype)


def bilinear_upsample(x, r):
    """Bilinear resizing by r (PyTorch's align_corners=False), through nanogen's interpolate op."""
    with no_grad():
        return F.interpolate(Tensor(x), scale_factor=r, mode="bilinear").data


# ---------------------------------------------------------------------------- the generator


class ResidualBlock(nn.Module):
    """h -> h + BN(Conv(ReLU(BN(Conv(h))))): the block learns a correction to h (He et al. 2016)."""

    def __init__(self, C, rng=None):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(C, C, 3, 1, 1, rng=rng), nn.BatchNorm2d(C), nn.ReLU(),
                                  nn.Conv2d(C, C, 3, 1, 1, rng=rng), nn.BatchNorm2d(C))

    def forward(self, h):
        return h + self.body(h)


class SRGenerator(nn.Module):
    """G: low-resolution images (N, 1, 28/r, 28/r) in [-1, 1] -> (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self, scale=4, channels=32, n_res_blocks=4, rng=None):
        super().__init__()
        C = channels
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(1, C, 5, 1, 2, rng=rng), nn.ReLU())
        self.trunk = nn.Sequential(*[ResidualBlock(C, rng) for _ in range(n_res_blocks)],
                                   nn.Conv2d(C, C, 3, 1, 1, rng=rng), nn.BatchNorm2d(C))
        ups = []
        for _ in range(int(round(math.log2(scale)))):            # each doubles H and W
            ups += [nn.Conv2d(C, 4 * C, 3, 1, 1, rng=rng), nn.PixelShuffle(2), nn.ReLU()]
        self.upsample = nn.Sequential(*ups)
        self.tail = nn.Sequential(nn.Conv2d(C, 1, 5, 1, 2, rng=rng), nn.Tanh())

    def forward(self, x):
        h0 = self.head(x)                                        # (N, C, 28/r, 28/r)
        h = self.trunk(h0) + h0                                  # the long skip
        return self.tail(self.upsample(h))                       # (N, C, 28, 28) -> (N, 1, 28, 28)


# ---------------------------------------------------------------------------- the discriminator


class SRDiscriminator(nn.Module):
    """D: images (N, 1, 28, 28) in [-1, 1] -> logits (N, 1): is this a real high-resolution digit?"""

    def __init__(self, channels=32, hidden_dim=256, rng=None):
        super().__init__()
        C = channels
        lrelu = lambda: nn.LeakyReLU(0.2)                       # noqa: E731
        self.net = nn.Sequential(
            nn.Conv2d(1, C, 3, 1, 1, rng=rng), lrelu(),
            nn.Conv2d(C, C, 3, 2, 1, rng=rng), nn.BatchNorm2d(C), lrelu(),                  # 28 -> 14
            nn.Conv2d(C, 2 * C, 3, 1, 1, rng=rng), nn.BatchNorm2d(2 * C), lrelu(),
            nn.Conv2d(2 * C, 2 * C, 3, 2, 1, rng=rng), nn.BatchNorm2d(2 * C), lrelu(),      # 14 -> 7
            nn.Flatten(), nn.Linear(2 * C * 49, hidden_dim, rng=rng), lrelu(),
            nn.Linear(hidden_dim, 1, rng=rng))

    def forward(self, x, y=None):
        if y is not None:
            raise ValueError("SRDiscriminator is unconditional: call D(x) without a second argument")
        return self.net(x)


# ---------------------------------------------------------------------------- the losses


def classifier_content_features(classifier):
    """phi: images (N, 1, 28, 28) in [-1, 1] -> the classifier's phi_2,1 maps (N, C2, 14, 14), with graph.

    The classifier's first five layers: Conv, ReLU, MaxPool, Conv, ReLU (classifier.py). Its weights
    must be frozen by the caller (requires_grad_(False)): the content loss trains G only."""
    layers = list(classifier.convs)[:5]

    def phi(x):
        h = ((x + 1) * 0.5 - MNIST_MEAN) / MNIST_STD            # [-1, 1] -> [0, 1] -> standardised
        for layer in layers:
            h = layer(h)
        return h

    return phi


def content_loss(phi, fake, real):
    """l_X = mean (phi(I_HR) - phi(G(I_LR)))^2 over every feature (Eq. 5, averaged, not summed)."""
    with no_grad():
        target = phi(real).data                                  # a constant: the real image's features
    return F.mse_loss(phi(fake), target)


def generator_objective(D, phi, fake, real, cfg):
    """G's loss for fake = G(I_LR) (with graph) and real = I_HR, (N, 1, 28, 28) in [-1, 1]:

        loss_G = pixel_weight * MSE(fake, real) + content_weight * l_X + adv_weight * (-log D(fake))
    D frozen by the caller; phi may be None when content_weight is 0. Returns {"loss", "mse", "content", "adv"}.
    """
    # BEGIN SOLUTION srgan_content_loss
    mse = F.mse_loss(fake, real)
    zero = Tensor(np.zeros((), dtype=mse.dtype))
    content = content_loss(phi, fake, real) if cfg.content_weight else zero
    adv = generator_loss(D(fake), cfg.loss) if cfg.adversarial else zero
    loss = cfg.pixel_weight * mse + cfg.content_weight * content + cfg.adv_weight * adv
    # END SOLUTION
    return {"loss": loss, "mse": mse, "content": content, "adv": adv}


def train_step(G, D, opt_g, opt_d, phi, lr, hr, cfg):
    """One update of D (skipped by the MSE-only twin), then one of G. lr (N, 1, 28/r, 28/r) and
    hr (N, 1, 28, 28), both in [-1, 1]."""
    fake = G(lr)                                                 # (N, 1, 28, 28), graph kept for G's step
    stats = {}
    if cfg.adversarial:
        stats.update(d_step(D, opt_d, hr, fake.detach(), cfg))  # gan.py's D step, unchanged
    opt_g.zero_grad()
    D.requires_grad_(False)
    try:
        terms = generator_objective(D, phi, fake, hr, cfg)
        terms["loss"].backward()
    finally:
        D.requires_grad_(True)
    stats.update({f"{k}_g" if k == "loss" else k: v.item() for k, v in terms.items()})
    stats["grad_norm_g"] = grad_norm(G.parameters())
    opt_g.step()
    return stats


def super_resolve(G, lr, batch_size=500):
    """G(lr) for low-resolution images lr (N, 1, 28/r, 28/r) in [0, 1], returned (N, 1, 28, 28) in
    [0, 1], in eval mode, without a graph: gan.generate over batches, with lr as G's input."""
    return np.concatenate([generate(G, np.asarray(lr[i : i + batch_size]) * 2 - 1)    # [0, 1] -> [-1, 1]
                           for i in range(0, len(lr), batch_size)])
