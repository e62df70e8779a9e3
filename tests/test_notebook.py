"""Demos as notebooks: the percent-format converter, every demo converts to a notebook whose
cells compile, and a notebook runs end to end."""

import json
import os
from pathlib import Path

import pytest

from nanogen import notebook

DEMOS = sorted((Path(__file__).resolve().parent.parent / "demos").glob("*.py"))


def test_split_cells_reads_markdown_and_code():
    text = "import os\n\n# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n# %%\nx = 1\n\n\ny = x + 1\n# %%\n"
    cells = notebook.split_cells(text)
    assert cells == [("code", "import os"), ("markdown", "# Title\n\nSome *text*."), ("code", "x = 1\n\n\ny = x + 1")]


def test_notebook_has_a_setup_cell_and_nbformat_4(tmp_path):
    script = tmp_path / "lesson.py"
    script.write_text("# %% [markdown]\n# Hello\n# %%\nprint(__file__)\nimport sys\nassert sys.argv[1:] == []\n")
    path = notebook.write_notebook(str(script), str(tmp_path / "nb"))
    nb = json.loads(Path(path).read_text())
    assert nb["nbformat"] == 4 and [c["cell_type"] for c in nb["cells"]] == ["code", "markdown", "code"]
    assert nb["cells"][1]["source"] == ["Hello"]
    assert "__file__ = " + repr(str(script)) in "".join(nb["cells"][0]["source"])
    ns = notebook.run_cells(path)
    assert ns["__file__"] == str(script)


def test_a_failing_cell_is_named(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("# %%\nx = 1\n# %%\nraise ValueError('boom')\n")
    path = notebook.write_notebook(str(script), str(tmp_path))
    with pytest.raises(RuntimeError, match=r"cell 2 failed: ValueError: boom"):
        notebook.run_cells(path)


@pytest.mark.parametrize("demo", DEMOS, ids=[d.stem for d in DEMOS])
def test_every_demo_becomes_a_notebook_whose_cells_compile(demo, tmp_path):
    nb = json.loads(Path(notebook.write_notebook(str(demo), str(tmp_path))).read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 3, f"{demo.name}: a demo should have cells (# %%)"
    assert any(c["cell_type"] == "markdown" for c in nb["cells"]), f"{demo.name}: no text cell"
    for i, c in enumerate(code):
        compile("".join(c["source"]), f"{demo.name} cell {i}", "exec")


def test_command_line_refuses_a_missing_script(tmp_path, capsys):
    assert notebook.main([str(tmp_path / "nope.py"), "--out", str(tmp_path)]) == 1
    assert "no such script" in capsys.readouterr().err


def test_mode_collapse_notebook_runs_end_to_end(tmp_path, monkeypatch):
    demo = [d for d in DEMOS if d.stem == "mode_collapse"][0]
    monkeypatch.setenv("NANOGEN_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ns = notebook.run_cells(notebook.write_notebook(str(demo), str(tmp_path)))
    assert ns["QUICK"] is True
    assert os.path.isdir(ns["OUT"])
