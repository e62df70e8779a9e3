"""docs/reading_order.md is the syllabus: it must name every lecture file, in an order where no
file is read before the files it builds on, and every command it tells a student to run must
still parse.

A step is a paragraph that starts with `**N. ` and names its files in that bold heading. A step
whose heading names a file that is not on disk yet (a lesson still on its way in) is a step of
the future: its commands and demos are checked as soon as its files are there. A lecture file on
disk is never allowed to be missing, and `nanogen train MODEL` for a model whose lecture file is
on disk must name a registered model.
"""

import re
import shlex
from pathlib import Path

import pytest

from nanogen.cli import build_parser
from nanogen.models import load_all as registry

PROJECT = Path(__file__).resolve().parent.parent
DOC = (PROJECT / "docs" / "reading_order.md").read_text()
MODELS = PROJECT / "nanogen" / "models"
LECTURES = sorted(p.name for p in MODELS.glob("*.py") if p.name != "__init__.py" and not p.name.endswith("_recipes.py"))
PATH = re.compile(r"(?:nanogen|docs|demos)/[\w/]+\.(?:py|md)")


def first_mention(relpath):
    """Where the reading order first names nanogen/<relpath> (-1 if it never does)."""
    return DOC.find(f"nanogen/{relpath}")


def _steps():
    """[(number, heading, body)] of every `**N. heading** -- body` paragraph block."""
    parts = re.split(r"^\*\*(\d+)\. ", DOC, flags=re.M)
    steps = []
    for number, text in zip(parts[1::2], parts[2::2]):
        text = re.split(r"^#", text, flags=re.M)[0]          # a step ends at the next heading
        heading, _, body = text.partition("**")
        steps.append((int(number), heading, body))
    return steps


STEPS = _steps()


def _present(step):
    """Every file the step's heading names is on disk (else the step's lesson has not landed)."""
    _, heading, _ = step
    return all((PROJECT / p).exists() for p in PATH.findall(heading))


def test_steps_are_numbered_in_order():
    numbers = [n for n, _, _ in STEPS]
    assert numbers == list(range(1, len(numbers) + 1)), f"steps are numbered {numbers}"
    assert len(STEPS) >= 30


@pytest.mark.parametrize("name", LECTURES)
def test_every_lecture_file_is_in_the_reading_order(name):
    assert first_mention(f"models/{name}") >= 0, (
        f"nanogen/models/{name} is a lecture file but docs/reading_order.md never names it: "
        "give it a step (what to read, what to run, what a good result looks like)")


def _imports(path):
    """The nanogen files a lecture file imports, as paths relative to nanogen/ (models/x.py,
    metrics.py, data/toy.py; a package as its folder: nn/)."""
    found = set()

    def add(dotted):
        parts = dotted.split(".")
        if (PROJECT / "nanogen" / Path(*parts)).is_dir():
            found.add("/".join(parts) + "/")
        elif (PROJECT / "nanogen" / Path(*parts[:-1]) / f"{parts[-1]}.py").is_file():
            found.add("/".join(parts) + ".py")

    for line in path.read_text().splitlines():
        m = re.match(r"\s*from \.(\w+) import", line)                   # from .gan import ...
        if m:
            add(f"models.{m.group(1)}")
        m = re.match(r"\s*from \. import ([\w, ]+)", line)              # from . import gan
        if m:
            for name in m.group(1).replace(" ", "").split(","):
                add(f"models.{name}")
        m = re.match(r"\s*from \.\.([\w.]+) import ([\w, ]+)", line)      # from ..data.toy import, from ..data import toy
        if m:
            add(m.group(1))
            for name in m.group(2).replace(" ", "").split(","):
                if (PROJECT / "nanogen" / Path(*m.group(1).split(".")) / f"{name}.py").is_file():
                    add(f"{m.group(1)}.{name}")
        m = re.match(r"\s*from \.\. import ([\w, ]+?)(?: as \w+)?\s*$", line)   # from .. import nn, metrics
        if m:
            for name in m.group(1).replace(" ", "").split(","):
                add(name)
    return {dep for dep in found if not dep.endswith("_recipes.py") and dep != "models/__init__.py"}


def test_imports_are_found():
    """The import scan sees what a lecture file really uses (else the order test below checks nothing)."""
    assert {"models/gan.py", "nn/", "optim/", "data/toy.py"} <= _imports(MODELS / "gan_toy.py")
    assert {"models/vae.py", "functional.py", "nn/"} <= _imports(MODELS / "vae_conv.py")
    assert "metrics.py" in _imports(MODELS / "vae.py")


@pytest.mark.parametrize("name", LECTURES)
def test_a_lecture_file_comes_after_the_files_it_builds_on(name):
    here = first_mention(f"models/{name}")
    assert here >= 0, f"nanogen/models/{name} is not in the reading order"
    for dep in sorted(_imports(MODELS / name)):
        there = first_mention(dep)
        assert 0 <= there <= here, (f"nanogen/models/{name} uses nanogen/{dep}, which the reading order "
                                    f"{'never names' if there < 0 else 'names only later'}")


@pytest.mark.parametrize("relpath", ["metrics.py", "plot.py", "plot_images.py", "plot_curves.py", "plot_latent.py",
                                     "plot_points.py", "serialize.py", "random.py", "settings.py", "data/toy.py",
                                     "data/folder.py", "models/gan_eval.py"])
def test_the_files_a_lecture_relies_on_are_in_the_reading_order(relpath):
    assert (PROJECT / "nanogen" / relpath).is_file(), f"nanogen/{relpath} moved: update this list"
    assert first_mention(relpath) >= 0, f"docs/reading_order.md never names nanogen/{relpath}"


def _option_strings(parser):
    """Every option string of a parser and of all its sub-commands (argparse accepts abbreviations:
    the reading order must spell flags out in full)."""
    found = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action.choices, dict):                   # sub-commands: name -> parser
            for sub in action.choices.values():
                found |= _option_strings(sub)
    return found


COMMAND = re.compile(r"`(nanogen (?:train|sample|eval|data|style|assignment)[^`]*)`")
DEMO = re.compile(r"python (demos/\w+\.py)")


def _checked(pattern):
    """(step number, match) for every match in a step whose files are on disk, and every match
    outside the steps."""
    out, outside = [], DOC
    for step in STEPS:
        number, heading, body = step
        for found in pattern.findall(heading + body):
            if _present(step):
                out.append((number, found))
    for step in STEPS:                                        # text before step 1 and after the last
        outside = outside.replace(step[1] + "**" + step[2], "")
    out += [(0, found) for found in pattern.findall(outside)]
    return sorted(set(out))


COMMANDS = _checked(COMMAND)
DEMOS = _checked(DEMO)


def test_the_reading_order_has_commands_and_demos():
    assert len(COMMANDS) >= 20 and len(DEMOS) >= 8


@pytest.mark.parametrize("step,command", COMMANDS)
def test_every_command_in_the_reading_order_parses(step, command):
    argv = [a for a in shlex.split(command)[1:] if a != "..."]
    if argv[0] == "train" and len(argv) > 1:
        assert argv[1] in registry(), (
            f"step {step} of docs/reading_order.md trains `{argv[1]}`, whose lecture files are on disk, "
            f"but no recipe registers that name (registered: {', '.join(sorted(registry()))})")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"`{command}` from step {step} of docs/reading_order.md no longer parses (argparse exit {e.code})")
    assert args.command == argv[0]
    known = _option_strings(build_parser())
    for flag in (a.split("=")[0] for a in argv if a.startswith("--")):
        assert flag in known, f"`{command}` (step {step}) abbreviates or misspells {flag}: spell the flag out in full"


@pytest.mark.parametrize("step,demo", DEMOS)
def test_every_demo_in_the_reading_order_exists(step, demo):
    assert (PROJECT / demo).is_file(), f"step {step} of docs/reading_order.md runs {demo}, which does not exist"


def test_a_step_of_the_future_names_a_lecture_file():
    """A step may wait for its files only when it brings a lecture file (or its lesson) of its own;
    a misspelt path in a heading would otherwise switch a step's checks off for good."""
    for number, heading, _ in STEPS:
        missing = [p for p in PATH.findall(heading) if not (PROJECT / p).exists()]
        if missing:
            assert any(p.startswith("nanogen/models/") for p in missing), (
                f"step {number} names {missing}, which are not on disk, and no lecture file among them: "
                "a typo? (a step waits only for a lecture that has not landed)")


def test_every_task_is_in_a_step_and_every_task_named_exists():
    """The tasks of `nanogen assignment list` belong to steps: each is named in one, and a step
    whose files are on disk names only tasks that exist."""
    from nanogen.assignments import task_ids

    ids = set(task_ids())
    named = {}
    for step in STEPS:
        number, heading, body = step
        lists = re.findall(r"Tasks?:(.*?)(?:\.\s|\.$|\n- |\Z)", body, flags=re.S)
        for task in re.findall(r"`(\w+)`", " ".join(lists)):
            named.setdefault(task, number)
            if _present(step):
                assert task in ids, f"step {number} of docs/reading_order.md names task `{task}`, which is not a task"
    missing = sorted(ids - set(named))
    assert not missing, f"tasks no step of docs/reading_order.md names: {missing}"
    assert len(named) >= 20
