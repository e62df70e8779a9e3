"""The "make it fast" chapter: Numba kernels on raw arrays, each beside its plain-NumPy twin.

Read after the ops (nanogen/ops/), which say *what* is computed; the kernels say how to compute
it quickly on a CPU. Every kernel file puts the NumPy reference first (`<name>_reference`, the
specification) and the Numba version after it (`<name>`), with the same signature.

Switches, read once at import:
- NANOGEN_KERNELS=numpy   run every op on the NumPy twins (slow, but plain Python to read).
- NUMBA_DISABLE_JIT=1     keep the Numba code path but run it as ordinary Python, so a student
                          can step through a kernel with pdb.
When Numba cannot be imported, nanogen warns once and falls back to the NumPy twins.

GEMM stays with NumPy's BLAS (`@`); Numba does what BLAS cannot: im2col/col2im, pooling,
normalization statistics, fused elementwise work and fused optimizer updates.
"""

import os
import warnings

# Numba's OpenMP threads otherwise spin after a parallel region and slow the next BLAS call
# on a 2-core machine. Must be set before numba (and its threading layer) is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_requested = os.environ.get("NANOGEN_KERNELS", "numba").strip().lower()
if _requested not in ("numba", "numpy"):
    # A setting of the whole process, read while `import nanogen` runs (before any command could
    # catch an error): SystemExit prints this one line and exits with status 1, no traceback.
    raise SystemExit(f"nanogen: NANOGEN_KERNELS must be 'numba' or 'numpy', got {_requested!r}; "
                     "unset it for the Numba kernels")

try:
    import numba as _numba
    from numba import njit, prange, uint64  # uint64: unsigned indices (kernels/conv.py says why)

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only on machines without numba
    HAVE_NUMBA = False
    prange = range
    uint64 = int

    def njit(*args, **kwargs):
        """Stand-in for numba.njit when Numba is missing: returns the Python function unchanged."""
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda fn: fn

    if _requested == "numba":
        warnings.warn(
            "nanogen: numba could not be imported; using the plain-NumPy kernels (slow). "
            "Install it with: pip install numba",
            RuntimeWarning,
            stacklevel=2,
        )

#: True when the Numba kernels run; False when the NumPy twins do.
USE_NUMBA = HAVE_NUMBA and _requested == "numba"


def pick(fast, reference):
    """Return the kernel the ops should call: `fast` (Numba) or `reference` (NumPy twin)."""
    return fast if USE_NUMBA else reference


__all__ = ["HAVE_NUMBA", "USE_NUMBA", "njit", "prange", "uint64", "pick"]
