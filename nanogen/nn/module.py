"""Module and Parameter: how a network keeps track of its weights, PyTorch-shaped.

Read tensor.py and ops/ first. A Module is a box of named Parameters (leaf Tensors that
require grad), buffers (Tensors that are state but not learned, e.g. BatchNorm's running
mean) and sub-Modules. Assigning `self.fc1 = Linear(784, 400)` inside `__init__` registers it,
in order, so `parameters()` can hand every weight to an optimizer and `state_dict()` can name
each one with a dotted path (`encoder.fc1.weight`) -- the same keys PyTorch uses, so weights move
between the two with `{k: torch.from_numpy(v)}`. The containers (Sequential, ModuleList) are in
container.py, the layers (Linear, Conv2d, ...) in the other files of this folder.
Reference: torch.nn.Module (the API and key names are PyTorch's, on purpose).
"""

from collections import OrderedDict, namedtuple

import numpy as np

from ..tensor import Tensor, as_array


class Parameter(Tensor):
    """A Tensor that is a learnable weight: a leaf with requires_grad=True.

    Assigning one to a Module attribute registers it; that is the only difference from a Tensor.
    The data is not copied: Parameter(a) trains the very array `a`.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


# what load_state_dict(strict=False) returns, as in PyTorch
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model.

    Subclasses call `super().__init__()` first, assign parameters and sub-modules as attributes,
    and define `forward`. Calling the module, `model(x)`, runs `forward(x)`.
    The three registries below are ordered dicts; a registered name lives only there (not in the
    instance __dict__), and `__getattr__` looks it up, exactly as PyTorch does.
    """

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())  # name -> Parameter or None
        object.__setattr__(self, "_buffers", OrderedDict())  # name -> Tensor or None
        object.__setattr__(self, "_non_persistent", set())  # buffer names left out of state_dict
        object.__setattr__(self, "_modules", OrderedDict())  # name -> Module or None

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define forward(self, x) in the subclass")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def _require_init(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: cannot assign {name!r} before Module.__init__() ran; "
                                 "call super().__init__() at the top of your __init__")

    def _forget(self, name, keep):
        """Drop `name` from __dict__ and from every registry but `keep`, before it is registered in
        `keep` (where it keeps its place if it was there: replacing fc1 does not move it last)."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        self._non_persistent.discard(name)

    def _register(self, name, value, registry):
        """Put `value` under `name` in the registry named `registry` ("_parameters", "_buffers" or
        "_modules"), and nowhere else. By name, not the dict itself: before Module.__init__ there is
        none, and _require_init says so."""
        self._require_init(name)
        registry = self.__dict__[registry]
        self._forget(name, registry)
        registry[name] = value

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            self._register(name, value, "_parameters")
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter {name!r}; "
                                "wrap it: nn.Parameter(value) (or assign None)")
            params[name] = None
        elif isinstance(value, Module):
            self._register(name, value, "_modules")
        elif name in self.__dict__.get("_modules", ()):
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as sub-module "
                                f"{name!r} (a Module or None expected)")
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as buffer {name!r} "
                                "(a Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails: the registered names live in the registries
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Add a Parameter (or None: a declared slot with no weight, like Linear(bias=False).bias)."""
        self._require_init(name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        self._register(name, param, "_parameters")

    def register_buffer(self, name, tensor, persistent=True):
        """Add state that is saved and converted with the module but not trained (running statistics).

        tensor: a Tensor, an ndarray (wrapped in a Tensor) or None. persistent=False keeps it out
        of state_dict().
        """
        self._require_init(name)
        if isinstance(tensor, np.ndarray):
            tensor = Tensor(tensor)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self._register(name, tensor, "_buffers")
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        self._require_init(name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        self._register(name, module, "_modules")

    register_module = add_module

    # ------------------------------------------------------------------ walking the tree
    def named_modules(self, prefix="", memo=None):
        """(dotted name, module) for this module and every descendant, parents first; each once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(prefix + ("." if prefix else "") + name, memo)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def get_submodule(self, target):
        """The sub-module at dotted path `target` ("encoder.fc1"); "" is the module itself."""
        m = self
        for part in target.split(".") if target else []:
            child = m._modules.get(part) if isinstance(m, Module) else None
            if child is None:
                raise AttributeError(f"get_submodule: {type(m).__name__} has no sub-module {part!r} "
                                     f"(looking for {target!r})")
            m = child
        return m

    def _named_members(self, registry, prefix, recurse):
        seen = set()  # a weight shared by two layers is listed once (ids: Tensor's == is elementwise)
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in modules:
            for name, t in getattr(m, registry).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield mod_prefix + ("." if mod_prefix else "") + name, t

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) pairs: module by module (parents first), in assignment order."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, trainable_only=False):
        """Total number of weights (count each shared Parameter once)."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn):
        """Call fn(module) on every sub-module, then on self (e.g. a custom initialisation)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        """Set training mode here and below (Dropout drops, BatchNorm uses batch statistics)."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be True or False, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Evaluation mode: Dropout is the identity, BatchNorm uses its running statistics."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of the last backward (they accumulate otherwise)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad = np.zeros_like(p.data)

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter, e.g. the discriminator while training G."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ------------------------------------------------------------------ dtype
    def to(self, dtype):
        """Convert every floating parameter and buffer (and existing grads) to `dtype`, in place.

        The Parameter objects stay the same (an optimizer holding them keeps working); their
        arrays are replaced. Integer buffers (num_batches_tracked) keep their dtype. `to("cpu")`
        is accepted and does nothing, so code written for PyTorch runs unchanged.
        """
        if isinstance(dtype, str) and dtype == "cpu":
            return self
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"to: dtype must be float32 or float64, got {dtype}")
        for m in self.modules():
            for t in list(m._parameters.values()) + list(m._buffers.values()):
                if t is None or t.data.dtype.kind != "f":
                    continue
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad = t.grad.astype(dtype)
        return self

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # ------------------------------------------------------------------ state_dict
    def _state_tensors(self, prefix=""):
        """(key, Tensor) in PyTorch's state_dict order: per module its parameters, then its
        persistent buffers, then the children. Shared tensors appear under every name."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                yield prefix + name, b
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_tensors(prefix + name + ".")

    def state_dict(self):
        """OrderedDict of dotted name -> ndarray copy of every parameter and persistent buffer."""
        return OrderedDict((k, t.data.copy()) for k, t in self._state_tensors())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from `state_dict` into this module's parameters and buffers, in place.

        Values may be ndarrays or Tensors (or anything np.asarray takes, e.g. a CPU torch
        tensor); each is converted to the dtype of the tensor it lands in. Every problem is
        found before anything is written, and reported together: missing and unexpected keys
        (errors only when strict) and shape mismatches (always errors), naming each tensor.
        Returns IncompatibleKeys(missing_keys, unexpected_keys).
        """
        own = OrderedDict(self._state_tensors())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems, arrays = [], {}
        for key, t in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            a = as_array(value)
            if a.dtype.kind not in "fiub":
                problems.append(f"{key}: expected a numeric array, got {type(value).__name__} of dtype {a.dtype}")
            elif a.shape != t.shape:
                problems.append(f"size mismatch for {key}: the state_dict has shape {a.shape}, "
                                f"the model has shape {t.shape}")
            else:
                arrays[key] = a
        if strict:
            head = []
            if missing:
                head.append("missing keys (in the model, not in the state_dict): " + ", ".join(missing))
            if unexpected:
                head.append("unexpected keys (in the state_dict, not in the model): " + ", ".join(unexpected))
            problems = head + problems
        if problems:
            raise ValueError(f"load_state_dict: the state_dict does not fit {type(self).__name__}:\n  "
                             + "\n  ".join(problems))
        for key, a in arrays.items():
            own[key].data[...] = a  # in place, cast to the tensor's dtype (views of it stay valid)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self):
        """The text inside the parentheses of this module's repr; layers override it."""
        return ""

    def __repr__(self):
        # PyTorch's format: Name(extra) on one line, or one indented line per child
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): {_indent(repr(m), 2)}" for name, m in self._modules.items()]
        if len(lines) == 1 and not children:
            return f"{type(self).__name__}({lines[0]})"
        if not lines and not children:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines + children) + "\n)"


def functional_call(module, tensors, args, kwargs=None):
    """module(*args, **kwargs) with some parameters or buffers replaced by `tensors` for this call.

    tensors: dict of dotted name -> Tensor (any Tensor, not only a Parameter); args: a tuple, or
    one argument. The module's own parameters are put back afterwards, even on error. This is
    how a whole model becomes a function of its weights, e.g. for a finite-difference check:
        names = [n for n, _ in model.named_parameters()]
        gradcheck(lambda x, *ws: functional_call(model, dict(zip(names, ws)), x), x, *weights)
    (the same idea as torch.func.functional_call).
    """
    args = args if isinstance(args, tuple) else (args,)
    saved = []
    try:
        for name, t in tensors.items():
            owner_path, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_path)
            for registry in (owner._parameters, owner._buffers):
                if leaf in registry:
                    saved.append((registry, leaf, registry[leaf]))
                    registry[leaf] = t  # bypass __setattr__: a plain Tensor may stand in for a Parameter
                    break
            else:
                raise KeyError(f"functional_call: {type(module).__name__} has no parameter or buffer {name!r}")
        return module(*args, **(kwargs or {}))
    finally:
        for registry, leaf, original in reversed(saved):
            registry[leaf] = original


def _indent(text, n):
    """Indent every line but the first by n spaces (a child's repr inside its parent's)."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * n + line for line in rest])


# ---------------------------------------------------------------------------- helpers for the layers


def float_dtype(layer, dtype):
    """`dtype` as np.dtype, checked to be float32 or float64 (the two dtypes nanogen trains in)."""
    d = np.dtype(dtype)
    if d not in (np.float32, np.float64):
        raise TypeError(f"{layer}: dtype must be np.float32 or np.float64, got {d}")
    return d


def positive_int(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


# The containers are Modules too; they live in container.py and are re-exported here so that
# `from nanogen.nn.module import Sequential` works as well (import at the end: container.py
# needs Module, defined above).
from .container import ModuleList, Sequential  # noqa: E402,F401
