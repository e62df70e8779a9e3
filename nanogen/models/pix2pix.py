"""pix2pix: a conditional GAN that translates one image into another (an outline into its digit).

Read gan.py and dcgan.py first: the game, the BCE losses and the D step come from gan.py unchanged.
Isola et al. 2017, "Image-to-image translation with conditional adversarial networks":

The idea (Sec. 3). We have pairs (x, y): an input image x (an outline, a masked digit, the
edges of a garment) and the image y it came from. A generator G(x) should produce y. Trained on
L1 alone, G outputs the *average* of all the y that fit x: a blurry digit wherever the input
leaves room for doubt (Sec. 4.2, Fig. 4). A discriminator that looks at (x, G(x)) pairs and
calls blur fake pushes G towards one sharp, plausible y instead. The objective (Eq. 4):

    G* = arg min_G max_D  L_cGAN(G, D) + lambda * L_L1(G)
    L_cGAN = E[log D(x, y)] + E[log(1 - D(x, G(x)))]      D sees the input too: "is y right *for x*?"
    L_L1   = E[ |y - G(x)|_1 ]                           lambda = 100 (Sec. 4, "we use lambda = 100")

G is trained on the non-saturating form -log D(x, G(x)) (Sec. 3.3, as gan.py explains), and
the noise z of an ordinary GAN is replaced by dropout in the generator, left on at test time
(Sec. 3.1: G learned to ignore a Gaussian z; dropout gives "minor stochasticity").

Generator (Sec. 3.2.1): a U-Net. An encoder halves the resolution, a decoder doubles it back,
and each decoder layer also receives the encoder layer of its size, concatenated along the
channels: the skip connections. The outline's exact position does not have to squeeze through
the 3 x 3 bottleneck; it goes straight across. With C = base_channels:

    x (N, 1, 28, 28) -Conv(1, C, 4, 2, 1), LReLU(0.2)->                         e1 (N, C, 14, 14)
      -Conv(C, 2C, 4, 2, 1), BN, LReLU(0.2)->                                  e2 (N, 2C, 7, 7)
      -Conv(2C, 4C, 3, 2, 0), ReLU->                                           b  (N, 4C, 3, 3)
      -ConvT(4C, 2C, 3, 2, 0), BN, Dropout, ReLU-> cat e2 ->                   (N, 4C, 7, 7)
      -ConvT(4C, C, 4, 2, 1), BN, Dropout, ReLU-> cat e1 ->                    (N, 2C, 14, 14)
      -ConvT(2C, 1, 4, 2, 1), tanh->                                           G(x) (N, 1, 28, 28)

Discriminator (Sec. 3.2.2): a PatchGAN. It never sees the whole image at once: input and
output are stacked as 2 channels and a small conv net gives one logit per patch, each with an
18 x 18-pixel receptive field; the loss averages the BCE over all patches. L1 already gets the
low frequencies right, so D only has to judge local sharpness (the "Markovian" discriminator).

    (x, y) (N, 2, 28, 28) -Conv(2, C, 4, 2, 1), LReLU->  (N, C, 14, 14)
      -Conv(C, 2C, 4, 2, 1), BN, LReLU-> (N, 2C, 7, 7) -Conv(2C, 1, 3, 1, 1)-> logits (N, 1, 7, 7)

Where this MNIST-scale version differs from the paper: 28 x 28 images instead of 256 x 256, so
the U-Net has 3 levels (not 8) and C = 32 (not 64); the patch is 18 x 18 of 28 (the paper's
70 x 70 of 256); batches of 64 with batch norm on running statistics at test time (the paper
uses batch size 1, i.e. instance norm, and batch statistics at test time); dropout on two
decoder layers (the paper: three); D's loss is not halved (Adam's steps are invariant to a
constant factor on a loss, so halving it changes nothing but the logged number).
Measured results, against the L1-only twin and the inputs themselves: docs/results.md, pix2pix.
Failure modes: with lambda = 100 the L1 term dominates and the GAN only sharpens; with the
adversarial term alone G may draw a sharp digit unrelated to the input. An inpainted digit may be
plausible and still the wrong digit (a masked 7 can become a 9): L1 to the target punishes that,
the classifier's accuracy on the outputs (`nanogen eval`) counts it.
"""

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import nn
from ..settings import setting
from ..tensor import Tensor
from .dcgan import dcgan_init_
from .gan import d_step, discriminator_loss, generate, generator_loss, grad_norm

TASKS = ("outline", "inpaint", "edges")


@dataclass
class Pix2PixConfig:
    """pix2pix's settings; fields made with setting(default, help) are `nanogen train pix2pix` flags."""

    task: str = setting("outline", "input made from each image (make_input): outline, inpaint or edges",
                        choices=TASKS)
    base_channels: int = setting(32, "C, channels of the first conv of G and of D", is_positive=True)
    dropout: float = setting(0.5, "dropout in G's decoder: the noise source (Sec. 3.1)")
    dropout_at_test: bool = setting(True, "keep G's dropout on when translating, as the paper does")
    l1_weight: float = setting(100.0, "lambda in G* = arg min max L_cGAN + lambda L_L1 (Eq. 4)", is_positive=True)
    adversarial: bool = True          # False: the L1-only twin (the same U-Net, no D, no GAN term; --l1-only)
    lr: float = 2e-4                  # Adam step size of G and D (Sec. 3.3; the --lr flag)
    betas: tuple = (0.5, 0.999)       # Adam betas (Sec. 3.3)
    inpaint_size: int = setting(12, "inpaint: side of the square hidden from the generator", is_positive=True)
    loss: str = "bce"                 # gan.py's loss names; pix2pix uses the BCE game
    real_label: float = 1.0           # for gan.d_step: no label smoothing
    d_skip_below: float = None        # for gan.d_step: never skip D's update

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"Pix2PixConfig: task must be one of {TASKS}, got {self.task!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Pix2PixConfig: dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.inpaint_size < 28:
            raise ValueError(f"Pix2PixConfig: inpaint_size must be in 1..27 pixels, got {self.inpaint_size}")


# ---------------------------------------------------------------------------- paired data, made on the fly


def _shifts(x):
    """The 9 copies of x (N, 1, H, W) shifted by -1, 0, 1 pixels in each direction (edge pixels repeated)."""
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    H, W = x.shape[2:]
    return [p[:, :, i : i + H, j : j + W] for i in range(3) for j in range(3)]


def erode(x):
    """Grey-level erosion: each pixel becomes the minimum of its 3 x 3 neighbourhood."""
    return np.min(_shifts(x), axis=0)


def dilate(x):
    """Grey-level dilation: each pixel becomes the maximum of its 3 x 3 neighbourhood."""
    return np.max(_shifts(x), axis=0)


def make_input(task, y, rng=None, inpaint_size=12):
    """The input image x for each target y (N, 1, 28, 28) in [0, 1]; x in [0, 1] too.

        outline: dilate(y) - y > 0.3: the one-pixel line of paper that runs around the strokes, the
                 strokes themselves left empty (a contour drawing of the digit, binary)
        inpaint: y with a random inpaint_size-square set to 0.5 grey (neither ink nor paper, so
                 G can tell where it must invent); rng picks the squares
        edges:   dilate(y) - erode(y) > 0.2: a binary edge map, the lecture's edges -> shoes
                 at small scale (use it with --dataset fashion-mnist)
    """
    y = np.asarray(y)
    if y.ndim != 4 or y.shape[1] != 1:
        raise ValueError(f"make_input: targets must be (N, 1, H, W) in [0, 1], got shape {y.shape}")
    if task == "outline":
        return (dilate(y) - y > 0.3).astype(y.dtype)
    if task == "edges":
        return (dilate(y) - erode(y) > 0.2).astype(y.dtype)
    if task == "inpaint":
        if rng is None:
            raise ValueError("make_input: the inpaint task needs an rng to place the hidden squares")
        N, _, H, W = y.shape
        k = inpaint_size
        top, left = rng.integers(0, H - k + 1, N), rng.integers(0, W - k + 1, N)
        rows = np.arange(H)[None, :, None]                                       # (1, H, 1)
        cols = np.arange(W)[None, None, :]                                       # (1, 1, W)
        hidden = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + k)
                  & (cols >= left[:, None, None]) & (cols < left[:, None, None] + k))   # (N, H, W)
        return np.where(hidden[:, None], np.asarray(0.5, y.dtype), y)
    raise ValueError(f"make_input: task must be one of {TASKS}, got {task!r}")


# ---------------------------------------------------------------------------- the U-Net generator


class UNetGenerator(nn.Module):
    """G: input images x (N, 1, 28, 28) in [-1, 1] -> translated images (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self, base_channels=32, dropout=0.5, dropout_at_test=True, rng=None):
        super().__init__()
        C = base_channels
        self.dropout, self.dropout_at_test = dropout, dropout_at_test
        self.rng = rng                                                            # dropout masks
        self.down1 = nn.Sequential(nn.Conv2d(1, C, 4, 2, 1, rng=rng), nn.LeakyReLU(0.2))               # 28 -> 14
        self.down2 = nn.Sequential(nn.Conv2d(C, 2 * C, 4, 2, 1, rng=rng), nn.BatchNorm2d(2 * C),
                                   nn.LeakyReLU(0.2))                                                  # 14 -> 7
        self.bottleneck = nn.Sequential(nn.Conv2d(2 * C, 4 * C, 3, 2, 0, rng=rng), nn.ReLU())         # 7 -> 3
        self.up1 = nn.Sequential(nn.ConvTranspose2d(4 * C, 2 * C, 3, 2, 0, rng=rng), nn.BatchNorm2d(2 * C))  # 3 -> 7
        self.up2 = nn.Sequential(nn.ConvTranspose2d(4 * C, C, 4, 2, 1, rng=rng), nn.BatchNorm2d(C))  # 7 -> 14
        self.out = nn.Sequential(nn.ConvTranspose2d(2 * C, 1, 4, 2, 1, rng=rng), nn.Tanh())           # 14 -> 28
        dcgan_init_(self, rng)                                     # N(0, 0.02) weights (Sec. 6.2 of the paper)

    def noise(self, h):
        """Dropout as G's source of randomness, also at test time unless dropout_at_test is off."""
        return F.dropout(h, self.dropout, training=self.training or self.dropout_at_test, rng=self.rng)

    def forward(self, x):
        e1 = self.down1(x)                                         # (N, C, 14, 14)
        e2 = self.down2(e1)                                        # (N, 2C, 7, 7)
        b = self.bottleneck(e2)                                    # (N, 4C, 3, 3)
        # BEGIN SOLUTION unet_skip_connections
        d1 = F.relu(self.noise(self.up1(b)))                       # (N, 2C, 7, 7)
        d1 = F.cat([d1, e2], dim=1)                                # skip: (N, 4C, 7, 7)
        d2 = F.relu(self.noise(self.up2(d1)))                      # (N, C, 14, 14)
        d2 = F.cat([d2, e1], dim=1)                                # skip: (N, 2C, 14, 14)
        # END SOLUTION
        return self.out(d2)                                        # (N, 1, 28, 28)


# ---------------------------------------------------------------------------- the PatchGAN discriminator


class PatchDiscriminator(nn.Module):
    """D: (output or target y, input x), both (N, 1, 28, 28) -> one logit per patch (N, 1, 7, 7).

    Called as D(y, x) so that gan.d_step's D(image, condition) fits it unchanged."""

    def __init__(self, base_channels=32, rng=None):
        super().__init__()
        C = base_channels
        self.net = nn.Sequential(
            nn.Conv2d(2, C, 4, 2, 1, rng=rng), nn.LeakyReLU(0.2),                           # 28 -> 14
            nn.Conv2d(C, 2 * C, 4, 2, 1, rng=rng), nn.BatchNorm2d(2 * C), nn.LeakyReLU(0.2),  # 14 -> 7
            nn.Conv2d(2 * C, 1, 3, 1, 1, rng=rng))                                         # 7 -> 7 logits
        dcgan_init_(self, rng)

    def forward(self, y, x):
        if x is None:
            raise ValueError("PatchDiscriminator: judges pairs; call D(y, x) with the input image x too")
        return self.net(F.cat([x, y], dim=1))                      # (N, 2, 28, 28) -> (N, 1, 7, 7)


# ---------------------------------------------------------------------------- the objectives


def generator_objective(D, x, y, fake, cfg):
    """G's loss for inputs x, targets y and translations fake = G(x) (with its graph), all
    (N, 1, 28, 28) in [-1, 1]; the caller freezes D:

        loss_G = -log D(x, G(x)) + lambda * |y - G(x)|_1        (the L1-only twin: lambda * L1 alone)
    Returns {"loss", "adv", "l1"} as Tensors.
    """
    l1 = F.l1_loss(fake, y)                                        # mean over pixels
    if cfg.adversarial:
        adv = generator_loss(D(fake, x), cfg.loss)                 # BCE(D(x, G(x)), 1), averaged over patches
    else:
        adv = Tensor(np.zeros((), dtype=l1.dtype))
    return {"loss": adv + cfg.l1_weight * l1, "adv": adv, "l1": l1}


def discriminator_objective(D, x, y, fake, cfg):
    """D's loss on a real pair (x, y) and a translated pair (x, G(x)) (fake carries no graph):
        loss_D = BCE(D(x, y), 1) + BCE(D(x, G(x)), 0), averaged over the patches."""
    return discriminator_loss(D(y, x), D(fake, x), cfg.loss, cfg.real_label)


def train_step(G, D, opt_g, opt_d, x, y, cfg):
    """One update of D (skipped by the L1-only twin), then one of G. x, y: (N, 1, 28, 28) in [-1, 1]."""
    fake = G(x)                                                    # (N, 1, 28, 28), graph kept for G's step
    stats = {}
    if cfg.adversarial:
        stats.update(d_step(D, opt_d, y, fake.detach(), cfg, x))   # gan.py's D step; x is the condition
    opt_g.zero_grad()
    D.requires_grad_(False)                                        # frozen: G's loss reaches G only
    try:
        terms = generator_objective(D, x, y, fake, cfg)
        terms["loss"].backward()
    finally:
        D.requires_grad_(True)
    stats.update({"loss_g": terms["loss"].item(), "adv_g": terms["adv"].item(), "l1": terms["l1"].item(),
                  "grad_norm_g": grad_norm(G.parameters())})
    opt_g.step()
    return stats


def translate(G, x, batch_size=500):
    """G(x) for inputs x (N, 1, 28, 28) in [0, 1], returned in [0, 1], in eval mode (batch norm on
    running statistics; dropout still on unless G.dropout_at_test is off), without a graph:
    gan.generate over batches, with the input as G's "noise"."""
    return np.concatenate([generate(G, np.asarray(x[i : i + batch_size]) * 2 - 1)     # [0, 1] -> [-1, 1]
                           for i in range(0, len(x), batch_size)])
