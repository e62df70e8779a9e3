"""A workspace: scratch buffers that the convolutions reuse from one call to the next.

Read after nanogen/ops/conv.py, which uses it. A convolution needs big temporary matrices (the
im2col columns, the GEMM output before it is laid out as (N, F, OH, OW)) that live only for the
length of one forward or backward call. Allocating them fresh each time is not free: the
operating system hands out new memory one 4 KB page at a time, and each first touch of a page
costs a page fault (about 1 us; a 26 MB buffer is 6,400 of them, ~10 ms, as long as the GEMM it
feeds). Keeping one buffer per purpose and handing out views of it removes that cost without
changing how the process allocates anything else.

Bounded: the ops ask only for buffers of one batch chunk (see ops/conv.py: a few MB), one per
name and dtype, so the workspace never holds more than a few of those. Each thread gets its own
(threading.local), so two threads running convolutions never share scratch memory.
`release()` frees everything (tests use it; a long-lived process never needs to).
"""

import threading

import numpy as np

_local = threading.local()


def buffer(name, shape, dtype):
    """An uninitialised C-contiguous array of `shape` and `dtype`, a view of the workspace
    buffer `name`: valid until the next call with the same name (so: within one op call)."""
    dtype = np.dtype(dtype)
    size = 1
    for s in shape:
        size *= int(s)
    store = getattr(_local, "store", None)
    if store is None:
        store = _local.store = {}
    key = (name, dtype)
    buf = store.get(key)
    if buf is None or buf.size < size:
        buf = store[key] = np.empty(max(size, 1), dtype=dtype)  # grows to the largest request, never shrinks
    return buf[:size].reshape(shape)


def nbytes():
    """Bytes the calling thread's workspace holds now."""
    return sum(b.nbytes for b in getattr(_local, "store", {}).values())


def release():
    """Free the calling thread's workspace buffers (they are made again on the next request)."""
    _local.store = {}
