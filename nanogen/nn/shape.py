"""Shape layers: Flatten and Unflatten, the hinges between convolutional and dense parts.

Read module.py first. An encoder's convolutions end in (N, C, H, W) and its dense head wants
(N, C*H*W): Flatten does that; a decoder's dense layer produces (N, C*H*W) and its transposed
convolutions want (N, C, H, W) back: Unflatten. Both are reshapes (ops/shape.py), so the
gradient is reshaped back the same way.
"""

import numpy as np

from .. import functional as F
from ..ops.checks import check_tensor
from .module import Module


class Flatten(Module):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) with the defaults."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        check_tensor("Flatten", x)
        for d in (self.start_dim, self.end_dim):
            if not -max(x.ndim, 1) <= d < max(x.ndim, 1):
                raise ValueError(f"Flatten: dim {d} is out of range for an input of shape {tuple(x.shape)}")
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim `dim` into `unflattened_size`: Unflatten(1, (C, H, W)) maps (N, C*H*W) -> (N, C, H, W).

    One entry of unflattened_size may be -1 (inferred), as in reshape.
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(int(s) for s in unflattened_size)
        if self.unflattened_size.count(-1) > 1 or any(s < -1 or s == 0 for s in self.unflattened_size):
            raise ValueError(f"Unflatten: unflattened_size must hold positive sizes and at most one -1, "
                             f"got {unflattened_size}")

    def forward(self, x):
        check_tensor("Unflatten", x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"Unflatten: dim {self.dim} is out of range for an input of shape {tuple(x.shape)}")
        d = self.dim % x.ndim
        n, known = x.shape[d], int(np.prod([s for s in self.unflattened_size if s != -1]))
        if (n != known and -1 not in self.unflattened_size) or n % known:
            raise ValueError(f"Unflatten: dim {self.dim} of the input has size {n} (shape {tuple(x.shape)}), "
                             f"which cannot be split into {self.unflattened_size}")
        return F.reshape(x, x.shape[:d] + self.unflattened_size + x.shape[d + 1 :])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
