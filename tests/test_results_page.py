"""benchmarks/results.py rewrites only the blocks it measured: the block of one model between its
markers is replaced, its neighbours and the hand-written text around them are kept, a missing
block is added at the end, and docs/results.md's own markers are well formed."""

import importlib.util
import re
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "benchmarks"))       # results.py imports its neighbour common.py
_spec = importlib.util.spec_from_file_location("results_page", PROJECT / "benchmarks" / "results.py")
results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results)

PAGE = """# Measured results

Hand-written text.

<!-- results:ae -->
| old ae row |
<!-- /results:ae -->

Between the blocks.

<!-- results:ae-large -->
| ae-large row |
<!-- /results:ae-large -->
"""


def test_replace_block_touches_only_its_own_block():
    new = results.block("ae", [["`nanogen train ae`", "0.5", "BCE 62", "--"]], "Protocol: p.")
    out = results.replace_block(PAGE, "ae", new)
    assert "old ae row" not in out and "BCE 62" in out and "Protocol: p." in out
    assert "| ae-large row |" in out                      # a name that starts like "ae" is another block
    assert out.startswith("# Measured results\n\nHand-written text.\n\n<!-- results:ae -->")
    assert "Between the blocks." in out
    assert results.replace_block(out, "ae", new) == out   # rewriting the same block again changes nothing


def test_a_bar_inside_a_cell_does_not_split_the_row():
    table = results.block("x", [["`demo`", "0.1", "|grad f| median 1.20", "--"]], "Protocol.")
    row = table.splitlines()[3]
    assert row.replace("\\|", "").count("|") == 5, row         # 4 cells: 5 unescaped bars


def test_replace_block_appends_a_missing_block():
    new = results.block("vae", [["`nanogen train vae`", "1.5", "ELBO 105", "--"]], "Protocol: q.")
    out = results.replace_block(PAGE, "vae", new)
    assert out.startswith(PAGE.rstrip("\n"))
    assert out.rstrip().endswith("<!-- /results:vae -->") and "## vae" in out


def test_every_run_has_a_metric_and_the_page_markers_pair_up():
    text = (PROJECT / "docs" / "results.md").read_text()
    opened = re.findall(r"<!-- results:([\w-]+) -->", text)
    closed = re.findall(r"<!-- /results:([\w-]+) -->", text)
    assert opened == closed and len(set(opened)) == len(opened), (opened, closed)
    stray = set(opened) - set(results.RUNS)
    assert not stray, f"blocks of docs/results.md that no entry of benchmarks/results.py writes: {stray}"
    for name, runs in results.RUNS.items():
        assert runs and all(r.metric for r in runs), name
