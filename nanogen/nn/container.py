"""Containers: Sequential (modules applied in a chain) and ModuleList (a registered list).

Read module.py first. A plain Python list of layers would hide their parameters from
`parameters()` and `state_dict()`; these two register each item under its position ("0", "1",
...), which is where PyTorch's `0.weight` keys come from.
"""

from collections import OrderedDict

from .module import Module, _indent


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: children kept in order, counted, iterated, and found
    by a position that may count from the end (-1 is the last), as for a Python list."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _pos(self, index):
        n = len(self._modules)
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index} is out of range for {n} modules")
        return index % n


class Sequential(_ModuleSequence):
    """Modules applied one after another: Sequential(a, b, c)(x) == c(b(a(x))).

    Children are named "0", "1", ... (or by the keys of an OrderedDict/dict given instead), so
    parameter names read `0.weight`, `2.bias`, as in PyTorch. Supports len, iteration, indexing
    (an int gives a module, a slice gives a Sequential keeping the original names) and append.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, m in modules[0].items():
                self._add_checked(str(name), m)
        else:
            for i, m in enumerate(modules):
                self._add_checked(str(i), m)

    def _add_checked(self, name, m):
        if not isinstance(m, Module):
            raise TypeError(f"{type(self).__name__}: item {name} is a {type(m).__name__}, not a Module "
                            "(did you pass a function? wrap it in a Module subclass)")
        self.add_module(name, m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def _key(self, index):
        return list(self._modules)[self._pos(index)]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key(index)]

    def __setitem__(self, index, module):
        self._add_checked(self._key(index), module)

    def __delitem__(self, index):
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._key(index)]
        for k in keys:
            del self._modules[k]

    def append(self, module):
        self._add_checked(str(len(self._modules)), module)
        return self


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered (a plain Python list would hide them).

    It has no forward: the owner decides how to call its items. Names are "0", "1", ...
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _check(self, m):
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList: items must be Modules, got {type(m).__name__}")
        return m

    def _renumber(self, items):
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def append(self, module):
        self._modules[str(len(self._modules))] = self._check(module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, self._check(module))
        self._renumber(items)


    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[str(self._pos(index))]

    def __setitem__(self, index, module):
        self._modules[str(self._pos(index))] = self._check(module)

    def __delitem__(self, index):
        items = list(self._modules.values())
        del items[index if isinstance(index, slice) else self._pos(index)]
        self._renumber(items)

    def __iadd__(self, modules):
        return self.extend(modules)

    def __repr__(self):
        # PyTorch 2 folds runs of identical items: (0-2): 3 x Linear(...)
        reprs = [repr(m) for m in self]
        if not reprs:
            return "ModuleList()"
        lines, start = [], 0
        for i in range(1, len(reprs) + 1):
            if i < len(reprs) and reprs[i] == reprs[start]:
                continue  # the run of identical items goes on
            if i - 1 == start:
                lines.append(_indent(f"({start}): {reprs[start]}", 2))
            else:
                lines.append(_indent(f"({start}-{i - 1}): {i - start} x {reprs[start]}", 2))
            start = i
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"
