"""DataLoader: cut arrays into mini-batches of Tensors, shuffled once per epoch, resumable exactly.

    loader = DataLoader(x, y, batch_size=128, shuffle=True, seed=0)
    for epoch in range(10):
        for xb, yb in loader:          # Tensors: xb (128, 1, 28, 28) float32, yb (128,) int64
            ...

Each epoch draws one permutation of the indices and takes one batch at a time by fancy
indexing (a copy of that batch only, never of the whole data set). The permutation of epoch k
comes from numpy.random.default_rng([seed, k]): it depends on the seed and k alone, so saving
`state_dict()` (seed, epoch, batch) in a checkpoint and loading it later continues the very same
sequence of batches. Read after tensor.py; train.py uses this.
"""

import numpy as np

__all__ = ["DataLoader", "dynamic_binarize"]


def dynamic_binarize(batch, rng):
    """A transform: x in [0, 1] becomes 1 with probability x, else 0, freshly at every batch.

    The standard binarised MNIST for Bernoulli likelihoods (Salakhutdinov & Murray 2008, Sec. 4;
    Burda et al. 2016, Sec. 5): each draw is a new binary image, so a model cannot memorise one.
    The first array of the batch is binarised (dtype kept); the others pass through.
    """
    x, *rest = batch
    u = rng.random(x.shape, dtype=x.dtype if x.dtype in (np.float32, np.float64) else np.float64)
    return ((u < x).astype(x.dtype), *rest)


def _as_array(a, i):
    if isinstance(a, np.ndarray):
        return a
    data = getattr(a, "data", None)     # a nanogen Tensor: batch its values
    if isinstance(data, np.ndarray):
        return data
    a = np.asarray(a)
    if a.dtype == object:
        raise TypeError(f"DataLoader: array {i} must be numeric, got dtype object")
    return a


class DataLoader:
    """Iterate over equal-length arrays in mini-batches.

    arrays      ndarrays (or Tensors) with the same first dimension N
    batch_size  positive int; the last batch is smaller unless drop_last=True drops it
    shuffle     a new permutation every epoch (else the natural order 0..N-1)
    seed        int: the permutation of epoch k is numpy.random.default_rng([seed, k]).permutation(N)
    rng         or a numpy Generator to draw the seed from (default: nanogen's global generator,
                so nanogen.random.manual_seed makes runs repeatable); not both seed and rng
    transform   optional f(batch, rng) -> batch on the tuple of ndarrays of each batch, with a
                generator seeded by (seed, epoch, batch index), e.g. dynamic_binarize
    as_tensor   yield tuples of nanogen Tensors (default) or of plain ndarrays

    Like PyTorch's, each `iter(loader)` starts a new epoch; `loader.epoch` counts them. A
    `state_dict()` taken inside the loop records how far the current epoch has gone, and
    `load_state_dict` makes the next `iter()` resume right after the last batch handed out.
    """

    def __init__(self, *arrays, batch_size=128, shuffle=False, drop_last=False, seed=None, rng=None,
                 transform=None, as_tensor=True):
        if not arrays:
            raise ValueError("DataLoader: give at least one array, e.g. DataLoader(x, y, batch_size=64)")
        arrays = tuple(_as_array(a, i) for i, a in enumerate(arrays))
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(f"DataLoader: array {i} must have a first (sample) axis, got a scalar")
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"DataLoader: all arrays must have the same first dimension, got "
                             f"lengths {lengths} (shapes {[a.shape for a in arrays]})")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size}")
        N = lengths[0]
        if N == 0:
            raise ValueError("DataLoader: the arrays are empty (N = 0)")
        if drop_last and batch_size > N:
            raise ValueError(f"DataLoader: drop_last=True with batch_size {batch_size} > N = {N} "
                             "would give no batch at all; lower batch_size")
        if seed is not None and rng is not None:
            raise ValueError("DataLoader: give seed or rng, not both")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable f(batch, rng), got {transform!r}")
        if seed is None:
            from .. import random as _random
            seed = int(_random.default_rng(rng).integers(2**63))   # drawn once: stored in state_dict
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative int, got {seed!r}")

        self.arrays = arrays
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.transform = transform
        self.as_tensor = bool(as_tensor)
        self.epoch = 0              # the epoch the next iter() runs
        self._start_batch = 0       # where the next iter() starts in it (set by load_state_dict)
        self._position = None       # (epoch, batches handed out) while an iteration is live

    def __len__(self):
        """Batches per epoch: ceil(N / batch_size), or floor with drop_last."""
        N, B = len(self.arrays[0]), self.batch_size
        return N // B if self.drop_last else -(-N // B)

    @property
    def n_samples(self):
        return len(self.arrays[0])

    def indices(self, epoch):
        """The order in which epoch `epoch` visits the samples, (N,) int64."""
        N = self.n_samples
        if not self.shuffle:
            return np.arange(N)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(N)

    def __iter__(self):
        epoch, start = self.epoch, self._start_batch
        self.epoch, self._start_batch = epoch + 1, 0     # a new iter() always begins the next epoch
        return self._batches(epoch, start)

    def _batches(self, epoch, start):
        if self.as_tensor:
            from ..tensor import Tensor                  # here, not at import: tensor.py needs no data/
        order = self.indices(epoch)
        B = self.batch_size
        self._position = position = [epoch, start]
        try:
            for b in range(start, len(self)):
                idx = order[b * B:(b + 1) * B]
                batch = tuple(a[idx] for a in self.arrays)     # copies this batch only
                if self.transform is not None:
                    batch = self.transform(batch, np.random.default_rng([self.seed, int(epoch), b, 1]))
                    batch = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
                position[1] = b + 1                            # counted as soon as it is handed out
                yield tuple(Tensor(a) for a in batch) if self.as_tensor else batch
        finally:
            if self._position is position:                     # finished, or abandoned by `break`,
                self._position = None                          # unless a newer iteration took over

    def state_dict(self):
        """{"seed", "epoch", "batch"}: where the next batch would come from, for a checkpoint."""
        if self._position is not None and self._position[1] < len(self):
            epoch, batch = self._position
        elif self._position is not None:
            epoch, batch = self._position[0] + 1, 0
        else:
            epoch, batch = self.epoch, self._start_batch
        return {"seed": self.seed, "epoch": int(epoch), "batch": int(batch)}

    def load_state_dict(self, state):
        """Resume: the next iter() yields epoch state["epoch"] from batch state["batch"] on."""
        missing = {"seed", "epoch", "batch"} - set(state)
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}; expected "
                             "the dict returned by state_dict()")
        epoch, batch = int(state["epoch"]), int(state["batch"])
        if epoch < 0 or not 0 <= batch <= len(self):
            raise ValueError(f"DataLoader.load_state_dict: epoch {epoch}, batch {batch} out of range "
                             f"(this loader has {len(self)} batches per epoch)")
        self.seed, self.epoch, self._start_batch = int(state["seed"]), epoch, batch
        self._position = None

    def __repr__(self):
        shapes = ", ".join(str(a.shape) for a in self.arrays)
        return (f"DataLoader({shapes}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, epoch={self.epoch})")
