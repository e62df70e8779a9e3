"""nanogen/assignments.py and its task table (assignment_tasks.py): the marker parser on small
synthetic files, the registry against the source and the tests, student copies (only the cut
task's tests fail, the solutions restore the source; they test their own nanogen and quote no
solution in their documents), the grade table, the command-line functions, and the teaching docs.

Cost (default run): a copy with every marked task cut, where up to 8 grading tests per task run
in one pytest process per kernel setting; a copy of its own for each task whose tests meet
another task's stub first; one representative task graded end to end. The whole suite run in a
copy once per task is marked slow.
"""

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

from nanogen import assignment_tasks as T
from nanogen import assignments as A

ROOT = A.ROOT
STATUS, MARKER_ERRORS = A.status()
READY = [tid for tid in A.task_ids() if STATUS[tid] == "ready"]

# Every registered task has its markers in the source.
MARKED_NOW = set(A.task_ids())
# Tasks whose grading test files do not exist yet: their patterns are checked once the files exist.
AWAITING_TESTS = set()
# At most this many grading tests per task in the default run (the slow run takes them all).
DEFAULT_MAX_TESTS = 8


# ---------------------------------------------------------------------------- the marker parser

TOY = '''"""A toy module: markers around two pieces, a docstring that only mentions them."""


def mul_grad(a, b, grad):
    """Kept: the stub keeps every line before BEGIN. Not a marker: # BEGIN SOLUTION linear"""
    # BEGIN SOLUTION mul_backward
    da_solution = grad * b
    return da_solution, grad * a
    # END SOLUTION


class Box:
    def plus_one(self, x):
        # BEGIN SOLUTION div_backward
        y = x + 1
        return y
        # END SOLUTION
'''


def test_scan_finds_regions_with_lines_and_indentation():
    regions, errors = A.scan_text(TOY, "toy.py")
    assert errors == []
    assert [(r.task, r.begin, r.end, r.indent) for r in regions] == [
        ("mul_backward", 6, 9, "    "), ("div_backward", 14, 17, "        ")]


@pytest.mark.parametrize("text, message", [
    ("def f():\n    # BEGIN SOLUTION linear\n    return 1\n",
     r"toy\.py:2: unbalanced marker: BEGIN SOLUTION linear has no END"),
    ("def f():\n    return 1\n    # END SOLUTION\n", r"toy\.py:3: unbalanced marker: END SOLUTION without a BEGIN"),
    ("def f():\n    # BEGIN SOLUTION linear\n    # BEGIN SOLUTION mul_backward\n    return 1\n    # END SOLUTION\n",
     r"toy\.py:3: nested marker: BEGIN SOLUTION mul_backward inside linear \(opened at line 2\)"),
    ("def f():\n    # BEGIN SOLUTION no_such_task\n    return 1\n    # END SOLUTION\n",
     r"toy\.py:2: unknown task id 'no_such_task'"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", r"toy\.py:2: malformed marker"),
    ("def f():\n    # begin solution linear\n    return 1\n", r"toy\.py:2: malformed marker"),
    ("def f():\n    # BEGIN SOLUTION linear\n    return 1\n  # END SOLUTION\n",
     r"toy\.py:4: END SOLUTION is indented differently"),
    ("def f():\n        # BEGIN SOLUTION linear\n    return 1\n        # END SOLUTION\n",
     r"toy\.py:2: .* code left of"),
    ("def f():\n    # BEGIN SOLUTION linear\n    # END SOLUTION\n    return 1\n", r"toy\.py:2: .* encloses no code"),
], ids=["no-end", "no-begin", "nested", "unknown-id", "no-id", "lowercase", "end-indent", "code-left", "empty"])
def test_scan_refuses_bad_markers_naming_file_and_line(text, message):
    _, errors = A.scan_text(text, "toy.py")
    assert errors and re.search(message, errors[0]), errors  # the first error is the cause


def test_markers_inside_strings_are_not_markers():
    text = 's = """\n# BEGIN SOLUTION linear\n"""\nt = "# END SOLUTION"\n'
    assert A.scan_text(text, "toy.py") == ([], [])


def test_cut_replaces_only_the_chosen_task_and_the_stub_raises_the_statement(tmp_path):
    regions, _ = A.scan_text(TOY, "toy.py")
    new, stubs = A.cut_text(TOY, regions, {"mul_backward"}, "toy.py")
    assert stubs == [("mul_backward", 6)]
    assert "SOLUTION" not in new.replace("# BEGIN SOLUTION linear", "")  # every marker line is gone
    assert "da_solution" not in new and "y = x + 1" in new           # cut / kept
    assert '"""Kept: the stub keeps every line before BEGIN.' in new
    path = tmp_path / "toy.py"
    path.write_text(new)
    spec = importlib.util.spec_from_file_location("toy_cut", path)
    toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy)
    assert toy.Box().plus_one(1) == 2
    with pytest.raises(NotImplementedError) as info:
        toy.mul_grad(1.0, 2.0, 3.0)
    message = str(info.value)
    assert message.startswith("task mul_backward (Mul backward): Write Mul.backward for y = a * b")
    assert A.get_task("mul_backward").statement in message  # the whole statement, unbroken


def test_strip_markers_keeps_every_line_of_code():
    regions, _ = A.scan_text(TOY, "toy.py")
    stripped = A.strip_markers(TOY, regions)
    kept = [ln for ln in TOY.splitlines() if ln.strip() != "# END SOLUTION" and not ln.strip().startswith("# BEGIN")]
    assert stripped.splitlines() == kept


def _toy_project(tmp_path, text, rel="nanogen/ops/elementwise.py"):
    root = tmp_path / "proj"
    (root / rel).parent.mkdir(parents=True)
    (root / rel).write_text(text)
    return root


def test_make_on_a_toy_project_cuts_one_task_and_leaves_the_other(tmp_path):
    root = _toy_project(tmp_path, TOY)
    out = tmp_path / "hw"
    result = A.make_assignment(["mul_backward"], out, root=root, items=("nanogen",))
    assert result["tasks"] == ["mul_backward"] and result["stubs"] == [("mul_backward", "nanogen/ops/elementwise.py", 6)]
    text = (out / "nanogen/ops/elementwise.py").read_text()
    assert "raise NotImplementedError(" in text and "y = x + 1" in text and "SOLUTION div_backward" not in text
    assert "mul_backward" in (out / "ASSIGNMENT.md").read_text()
    assert A.MANIFEST in {p.name for p in out.iterdir()}


@pytest.mark.parametrize("tasks, text, message", [
    (["no_such_task"], TOY, r"unknown task id 'no_such_task'; known tasks: mul_backward, div_backward"),
    (["linear"], TOY, r"no solution markers in the source for: linear \(markers missing; expected in nanogen/ops/linalg.py\)"),
    (["mul_backward"], TOY.replace("    # END SOLUTION\n", "", 1),
     r"nanogen/ops/elementwise.py:13: nested marker: BEGIN SOLUTION div_backward inside mul_backward"),
    (["mul_backward"], TOY + "# END SOLUTION\n", r"nanogen/ops/elementwise.py:18: unbalanced marker"),
])
def test_make_refuses_before_writing_anything(tasks, text, message, tmp_path):
    root = _toy_project(tmp_path, text)
    out = tmp_path / "hw"
    with pytest.raises(A.AssignmentError, match=message):
        A.make_assignment(tasks, out, root=root, items=("nanogen",))
    assert not out.exists()


def test_make_refuses_a_marker_in_a_file_the_registry_does_not_name(tmp_path):
    root = _toy_project(tmp_path, TOY, rel="nanogen/ops/linalg.py")
    with pytest.raises(A.AssignmentError, match=r"nanogen/ops/linalg.py:6: marker for task mul_backward in "
                                                 r"nanogen/ops/linalg.py, but the registry puts mul_backward in "
                                                 r"nanogen/ops/elementwise.py"):
        A.make_assignment(["mul_backward"], tmp_path / "hw", root=root, items=("nanogen",))


def test_make_refuses_a_non_empty_folder(tmp_path):
    root = _toy_project(tmp_path, TOY)
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "notes.txt").write_text("mine")
    with pytest.raises(A.AssignmentError, match="already exists and is not empty"):
        A.make_assignment(["mul_backward"], tmp_path / "hw", root=root, items=("nanogen",))


def test_node_id_patterns_take_brackets_literally():
    t = A.get_task("mul_backward")
    assert A.matches(t, "tests/test_ops_elementwise.py::test_binary_grad[sa0-sb0-mul]")
    assert not A.matches(t, "tests/test_ops_elementwise.py::test_binary_grad[sa0-sb0-add]")
    assert not A.matches(t, "tests/test_ops_elementwise.py::test_binary_forward_matches_numpy[sa0-sb0-mul]")
    assert A.tasks_of_test("tests/test_ops_activation.py::test_activation_grad[shape1-relu]") == ["relu_backward"]


# ---------------------------------------------------------------------------- the registry and the source


def test_registry_is_consistent():
    ids = A.task_ids()
    assert len(set(ids)) == len(ids)
    chapters = [c for c, _, _ in A.CHAPTERS]
    for t in A.TASKS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", t.id) and A.marker_name(t.id) == "task_" + t.id
        assert t.chapter in chapters, t.id
        assert t.files and all((ROOT / f).is_file() for f in t.files), t.id
        assert t.tests and all(p.startswith("tests/test_") for p in t.tests), t.id
        assert len(t.statement) > 80 and "\n" not in t.statement, t.id


def test_markers_are_in_place_for_the_tasks_marked_so_far():
    assert MARKER_ERRORS == []
    assert {tid: STATUS[tid] for tid in MARKED_NOW} == {tid: "ready" for tid in MARKED_NOW}


def test_every_test_file_belongs_to_a_chapter():
    files = sorted(p.name for p in (ROOT / "tests").glob("test_*.py"))
    assert [f for f in files if A.chapter_of(f) is None] == []
    assert A.chapter_of("tests/test_ops_linalg.py") == "ops" and A.chapter_of("test_kernels_conv.py") == "kernels"


def _collect(args, cwd=ROOT):
    env = {k: v for k, v in os.environ.items() if k != A.GRADE_REPORT_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                       cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode in (0, 5), r.stdout[-3000:] + r.stderr[-3000:]
    return [ln for ln in r.stdout.splitlines() if "::" in ln]


@pytest.fixture(scope="module")
def graded_files():
    return sorted({f for t in A.TASKS for f in A.grading_files(t) if (ROOT / f).exists()})


@pytest.fixture(scope="module")
def source_tests(graded_files):
    """Node ids of the (not slow) tests in every grading test file, collected in the source."""
    return _collect(graded_files)


@pytest.fixture(scope="module")
def source_graded(source_tests):
    return {t.id: [n for n in source_tests if A.matches(t, n)] for t in A.TASKS}


def test_every_pattern_names_existing_tests(source_tests):
    for t in A.TASKS:
        missing = [f for f in A.grading_files(t) if not (ROOT / f).exists()]
        if missing:
            assert t.id in AWAITING_TESTS, f"{t.id}: no such test file {missing}; fix its patterns in TASKS"
            continue
        for pattern in t.tests:
            assert any(T._pattern_regex(pattern).fullmatch(n) for n in source_tests), \
                f"{t.id}: pattern {pattern} matches no test"


def test_task_and_chapter_markers_select_the_right_tests(graded_files, source_tests, source_graded):
    expr = "(" + " or ".join(A.marker_name(t.id) for t in A.TASKS) + " or chapter_ops) and not slow"
    selected = _collect(["-m", expr, *graded_files, "tests/test_tensor.py"])
    ops = {n for n in source_tests if n.startswith("tests/test_ops_")}
    assert ops and sorted(selected) == sorted(ops | {n for ids in source_graded.values() for n in ids})


# ---------------------------------------------------------------------------- copies with one task cut


def _sample(nodeids, patterns, limit=DEFAULT_MAX_TESTS):
    """The first test of each pattern, then evenly spaced others, at most `limit` in all."""
    first = []
    for p in patterns:
        hit = next((n for n in nodeids if T._pattern_regex(p).fullmatch(n)), None)
        if hit and hit not in first:
            first.append(hit)
    rest = [n for n in nodeids if n not in first]
    k = max(0, limit - len(first))
    return first + (rest[:: max(1, len(rest) // k)][:k] if k and rest else [])


def _restore(copy_dir, task_ids):
    """Put the solutions back into a copy (stub -> solution text); return the files touched."""
    regions, _ = A.scan(ROOT)
    touched = set()
    for r in sorted(regions, key=lambda r: (r.file, r.begin)):
        if r.task not in task_ids:
            continue
        path = copy_dir / r.file
        stub = "\n".join(A.render_stub(A.get_task(r.task), r.indent)) + "\n"
        solution = "".join((ROOT / r.file).read_text().splitlines(keepends=True)[r.begin: r.end - 1])
        text = path.read_text()
        assert stub in text, f"{r.file}: no stub for {r.task}"
        path.write_text(text.replace(stub, solution, 1))
        touched.add(r.file)
    return touched


def _assert_same_as_source(copy_dir):
    """Every file with markers equals the source without its marker lines (the others are copied
    byte for byte; comparing them too would race with edits to the source while tests run)."""
    regions, _ = A.scan(ROOT)
    for rel in sorted({r.file for r in regions}):
        expected = A.strip_markers((ROOT / rel).read_text(), [r for r in regions if r.file == rel])
        assert (copy_dir / rel).read_text() == expected, rel


def _stub_failure(task_id, result):
    """Failed on the task's stub: in the test, in a fixture it uses (outcome "error"), or in code it
    runs elsewhere that passes the stub's error on (a notebook's cell: "cell 4 failed: ...")."""
    return (result["outcome"] in ("failed", "error")
            and f"NotImplementedError: task {task_id} " in (result["error"] or ""))


@pytest.fixture(scope="module")
def all_cut(tmp_path_factory):
    """A copy with every task that has markers cut out at once."""
    copy = tmp_path_factory.mktemp("all_cut") / "copy"
    result = A.make_assignment(READY, copy, keep_caches=True)
    assert sorted({s[0] for s in result["stubs"]}) == sorted(READY)
    return copy


def test_a_copy_with_every_task_cut_imports_everything_and_restores(all_cut, tmp_path):
    code = ("import importlib, pathlib, pkgutil, sys\n"
            "import nanogen\n"
            "assert pathlib.Path(nanogen.__file__).resolve().is_relative_to(pathlib.Path(sys.argv[1]).resolve()), "
            "nanogen.__file__\n"
            "names = [m.name for m in pkgutil.walk_packages(nanogen.__path__, 'nanogen.') if '__main__' not in m.name]\n"
            "for name in names:\n"
            "    importlib.import_module(name)\n"
            "from nanogen.models import load_all\n"
            "print(len(names), len(load_all()))\n")
    r = subprocess.run([sys.executable, "-c", code, str(all_cut)], cwd=all_cut, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": str(all_cut)})
    assert r.returncode == 0, r.stderr[-3000:]
    n_modules, n_models = map(int, r.stdout.split())
    assert n_modules > 30 and n_models > 0
    restored = tmp_path / "restored"
    shutil.copytree(all_cut / "nanogen", restored / "nanogen")
    assert _restore(restored, set(READY)) == {f for tid in READY for f in A.get_task(tid).files}
    _assert_same_as_source(restored)


def _run_samples(copy, task_ids, samples):
    """Run the sampled grading tests of `task_ids` in `copy`, one pytest process per `env`."""
    results = {}
    for env in sorted({A.get_task(tid).env for tid in task_ids}):
        selection = sorted({n for tid in task_ids if A.get_task(tid).env == env for n in samples[tid]})
        report, output = A.run_tests(copy, selection, dict(env))
        assert report["collection_errors"] == [], output[-3000:]
        assert set(selection) <= set(report["tests"]), output[-3000:]
        results.update(report["tests"])
    return results


def test_each_task_s_grading_tests_fail_on_its_stub(all_cut, source_graded, tmp_path):
    """In a copy with only task T cut, T's grading tests must fail on T's stub.

    Checked in rounds, to run few copies: first in the copy with every task cut. A test that
    fails there on T's own stub reaches it before any other stub, so up to that point it runs the
    very code of the copy where only T is cut, and fails there too. The tasks with a test that
    met another stub first (a VAE loss runs through `linear`) are cut together into a new copy,
    and so on; a round that settles nothing cuts each remaining task on its own.
    """
    samples = {tid: _sample(source_graded[tid], A.get_task(tid).tests) for tid in READY}
    assert all(samples.values()), [tid for tid, s in samples.items() if not s]
    pending, copy, rounds = list(READY), all_cut, []
    while pending:
        results = _run_samples(copy, pending, samples)
        unsettled = []
        for tid in pending:
            got = {n: results[n] for n in samples[tid]}
            assert all(r["outcome"] == "failed" and r["error"].startswith("NotImplementedError: task ")
                       for r in got.values()), (tid, {n: r for n, r in got.items() if r["outcome"] != "failed"})
            if not all(_stub_failure(tid, r) for r in got.values()):
                unsettled.append(tid)
        rounds.append(pending)
        if not unsettled:
            break
        alone = unsettled == pending  # no progress: one copy per task
        for tid in unsettled if alone else [None]:
            cut = [tid] if alone else unsettled
            copy = tmp_path / f"round{len(rounds)}-{tid or 'together'}"
            A.make_assignment(cut, copy, keep_caches=True)
            if alone:
                results = _run_samples(copy, cut, samples)
                wrong = {n: results[n] for n in samples[tid] if not _stub_failure(tid, results[n])}
                assert wrong == {}, f"{tid}: these grading tests did not fail on its stub"
        if alone:
            break
        pending = unsettled
    print(f"rounds of cut tasks: {[len(r) for r in rounds]}")


REPRESENTATIVE = "div_backward"


@pytest.mark.skipif(REPRESENTATIVE not in READY, reason="needs the div_backward markers")
def test_student_copy_is_graded_task_by_task(tmp_path, source_graded, capsys):
    """A student copy made through the command line, graded on every task with markers: only the
    cut task loses points; a wrong backward shows the worst element; the right one scores full."""
    out = tmp_path / "hw"
    assert A.main(["make", "--tasks", REPRESENTATIVE, "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (out / "ASSIGNMENT.md").exists() and (out / "docs").is_dir() and (out / "Makefile").exists()
    assert not (out / "tests" / "test_assignments.py").exists()
    assert not list(out.rglob("__pycache__")) and not (out / ".git").exists()

    # the tasks of the first chapters: the models' and kernels' tests compile every Numba kernel
    # afresh in a new copy, minutes on two cores (they ran on the stubs above; all of them: slow)
    graded = [tid for tid in READY if A.get_task(tid).chapter in ("ops", "nn")]
    result = A.grade(out, graded)
    rows = {r["id"]: r for r in result["tasks"]}
    assert [r["id"] for r in result["tasks"]] == graded
    for tid, row in rows.items():
        assert row["total"] == len(source_graded[tid]), tid
        if tid == REPRESENTATIVE:
            assert row["passed"] == 0 and row["failure"].startswith("not written yet")
        else:  # passes, or fails only where it runs the cut task's stub
            assert all(f["error"].startswith(f"NotImplementedError: task {REPRESENTATIVE} ")
                       for f in row["failures"]), (tid, row["failures"][:2])
    assert not result["complete"]

    # a wrong backward (dL/db with the wrong sign): the table names the input and the worst element
    path = out / "nanogen/ops/elementwise.py"
    region = next(r for r in A.scan(ROOT)[0] if r.task == REPRESENTATIVE)
    stub = "\n".join(A.render_stub(A.get_task(REPRESENTATIVE), region.indent)) + "\n"
    wrong = ("        b, y = ctx.saved\n"
             "        return grad / b, grad * y / b\n")
    path.write_text(path.read_text().replace(stub, wrong))
    row = A.grade(out, [REPRESENTATIVE])["tasks"][0]
    assert row["passed"] == 0
    assert re.match(r"test_\w+\[[^\]]*\]: GradcheckError: gradcheck failed for \w+, input 1 at index \(.*\): "
                    r"analytic \S+, numeric \S+", row["failure"]), row["failure"]

    # the right one: full marks, exit code 0
    path.write_text(path.read_text().replace(wrong, stub))
    _restore(out, {REPRESENTATIVE})
    capsys.readouterr()
    assert A.main(["grade", str(out)]) == 0
    table = capsys.readouterr().out
    n = len(source_graded[REPRESENTATIVE])
    assert re.search(rf"{REPRESENTATIVE}\s+{n}/{n}\s+ok", table), table


# ---------------------------------------------------------------------------- the command line


def test_cli_functions_plug_into_a_parser(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="nanogen")
    A.add_assignment_parser(parser.add_subparsers(dest="command"))
    assert A.cmd_assignment(parser.parse_args(["assignment"])) == 2
    capsys.readouterr()
    assert A.cmd_assignment(parser.parse_args(["assignment", "list", "-v"])) == 0
    out = capsys.readouterr().out
    for t in A.TASKS:
        assert re.search(rf"^{t.id}\s+{t.chapter}\s+{STATUS[t.id]}", out, re.M), t.id
        assert t.tests[0] in out
    args = parser.parse_args(["assignment", "make", "--tasks", "nope", "--out", str(tmp_path / "hw")])
    with pytest.raises(A.AssignmentError, match="unknown task id 'nope'"):
        A.cmd_assignment(args)
    assert A.main(["make", "--tasks", "nope", "--out", str(tmp_path / "hw")]) == 1
    assert "error: unknown task id 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "hw").exists()
    missing = [tid for tid in A.task_ids() if tid not in READY]
    if missing:  # a task registered before its markers: listed, but refused by make
        with pytest.raises(A.AssignmentError, match=f"no solution markers in the source for: {missing[0]}"):
            A.cmd_assignment(parser.parse_args(["assignment", "make", "--tasks", missing[0], "--out",
                                                str(tmp_path / "hw")]))


# ---------------------------------------------------------------------------- the docs


def test_reading_order_follows_the_registry():
    text = (ROOT / "docs" / "reading_order.md").read_text()
    found = [m.group(1) for m in re.finditer(r"`([a-z0-9_]+)`", text) if m.group(1) in A.task_ids()]
    firsts = list(dict.fromkeys(found))
    assert firsts == A.task_ids()  # every task, in syllabus order
    for path in set(re.findall(r"(nanogen/[\w/]+\.py)", text)):
        assert (ROOT / path).is_file(), path


def test_teaching_guide_covers_the_commands():
    text = (ROOT / "docs" / "teaching.md").read_text()
    for needle in ("assignment list", "assignment make", "assignment grade", "# BEGIN SOLUTION", "# END SOLUTION",
                   "pytest -m task_", "chapter_", "TASKS"):
        assert needle in text, needle


def test_readme_counts_the_tasks():
    m = re.search(r"SOLUTION`\): (\d+) tasks from", (ROOT / "README.md").read_text())
    assert m, "README.md's For teachers section no longer says how many tasks there are"
    assert int(m.group(1)) == len(READY)


# ---------------------------------------------------------------------------- slow: the whole suite in a copy


def _failures(results):
    return {n: r for n, r in results.items() if r["outcome"] in ("failed", "error")}


@pytest.fixture(scope="module")
def baseline_failures(tmp_path_factory):
    """The tests that fail in a copy with nothing cut (normally none): not the cut's doing."""
    copy = tmp_path_factory.mktemp("baseline") / "copy"
    A.make_assignment([], copy, keep_caches=True)
    report, output = A.run_tests(copy, ["tests"], timeout=3600)
    assert report["collection_errors"] == [], output[-3000:]
    return set(_failures(report["tests"]))


@pytest.mark.slow
@pytest.mark.parametrize("task_id", READY)
def test_whole_suite_in_a_copy_fails_only_through_the_cut_task(task_id, tmp_path, source_graded, baseline_failures):
    task = A.get_task(task_id)
    copy = tmp_path / "copy"
    A.make_assignment([task_id], copy, keep_caches=True)
    report, output = A.run_tests(copy, ["tests"], timeout=3600)
    assert report["collection_errors"] == [], output[-3000:]
    results = report["tests"]
    graded = source_graded[task_id]
    assert all(_stub_failure(task_id, results[n]) for n in graded)
    others = {n: r for n, r in _failures(results).items() if not _stub_failure(task_id, r) and n not in baseline_failures}
    assert others == {}, f"{task_id}: failures that are not the cut task's stub"
    _restore(copy, {task_id})
    report, output = A.run_tests(copy, graded, dict(task.env))
    assert sorted(report["tests"]) == sorted(graded)
    assert all(r["outcome"] == "passed" for r in report["tests"].values()), output[-3000:]


# ---------------------------------------------------------------------------- a student copy runs its own code


def test_assignment_md_starts_with_installing_the_copy_into_its_own_environment(tmp_path):
    root = _toy_project(tmp_path, TOY)
    A.make_assignment(["mul_backward"], tmp_path / "hw", root=root, items=("nanogen",))
    text = (tmp_path / "hw" / "ASSIGNMENT.md").read_text()
    first_section = text.split("\n## ")[1]
    assert first_section.startswith("First: install this folder into its own environment")
    assert "python3 -m venv .venv" in first_section and "pip install -e '.[dev]'" in first_section
    assert text.index("python3 -m venv") < text.index("Mul backward")


def test_student_copy_collects_every_test_it_holds(tmp_path):
    """A student copy with every marked task cut collects the same tests as the source, less the
    files it leaves out: one error at collection would stop every `pytest -m task_<id>` run."""
    out = tmp_path / "hw"
    A.make_assignment(READY, out)
    copied = _collect(["tests"], cwd=out)
    source = _collect(["tests"])
    kept = [n for n in source if (out / n.split("::")[0]).exists()]
    assert len(kept) < len(source)      # the copy does leave test files out (test_assignments.py)
    assert copied == kept, sorted(set(copied) ^ set(kept))[:10]


def test_student_copy_documents_hold_no_solution_text(tmp_path):
    """Every marked task cut: no document in the copy repeats a line of a solution (the teacher's
    guide, whose marker example is the mul_backward solution, stays out)."""
    out = tmp_path / "hw"
    A.make_assignment(READY, out, items=("docs", "README.md"))
    assert not (out / "docs" / "teaching.md").exists() and (out / "docs" / "reading_order.md").exists()
    regions, _ = A.scan(ROOT)
    solution = {ln.strip() for r in regions
                for ln in (ROOT / r.file).read_text().splitlines()[r.begin: r.end - 1] if len(ln.strip()) >= 20}
    assert "da = grad * b if ctx.needs_input_grad[0] else None" in solution     # the check can see one
    for path in out.rglob("*.md"):
        for line in path.read_text().splitlines():
            assert line.strip() not in solution, (path, line)


def test_make_refuses_a_document_that_quotes_a_cut_solution(tmp_path):
    root = _toy_project(tmp_path, TOY.replace("return da_solution, grad * a", "return da_solution, grad * a  # both"))
    (root / "docs").mkdir()
    (root / "docs" / "notes.md").write_text("The answer:\n\n    return da_solution, grad * a  # both\n")
    with pytest.raises(A.AssignmentError, match=r"docs/notes\.md:3: quotes task mul_backward"):
        A.make_assignment(["mul_backward"], tmp_path / "hw", root=root, items=("nanogen", "docs"))
    assert not (tmp_path / "hw").exists()
    A.make_assignment(["div_backward"], tmp_path / "hw2", root=root, items=("nanogen", "docs"))  # not cut: fine


TOY_TESTS = '''import numpy as np
import pytest

import nanogen


@pytest.mark.parametrize("case", ["a-mul", "a-div"])
def test_binary_grad(case):
    assert nanogen.WHO == "copy"
    if case.endswith("div"):
        np.testing.assert_allclose(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 3.0]))
'''


def _toy_copy_with_tests(tmp_path):
    """A copy with a nanogen that says who it is, the real conftest and two toy grading tests."""
    root = tmp_path / "copy"
    (root / "nanogen").mkdir(parents=True)
    (root / "nanogen" / "__init__.py").write_text('WHO = "copy"\n')
    shutil.copy(ROOT / "nanogen" / "assignment_tasks.py", root / "nanogen" / "assignment_tasks.py")
    (root / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", root / "tests" / "conftest.py")
    (root / "tests" / "test_ops_elementwise.py").write_text(TOY_TESTS)
    return root


def test_grade_keeps_the_actual_and_desired_lines_of_a_failed_comparison(tmp_path):
    root = _toy_copy_with_tests(tmp_path)
    rows = {r["id"]: r for r in A.grade(root, ["mul_backward", "div_backward"])["tasks"]}
    assert rows["mul_backward"]["passed"] == 1 and rows["mul_backward"]["failure"] is None
    failure = rows["div_backward"]["failure"]
    assert failure.startswith("test_binary_grad[a-div]: AssertionError: Not equal to tolerance")
    assert "ACTUAL: array([1., 2., 3.])" in failure and "DESIRED: array([1. , 2.5, 3. ])" in failure
    assert "\n" not in failure                                          # still one row of the table


def test_grade_refuses_to_run_against_another_installed_nanogen(tmp_path, monkeypatch):
    """A nanogen imported before the tests start (a .pth or sitecustomize that imports an installed
    copy) would be graded instead of the student's: grade and plain pytest both refuse."""
    root = _toy_copy_with_tests(tmp_path)
    other, site = tmp_path / "other", tmp_path / "site"
    (other / "nanogen").mkdir(parents=True)
    (other / "nanogen" / "__init__.py").write_text('WHO = "other"\n')
    site.mkdir()
    (site / "sitecustomize.py").write_text(f"import sys\nsys.path.insert(0, {str(other)!r})\nimport nanogen\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    with pytest.raises(A.AssignmentError, match=r"imported nanogen from .*other.*another installed nanogen"):
        A.grade(root, ["mul_backward"])
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=root,
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(site)])))
    assert r.returncode == 4 and "another installed nanogen" in r.stdout + r.stderr
