"""Normalisation layers: BatchNorm1d, BatchNorm2d (Ioffe & Szegedy 2015) and LayerNorm (Ba et al. 2016).

Read module.py first; the math and the gradients are in ops/norm.py. Both normalise
    y = (x - mean) / sqrt(var + eps) * weight + bias
and differ in *which* numbers share a mean and variance:
  BatchNorm: one per channel, over the batch (and H, W). Training uses the batch's statistics
             and keeps exponential running averages (buffers, saved in the state_dict):
                 running = (1 - momentum) * running + momentum * batch_statistic
             with the unbiased batch variance; eval() uses the running ones, so the output of one
             sample stops depending on the rest of its batch. momentum=None averages all batches
             equally (factor 1 / num_batches_tracked).
  LayerNorm: one per sample, over the trailing `normalized_shape` dims; same in train and eval.
Arguments, parameter and buffer names, and defaults are PyTorch's (weight = 1, bias = 0).
"""

import numpy as np

from .. import functional as F
from ..ops.checks import check_tensor
from ..tensor import Tensor
from . import init
from .module import Module, Parameter, float_dtype, positive_int


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ only in the input shapes they accept."""

    name = "BatchNorm"

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 bias=True, dtype=np.float32):
        super().__init__()
        self.num_features = positive_int(self.name, "num_features", num_features)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{self.name}: momentum must be in [0, 1] or None, got {momentum}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = float_dtype(self.name, dtype)
        C = self.num_features
        if affine:
            self.weight = Parameter(np.ones(C, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(C, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(C, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(C, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_shape(self, x):
        """The layer's own contract (1d: features, 2d: images); F.batch_norm checks the rest."""
        raise NotImplementedError

    def forward(self, x):
        check_tensor(self.name, x)
        self._check_shape(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1  # in place: the buffer is a 0-d int64 array
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)  # cumulative moving average
        # batch statistics while training, and in eval too when there are no running ones
        use_batch_stats = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats  # running stats to read (eval) or update
        x4 = x.reshape(x.shape + (1,)) if x.ndim == 3 else x  # (N, C, L) -> (N, C, L, 1): same statistics
        y = F.batch_norm(x4, self.running_mean if keep else None, self.running_var if keep else None,
                       weight=self.weight, bias=self.bias, training=use_batch_stats, momentum=factor, eps=self.eps)
        return y.reshape(x.shape) if x.ndim == 3 else y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm of features: x: (N, C) or (N, C, L) -> same shape; statistics per channel C."""

    name = "BatchNorm1d"

    def _check_shape(self, x):
        if x.ndim not in (2, 3):
            fix = "; for images (N, C, H, W) use BatchNorm2d" if x.ndim == 4 else ""
            raise ValueError(f"BatchNorm1d: expected input (N, C) or (N, C, L), got shape {tuple(x.shape)}{fix}")


class BatchNorm2d(_BatchNorm):
    """Batch norm of images: x: (N, C, H, W) -> same shape; statistics per channel over N, H, W."""

    name = "BatchNorm2d"

    def _check_shape(self, x):
        if x.ndim != 4:
            fix = "; add a batch axis with x[None]" if x.ndim == 3 else (
                "; for (N, C) features use BatchNorm1d" if x.ndim == 2 else "")
            raise ValueError(f"BatchNorm2d: expected input (N, C, H, W), got shape {tuple(x.shape)}{fix}")


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the last len(normalized_shape) dims.

    x: (..., *normalized_shape) -> same shape;  weight, bias: normalized_shape (if elementwise_affine).
    The variance is the biased one (divide by the count), as in PyTorch.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=np.float32):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(positive_int("LayerNorm", "normalized_shape", n) for n in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = float_dtype("LayerNorm", dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, weight=self.weight, bias=self.bias, eps=self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
