"""One door to every image source: `load("mnist" | "fashion-mnist" | "folder:PATH", split,
image_size, channels)`, always images float32 (N, channels, image_size, image_size) in [0, 1] and
labels int64 (N,).

Read after datasets.py and folder.py. MNIST and Fashion-MNIST are 28x28 grayscale; a model that
wants another size gets them resized here (`resize`: area averaging down, bilinear up, the two
ways a picture is scaled without aliasing), and a colour model gets the gray copied into three
channels. Folder images are converted once, at the wanted size and channels, by folder.py.
"""

import argparse

import numpy as np

from .datasets import fashion_mnist, mnist
from .folder import load_folder

NAMES = ("mnist", "fashion-mnist", "folder:PATH")


def canonical_name(text):
    """The canonical name of a data set: 'mnist', 'fashion-mnist' (also spelled 'fashion_mnist')
    or 'folder:PATH' as it is; ValueError for anything else."""
    t = str(text).strip()
    if t.lower() == "mnist":
        return "mnist"
    if t.lower() in ("fashion-mnist", "fashion_mnist"):
        return "fashion-mnist"
    if t.startswith("folder:") and len(t) > len("folder:"):
        return t
    raise ValueError(f"unknown data set {text!r}; choose mnist, fashion-mnist, or "
                     "folder:PATH for a folder of your own PNG/JPEG images")


def dataset_name(text):
    """canonical_name as an argparse `type=`: a bad name stops the command before any work."""
    try:
        return canonical_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _resize_matrix(n_in, n_out):
    """R (n_out, n_in) with out = R @ in along one axis: area weights when shrinking, bilinear
    (PyTorch's align_corners=False) when enlarging. Rows sum to 1, so brightness is kept."""
    R = np.zeros((n_out, n_in))
    scale = n_in / n_out
    if n_out <= n_in:                                   # each output pixel averages what it covers
        for i in range(n_out):
            lo, hi = i * scale, (i + 1) * scale
            for j in range(int(lo), min(int(np.ceil(hi)), n_in)):
                R[i, j] = min(hi, j + 1) - max(lo, j)
        return R / scale
    for i in range(n_out):                              # sample between the two nearest pixels
        src = min(max((i + 0.5) * scale - 0.5, 0.0), n_in - 1)
        j = int(src)
        t = src - j
        R[i, j] += 1 - t
        R[i, min(j + 1, n_in - 1)] += t
    return R


def resize(x, size):
    """Images (N, C, H, W) -> (N, C, size, size), separably: out = R_h @ x @ R_w.T."""
    N, C, H, W = x.shape
    if (H, W) == (size, size):
        return x
    Rh = _resize_matrix(H, size).astype(x.dtype)
    Rw = _resize_matrix(W, size).astype(x.dtype)
    return np.ascontiguousarray(Rh @ x @ Rw.T)        # (size, H)(N, C, H, W)(W, size) -> (N, C, size, size)


def to_channels(x, channels):
    """Gray (N, 1, H, W) -> (N, 3, H, W) by copying the channel; (N, channels, H, W) as it is."""
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1 and channels == 3:
        return np.repeat(x, 3, axis=1)
    raise ValueError(f"cannot turn {x.shape[1]}-channel images into {channels} channels")


def load(name, split="train", image_size=28, channels=1):
    """Images float32 (N, channels, image_size, image_size) in [0, 1] and labels int64 (N,)."""
    name = canonical_name(name)
    if name.startswith("folder:"):
        x, y, _ = load_folder(name[len("folder:"):], split, image_size=image_size, channels=channels)
        return x, y
    x, y = (mnist if name == "mnist" else fashion_mnist)(split)
    if image_size != 28:
        x = resize(x, image_size)
    return to_channels(x, channels), y
