"""The layers of a style-based generator: AdaIN and noise injection.

Read norm.py first (instance normalisation is layer normalisation over one channel's pixels) and
gan_layers.py (the equalized learning rate); models/stylegan.py puts these together (Karras et al.
2019, "A style-based generator architecture for GANs", Sec. 2 and Fig. 1b).
  adain / AdaIN     adaptive instance normalisation (Huang & Belongie 2017, Eq. 8): each channel of
                    x is normalised to mean 0 and variance 1 over its H x W pixels, then scaled and
                    shifted by a *style* y = (y_s, y_b) computed from w by a learned affine map ("A"),
                    an EqualizedLinear (gan_layers.py) as in the paper
  NoiseInjection    x + b_c * noise: one single-channel noise image per layer, broadcast to every
                    channel c with a learned per-channel scale b_c ("B" in Fig. 1b)
The mapping network's layers are gan_layers.EqualizedLinear too, with a learning-rate multiplier
(Karras et al. 2019, App. C: lr x 0.01 in the mapping network).
"""

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from ..ops.checks import check_tensor
from .gan_layers import EqualizedLinear
from .module import Module, Parameter, float_dtype, positive_int


def check_dtype(layer, x, weight):
    if x.dtype != weight.dtype:
        raise TypeError(f"{layer}: input is {x.dtype} but the layer's weights are {weight.dtype}; "
                        f"convert the input (x.astype(np.{weight.dtype})) or the model (.float() / .double())")


def _image(layer, x, channels=None):
    check_tensor(layer, x)
    if x.ndim != 4:
        raise ValueError(f"{layer}: expected images (N, C, H, W), got shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer}: expected {channels} channels (N, {channels}, H, W), got shape {tuple(x.shape)}")


def instance_norm(x, eps=1e-5):
    """(x - mean) / sqrt(var + eps) per image and channel, over the H x W pixels.

    x: (N, C, H, W) -> same shape. One graph node: layer_norm over the last axis of (N, C, H*W).
    """
    N, C, H, W = x.shape
    return F.layer_norm(x.reshape(N, C, H * W), H * W, eps=eps).reshape(N, C, H, W)   # (N, C, HW) -> (N, C, H, W)


def adain(x, y_s, y_b, eps=1e-5):
    """AdaIN(x, y) = y_s * (x - mu(x)) / sigma(x) + y_b      (Karras et al. 2019, Eq. 1)

    x: (N, C, H, W);  y_s, y_b: (N, C), one scale and one bias per image and channel.
    mu(x), sigma(x): mean and standard deviation of each (image, channel) over H x W, so whatever
    x's statistics were, afterwards they are exactly (y_b, |y_s|): the style *replaces* them.
    Returns (N, C, H, W). Backward comes from the ops (layer_norm, mul, add).
    """
    # BEGIN SOLUTION adain
    N, C = y_s.shape
    x_hat = instance_norm(x, eps)                                     # (N, C, H, W), mean 0, var 1
    return y_s.reshape(N, C, 1, 1) * x_hat + y_b.reshape(N, C, 1, 1)  # (N, C) -> (N, C, 1, 1), broadcast
    # END SOLUTION


class AdaIN(Module):
    """The style block: a learned affine map A: w -> y = (y_s, y_b), then adain(x, y_s, y_b).

    x: (N, C, H, W), w: (N, W_dim) -> (N, C, H, W).
    A is EqualizedLinear(W_dim, 2C, gain=1) (weights N(0, 1/W_dim) in use) whose bias starts at
    (1, ..., 1, 0, ..., 0): every scale is 1 plus a term of size about rms(w), every shift about
    rms(w), as in the official implementation (bias_init=1 of the style layer). A plain Linear's
    U(-1/sqrt(W), 1/sqrt(W)) init would make the styles of different w nearly equal at the start.
    """

    def __init__(self, w_dim, channels, eps=1e-5, dtype=np.float32, rng=None):
        super().__init__()
        self.w_dim = positive_int("AdaIN", "w_dim", w_dim)
        self.channels = positive_int("AdaIN", "channels", channels)
        self.eps = eps
        self.affine = EqualizedLinear(self.w_dim, 2 * self.channels, gain=1.0, dtype=dtype, rng=rng)
        self.affine.bias.data[: self.channels] = 1.0                 # y_s starts near 1
        self.affine.bias.data[self.channels :] = 0.0                 # y_b starts near 0

    def style(self, w):
        """w (N, W_dim) -> (y_s, y_b), each (N, C)."""
        y = self.affine(w)                                            # (N, 2C)
        C = self.channels
        return y[:, :C], y[:, C:]

    def forward(self, x, w):
        _image("AdaIN", x, self.channels)
        check_tensor("AdaIN", w)
        if w.ndim != 2 or w.shape != (x.shape[0], self.w_dim):
            raise ValueError(f"AdaIN: w must be (N, {self.w_dim}) with N = {x.shape[0]} (the images' batch), "
                             f"got shape {tuple(w.shape)}")
        y_s, y_b = self.style(w)
        return adain(x, y_s, y_b, self.eps)

    def extra_repr(self):
        return f"w_dim={self.w_dim}, channels={self.channels}"


class NoiseInjection(Module):
    """y = x + b * noise: per-pixel noise, scaled per channel      (Karras et al. 2019, Sec. 3.2)

    x: (N, C, H, W);  noise: (N, 1, H, W), N(0, 1), one image per sample shared by all channels;
    b: (C,), the learned scales ("B" in Fig. 1b), initialised to 0 as in the official code: the
    generator starts deterministic and learns how much randomness each channel wants.
    dL/db_c = Σ_{n,h,w} dL/dy[n, c, h, w] * noise[n, 0, h, w];  dL/dx = dL/dy.
    The noise is always passed in (drawn by the caller from its generator, or a fixed buffer), so
    a gradient check can hold it fixed and a resumed run draws the same noise.
    """

    def __init__(self, channels, dtype=np.float32):
        super().__init__()
        self.channels = positive_int("NoiseInjection", "channels", channels)
        self.weight = Parameter(np.zeros(self.channels, dtype=float_dtype("NoiseInjection", dtype)))

    def forward(self, x, noise):
        _image("NoiseInjection", x, self.channels)
        N, C, H, W = x.shape
        noise = noise if isinstance(noise, Tensor) else Tensor(np.asarray(noise))
        if noise.shape not in ((N, 1, H, W), (1, 1, H, W)):
            raise ValueError(f"NoiseInjection: noise must be (N, 1, H, W) = ({N}, 1, {H}, {W}) or (1, 1, {H}, {W}), "
                             f"got shape {tuple(noise.shape)}")
        check_dtype("NoiseInjection", noise, self.weight)
        return x + self.weight.reshape(1, C, 1, 1) * noise           # (C,) -> (1, C, 1, 1), broadcast

    def extra_repr(self):
        return f"channels={self.channels}"
