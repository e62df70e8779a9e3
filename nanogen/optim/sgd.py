"""SGD: stochastic gradient descent, with momentum, Nesterov momentum and L2 weight decay.

Read optimizer.py first (groups, state, step). The rule, for a parameter p with gradient g at
step t, exactly as PyTorch's torch.optim.SGD:
    g <- g + weight_decay * p                          the gradient of weight_decay/2 * |p|^2
    if momentum != 0:
        b <- g                                        at t = 1
        b <- momentum * b + (1 - dampening) * g       at t > 1
        g <- g + momentum * b   (nesterov)   or   g <- b
    p <- p - lr * g
Momentum is Polyak's heavy ball (1964): b is a running sum of past gradients, so steps grow along
directions the gradients agree on and cancel where they oscillate. The Nesterov form looks one
momentum step ahead (Sutskever et al. 2013, eq. 3-4, rewritten for gradients at the current p).
PyTorch keeps lr outside b (other texts put it inside): a changed lr takes effect at once.
"""

import numpy as np

from ..kernels.optim import sgd_step_, sgd_step_reference_
from .optimizer import Optimizer


class SGD(Optimizer):
    """p <- p - lr * g, with optional momentum (heavy ball or Nesterov) and L2 weight decay.

    lr: step size (required: a good one depends on the model). momentum: 0 for plain SGD, 0.9 is
    common. dampening: scales the new gradient's share of the buffer. weight_decay: L2 penalty.
    nesterov: Nesterov momentum (needs momentum > 0 and dampening = 0).
    State per parameter: "momentum_buffer" (shape of p), created on its first step if momentum != 0.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": bool(nesterov)}
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        if not group["momentum"] >= 0.0:
            raise ValueError(f"SGD: momentum must be >= 0, got {group['momentum']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got momentum="
                             f"{group['momentum']}, dampening={group['dampening']}; pass e.g. momentum=0.9")

    def update(self, p, grad, state, group):
        momentum = group["momentum"]
        first_step = momentum != 0 and "momentum_buffer" not in state
        if first_step:
            state["momentum_buffer"] = np.zeros(p.shape, dtype=p.dtype)  # C order whatever p's layout
        # the fused kernel (nanogen/kernels/optim.py) updates p through a flat view, so it needs C
        # order; its NumPy twin works on any layout (a parameter made from a transposed array)
        step_ = sgd_step_ if p.flags.c_contiguous else sgd_step_reference_
        step_(p, grad, state.get("momentum_buffer"), group["lr"], momentum, group["dampening"],
              group["weight_decay"], group["nesterov"], first_step)
