"""Demos as notebooks: turn a percent-format script (`# %%` cells) into a Jupyter .ipynb.

    python -m nanogen.notebook demos/*.py --out demos/notebooks     (what `make notebooks` runs)

Every demo in demos/ is a plain Python script whose cells are marked the way Jupytext, VS Code and
Spyder read them: a line `# %%` starts a code cell, `# %% [markdown]` a text cell whose lines are
comments (`# ` is taken off). This file writes the same cells as an nbformat 4 notebook, standard
library only, so no notebook package is needed to make them (only to open them). A first cell is
added that does what running the script would: it sets `__file__` (the demos write their figures
beside themselves) and clears the kernel's command line, which the demos' argparse would
otherwise read.

`run_cells(path)` executes a notebook's code cells in order in one namespace, as a kernel does:
the tests use it to run a notebook end to end without Jupyter installed.
"""

import argparse
import json
import os
import sys

CELL_MARK = "# %%"


def split_cells(text):
    """[(kind, source)] of a percent-format script; kind is 'code' or 'markdown'. Lines before
    the first marker form a code cell of their own (if they hold anything)."""
    cells, kind, lines = [], "code", []

    def close():
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if lines:
            cells.append((kind, "\n".join(lines)))

    for line in text.splitlines():
        if line.startswith(CELL_MARK):
            close()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
            continue
        if kind == "markdown":
            line = line[2:] if line.startswith("# ") else line.lstrip("#")
        lines.append(line)
    close()
    return cells


def _source(text):
    """nbformat keeps a cell's source as a list of lines, each but the last ending in a newline."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def to_notebook(script_path):
    """The notebook (a dict in nbformat 4) of one percent-format script."""
    with open(script_path, encoding="utf-8") as f:
        cells = split_cells(f.read())
    setup = ("# Set up as `python " + os.path.basename(script_path) + "` would: where the script lives "
             "(its figures go beside it)\n# and an empty command line (the kernel's own arguments are not "
             "for the demo).\nimport sys\n"
             f"__file__ = {os.path.abspath(script_path)!r}\nsys.argv = sys.argv[:1]")
    nb_cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                 "source": _source(setup)}]
    for kind, text in cells:
        cell = {"cell_type": kind, "metadata": {}, "source": _source(text)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        nb_cells.append(cell)
    return {"nbformat": 4, "nbformat_minor": 5, "cells": nb_cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}}}


def write_notebook(script_path, out_dir):
    """Write out_dir/<script name>.ipynb; return its path."""
    from .serialize import atomic_write

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, os.path.splitext(os.path.basename(script_path))[0] + ".ipynb")
    with atomic_write(path, mode="w") as f:
        json.dump(to_notebook(script_path), f, indent=1)
        f.write("\n")
    return path


def run_cells(notebook_path):
    """Execute the notebook's code cells in order in one fresh namespace (as a kernel would).
    A failing cell raises, with the cell's number in the message."""
    with open(notebook_path, encoding="utf-8") as f:
        nb = json.load(f)
    namespace = {"__name__": "__main__"}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        code = "".join(cell["source"])
        try:
            exec(compile(code, f"{notebook_path} [cell {i}]", "exec"), namespace)
        except Exception as e:
            raise RuntimeError(f"{notebook_path}: cell {i} failed: {type(e).__name__}: {e}") from e
    return namespace


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m nanogen.notebook", description=__doc__.splitlines()[0])
    p.add_argument("scripts", nargs="+", help="percent-format scripts (demos/*.py)")
    p.add_argument("--out", default=os.path.join("demos", "notebooks"), help="folder for the .ipynb files")
    args = p.parse_args(argv)
    for s in args.scripts:
        if not os.path.isfile(s):
            print(f"python -m nanogen.notebook: no such script {s}", file=sys.stderr)
            return 1
        print(write_notebook(s, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
