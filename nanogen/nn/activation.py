"""Activation layers: ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softplus.

Read module.py first; the math and the gradients are in ops/activation.py. These Modules only
hold the hyperparameter (a slope, an alpha, a beta) so an activation can sit inside a
Sequential. `inplace=` is accepted so PyTorch code runs unchanged, but nanogen never overwrites
its input: autograd may still need it for the backward pass.
"""

from .. import functional as F
from .module import Module


class ReLU(Module):
    """y = max(x, 0)"""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x   (GAN discriminators: slope 0.2, Radford et al. 2015)"""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """y = x if x > 0 else alpha * (exp(x) - 1)   (Clevert et al. 2015)"""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x)): a probability, e.g. a Bernoulli decoder's pixel means."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh(x), in (-1, 1): a DCGAN generator's output for images scaled to [-1, 1]."""

    def forward(self, x):
        return F.tanh(x)


class Softplus(Module):
    """y = log(1 + exp(beta * x)) / beta: a smooth ReLU, positive everywhere (e.g. a std).

    `threshold` is accepted for PyTorch compatibility: PyTorch returns x when beta*x > threshold
    to avoid overflow; the stable form in ops/activation.py never overflows and already equals x
    there to within rounding (the difference is log1p(exp(-20)) / beta < 3e-9 / beta).
    """

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        if beta <= 0:
            raise ValueError(f"Softplus: beta must be positive, got {beta}")
        self.beta = beta
        self.threshold = threshold

    def forward(self, x):
        return F.softplus(x, self.beta)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"
