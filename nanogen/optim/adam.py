"""Adam and AdamW: steps scaled per coordinate by running moments of the gradient.

Read sgd.py first. Adam (Kingma & Ba 2015, Algorithm 1) keeps two exponential moving averages per
parameter: m of the gradient (momentum) and v of its square (how large it usually is), both
started at 0 and so biased towards 0 early on, which the bias corrections undo. At step t:
    g <- g + weight_decay * p                         (Adam only: L2 decay, enters m and v)
    p <- p - lr * weight_decay * p                    (AdamW only: decoupled decay)
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    m_hat = m / (1 - beta1^t)        v_hat = v / (1 - beta2^t)
    p <- p - lr * m_hat / (sqrt(v_hat) + eps)
Each coordinate moves by about lr whatever the gradient's scale, which is why Adam needs little
tuning. AdamW (Loshchilov & Hutter 2019, Algorithm 2) decays the weights directly instead of
adding the decay to g: with Adam's L2 the decay is divided by sqrt(v_hat) too, so parameters with
large gradients are barely regularized. These are PyTorch's torch.optim.Adam / AdamW, exactly
(eps is added after the square root of v_hat, not inside it).
"""

import numpy as np

from ..kernels.optim import adam_step_, adam_step_reference_
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with optional L2 weight decay added to the gradient.

    lr: step size. betas: (beta1, beta2), the decay rates of m and v, each in [0, 1). eps: keeps
    the division finite where v is 0. weight_decay: L2 penalty (use AdamW for decoupled decay).
    State per parameter: "step" (int t), "exp_avg" (m) and "exp_avg_sq" (v), both shaped like p.
    """

    decoupled = False  # AdamW flips this

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        name = type(self).__name__
        betas = tuple(group["betas"])
        if len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {group['betas']!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: betas[{i}] must be in [0, 1), got {beta}")
        if not group["eps"] >= 0.0:
            raise ValueError(f"{name}: eps must be >= 0, got {group['eps']}")
        group["betas"] = betas

    def update(self, p, grad, state, group):
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros(p.shape, dtype=p.dtype)  # m_0 = 0, C order whatever p's layout
            state["exp_avg_sq"] = np.zeros(p.shape, dtype=p.dtype)  # v_0 = 0
        state["step"] += 1
        beta1, beta2 = group["betas"]
        # the fused kernel (nanogen/kernels/optim.py) updates p through a flat view, so it needs C
        # order; its NumPy twin works on any layout (a parameter made from a transposed array)
        step_ = adam_step_ if p.flags.c_contiguous else adam_step_reference_
        step_(p, grad, state["exp_avg"], state["exp_avg_sq"], state["step"], group["lr"],
              beta1, beta2, group["eps"], group["weight_decay"], self.decoupled)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): p <- p - lr * weight_decay * p.

    Same arguments and state as Adam; weight_decay defaults to 1e-2, as in PyTorch.
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
