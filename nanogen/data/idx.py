"""The IDX file format of MNIST and Fashion-MNIST: parse it, check it, hash it.

Read first in data/ (datasets.py builds on it). An IDX file (LeCun et al.,
http://yann.lecun.com/exdb/mnist/) is a 4-byte magic -- 0, 0, a type code, the number of dims --
one big-endian uint32 per dim, then the values in C order, big-endian. MNIST images are type 0x08
(ubyte) with 3 dims (magic 0x00000803 = 2051), labels 0x08 with 1 dim (2049). The distributed
files are gzipped; read_file undoes that. Plain Python and NumPy.
"""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "read_file", "idx_sha256", "IDXFormatError"]


class IDXFormatError(ValueError):
    """A file that is not a well-formed IDX file."""


#: type code -> dtype as stored (big-endian)
IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(source, what=None):
    """Parse IDX bytes (or a path to a .gz or raw IDX file) into an ndarray, checking the header.

    Raises IDXFormatError on a bad magic, an unknown type code, or a length that does not match
    the dims (truncated or trailing bytes). Multi-byte types come back in native byte order.
    """
    what = what or (str(source) if not isinstance(source, (bytes, bytearray, memoryview)) else "IDX data")
    data = source if isinstance(source, (bytes, bytearray, memoryview)) else read_file(Path(source))
    data = memoryview(data)
    if len(data) < 4:
        raise IDXFormatError(f"read_idx: {what} is {len(data)} bytes, too short for an IDX header")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_TYPES or ndim == 0:
        raise IDXFormatError(f"read_idx: {what} has bad magic number 0x{bytes(data[:4]).hex()}; "
                             "an IDX file starts with 00 00, a type code (08 for ubyte) and the "
                             "number of dims (e.g. 0x00000803 for images)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(f"read_idx: {what} is truncated inside its header ({len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_TYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise IDXFormatError(f"read_idx: {what} is {state}: dims {dims} need {expected} bytes, "
                             f"got {len(data)}")
    a = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return a.astype(dtype.newbyteorder("="))     # a writable copy, in native byte order


def idx_header(a):
    """The header of the IDX file that holds the uint8 array a: magic and dims."""
    return bytes((0, 0, 0x08, a.ndim)) + struct.pack(f">{a.ndim}I", *a.shape)


def idx_sha256(a):
    """SHA-256 of the IDX file that holds the uint8 array a (header + bytes), without building it."""
    h = hashlib.sha256(idx_header(a))
    h.update(np.ascontiguousarray(a))
    return h.hexdigest()


def read_file(path, limit=None):
    """The bytes of a raw or gzipped file, decompressed; `limit` guards against gzip bombs."""
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=f) as g:
                return g.read() if limit is None else g.read(limit + 1)
        return f.read() if limit is None else f.read(limit + 1)
