"""Dropout: zero each activation with probability p while training (Srivastava et al. 2014).

Read module.py first; the op is ops/norm.py `dropout`. Training: y = x * m / (1 - p) with
m ~ Bernoulli(1 - p) drawn afresh each call, so the expected value of y is x and evaluation
needs no rescaling ("inverted dropout"). Evaluation (model.eval()): y = x. Forgetting eval()
before measuring a model is a classic bug: the numbers come out noisy and too pessimistic.
"""

from .. import functional as F
from .module import Module


class Dropout(Module):
    """y = x * Bernoulli(1 - p) / (1 - p) in training mode, y = x in eval mode.

    rng: a numpy Generator for the masks (default: nanogen's global one). `inplace=` is accepted
    for PyTorch compatibility and ignored (the input is never overwritten).
    """

    def __init__(self, p=0.5, inplace=False, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {p} (p = 1 would drop everything)")
        self.p = p
        self.inplace = inplace
        self.rng = rng

    def forward(self, x):
        return F.dropout(x, p=self.p, training=self.training, rng=self.rng)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
