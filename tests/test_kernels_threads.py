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


@pytest.mark.parametrize("cores, load, want", [(2, 0.1, 2), (2, 0.6, 1), (2, 1.4, 1), (2, 21.0, 1),
                                               (8, 2.2, 6), (8, 0.0, 8), (1, 0.0, 1)])
def test_default_counts_the_free_cores(cores, load, want, monkeypatch):
    monkeypatch.delenv("NANOGEN_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cpu_count", lambda: cores)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (load, load, load))
    assert threads.default_num_threads() == want


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

