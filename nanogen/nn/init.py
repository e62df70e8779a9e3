"""Weight initialisation: fill a tensor in place with numbers of the right scale.

Read module.py first. Why scale matters: a layer y = W x with fan_in inputs multiplies the
variance of x by fan_in * Var(W). Pick Var(W) = 1 / fan_in and activations neither explode nor
vanish through a deep stack; a nonlinearity that zeroes half its inputs (ReLU) halves the
variance, so it needs a gain of sqrt(2) on the std. That is the whole idea of
    Glorot & Bengio 2010 (xavier_*): std = gain * sqrt(2 / (fan_in + fan_out)), a compromise
        between the forward pass (fan_in) and the backward pass (fan_out);
    He et al. 2015, §2.2 (kaiming_*): std = gain / sqrt(fan), fan = fan_in (or fan_out).
A uniform U(-bound, bound) has std bound / sqrt(3), hence the sqrt(3) in the *_uniform_ bounds.
Formulas, names and defaults are PyTorch's torch.nn.init, exactly. Every function takes a Tensor
(or ndarray), writes into its array in place and returns it; `rng` is a numpy Generator
(default: nanogen's global one, see nanogen.random).
"""

import math

import numpy as np

from .. import random as _random
from ..tensor import Tensor


def _array(t, name):
    """The ndarray behind `t`, checked to be floating point (the one we write into)."""
    a = t.data if isinstance(t, Tensor) else t
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a Tensor or ndarray, got {type(t).__name__}")
    if a.dtype.kind != "f":
        raise TypeError(f"{name}: can only fill a floating-point tensor, got dtype {a.dtype}")
    return a


def _draw_dtype(x):
    """Draw samples directly in x's dtype when NumPy can (float32/64): no float64 temporary."""
    return x.dtype if x.dtype in (np.float32, np.float64) else np.float64


def calculate_gain(nonlinearity, param=None):
    """The factor on the std that keeps activations' variance steady through `nonlinearity`.

    linear, conv*, sigmoid: 1     tanh: 5/3     relu: sqrt(2)     selu: 3/4
    leaky_relu with slope a (param, default 0.01): sqrt(2 / (1 + a^2))
    """
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
                     f"{linear_fns + ['sigmoid', 'tanh', 'relu', 'leaky_relu', 'selu']}")


def _calculate_fan_in_and_fan_out(t):
    """(fan_in, fan_out) of a weight laid out as PyTorch's: (out, in, *kernel).

    Linear (O, I): fan_in = I, fan_out = O. Conv2d (F, C, KH, KW): fan_in = C*KH*KW, fan_out =
    F*KH*KW. ConvTranspose2d stores (C_in, C_out, KH, KW), so its "fan_in" is C_out*KH*KW:
    PyTorch's convention, kept so the default initialisation matches.
    """
    shape = t.shape
    if len(shape) < 2:
        raise ValueError(f"_calculate_fan_in_and_fan_out: needs a tensor with at least 2 dims, got shape {shape}")
    receptive_field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(t, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


# ---------------------------------------------------------------------------- basic fills


def uniform_(t, a=0.0, b=1.0, rng=None):
    """t <- samples of U(a, b)."""
    x = _array(t, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: need a <= b, got a={a}, b={b}")
    rng = _random.default_rng(rng)
    x[...] = a + (b - a) * rng.random(x.shape, dtype=_draw_dtype(x))
    return t


def normal_(t, mean=0.0, std=1.0, rng=None):
    """t <- samples of N(mean, std^2)."""
    x = _array(t, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    rng = _random.default_rng(rng)
    x[...] = mean + std * rng.standard_normal(x.shape, dtype=_draw_dtype(x))
    return t


def constant_(t, val):
    _array(t, "constant_")[...] = val
    return t


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


# ---------------------------------------------------------------------------- scaled by the fans


def xavier_uniform_(t, gain=1.0, rng=None):
    """Glorot: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(_array(t, "xavier_uniform_"))
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std  # U(-b, b) has std b / sqrt(3)
    return uniform_(t, -bound, bound, rng=rng)


def xavier_normal_(t, gain=1.0, rng=None):
    """Glorot: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(_array(t, "xavier_normal_"))
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(t, 0.0, std, rng=rng)


def kaiming_uniform_(t, a=0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He: U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    PyTorch's default for Linear and Conv weights is kaiming_uniform_(w, a=sqrt(5)), which works
    out to U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    x = _array(t, "kaiming_uniform_")
    if x.size == 0:
        return t  # nothing to fill (and no fan to divide by)
    fan = _calculate_correct_fan(x, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(t, -bound, bound, rng=rng)


def layer_default_(weight, bias=None, rng=None):
    """PyTorch's default init of Linear and Conv layers (their reset_parameters): weight ~
    kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias (unless None) ~ the
    same U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in being the weight's (in_features, or C_in/G * KH * KW)."""
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(_array(weight, "layer_default_"))
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound, rng=rng)
    return weight


def kaiming_normal_(t, a=0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He: N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    x = _array(t, "kaiming_normal_")
    if x.size == 0:
        return t
    fan = _calculate_correct_fan(x, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(t, 0.0, std, rng=rng)
