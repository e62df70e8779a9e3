"""nanogen.nn: Module, Parameter, containers, layers and init -- PyTorch's names and layouts.

Reading order: module.py (Module, Parameter) -> container.py (Sequential, ModuleList) ->
init.py (why weight scales matter) -> linear.py -> activation.py -> shape.py -> dropout.py ->
conv.py -> pool.py -> norm.py -> gan_layers.py. Every layer calls public ops (nanogen.functional, nanogen/ops/),
so a reader follows `Linear.forward` straight to the op that computes it. Checkpoints:
nanogen/serialize.py (save/load of state_dicts).
"""

# isort: skip_file
from .module import Parameter, Module, IncompatibleKeys, functional_call
from .container import Sequential, ModuleList
from . import init
from .linear import Identity, Linear, Embedding
from .activation import ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softplus
from .shape import Flatten, Unflatten, PixelShuffle
from .dropout import Dropout
from .conv import Conv2d, ConvTranspose2d
from .pool import MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Upsample
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
from .gan_layers import EqualizedLinear, EqualizedConv2d, PixelNorm, MinibatchStdDev

__all__ = [
    "Parameter", "Module", "IncompatibleKeys", "functional_call", "Sequential", "ModuleList", "init",
    "Identity", "Linear", "Embedding",
    "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Softplus",
    "Flatten", "Unflatten", "PixelShuffle", "Dropout",
    "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Upsample",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "EqualizedLinear", "EqualizedConv2d", "PixelNorm", "MinibatchStdDev",
]
