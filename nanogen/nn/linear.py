"""Linear layers: Identity, Linear (y = x W^T + b) and Embedding (a table lookup).

Read module.py and init.py first. Linear is the workhorse of every model here; it calls the
single coarse op F.linear (ops/linalg.py), one graph node for the matmul and the bias.
Embedding is a Linear layer in disguise: looking up row i of W is W^T applied to the one-hot
vector e_i, done by indexing instead of a matmul with a mostly-zero matrix.
Layouts and default initialisation are PyTorch's: Linear.weight is (out_features, in_features).
"""

import numpy as np

from .. import functional as F
from ..tensor import as_array
from . import init
from .module import Module, Parameter, float_dtype, positive_int


class Identity(Module):
    """y = x. A placeholder where a layer is optional (e.g. no normalisation in a config)."""

    def __init__(self, *args, **kwargs):
        super().__init__()  # arguments are accepted and ignored, as in PyTorch

    def forward(self, x):
        return x


class Linear(Module):
    """y = x @ weight.T + bias

    x: (..., in_features) -> y: (..., out_features)
    weight: (out_features, in_features)   bias: (out_features,) or None (bias=False)
    Default init (PyTorch's): weight ~ kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
    bias ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = positive_int("Linear", "in_features", in_features)
        self.out_features = positive_int("Linear", "out_features", out_features)
        dtype = float_dtype("Linear", dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        init.layer_default_(self.weight, self.bias, rng=rng)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """y = weight[idx]: row idx of a learned table, one vector per integer id.

    idx: integer array of any shape (...)  ->  y: (..., embedding_dim)
    weight: (num_embeddings, embedding_dim), initialised N(0, 1) as in PyTorch.
    Backward adds each output gradient into the row it came from (ops/shape.py GetItem, which
    uses np.add.at so that ids repeated in a batch accumulate).
    """

    def __init__(self, num_embeddings, embedding_dim, dtype=np.float32, rng=None):
        super().__init__()
        self.num_embeddings = positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("Embedding", "embedding_dim", embedding_dim)
        dtype = float_dtype("Embedding", dtype)
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dtype))
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        init.normal_(self.weight, 0.0, 1.0, rng=rng)

    def forward(self, idx):
        idx = as_array(idx)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}; "
                            "convert them with .long() or .astype(np.int64)")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            bad = idx.min() if idx.min() < 0 else idx.max()
            raise IndexError(f"Embedding: index {bad} is out of range for a table of "
                             f"{self.num_embeddings} rows (ids must be in [0, {self.num_embeddings - 1}])")
        return self.weight[idx]

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
