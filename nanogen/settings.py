"""Settings: each one has a single default, in the model's Config, and the flags are built from it.

A model file declares its Config as a dataclass; a field that a user may change from the command
line is declared with `setting(default, help)`, which keeps its one line of help beside its one
default. A recipe (models/*_recipes.py) then lists which fields it exposes, and how its variant
differs from the Config's defaults:

    class SparseAutoencoderRecipe(Recipe):
        config_class = AEConfig
        variant = {"hidden_dims": (), "latent_dim": 1024, "code_activation": "sigmoid", "penalty": "kl"}
        flags = ("latent_dim", "penalty", "sparsity_weight", "rho", "loss")

`add_flags` turns those fields into argparse flags (`--latent-dim`, default 1024), and `build`
turns a run's saved config dict back into the dataclass. Changing a default in the Config
changes the flag, its --help and every run that does not set it: one edit, no second copy.
"""

import argparse
import dataclasses
import math


def number(kind, name, ok=None, what=None):
    """An argparse `type=` for an int or float flag: a bad value stops the command before any
    work, naming the flag and what it must be (`ok(v)` must hold, e.g. v > 0)."""
    what = what or ("an integer" if kind is int else "a number")

    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}") from None
        if ok is not None and not ok(v):
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {v}")
        return v

    return parse


def positive(kind, name):
    """number() for a positive int or float, e.g. positive(int, "--epochs")."""
    return number(kind, name, lambda v: v > 0, "a positive " + ("integer" if kind is int else "number"))


def at_least(kind, name, minimum):
    """number() for a finite int or float >= minimum (weights: 0 switches a term off)."""
    return number(kind, name, lambda v: v >= minimum and math.isfinite(v), f"a finite number >= {minimum}")


def setting(default, help, *, choices=None, flag=None, is_positive=False, minimum=None, nargs=None):
    """A dataclass field that can become a command-line flag.

    default: the one default of this setting.   help: one line for `--help`.
    choices: the allowed values (argparse checks them).   flag: the flag's name when it is not
    `--field-name` (kept for flags users already know).   is_positive: numbers must be > 0;
    minimum: numbers must be >= minimum (and finite).
    nargs: for tuple fields, how many values (default: one or more).
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "choices": choices, "flag": flag, "is_positive": is_positive, "minimum": minimum,
        "nargs": nargs})


def flag_name(field):
    """`--latent-dim` for the field latent_dim, or the name the setting asks for."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _fields(config_class, names):
    by_name = {f.name: f for f in dataclasses.fields(config_class)}
    for name in names:
        if name not in by_name:
            raise TypeError(f"{config_class.__name__} has no field {name!r} (it has {', '.join(by_name)})")
        f = by_name[name]
        if "help" not in f.metadata:
            raise TypeError(f"{config_class.__name__}.{name} has no help text: declare it as "
                            f"{name}: ... = setting(default, help) to make it a flag")
        yield f


def _show(value):
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) if value else "none"
    return str(value)


def add_flags(parser, config_class, names, variant=None):
    """Add one flag per field `names` of the dataclass `config_class` to an argparse parser.

    The flag's default is `variant[name]` when the recipe's variant sets it, else the field's
    default; its dest is the field name, so `build` reads the parsed values back by name.
    bool fields become switches, tuple fields take several values, str fields with choices are
    checked by argparse.
    """
    variant = variant or {}
    for f in _fields(config_class, names):
        default = variant.get(f.name, f.default)
        flag, meta = flag_name(f), f.metadata
        help_text = meta["help"].replace("%", "%%")
        if default is not None and default is not False:
            help_text += f" (default {_show(default)})"
        kw = {"dest": f.name, "default": default, "help": help_text}
        kind = f.type if isinstance(f.type, type) else type(default)
        if kind is bool:
            kw["action"] = argparse.BooleanOptionalAction if default else "store_true"
        elif kind is tuple:
            element = type(default[0]) if default else int
            kw["type"] = positive(element, flag) if meta["is_positive"] else number(element, flag)
            kw["nargs"] = meta["nargs"] or "+"
        elif kind in (int, float):
            if meta["is_positive"]:
                kw["type"] = positive(kind, flag)
            elif meta["minimum"] is not None:
                kw["type"] = at_least(kind, flag, meta["minimum"])
            else:
                kw["type"] = number(kind, flag)
        if meta["choices"] is not None:
            kw["choices"] = list(meta["choices"])
        parser.add_argument(flag, **kw)


def build(config_class, values, names, variant=None, **fixed):
    """config_class(...) from a run's config dict `values` (parsed flags, or config.json read back).

    Each field: `fixed` if given, else values[name] for the exposed `names` (None = not set),
    else the variant's value, else the dataclass default. JSON lists come back as tuples.
    """
    kwargs = dict(variant or {})
    for f in dataclasses.fields(config_class):
        if f.name in names and values.get(f.name) is not None:
            v = values[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    kwargs.update(fixed)
    return config_class(**kwargs)
