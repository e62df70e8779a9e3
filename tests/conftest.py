"""Shared fixtures and markers: a seeded generator per test (never global seeding); the teaching
markers; the grade report.

Markers come from the task table in nanogen/assignment_tasks.py, so test files never list them:
`task_<id>` on every test that grades a teaching task (`pytest -m task_linear`), and
`chapter_<name>` on every test of a chapter's files (`pytest -m chapter_ops`); see
docs/teaching.md. With NANOGEN_GRADE_REPORT=path set, every test's outcome and the first line of
its error are written there as JSON: that is what `nanogen assignment grade` reads. The tests
refuse to run against a nanogen other than the one beside them (another installed copy).
"""

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

# before NumPy loads OpenBLAS, as `import nanogen` would (nanogen/__init__.py says why)
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "22")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent

# The tests always test the nanogen next to them: a student copy run with plain `pytest` must not
# pick up another checkout installed in the same environment.
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))


def _load_registry():
    """nanogen/assignment_tasks.py on its own (standard library only), without importing nanogen: a
    student's half-written op must not stop the markers from being registered."""
    name = "_nanogen_assignment_tasks"
    spec = importlib.util.spec_from_file_location(name, PROJECT / "nanogen" / "assignment_tasks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


registry = _load_registry()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    for t in registry.TASKS:
        config.addinivalue_line("markers", f"{registry.marker_name(t.id)}: grades teaching task {t.id} ({t.title})")
    for chapter, title, _ in registry.CHAPTERS:
        config.addinivalue_line("markers", f"{registry.chapter_marker(chapter)}: chapter {chapter} ({title})")


def _nodeid(item):
    """The node id relative to the project root, whatever the rootdir pytest chose."""
    try:
        rel = Path(item.path).resolve().relative_to(PROJECT).as_posix()
    except ValueError:
        return item.nodeid
    return rel + item.nodeid[item.nodeid.index("::"):] if "::" in item.nodeid else rel


def _foreign_nanogen():
    """The file of the imported nanogen when it is not this project's (else None)."""
    module = sys.modules.get("nanogen")
    where = getattr(module, "__file__", None)
    if where and PROJECT not in Path(where).resolve().parents:
        return where
    return None


_foreign = {}


def pytest_collection_finish(session):
    # a student copy must test its own code: an earlier-installed nanogen that got imported
    # first (a .pth or sitecustomize that imports it) would grade someone else's solutions
    where = _foreign_nanogen()
    if where:
        _foreign["nanogen"] = where
        pytest.exit(f"these tests belong to {PROJECT}, but `import nanogen` gave {where}, another installed "
                    f"nanogen. Install this folder into its own environment and run its Python:\n"
                    f"    python -m venv .venv && .venv/bin/python -m pip install -e '.[dev]'\n"
                    f"    .venv/bin/python -m pytest", returncode=4)


def pytest_collection_modifyitems(config, items):
    # The assignment tests run last: they run grading tests in copies of the project, and those
    # copies reuse the Numba kernels the other tests compiled here (make_assignment's keep_caches).
    # Run first, on a fresh clone, they compiled every kernel in the copies and the other tests
    # compiled them again: the default run took 560 s; run last, 358-375 s.
    items.sort(key=lambda item: item.path.name == "test_assignments.py")  # stable: order kept otherwise
    for item in items:
        chapter = registry.chapter_of(item.path.name)
        if chapter:
            item.add_marker(registry.chapter_marker(chapter))
        for task_id in registry.tasks_of_test(_nodeid(item)):
            item.add_marker(registry.marker_name(task_id))


# ---------------------------------------------------------------------------- the grade report

_REPORT_PATH = os.environ.get(registry.GRADE_REPORT_ENV)
_results, _collection_errors = {}, []


def _first_line(text):
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


_COMPARISON = re.compile(r"^\s*((ACTUAL|DESIRED|x|y|Max absolute difference|Max relative difference|"
                         r"Mismatched elements)\b.*:|\[.*\]: .*\(ACTUAL\))")


def _error_summary(exc):
    """The error's first line and, for a failed NumPy comparison (assert_allclose, ...), its
    ACTUAL/DESIRED (or x/y) and difference lines, on one line: what a grade row needs."""
    text = str(exc.value)
    first = _first_line(text)
    details = [ln.strip() for ln in text.splitlines() if _COMPARISON.match(ln) and ln.strip() != first]
    details = [d if len(d) <= 300 else d[:297] + "..." for d in details]
    return "; ".join([f"{exc.typename}: {first}"] + details)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _REPORT_PATH:
        return
    rep = outcome.get_result()
    nodeid = _nodeid(item)
    if rep.when == "call" or rep.failed or (rep.skipped and nodeid not in _results):
        if rep.passed:
            result = {"outcome": "passed", "error": None}
        elif rep.skipped:
            result = {"outcome": "skipped", "error": None}
        else:
            exc = call.excinfo
            error = _error_summary(exc) if exc is not None else _first_line(rep.longreprtext)
            result = {"outcome": "failed" if rep.when == "call" else "error", "error": error}
        if _results.get(nodeid, {}).get("outcome") not in ("failed", "error"):  # keep the first failure
            _results[nodeid] = result


def pytest_collectreport(report):
    if _REPORT_PATH and report.failed:  # a test file that does not import: say why, and where
        text = str(report.longrepr)
        lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
        error = lines[-1] if lines else _first_line(text)
        where = re.findall(r'File "([^"]+)", line (\d+)', text)
        if where:
            path, line = where[-1]
            try:
                path = Path(path).resolve().relative_to(PROJECT).as_posix()
            except ValueError:
                pass
            error += f" ({path}:{line})"
        _collection_errors.append({"nodeid": report.nodeid, "error": error})


def pytest_sessionfinish(session, exitstatus):
    if not _REPORT_PATH:
        return
    tmp = _REPORT_PATH + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"tests": _results, "collection_errors": _collection_errors,
                   "foreign_nanogen": _foreign.get("nanogen")}, f)
    os.replace(tmp, _REPORT_PATH)
