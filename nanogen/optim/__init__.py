"""Optimizers: how gradients become parameter updates.

Read after nn/ and before train.py. The chapter, in reading order:
    optimizer.py     Optimizer: parameter groups, per-parameter state, zero_grad/step, saving
    sgd.py           SGD with momentum, Nesterov momentum and L2 weight decay
    adam.py          Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019)
    lr_scheduler.py  StepLR, ExponentialLR, CosineAnnealingLR
    lbfgs.py         L-BFGS on a flat vector (style transfer's optimiser)
    clip.py          clip_grad_norm_, clip_grad_value_
A training step, as in PyTorch:
    opt = nanogen.optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad(); loss = model.loss(x); loss.backward(); opt.step()
The updates are PyTorch's formulas exactly; the fused per-parameter loops live in
nanogen/kernels/optim.py beside their NumPy twins.
"""

# isort: skip_file
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .lr_scheduler import LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR
from .clip import clip_grad_norm_, clip_grad_value_
from .lbfgs import lbfgs

__all__ = [
    "Optimizer",
    "SGD", "Adam", "AdamW",
    "LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR",
    "clip_grad_norm_", "clip_grad_value_",
    "lbfgs",
]
