"""Teaching assignments: cut marked solutions out of nanogen, grade the result with its own tests.

Read docs/teaching.md first: this file is the tool it describes. Source lines between a
`# BEGIN SOLUTION <task id>` comment and the next `# END SOLUTION` comment are a teachable piece;
the task table (nanogen/assignment_tasks.py: TASKS, in the syllabus order of
docs/reading_order.md) says what each task asks and which tests grade it. `make_assignment`
copies the project with the chosen pieces replaced by a stub that raises NotImplementedError with
the task's statement; `grade` runs the grading tests inside such a copy, with the copy's own
nanogen, and scores them. Standard library only.
"""

import argparse
import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

from .assignment_tasks import (CHAPTERS, GRADE_REPORT_ENV, TASKS, AssignmentError, Task, chapter_marker,  # noqa: F401
                               chapter_of, get_task, grading_files, marker_name, matches, task_ids, tasks_of_test)

#: The project this file belongs to: nanogen/assignments.py -> the folder holding nanogen/.
ROOT = Path(__file__).resolve().parent.parent

#: What a student copy holds (those that exist), relative to the project root.
COPY_ITEMS = ("nanogen", "tests", "demos", "docs", "setup.cfg", "pyproject.toml", "Makefile", "README.md",
              "LICENSE", ".gitignore")
#: Left out of the copy: caches and outputs, the test of this tool itself (it checks the
#: instructor's markers, which a student copy no longer has), the test of benchmarks/results.py
#: (benchmarks/ stays out: its hand-written NumPy steps are solutions), and the teacher's guide
#: (its examples are solutions). Any test left in must collect in a copy: one error at collection
#: stops every `pytest -m task_<id>` run a student makes.
_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints", ".git", ".venv", "runs"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".nbi", ".nbc", ".egg-info")
_SKIP_PATHS = {"tests/test_assignments.py", "tests/test_results_page.py", "demos/out", "docs/teaching.md"}

MANIFEST = "assignment.json"


# ------------------------------------------------------------------------------------------------
# Markers in the source
# ------------------------------------------------------------------------------------------------

_MARKER_LIKE = re.compile(r"#\s*(begin|end)[\s_-]+solution\b", re.IGNORECASE)
_BEGIN = re.compile(r"#\s?BEGIN SOLUTION ([a-z][a-z0-9_]*)\s*")
_END = re.compile(r"#\s?END SOLUTION\s*")


@dataclass(frozen=True)
class Region:
    """Lines begin..end (1-based, both marker lines included) of `file` hold task `task`'s solution."""

    task: str
    file: str      # relative to the project root, with forward slashes
    begin: int
    end: int
    indent: str    # the BEGIN line's indentation: the stub gets the same


def _marker_comments(text, rel):
    """(line number, indentation, comment text) of every comment that stands alone on its line.

    Uses the tokenizer, so a docstring or string that merely mentions a marker is not one."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and not tok.line[: tok.start[1]].strip():
                out.append((tok.start[0], tok.line[: tok.start[1]], tok.string))
    except (tokenize.TokenError, IndentationError, SyntaxError) as e:
        raise AssignmentError(f"{rel}: cannot read the file to look for markers: {e}") from None
    return out


def scan_text(text, rel, known=None):
    """The solution regions of one file's text, and a list of error messages ('file:line: ...').

    known: the task ids allowed (default: the registry). A marker must stand alone on its line,
    exactly `# BEGIN SOLUTION <task id>` or `# END SOLUTION`; pairs may not nest; the END has the
    indentation of its BEGIN; no code between them sits left of the BEGIN (the stub must fit)."""
    known = set(task_ids()) if known is None else set(known)
    regions, errors = [], []
    lines = text.splitlines()
    open_ = None  # (line, indent, task id) of the BEGIN waiting for its END
    for lineno, indent, comment in _marker_comments(text, rel):
        if not _MARKER_LIKE.match(comment):
            continue
        where = f"{rel}:{lineno}"
        begin, end = _BEGIN.fullmatch(comment), _END.fullmatch(comment)
        if not begin and not end:
            errors.append(f"{where}: malformed marker {comment!r}; write '# BEGIN SOLUTION <task id>' "
                          "(lowercase id with underscores) or '# END SOLUTION'")
            continue
        if begin:
            tid = begin.group(1)
            if open_ is not None:
                errors.append(f"{where}: nested marker: BEGIN SOLUTION {tid} inside {open_[2]} "
                              f"(opened at line {open_[0]}); close it with '# END SOLUTION' first")
                continue
            if tid not in known:
                errors.append(f"{where}: unknown task id {tid!r} in BEGIN SOLUTION; registered: "
                              f"{', '.join(sorted(known))} (add the task to TASKS in nanogen/assignment_tasks.py)")
            open_ = (lineno, indent, tid)
            continue
        if open_ is None:
            errors.append(f"{where}: unbalanced marker: END SOLUTION without a BEGIN SOLUTION before it")
            continue
        b_line, b_indent, tid = open_
        open_ = None
        if indent != b_indent:
            errors.append(f"{where}: END SOLUTION is indented differently from its BEGIN SOLUTION {tid} "
                          f"(line {b_line}); give both the indentation of the code they enclose")
            continue
        body = [ln for ln in lines[b_line: lineno - 1] if ln.strip()]
        code = [ln for ln in body if not ln.strip().startswith("#")]
        if not code:
            errors.append(f"{rel}:{b_line}: BEGIN SOLUTION {tid} encloses no code")
            continue
        if any(not ln.startswith(b_indent) for ln in code):
            errors.append(f"{rel}:{b_line}: the solution of {tid} has code left of its BEGIN SOLUTION "
                          "marker; indent the markers like the code they enclose")
            continue
        if tid in known:
            regions.append(Region(tid, rel, b_line, lineno, b_indent))
    if open_ is not None:
        errors.append(f"{rel}:{open_[0]}: unbalanced marker: BEGIN SOLUTION {open_[2]} has no END SOLUTION")
    return regions, errors


def scan(root=None):
    """Every solution region under root/nanogen, and every marker error, checked against TASKS
    (a marker for a task in a file the registry does not name is an error too)."""
    root = Path(root or ROOT)
    regions, errors = [], []
    for path in sorted((root / "nanogen").rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root).as_posix()
        try:
            found, errs = scan_text(path.read_text(encoding="utf-8"), rel)
        except AssignmentError as e:
            errors.append(str(e))
            continue
        errors += errs
        for r in found:
            t = get_task(r.task)
            if rel not in t.files:
                errors.append(f"{rel}:{r.begin}: marker for task {r.task} in {rel}, but the registry puts "
                              f"{r.task} in {', '.join(t.files)}; move the marker or fix Task.files")
            else:
                regions.append(r)
    return regions, errors


def status(root=None):
    """{task id: 'ready' | 'markers missing' | 'markers missing in FILE'} and the marker errors."""
    regions, errors = scan(root)
    marked = {}
    for r in regions:
        marked.setdefault(r.task, set()).add(r.file)
    out = {}
    for t in TASKS:
        have = marked.get(t.id, set())
        if not have:
            out[t.id] = "markers missing"
        elif set(t.files) - have:
            out[t.id] = "markers missing in " + ", ".join(sorted(set(t.files) - have))
        else:
            out[t.id] = "ready"
    return out, errors


# ------------------------------------------------------------------------------------------------
# Cutting: solution -> stub
# ------------------------------------------------------------------------------------------------


def _quoted(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_stub(task, indent):
    """The lines that replace a solution: a comment and a raise carrying the task's statement."""
    width = max(40, 100 - len(indent) - 6)
    text = f"task {task.id} ({task.title}): {task.statement}"
    chunks = textwrap.wrap(text, width, drop_whitespace=False, break_on_hyphens=False)
    lines = [f"{indent}# TODO task {task.id} ({task.where}): replace this raise with your code.",
             f"{indent}raise NotImplementedError("]
    lines += [f"{indent}    {_quoted(c)}" for c in chunks]
    lines.append(f"{indent})")
    return lines


def cut_text(text, regions, chosen, rel="<text>"):
    """Source text with each chosen task's regions replaced by its stub and every other marker line
    dropped. Returns (new text, [(task id, line of the stub in the new text)]). Refuses a result
    that does not parse."""
    lines = text.splitlines(keepends=True)
    newline = "\n"
    out, stubs, i = [], [], 0
    for r in sorted(regions, key=lambda r: r.begin):
        out += lines[i: r.begin - 1]
        if r.task in chosen:
            stubs.append((r.task, len(out) + 1))
            out += [ln + newline for ln in render_stub(get_task(r.task), r.indent)]
        else:
            out += lines[r.begin: r.end - 1]  # the solution stays, its marker lines go
        i = r.end
    out += lines[i:]
    new = "".join(out)
    try:
        ast.parse(new)
    except SyntaxError as e:
        raise AssignmentError(f"{rel}:{e.lineno}: the file no longer parses after cutting "
                              f"{', '.join(sorted(chosen))}: {e.msg}") from None
    return new, stubs


def strip_markers(text, regions):
    """The text without its marker lines (what a copy holds for a task that was not cut)."""
    return cut_text(text, regions, chosen=set())[0]


def _ignore(root, keep_caches=False):
    def ignore(directory, names):
        rel_dir = Path(directory).relative_to(root).as_posix()
        in_pycache = Path(directory).name == "__pycache__"
        skipped = []
        for n in names:
            rel = n if rel_dir == "." else f"{rel_dir}/{n}"
            if keep_caches and (n == "__pycache__" or (in_pycache and n.endswith((".nbi", ".nbc")))):
                continue
            if n in _SKIP_NAMES or n.endswith(_SKIP_SUFFIXES) or rel in _SKIP_PATHS:
                skipped.append(n)
        return skipped

    return ignore


def resolve_task_ids(requested, root=None):
    """Check the requested ids ('all' = every task whose markers are in place) -> list in syllabus order."""
    if "all" in requested:
        st, _ = status(root)
        return [tid for tid in task_ids() if st[tid] == "ready"]
    for tid in requested:
        get_task(tid)
    return [tid for tid in task_ids() if tid in set(requested)]


def make_assignment(tasks, out, root=None, items=COPY_ITEMS, keep_caches=False):
    """Write a student copy of the project into `out` with the solutions of `tasks` cut out.

    tasks: task ids, or ['all'] (every task whose markers are in place), or [] (a clean copy, e.g.
    to grade a submission with trusted tests); out: a folder that does not exist yet or is empty;
    root: the project to copy (default: this one); items: the top-level files and folders to copy
    (the missing ones are skipped); keep_caches: also copy Numba's compiled kernels
    (__pycache__/*.nbi, *.nbc) and leave every file without a cut task byte for byte as it is
    (its marker comments in place), so that tests of the copy skip recompiling the kernels of
    those files -- for copies that tests make; a student copy leaves both out. Every marker in the
    source must be well formed and every chosen task marked, else AssignmentError before anything
    is written.
    Returns {"out", "tasks", "stubs": [(task id, file, line)]}.
    """
    root = Path(root or ROOT).resolve()
    chosen = resolve_task_ids(list(tasks), root)
    regions, errors = scan(root)
    if errors:
        raise AssignmentError("the solution markers have errors:\n  " + "\n  ".join(errors))
    st, _ = status(root)
    missing = [f"{tid} ({st[tid]}; expected in {', '.join(get_task(tid).files)})"
               for tid in chosen if st[tid] != "ready"]
    if missing:
        raise AssignmentError("no solution markers in the source for: " + "; ".join(missing))
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AssignmentError(f"{out} already exists and is not empty; choose a new folder")
    present = [item for item in items if (root / item).exists()]
    for item in present:
        if (root / item).is_dir() and (out == root / item or (root / item) in out.parents):
            raise AssignmentError(f"{out} lies inside {root / item}, which is copied; choose a folder elsewhere")

    # compute every cut file first, so that a refusal leaves nothing half written
    by_file = {}
    for r in regions:
        by_file.setdefault(r.file, []).append(r)
    new_text, stubs = {}, []
    for rel, rs in by_file.items():
        if rel.split("/")[0] not in present or (keep_caches and not {r.task for r in rs} & set(chosen)):
            continue
        text, where = cut_text((root / rel).read_text(encoding="utf-8"), rs, set(chosen), rel)
        new_text[rel] = text
        stubs += [(tid, rel, line) for tid, line in where]
    leaks = solution_leaks(root, present, regions, set(chosen))
    if leaks:
        raise AssignmentError("the copy's documents would show the solutions of the cut tasks:\n  "
                              + "\n  ".join(leaks) + "\nreword those lines (or leave the file out of the copy)")

    out.mkdir(parents=True, exist_ok=True)
    for item in present:
        src = root / item
        if src.is_dir():
            shutil.copytree(src, out / item, ignore=_ignore(root, keep_caches))  # copy2: mtimes kept
        else:
            shutil.copy2(src, out / item)
    for rel, text in new_text.items():
        (out / rel).write_text(text, encoding="utf-8")
    stubs.sort(key=lambda s: (task_ids().index(s[0]), s[1], s[2]))
    (out / MANIFEST).write_text(json.dumps({"tasks": chosen}, indent=2) + "\n", encoding="utf-8")
    (out / "ASSIGNMENT.md").write_text(_assignment_readme(chosen, stubs), encoding="utf-8")
    return {"out": str(out), "tasks": chosen, "stubs": stubs}


def solution_leaks(root, items, regions, chosen, min_length=20):
    """'file:line: quotes task T' for every line of a document (.md) the copy would hold that
    repeats a line of a cut solution (lines of min_length characters or more, comments aside:
    short ones such as `return da, db` say nothing)."""
    root = Path(root)
    quoted = {}
    for r in regions:
        if r.task not in chosen:
            continue
        for line in (root / r.file).read_text(encoding="utf-8").splitlines()[r.begin: r.end - 1]:
            line = line.strip()
            if len(line) >= min_length and not line.startswith("#"):
                quoted.setdefault(line, r.task)
    leaks = []
    for item in items:
        paths = [root / item] if (root / item).is_file() else sorted((root / item).rglob("*.md"))
        for path in paths:
            rel = path.relative_to(root).as_posix()
            if path.suffix != ".md" or rel in _SKIP_PATHS or _SKIP_NAMES & set(Path(rel).parts):
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip() in quoted:
                    leaks.append(f"{rel}:{n}: quotes task {quoted[line.strip()]}: {line.strip()}")
    return leaks


def _assignment_readme(chosen, stubs):
    """ASSIGNMENT.md of a student copy: how to check one's work, then each task with its place."""
    lines = ["# Assignment", "",
             "## First: install this folder into its own environment", "",
             "This folder is a complete nanogen, and your code must be the one that runs. Give it its own",
             "virtual environment, from this folder, before anything else:", "",
             "    python3 -m venv .venv",
             "    .venv/bin/python -m pip install -e '.[dev]'",
             "    source .venv/bin/activate                  # from now on `python` and `nanogen` are this copy's", "",
             "(Without the environment, `python` may import another installed nanogen; the tests and",
             "`grade` then refuse to run rather than test the wrong code.)", "",
             "## Your tasks", "",
             f"{len(chosen)} task(s). Each is a stub in the source that raises NotImplementedError: replace",
             "the stub with your code. The command under each task runs the tests that grade it; the",
             "other tests keep passing as you go (a test that reaches an unwritten task fails with its name).", "",
             "Check your work from this folder, in the activated environment:", "",
             "    python -m nanogen.assignments grade .      # score table, one row per task",
             "    python -m pytest -m task_<id>              # one task's tests, with pytest's full output", "",
             "A gradient check that fails names the input and the worst element, with the analytic",
             "(your backward) and the numeric (finite differences) value: start there.", ""]
    for n, tid in enumerate(chosen, 1):
        t = get_task(tid)
        at = ", ".join(f"{f}:{line}" for task, f, line in stubs if task == tid)
        env = "".join(f"{k}={v} " for k, v in t.env)
        lines += [f"## {n}. {t.title} (`{t.id}`)", "", f"Where: {t.where}, at {at}.", "",
                  textwrap.fill(t.statement, 100), "",
                  f"Run its tests: `{env}python -m pytest -m {marker_name(t.id)}`", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Grading: run the tagged tests in a copy and score them
# ------------------------------------------------------------------------------------------------


def run_tests(directory, selection, env=None, python=None, timeout=1800, extra_args=()):
    """Run pytest in `directory` (its own conftest and nanogen) on `selection` (files, node ids or a
    '-m' expression given in extra_args), with the grade report on. Returns (report dict, pytest
    output). report: {"tests": {nodeid: {"outcome", "error"}}, "collection_errors": [...]}."""
    directory = Path(directory).resolve()
    fd, report_path = tempfile.mkstemp(prefix="nanogen-grade-", suffix=".json")
    os.close(fd)
    os.unlink(report_path)
    run_env = dict(os.environ)
    paths = [str(directory)] + ([run_env["PYTHONPATH"]] if run_env.get("PYTHONPATH") else [])
    run_env["PYTHONPATH"] = os.pathsep.join(paths)  # the copy's nanogen, never an installed one
    run_env[GRADE_REPORT_ENV] = report_path
    run_env.update(env or {})
    cmd = [python or sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra_args, *selection]
    try:
        proc = subprocess.run(cmd, cwd=directory, env=run_env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssignmentError(f"the tests in {directory} did not finish within {timeout:g} s "
                              "(an endless loop in a solution?); raise --timeout if they need longer") from None
    output = proc.stdout + proc.stderr
    try:
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
        os.unlink(report_path)
    except (OSError, ValueError):
        raise AssignmentError(f"pytest in {directory} wrote no results (exit code {proc.returncode}); "
                              f"its output ends with:\n{output[-2000:]}") from None
    return report, output


def _failure_rank(task_id, error):
    """Which failure to show first: a failed gradient check (it names the worst element), then any
    other mistake, then this task's own stub, then a stub of another task it needs."""
    stub = re.match(r"NotImplementedError: task ([a-z0-9_]+)\b", error or "")
    if stub:
        return 2 if stub.group(1) == task_id else 3
    return 0 if (error or "").startswith("GradcheckError") else 1


def _describe_failure(task_id, name, error):
    m = re.match(r"NotImplementedError: task ([a-z0-9_]+)\b", error or "")
    if m and m.group(1) == task_id:
        return "not written yet (the stub raises NotImplementedError)"
    if m:
        return f"{name}: needs task {m.group(1)}, which is still a stub"
    return f"{name}: {error}"


def grade(directory, tasks=None, python=None, timeout=1800):
    """Grade a copy: run every chosen task's tests in `directory` and score them per task.

    tasks: ids (default: the copy's assignment.json, else every task). Tasks with the same `env`
    run in one pytest process. Returns {"tasks": [{"id", "title", "passed", "total", "failure",
    "failures"}], "passed", "total", "output"}; "failure" is the first failing test and the first
    line of its error (for a gradient check: the input, the worst element, analytic and numeric).
    """
    directory = Path(directory).resolve()
    if not (directory / "tests").is_dir():
        raise AssignmentError(f"{directory} has no tests/ folder; give the folder made by `assignment make`")
    if not tasks:
        manifest = directory / MANIFEST
        tasks = json.loads(manifest.read_text())["tasks"] if manifest.exists() else task_ids()
    tasks = task_ids() if "all" in tasks else tasks
    chosen = [get_task(tid) for tid in resolve_task_ids(list(tasks))]
    groups = {}
    for t in chosen:
        groups.setdefault(t.env, []).append(t)
    results, collection_errors, outputs = {}, [], []
    for env, group in groups.items():
        files = sorted({f for t in group for f in grading_files(t) if (directory / f).exists()})
        if not files:
            continue
        expr = "(" + " or ".join(marker_name(t.id) for t in group) + ") and not slow"
        report, output = run_tests(directory, files, dict(env), python, timeout, ("-m", expr))
        if report.get("foreign_nanogen"):
            raise AssignmentError(
                f"the tests in {directory} imported nanogen from {report['foreign_nanogen']}, another "
                f"installed nanogen, not the copy's own: grading would score someone else's code. Install "
                f"the copy into its own environment (ASSIGNMENT.md) and grade with its Python: "
                f"--python {directory / '.venv' / 'bin' / 'python'}")
        results.update(report["tests"])
        collection_errors += report["collection_errors"]
        outputs.append(output)
    rows = []
    for t in chosen:
        mine = {nid: r for nid, r in results.items() if matches(t, nid)}
        passed = sum(r["outcome"] == "passed" for r in mine.values())
        failures = [(nid, r) for nid, r in mine.items() if r["outcome"] in ("failed", "error")]
        failure = None
        broken = [c for c in collection_errors if c["nodeid"] in grading_files(t)]
        missing = [f for f in grading_files(t) if not (directory / f).exists()]
        if broken:
            failure = f"{broken[0]['nodeid']} does not load: {broken[0]['error']}"
        elif failures:
            nid, r = min(failures, key=lambda f: _failure_rank(t.id, f[1]["error"]))
            failure = _describe_failure(t.id, nid.split("::")[-1], r["error"])
        elif not mine:
            failure = ("no tests found" + (f" ({', '.join(missing)} missing)" if missing else "")
                       + ": check the task's test patterns")
        rows.append({"id": t.id, "title": t.title, "passed": passed, "total": len(mine), "failure": failure,
                     "failures": [{"test": nid, "error": r["error"]} for nid, r in failures]})
    return {"tasks": rows, "passed": sum(r["passed"] for r in rows), "total": sum(r["total"] for r in rows),
            "complete": all(r["failure"] is None for r in rows), "output": "\n".join(outputs)}


def format_grades(result):
    """The score table: one row per task, passed/total, and what to look at first."""
    w = max([len("task")] + [len(r["id"]) for r in result["tasks"]])
    lines = [f"{'task':<{w}}  {'passed':>7}  first failure"]
    for r in result["tasks"]:
        score = f"{r['passed']}/{r['total']}"
        lines.append(f"{r['id']:<{w}}  {score:>7}  {r['failure'] or 'ok'}")
    lines.append(f"{'total':<{w}}  {str(result['passed']) + '/' + str(result['total']):>7}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# The command line: nanogen assignment list | make | grade
# ------------------------------------------------------------------------------------------------


def add_assignment_parser(subparsers):
    """Add `assignment` (with list, make, grade) to the nanogen command's subparsers; returns it."""
    p = subparsers.add_parser(
        "assignment", help="teaching: cut solutions out of a copy of nanogen, grade it with the tests",
        description=_DESCRIPTION)
    _add_actions(p)
    return p


_DESCRIPTION = ("Make student exercises from nanogen: the source marks the pieces a student writes "
                "(# BEGIN SOLUTION <id> ... # END SOLUTION), `make` cuts them out of a copy, `grade` runs "
                "the tests that grade them. See docs/teaching.md.")


def _add_actions(p):
    sub = p.add_subparsers(dest="assignment_command", metavar="ACTION")
    p.set_defaults(assignment_parser=p)

    ls = sub.add_parser("list", help="the tasks in syllabus order and whether their markers are in place")
    ls.add_argument("-v", "--verbose", action="store_true", help="also print each statement and its tests")
    ls.add_argument("--source", default=None, help="project folder to inspect (default: this nanogen's)")

    mk = sub.add_parser("make", help="write a student copy with the chosen tasks cut out")
    mk.add_argument("--tasks", nargs="+", required=True, metavar="ID",
                    help="task ids (see `assignment list`), or 'all' for every task whose markers are in place")
    mk.add_argument("--out", required=True, help="new (or empty) folder for the copy")
    mk.add_argument("--source", default=None, help="project folder to copy (default: this nanogen's)")

    gr = sub.add_parser("grade", help="run the grading tests in a copy and print a score table")
    gr.add_argument("dir", help="the copy (a folder made by `assignment make`, or any nanogen checkout)")
    gr.add_argument("--tasks", nargs="+", metavar="ID", default=None,
                    help="grade these tasks (default: those in DIR/assignment.json, else all)")
    gr.add_argument("--json", action="store_true", help="print the result as one JSON object")
    gr.add_argument("--timeout", type=float, default=1800, help="seconds per pytest run (default %(default)s)")
    gr.add_argument("--python", default=None, help="interpreter to run the tests with (default: this one)")
    gr.add_argument("-v", "--verbose", action="store_true", help="also show pytest's output")


def _cmd_list(args):
    st, errors = status(args.source)
    w = max(len(t) for t in task_ids())
    print(f"{'task':<{w}}  {'chapter':<8}  {'status':<16}  where")
    for t in TASKS:
        print(f"{t.id:<{w}}  {t.chapter:<8}  {st[t.id]:<16}  {t.where} ({', '.join(t.files)})")
        if args.verbose:
            print(textwrap.indent(textwrap.fill(t.statement, 96), " " * 6))
            env = " ".join(f"{k}={v}" for k, v in t.env)
            print(f"      graded by{' (with ' + env + ')' if env else ''}:")
            for pattern in t.tests:
                print(f"        {pattern}")
    if errors:
        print("\nmarker errors:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    return 0


def _cmd_make(args):
    result = make_assignment(args.tasks, args.out, root=args.source)
    print(f"wrote {result['out']}: {len(result['tasks'])} task(s) cut out")
    for tid, rel, line in result["stubs"]:
        print(f"  {tid:<24} {rel}:{line}")
    print(f"students read {Path(result['out']) / 'ASSIGNMENT.md'}; grade with: "
          f"nanogen assignment grade {result['out']}")
    return 0


def _cmd_grade(args):
    result = grade(args.dir, args.tasks, python=args.python, timeout=args.timeout)
    if args.verbose:
        print(result["output"])
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "output"}, indent=2))
    else:
        print(format_grades(result))
    return 0 if result["complete"] else 1


def cmd_assignment(args):
    """Run `nanogen assignment ACTION`; returns the exit code (grade: 0 only if every test passed)."""
    action = getattr(args, "assignment_command", None)
    if action is None:
        args.assignment_parser.print_help()
        return 2
    return {"list": _cmd_list, "make": _cmd_make, "grade": _cmd_grade}[action](args)


def main(argv=None):
    """`python -m nanogen.assignments ACTION ...`: the same as `nanogen assignment ACTION ...`."""
    parser = argparse.ArgumentParser(prog="python -m nanogen.assignments", description=_DESCRIPTION)
    _add_actions(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_assignment(args)
    except AssignmentError as e:
        print(f"{parser.prog} {args.assignment_command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
