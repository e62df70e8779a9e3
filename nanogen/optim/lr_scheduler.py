"""Learning-rate schedules: lr as a function of the epoch (or step) count.

Read optimizer.py first: a schedule only rewrites group["lr"] in the optimizer's parameter groups.
Each schedule here is a closed form in the count e = last_epoch and the starting rate base_lr:
    StepLR             lr = base_lr * gamma ** (e // step_size)
    ExponentialLR      lr = base_lr * gamma ** e
    CosineAnnealingLR  lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2
                       (SGDR, Loshchilov & Hutter 2017, eq. 5, without restarts; past T_max the
                       cosine climbs back up, as in PyTorch)
The names and the numbers match torch.optim.lr_scheduler. Call scheduler.step() once per epoch
(or per batch, if you count in batches), after optimizer.step(). Because the rate is recomputed
from base_lr each time, a change made to group["lr"] by hand is overwritten at the next step.
"""

import math

from .optimizer import Optimizer, _as_list


class LRScheduler:
    """Base class: keeps last_epoch and base_lrs; subclasses give `get_lr()` for the current count.

    On construction the count is 0 and every group's lr is set to the schedule's value there
    (= its lr at that moment, remembered as group["initial_lr"] and as base_lrs).
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply(self.get_lr())

    def get_lr(self):
        """The learning rate of each group at count self.last_epoch (a list, one per group)."""
        raise NotImplementedError

    def step(self):
        """Advance the count by one and set each group's lr to the schedule's value there."""
        self.last_epoch += 1
        self._apply(self.get_lr())

    def get_last_lr(self):
        """The learning rates the last step() (or the constructor) set, one per group."""
        return list(self._last_lr)

    def _apply(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def state_dict(self):
        """{"last_epoch": int, "base_lrs": [float], "last_lr": [float], and the schedule's own numbers}.

        Like PyTorch, loading it does not touch the optimizer: restore the optimizer's state_dict
        too (it holds the current lr). nanogen.serialize saves and loads it without pickle.
        """
        state = {k: v for k, v in vars(self).items() if k not in ("optimizer", "_last_lr")}
        state["base_lrs"] = list(self.base_lrs)
        state["last_lr"] = list(self._last_lr)
        return state

    def load_state_dict(self, state_dict):
        """Restore what state_dict() returned (or nanogen.serialize.load read back)."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state_dict))
        if missing:
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing keys {missing}; was this state "
                             "saved from a different kind of schedule?")
        n = len(self.optimizer.param_groups)
        lists = {k: [float(x) for x in _as_list(state_dict[k])] for k in ("base_lrs", "last_lr")}
        for key, values in lists.items():
            if len(values) != n:
                raise ValueError(f"{type(self).__name__}.load_state_dict: {key} has {len(values)} entries, "
                                 f"the optimizer has {n} parameter groups")
        for key in own:
            if key not in lists:
                setattr(self, key, type(own[key])(state_dict[key]))  # back to int/float from 0-d arrays
        self.base_lrs = lists["base_lrs"]
        self._last_lr = lists["last_lr"]


def _check_positive_int(name, what, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: {what} must be a positive int, got {value!r}")


def _check_gamma(name, gamma):
    if not gamma > 0:
        raise ValueError(f"{name}: gamma must be > 0, got {gamma}")


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (last_epoch // step_size): divide the rate every step_size epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        _check_positive_int("StepLR", "step_size", step_size)
        _check_gamma("StepLR", gamma)
        self.step_size = step_size
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def get_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** last_epoch: multiply the rate by gamma every epoch."""

    def __init__(self, optimizer, gamma):
        _check_gamma("ExponentialLR", gamma)
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def get_lr(self):
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2.

    Falls from base_lr to eta_min along half a cosine over T_max epochs (SGDR, Loshchilov &
    Hutter 2017, eq. 5): fast early progress, then small careful steps.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        _check_positive_int("CosineAnnealingLR", "T_max", T_max)
        if not eta_min >= 0:
            raise ValueError(f"CosineAnnealingLR: eta_min must be >= 0, got {eta_min}")
        self.T_max = T_max
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def get_lr(self):
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]
