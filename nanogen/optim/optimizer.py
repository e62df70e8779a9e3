"""Optimizer: what SGD, Adam and AdamW share -- parameter groups, per-parameter state, saving.

Read after nn/ (a model's parameters are leaf Tensors whose .grad backward() fills) and before
sgd.py and adam.py, which only write the update rule. An optimizer holds
    param_groups  a list of dicts {"params": [Tensor, ...], "lr": ..., other hyperparameters};
                  groups let one model train parts at different rates (a GAN's two networks)
    state         per-parameter memory (momentum buffers, Adam's moments), keyed by the Tensor
and does three things: zero_grad() forgets the last gradients, step() moves every parameter that
has one, state_dict() / load_state_dict() save and restore everything so a run resumes exactly
where it stopped. The shape is PyTorch's torch.optim.Optimizer, so the skills transfer.
"""

import numpy as np

from ..autograd import enable_grad, no_grad
from ..tensor import Tensor

# ---------------------------------------------------------------------------- the saved format
#
# state_dict() returns nested dicts and lists whose leaves are ndarrays, ints, floats, bools and
# tuples of numbers -- nothing that needs pickle:
#     {"state": {0: {"step": 3, "exp_avg": ndarray, "exp_avg_sq": ndarray}, 2: {...}},
#      "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), ..., "params": [0, 1, 2]}]}
# A parameter is named by its index, counting through the groups in order (as PyTorch does), so
# the file does not depend on object identity. Only parameters that have state appear in "state".
# nanogen.serialize.save writes it (inside a training checkpoint: train.save_checkpoint) and
# serialize.load reads it back, without pickle.


def _as_list(value):
    """A saved list, whether it comes back as a list or as a dict {0: ..., 1: ...}."""
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    return list(value)


def _hyperparameter(value):
    """A saved hyperparameter back in the form the optimizer uses: 0.9, or (0.9, 0.999), not arrays."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else tuple(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------------------- the base class


class Optimizer:
    """Base class: holds parameter groups and state; subclasses write `update` (one parameter).

    params:   an iterable of Tensors (e.g. model.parameters()), or a list of dicts, each a
              parameter group with its own hyperparameters:
                  [{"params": gen.parameters(), "lr": 2e-4}, {"params": disc.parameters()}]
              A hyperparameter missing from a group is taken from `defaults`.
    defaults: the hyperparameters of the subclass, e.g. {"lr": 0.1, "momentum": 0.9}.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}  # Tensor -> {"step": int, "exp_avg": ndarray, ...}
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Tensors or of dicts, got a single Tensor "
                            f"of shape {params.shape}; wrap it in a list: {name}([p], ...)")
        if isinstance(params, (dict, set, str)):
            why = ""
            if isinstance(params, set):
                why = "; a set has no fixed order, so saved state could not be matched back"
            raise TypeError(f"{name}: params must be a list of Tensors or of dicts (parameter groups), got a "
                            f"{type(params).__name__}{why}; use a list")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list; pass model.parameters() of a model that has "
                             "parameters (a generator can be used only once: was it consumed already?)")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)
        if not any(group["params"] for group in self.param_groups):
            raise ValueError(f"{name}: every parameter group is empty; there is nothing to optimize")

    # ------------------------------------------------------------------ groups and validation
    def add_param_group(self, param_group):
        """Add a group {"params": [...], hyperparameter: value, ...}; missing ones come from defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: a parameter group is a dict with a 'params' key, "
                            f"got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' key (keys: {sorted(param_group)})")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}.add_param_group: 'params' is a set, which has no fixed order; use a list")
        params = list(params)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        mine = set()
        for i, p in enumerate(params):
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], Tensor):
                raise TypeError(f"{name}: got a (name, tensor) pair {p[0]!r}; pass model.parameters(), "
                                "not model.named_parameters()")
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameters must be Tensors, got {type(p).__name__} at position {i}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can only optimize leaf tensors, but the tensor at position {i} "
                                 f"(shape {p.shape}) was made by {p.grad_fn}; optimize the tensors it came from")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: parameters must be floating point, got dtype {p.dtype} at position {i}")
            if id(p) in mine:
                raise ValueError(f"{name}: the parameter at position {i} (shape {p.shape}) appears twice in "
                                 "its group; list each parameter once")
            if id(p) in seen:
                raise ValueError(f"{name}: the parameter at position {i} (shape {p.shape}) is already in another "
                                 "parameter group; a parameter may belong to one group only")
            mine.add(id(p))
        group = {**self.defaults, **param_group, "params": params}
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group):
        """Check one group's hyperparameters; subclasses extend it. Raises ValueError."""
        if not group["lr"] >= 0.0:  # `not >=` also catches NaN
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {group['lr']}")
        if not group.get("weight_decay", 0.0) >= 0.0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, got {group['weight_decay']}")

    # ------------------------------------------------------------------ the training-loop calls
    def zero_grad(self, set_to_none=True):
        """Forget the gradients: p.grad = None (the next backward() then writes fresh arrays).

        set_to_none=False puts new zero arrays there instead (never zeroing in place: a grad
        array may be shared with another tensor).
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else np.zeros_like(p.data)

    def step(self, closure=None):
        """Update every parameter that has a gradient, in place on p.data; return closure()'s loss.

        closure: an optional function that recomputes the loss (zero_grad, forward, backward) and
        returns it, as in PyTorch. Parameters whose .grad is None (unused this step) are skipped
        and their state does not advance.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        name = type(self).__name__
        with no_grad():  # raw ndarray arithmetic records nothing anyway; this makes it explicit
            for group in self.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    if grad.shape != p.shape or grad.dtype != p.dtype:
                        raise ValueError(f"{name}.step: a parameter of shape {p.shape} and dtype {p.dtype} has a "
                                         f"grad of shape {grad.shape} and dtype {grad.dtype}; they must match")
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {}
                    self.update(p.data, grad, state, group)
        return loss

    def update(self, p, grad, state, group):
        """Move one parameter: p (ndarray, updated in place), grad (read only), its state, its group."""
        raise NotImplementedError

    # ------------------------------------------------------------------ saving and resuming
    def state_dict(self):
        """Everything needed to resume: hyperparameters per group and state per parameter index.

        The arrays are copies, so the returned dict does not change as training goes on. See the
        format comment at the top of this file; flatten_state_dict makes it one flat dict for .npz.
        """
        index = {}  # id(tensor) -> position counting through all groups
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if self.state.get(p):
                    state[index[id(p)]] = {k: v.copy() if isinstance(v, np.ndarray) else v
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what state_dict() returned (or unflatten_state_dict read back) into this optimizer.

        The optimizer must have been built over the same parameters in the same groups and order.
        Hyperparameters (lr, betas, ...) are restored too. Arrays are copied into the parameters'
        dtype. Everything is checked before anything changes, so a mismatch leaves it as it was.
        """
        name = type(self).__name__
        saved_groups = _as_list(state_dict["param_groups"])
        saved_state = state_dict.get("state", {})
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        by_index, new_groups = {}, []
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            saved_params = [int(i) for i in np.asarray(saved["params"]).reshape(-1)]
            if len(saved_params) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: saved group {g} has {len(saved_params)} parameters, "
                                 f"this optimizer's group {g} has {len(group['params'])}")
            by_index.update(zip(saved_params, group["params"]))
            new_group = {**group, **{k: _hyperparameter(v) for k, v in saved.items() if k != "params"}}
            self._validate(new_group)
            new_groups.append(new_group)
        new_state = {}
        for i, entries in saved_state.items():
            if int(i) not in by_index:
                raise ValueError(f"{name}.load_state_dict: the saved state names parameter {i}, but there are "
                                 f"only {len(by_index)} parameters")
            p = by_index[int(i)]
            loaded = {}
            for key, value in entries.items():
                if key == "step":
                    loaded[key] = int(np.asarray(value))
                    continue
                value = np.array(value, dtype=p.dtype, order="C")  # a copy, in the parameter's dtype
                if value.shape != p.shape:
                    raise ValueError(f"{name}.load_state_dict: state {key!r} of parameter {i} has shape "
                                     f"{value.shape}, the parameter has shape {p.shape}")
                loaded[key] = value
            new_state[p] = loaded
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}  ({len(group['params'])} tensors)")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])
