"""nanogen.set_num_threads / get_num_threads and the import-time default (nanogen/threads.py)."""

import numba
import pytest

import nanogen
from nanogen import threads


@pytest.fixture
def restore_threads():
    before = (threads._current, [i["num_threads"] for i in threads.blas_info()], numba.get_num_threads())
    yield
    threads._current = before[0]
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=max(before[1]), user_api="blas")
    numba.set_num_threads(before[2])


@pytest.mark.parametrize("n", [1, 2])
def test_set_num_threads_sets_blas_and_numba(n, restore_threads):
    nanogen.set_num_threads(n)
    assert nanogen.get_num_threads() == n
    assert threads.blas_info(), "NumPy's BLAS not found by threadpoolctl"
    assert all(i["num_threads"] == n for i in threads.blas_info())
    assert numba.get_num_threads() == min(n, numba.config.NUMBA_NUM_THREADS)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_num_threads_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="positive int"):
        nanogen.set_num_threads(bad)


@pytest.mark.parametrize("cores, busy, want", [(2, 0.1, 2), (2, 0.6, 1), (2, 1.4, 1), (2, 21.0, 1),
                                               (8, 2.2, 6), (8, 0.0, 8), (1, 0.0, 1)])
def test_default_counts_the_free_cores(cores, busy, want, monkeypatch):
    monkeypatch.delenv("NANOGEN_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cpu_count", lambda: cores)
    monkeypatch.setattr(threads, "busy_cores", lambda: busy)
    assert threads.default_num_threads() == want


STAT = """cpu  {all}
cpu0 {c0}
cpu1 {c1}
intr 12345 0 0
ctxt 678
"""


def test_cpu_times_reads_the_cores_asked_for(tmp_path):
    path = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    path.write_text(STAT.format(all="1 1 1 1 1 1 1 1 0 0", c0="10 0 5 80 5 0 0 0 0 0", c1="1 2 3 4 5 6 7 8 9 9"))
    assert threads._cpu_times({0, 1}, path) == {0: (100, 85), 1: (36, 9)}  # guest time is in user already
    assert threads._cpu_times({1}, path) == {1: (36, 9)}


def test_busy_cores_measures_the_cores_now(monkeypatch):
    samples = iter([{0: (1000, 900), 1: (1000, 500)},     # before
                    {0: (1010, 910), 1: (1010, 502)}])    # after: cpu0 idle, cpu1 80% busy
    monkeypatch.setattr(threads, "_cpu_times", lambda cpus: next(samples))
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (5.0, 5.0, 5.0))  # a minute's average: not used
    assert threads.busy_cores(window=0) == pytest.approx(0.8)


def test_busy_cores_falls_back_to_the_load_average(monkeypatch):
    def no_proc(cpus):
        raise OSError("no /proc/stat here")

    monkeypatch.setattr(threads, "_cpu_times", no_proc)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.5, 1.0, 1.0))
    assert threads.busy_cores(window=0) == 1.5


def test_busy_cores_sees_a_busy_core():
    """A child process spinning on one core: about one core busy, on this machine."""
    import subprocess
    import sys

    if not hasattr(threads.os, "sched_getaffinity"):
        pytest.skip("busy_cores reads Linux's /proc/stat; elsewhere it is the load average")
    cpus = sorted(threads.os.sched_getaffinity(0))
    spinner = subprocess.Popen([sys.executable, "-c", f"import os, time; os.sched_setaffinity(0, {{{cpus[0]}}})\n"
                                "t = time.time()\nwhile time.time() - t < 5: pass"])
    try:
        threads.time.sleep(0.3)  # the child has started and spins
        assert threads.busy_cores(window=0.3) >= 0.8
    finally:
        spinner.kill()
        spinner.wait()


def test_default_on_one_core_does_not_measure(monkeypatch):
    """One core: one thread, without the tenth of a second busy_cores sleeps at import."""
    def measured():
        raise AssertionError("busy_cores ran with a single core to choose from")

    monkeypatch.delenv("NANOGEN_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cpu_count", lambda: 1)
    monkeypatch.setattr(threads, "busy_cores", measured)
    assert threads.default_num_threads() == 1


def test_default_follows_the_environment(monkeypatch):
    monkeypatch.setenv("NANOGEN_NUM_THREADS", "3")
    assert threads.default_num_threads() == 3
    monkeypatch.setenv("NANOGEN_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="NANOGEN_NUM_THREADS.*positive int"):
        threads.default_num_threads()


def test_default_not_applied_when_the_environment_chose(monkeypatch):
    calls = []
    monkeypatch.setattr(threads, "set_num_threads", calls.append)
    monkeypatch.delenv("NANOGEN_NUM_THREADS", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    threads.apply_default()
    assert calls == []
    monkeypatch.setenv("NANOGEN_NUM_THREADS", "2")
    threads.apply_default()
    assert calls == [2]



@pytest.mark.parametrize("first, env, warns", [
    ("numpy", {"NANOGEN_NUM_THREADS": "2"}, True),
    ("nanogen", {"NANOGEN_NUM_THREADS": "2"}, False),
    ("numpy", {"NANOGEN_NUM_THREADS": "2", "OPENBLAS_THREAD_TIMEOUT": "22"}, False),  # set before NumPy loaded
    ("numpy", {"NANOGEN_NUM_THREADS": "1"}, False),  # one thread: no BLAS thread polls
])
def test_importing_numpy_first_is_warned_about(first, env, warns, tmp_path):
    """`import numpy` before `import nanogen` leaves OpenBLAS's idle threads polling (nanogen's
    setting of OPENBLAS_THREAD_TIMEOUT comes too late): a warning that points at the import."""
    import os
    import subprocess
    import sys

    if not any(i.get("internal_api") == "openblas" for i in threads.blas_info()):
        pytest.skip("NumPy's BLAS here is not OpenBLAS: nothing polls, nothing to warn about")
    script = tmp_path / "script.py"
    second = "nanogen" if first == "numpy" else "numpy"
    script.write_text(f"import {first}\nimport {second}\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "NANOGEN_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-W", "always", str(script)], env={**clean, **env},
                         capture_output=True, text=True, check=True)
    line = f"{script}:2: RuntimeWarning: NumPy was imported before nanogen"
    assert (line in out.stderr) == warns, out.stderr
