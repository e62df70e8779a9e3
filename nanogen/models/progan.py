"""Progressive growing of GANs: learn 7x7 digits first, then add the layers for 14x14, then 28x28.

Read gan.py (the game) and nn/gan_layers.py (the layers) first. Karras, Aila, Laine & Lehtinen
2018, "Progressive growing of GANs for improved quality, stability, and variation":

  Sec. 2, growing. G and D start at the lowest resolution, where a GAN only has to get the large
  structure right. Then both grow by one block (G: upsample x2 + two 3x3 convs; D the mirror
  image: two 3x3 convs + average-pool /2). The new block is *faded in* (Fig. 2): with alpha going
  from 0 to 1 over a phase,
      G's output  = (1 - alpha) * upsample(toRGB_old(h)) + alpha * toRGB_new(block(h))
      D's features = (1 - alpha) * fromRGB_old(avgpool(x)) + alpha * block(fromRGB_new(x))
  so at alpha = 0 the grown networks compute *exactly* what the small ones did (G: the old image,
  nearest-upsampled; D: the old verdict on the downsampled image) and nothing the low stages
  learnt is shocked by fresh random layers. The real images are blended the same way
  (downsampled to the stage's size, and during a fade the same mix of the sharp and the blocky
  version), so that D cannot tell real from fake by sharpness alone.
  Sec. 3, minibatch standard deviation: D's last block sees one extra feature map, the batch's
  average standard deviation, so it can punish a G that makes every image alike (MinibatchStdDev).
  Sec. 4.1, equalized learning rate: every weight ~ N(0, 1), scaled by He's constant at run time
  (EqualizedLinear, EqualizedConv2d). Sec. 4.2, pixelwise feature normalisation in G after every
  conv (PixelNorm), instead of batch norm.

The schedule alternates phases of `phase_images` training images: stage 7x7 stable; 14x14 fade-in
and stable; 28x28 fade-in, then stable for the rest of training. Shapes: z (N, Z); stage s in
{0, 1, 2} works at RESOLUTIONS[s] = 7, 14, 28; G(z): (N, 1, R, R) and D(x): (N, 1) logits.

Where the MNIST scale differs from the paper: 7 -> 28 in two steps, not 4 -> 1024 in eight;
feature maps (32, 16, 8) at (7, 14, 28), not 512 down to 16; 7x7 base from a Linear layer of z
(the paper: a 4x4 "conv" of the latent); phases of tens of thousands of images, not 800k;
batch 128 throughout (the paper shrinks it with resolution); the loss is gan.py's
(non-saturating BCE by default, LSGAN with --loss lsgan) where the paper uses WGAN-GP with its
drift term (the penalty needs the gradient of a gradient, double backward); no running average
of G's weights and no optimizer reset at each phase. Kept as in the paper: equalized learning
rate, pixel norm, minibatch stddev (group 4), leaky ReLU 0.2, linear toRGB output, Adam with
lr 1e-3 and betas (0, 0.99), nearest upsampling and average pooling.
Measured (README): 20 minutes of a shared machine, beside a dcgan run for the same time: FCD 668
against 436, inception score 3.2 against 4.2. At 28x28 and these phase lengths growing costs
more than it gives; the lesson is the mechanism (and its exact continuity at alpha = 0).
"""

import math
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import nn
from ..settings import setting
from ..tensor import Tensor
from .gan import GANConfig

RESOLUTIONS = (7, 14, 28)


@dataclass
class ProGANConfig(GANConfig):
    """gan.py's settings (the recipe sets Adam's betas to the paper's (0, 0.99)) and the growth's."""

    channels: tuple = setting((32, 16, 8), "feature maps of the stages at 7x7, 14x14, 28x28", is_positive=True,
                              nargs=3)
    phase_images: int = setting(12800, "training images per fade-in and per stable phase", is_positive=True)
    mbstd_group: int = 4                   # images per group of the minibatch standard deviation

    def __post_init__(self):
        super().__post_init__()
        self.channels = tuple(self.channels)
        if len(self.channels) != len(RESOLUTIONS) or min(self.channels) < 1:
            raise ValueError(f"ProGANConfig: channels must be {len(RESOLUTIONS)} positive widths, one per "
                             f"resolution {RESOLUTIONS}, got {self.channels}")
        if self.phase_images < 1:
            raise ValueError(f"ProGANConfig: phase_images must be >= 1, got {self.phase_images}")


def fade_in(old, new, alpha):
    """(1 - alpha) * old + alpha * new: the blend of the small network's path and the grown block's.
    old, new: the same shape. alpha = 0 gives old exactly, alpha = 1 new exactly."""
    # BEGIN SOLUTION progan_fade_in
    return old * (1.0 - alpha) + new * alpha
    # END SOLUTION


def schedule(images_seen, phase_images, n_stages=len(RESOLUTIONS)):
    """(stage, alpha) after `images_seen` training images. Phase p = images_seen // phase_images:
    p = 0 stage 0; p = 2s - 1 fades stage s in (alpha = the fraction of the phase done); p = 2s
    holds stage s at alpha = 1; after the last stage's fade it stays there."""
    p, done = divmod(int(images_seen), int(phase_images))
    stage = min((p + 1) // 2, n_stages - 1)
    if p % 2 == 1 and (p + 1) // 2 == stage:
        return stage, done / phase_images
    return stage, 1.0


def _lrelu(x):
    return F.leaky_relu(x, 0.2)


class GBlock(nn.Module):
    """(N, C_in, R, R) -> (N, C_out, 2R, 2R): nearest upsample x2, then twice conv 3x3 + LeakyReLU + PixelNorm."""

    def __init__(self, c_in, c_out, rng=None):
        super().__init__()
        self.conv1 = nn.EqualizedConv2d(c_in, c_out, 3, padding=1, rng=rng)
        self.conv2 = nn.EqualizedConv2d(c_out, c_out, 3, padding=1, rng=rng)
        self.norm = nn.PixelNorm()

    def forward(self, h):
        h = F.upsample(h, scale_factor=2)                              # (N, C_in, 2R, 2R)
        h = self.norm(_lrelu(self.conv1(h)))
        return self.norm(_lrelu(self.conv2(h)))


class ProGenerator(nn.Module):
    """G: z (N, Z) -> images (N, 1, R, R), R = RESOLUTIONS[stage], blended by alpha during a fade-in.

    All blocks exist from the start (a checkpoint has one shape); `stage` and `alpha` say which
    are used. The images are unbounded (linear toRGB, as in the paper): about [-1, 1] once trained.
    """

    def __init__(self, latent_dim=100, channels=(32, 16, 8), rng=None):
        super().__init__()
        C0 = channels[0]
        self.latent_dim, self.channels = latent_dim, tuple(channels)
        self.norm = nn.PixelNorm()
        self.fc = nn.EqualizedLinear(latent_dim, C0 * 7 * 7, gain=math.sqrt(2) / 4, rng=rng)  # the paper's gain
        self.conv = nn.EqualizedConv2d(C0, C0, 3, padding=1, rng=rng)
        self.blocks = nn.ModuleList([GBlock(a, b, rng=rng) for a, b in zip(channels[:-1], channels[1:])])
        self.to_rgb = nn.ModuleList([nn.EqualizedConv2d(c, 1, 1, gain=1.0, rng=rng) for c in channels])
        self.stage, self.alpha = 0, 1.0
        # the training clock: where the schedule stands, saved with the weights so that a resumed
        # run, `nanogen sample` and `nanogen eval` use the stage these weights were trained at
        self.register_buffer("images_seen", Tensor(np.zeros((), dtype=np.int64)))

    def set_stage(self, stage, alpha=1.0):
        if not (0 <= stage < len(self.channels)) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"ProGenerator: stage must be in [0, {len(self.channels)}) and alpha in [0, 1], "
                             f"got stage {stage}, alpha {alpha}")
        self.stage, self.alpha = int(stage), float(alpha)
        return self

    def forward(self, z, y=None):
        if y is not None:
            raise ValueError("ProGenerator is unconditional: call it as G(z) without labels")
        N = z.shape[0]
        h = self.fc(self.norm(z)).reshape(N, self.channels[0], 7, 7)   # (N, Z) -> (N, C0, 7, 7)
        h = self.norm(_lrelu(h))
        h = self.norm(_lrelu(self.conv(h)))                             # (N, C0, 7, 7)
        for block in self.blocks[: max(self.stage - 1, 0)]:             # the stages already grown
            h = block(h)
        if self.stage == 0:
            return self.to_rgb[0](h)                                    # (N, 1, 7, 7)
        new = self.to_rgb[self.stage](self.blocks[self.stage - 1](h))   # (N, 1, 2R, 2R)
        if self.alpha == 1.0:
            return new
        old = F.upsample(self.to_rgb[self.stage - 1](h), scale_factor=2)  # the small G's image, blocky
        return fade_in(old, new, self.alpha)


class DBlock(nn.Module):
    """(N, C_in, 2R, 2R) -> (N, C_out, R, R): twice conv 3x3 + LeakyReLU, then average-pool /2."""

    def __init__(self, c_in, c_out, rng=None):
        super().__init__()
        self.conv1 = nn.EqualizedConv2d(c_in, c_in, 3, padding=1, rng=rng)
        self.conv2 = nn.EqualizedConv2d(c_in, c_out, 3, padding=1, rng=rng)

    def forward(self, h):
        h = _lrelu(self.conv2(_lrelu(self.conv1(h))))
        return F.avg_pool2d(h, 2)


class ProDiscriminator(nn.Module):
    """D: images (N, 1, R, R), R = RESOLUTIONS[stage] -> logits (N, 1); G's mirror image.

    fromRGB (1x1 conv) at the input's resolution, the D blocks down to 7x7, then the final block:
    minibatch stddev (+1 channel), conv 3x3, Linear to C0, Linear to the logit.
    """

    def __init__(self, channels=(32, 16, 8), mbstd_group=4, rng=None):
        super().__init__()
        C0 = channels[0]
        self.channels = tuple(channels)
        self.from_rgb = nn.ModuleList([nn.EqualizedConv2d(1, c, 1, rng=rng) for c in channels])
        self.blocks = nn.ModuleList([DBlock(b, a, rng=rng) for a, b in zip(channels[:-1], channels[1:])])
        self.mbstd = nn.MinibatchStdDev(mbstd_group)
        self.conv = nn.EqualizedConv2d(C0 + 1, C0, 3, padding=1, rng=rng)
        self.fc = nn.EqualizedLinear(C0 * 7 * 7, C0, rng=rng)
        self.out = nn.EqualizedLinear(C0, 1, gain=1.0, rng=rng)
        self.stage, self.alpha = 0, 1.0

    set_stage = ProGenerator.set_stage

    def forward(self, x, y=None):
        if y is not None:
            raise ValueError("ProDiscriminator is unconditional: call it as D(x) without labels")
        R = RESOLUTIONS[self.stage]
        if x.ndim != 4 or x.shape[1:] != (1, R, R):
            raise ValueError(f"ProDiscriminator: at stage {self.stage} D takes (N, 1, {R}, {R}) images, got shape "
                             f"{tuple(x.shape)}; downsample the real images with progan.real_images")
        h = _lrelu(self.from_rgb[self.stage](x))                         # (N, C_s, R, R)
        if self.stage > 0:
            h = self.blocks[self.stage - 1](h)                           # (N, C_{s-1}, R/2, R/2)
            if self.alpha < 1.0:
                old = _lrelu(self.from_rgb[self.stage - 1](F.avg_pool2d(x, 2)))
                h = fade_in(old, h, self.alpha)
            for block in reversed(self.blocks[: self.stage - 1]):
                h = block(h)                                             # ... down to (N, C0, 7, 7)
        h = _lrelu(self.conv(self.mbstd(h)))                             # (N, C0 + 1, 7, 7) -> (N, C0, 7, 7)
        h = _lrelu(self.fc(h.reshape(h.shape[0], -1)))                   # (N, C0*7*7) -> (N, C0)
        return self.out(h)                                               # (N, 1)


def real_images(x, stage, alpha=1.0):
    """Real images (N, 1, 28, 28) as D sees them at (stage, alpha): average-pooled to the stage's
    resolution R and, during a fade-in, blended with their blockier version (pooled to R/2 and
    upsampled back), the very mix G's output is made of. Works on arrays, no gradient."""
    x = np.asarray(getattr(x, "data", x))
    k = 28 // RESOLUTIONS[stage]
    N, C, H, W = x.shape
    x = x.reshape(N, C, H // k, k, W // k, k).mean(axis=(3, 5)) if k > 1 else x      # (N, 1, R, R)
    if alpha < 1.0:
        R = x.shape[2]
        blocky = x.reshape(N, C, R // 2, 2, R // 2, 2).mean(axis=(3, 5)).repeat(2, axis=2).repeat(2, axis=3)
        x = fade_in(blocky, x, alpha)
    return x


def to_full_resolution(images):
    """(N, C, R, R) -> (N, C, 28, 28) by repeating pixels (nearest), to show every stage at one size."""
    k = 28 // images.shape[-1]
    return images.repeat(k, axis=2).repeat(k, axis=3) if k > 1 else images


class FullResolution(nn.Module):
    """G at any stage, its output nearest-upsampled to 28x28: what sampling, the progress figures
    and `nanogen eval` use, so a 7x7 stage can be looked at and measured like the final one."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, z, y=None):
        x = self.generator(z, y)
        k = 28 // x.shape[-1]
        return F.upsample(x, scale_factor=k) if k > 1 else x
