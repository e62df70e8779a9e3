"""Data: MNIST and Fashion-MNIST (found offline, checked, cached), a DataLoader, 2-D toy sets.

Reading order: datasets.py (where the digits come from and how every byte is checked), loader.py
(mini-batches, one permutation per epoch, exact resume), folder.py (your own PNG/JPEG images),
images.py (`load(name, split, image_size, channels)`: one door to every source), glyphs.py (a
folder data set drawn from matplotlib's fonts), toy.py (2-D mixtures for GANs).
`python -m nanogen.data download | info | verify` fetches and checks the data sets.
"""
# isort: skip_file

from .datasets import (mnist, fashion_mnist, load_uint8, read_idx, RestrictedUnpickler, cache_dir,
                    info, verify, download, DatasetNotFoundError, ChecksumError, IDXFormatError)
from .loader import DataLoader, dynamic_binarize
from .folder import load_folder
from .images import load
from . import toy

__all__ = [
    "mnist", "fashion_mnist", "load_uint8", "read_idx", "RestrictedUnpickler", "cache_dir",
    "info", "verify", "download", "DatasetNotFoundError", "ChecksumError", "IDXFormatError",
    "DataLoader", "dynamic_binarize",
    "load_folder", "load",
    "toy",
]
