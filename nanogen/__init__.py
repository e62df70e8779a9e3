"""nanogen: deep generative models built from scratch, to be read.

Reading order (docs/reading_order.md has the full syllabus):
  tensor.py, autograd.py -> ops/ -> gradcheck.py -> nn/ -> optim.py -> data/ -> train.py -> models/
  kernels/ is the "make it fast" chapter.
"""

# isort: skip_file
import os
import sys

# Before anything imports numba: idle OpenMP threads must sleep, not spin, or they steal the
# second core from the next BLAS call (see nanogen/kernels/__init__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Before NumPy loads OpenBLAS (it reads this once, at load): OpenBLAS's idle threads poll for
# work for 2**28 cycles (~0.1 s) after each multi-threaded GEMM, holding a core while nanogen's
# convolutions run their chunks on two threads (nanogen/threads.py). 2**22 (~1.5 ms) keeps them
# awake between the GEMMs of one training step and asleep soon after. Measured, two threads, 2
# cores: DCGAN iteration 174-188 ms -> 111-142 ms; MLP step 1.82-1.86 ms -> 1.79-1.96 ms (2**18:
# DCGAN the same, MLP 2.47 ms). Has no effect when NumPy was imported before nanogen: import
# nanogen first, or set OPENBLAS_THREAD_TIMEOUT=22 in the environment; nanogen warns when it came
# too late (threads.warn_numpy_came_first, at the end of this file).
_numpy_came_first = "numpy" in sys.modules and "OPENBLAS_THREAD_TIMEOUT" not in os.environ
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "22")

from . import autograd  # first: tensor.py and ops/ need Function (see the end of autograd.py)
from .tensor import Tensor, tensor, zeros, ones, full, zeros_like, ones_like, arange, eye, randn, rand
from .autograd import no_grad, enable_grad, is_grad_enabled, detect_anomaly, AnomalyError
from .autograd import grad
from .random import manual_seed
from .gradcheck import gradcheck, directional_gradcheck, gradcheck_module, GradcheckError
from .gradcheck import gradgradcheck
from .ops.elementwise import add, sub, mul, div, pow, neg, exp, log, sqrt, abs, clamp, maximum, minimum, where
from .ops.reduce import sum, mean, max, min, amax, amin, var, std, logsumexp
from .ops.shape import reshape, flatten, transpose, permute, squeeze, unsqueeze, expand, cat, stack, split, chunk
from .ops.linalg import matmul
from . import functional
from . import nn, optim, serialize
from .serialize import save, load
from .threads import set_num_threads, get_num_threads

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "arange", "eye", "randn", "rand",
    "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly", "AnomalyError", "manual_seed",
    "gradcheck", "directional_gradcheck", "gradcheck_module", "GradcheckError",
    "grad", "gradgradcheck",
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "clamp", "maximum", "minimum", "where",
    "sum", "mean", "max", "min", "amax", "amin", "var", "std", "logsumexp",
    "reshape", "flatten", "transpose", "permute", "squeeze", "unsqueeze", "expand", "cat", "stack", "split", "chunk",
    "matmul", "functional", "nn", "optim", "serialize", "save", "load",
    "set_num_threads", "get_num_threads",
]

threads.apply_default()  # BLAS + Numba threads: the free cores (see nanogen/threads.py)
if _numpy_came_first:
    threads.warn_numpy_came_first()
