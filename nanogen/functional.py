"""nanogen.functional (import as F): every op under one name, PyTorch-style.

Nothing is defined here; each name lives in the ops/ file that owns its math, so a reader who
sees F.conv2d in a model finds the op with `grep "def conv2d"` in nanogen/ops/.
"""

# isort: skip_file
from .ops.elementwise import add, sub, mul, div, pow, neg, exp, log, sqrt, abs, clamp, maximum, minimum, where
from .ops.activation import relu, leaky_relu, elu, sigmoid, tanh, softplus, softmax, log_softmax
from .ops.reduce import sum, mean, max, min, amax, amin, var, std, logsumexp
from .ops.shape import (reshape, view, flatten, transpose, permute, squeeze, unsqueeze, expand, getitem,
                        cat, stack, split, chunk, pad)
from .ops.linalg import matmul, linear
from .ops.loss import (mse_loss, l1_loss, binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                       nll_loss, kl_normal_standard, kl_normal_normal, gaussian_nll_loss, one_hot)
from .ops.conv import conv2d, conv_transpose2d
from .ops.pool import max_pool2d, avg_pool2d, adaptive_avg_pool2d, interpolate, upsample
from .ops.norm import batch_norm, layer_norm, dropout
