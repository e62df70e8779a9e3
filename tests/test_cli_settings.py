"""nanogen.settings: flags built from a Config dataclass, so each setting has one default."""

import argparse
import dataclasses
import json

import pytest

from nanogen import settings
from nanogen.settings import setting


@dataclasses.dataclass
class ToyConfig:
    width: int = setting(8, "hidden width", is_positive=True)
    dims: tuple = setting((4, 2), "layer sizes")
    pair: tuple = setting((1, 2), "exactly two channel counts", nargs=2)
    kind: str = setting("a", "which kind", choices=("a", "b"))
    rate: float = setting(None, "a rate (default: --lr)", flag="--the-rate")
    noisy: bool = setting(False, "switch noise on")
    fixed: int = 3                          # not a flag: no help text


def parser_for(names, variant=None):
    p = argparse.ArgumentParser(exit_on_error=False)
    settings.add_flags(p, ToyConfig, names, variant)
    return p


def test_flags_take_their_defaults_from_the_config_and_the_variant():
    p = parser_for(["width", "dims", "pair", "kind", "rate", "noisy"], variant={"width": 16})
    a = p.parse_args([])
    assert (a.width, a.dims, a.pair, a.kind, a.rate, a.noisy) == (16, (4, 2), (1, 2), "a", None, False)
    a = p.parse_args(["--width", "5", "--dims", "7", "--pair", "3", "4", "--kind", "b", "--the-rate", "0.5",
                      "--noisy"])
    assert (a.width, a.dims, a.pair, a.kind, a.rate, a.noisy) == (5, [7], [3, 4], "b", 0.5, True)
    assert "hidden width (default 16)" in p.format_help()


@pytest.mark.parametrize("argv, message", [(["--width", "0"], "--width must be a positive integer, got 0"),
                                           (["--width", "x"], "--width must be a positive integer, got 'x'"),
                                           (["--the-rate", "fast"], "--the-rate must be a number, got 'fast'")])
def test_bad_values_name_the_flag(argv, message):
    with pytest.raises(argparse.ArgumentError, match=message):
        parser_for(["width", "rate"]).parse_args(argv)


def test_a_field_without_help_or_a_wrong_name_is_refused():
    with pytest.raises(TypeError, match=r"ToyConfig.fixed has no help text.*setting\(default, help\)"):
        parser_for(["fixed"])
    with pytest.raises(TypeError, match="no field 'widht'"):
        parser_for(["widht"])


def test_build_reads_parsed_flags_and_saved_json_back():
    names = ["width", "dims", "kind", "rate"]
    a = vars(parser_for(names, {"kind": "b"}).parse_args(["--dims", "5", "6"]))
    cfg = settings.build(ToyConfig, a, names, {"kind": "b"})
    assert cfg == ToyConfig(width=8, dims=(5, 6), kind="b", rate=None)
    back = json.loads(json.dumps(a))                    # config.json: tuples come back as lists
    assert settings.build(ToyConfig, back, names, {"kind": "b"}) == cfg
    # a key the recipe does not expose is ignored; a missing key falls back to the variant, then the default
    assert settings.build(ToyConfig, {"fixed": 9}, names, {"width": 2}) == ToyConfig(width=2)
    assert settings.build(ToyConfig, {"width": 4}, names, fixed=7) == ToyConfig(width=4, fixed=7)


def test_every_recipe_has_one_default_per_setting():
    """`nanogen train NAME` with no flags builds exactly the recipe's variant of its Config: no
    default is written a second time in the command line."""
    from nanogen.cli import build_parser
    from nanogen.models import load_all
    from nanogen.models.gan_recipes import GANRecipe

    parser = build_parser()
    for name, recipe_cls in load_all().items():
        if recipe_cls.config_class is None:
            continue
        args = vars(parser.parse_args(["train", name]))
        recipe = recipe_cls.__new__(recipe_cls)
        expected = recipe_cls.config_class(**recipe_cls.variant)
        got = recipe_cls.model_config(recipe, {**recipe_cls.defaults, **args})
        if issubclass(recipe_cls, GANRecipe) and hasattr(expected, "lr_g"):   # unset G, D rates: the common --lr
            expected = dataclasses.replace(expected, lr_g=recipe_cls.defaults["lr"], lr_d=recipe_cls.defaults["lr"])
        assert got == expected, name
        for flag in recipe_cls.flags:
            assert flag in args, (name, flag)
