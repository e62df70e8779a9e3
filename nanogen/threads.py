"""Threads: how many cores nanogen's GEMMs (NumPy's BLAS) and Numba kernels use.

    nanogen.set_num_threads(1)      # both BLAS and Numba, from now on
    nanogen.get_num_threads()       # -> 1
    NANOGEN_NUM_THREADS=2 nanogen train dcgan      # the same from the shell

Why it matters: BLAS and Numba split each big operation over threads and wait for all of them
at the end. On a machine whose cores are taken by other programs, one of those threads is
often not running, and everyone waits for it: measured on a 2-core machine at load ~21 (other
trainings running), the MLP step of benchmarks/bench_mlp.py took 24 ms with one BLAS thread and
135-1000 ms with two; PyTorch fell the same way (45 ms with one thread, 1,330 ms with two). On an
idle machine two threads are faster (up to 2x for GEMM-heavy convolutions). Losing up to 2x when
idle is much cheaper than losing 5-40x when busy, so the default, chosen once at import, counts
the cores that are free: all cores minus the cores other programs are using now, at least 1.
An idle laptop gets every core; a busy shared machine gets one thread.
"Now" is measured over a tenth of a second (busy_cores below), not averaged over a minute: the
1-minute load average still counts a program that ended seconds ago (after a run on both of 2
cores it stays above 0.5, one busy core once rounded, for about 80 s), so with it a training
started right after another one ran on one thread of an idle machine (measured, 2 cores, DCGAN
iteration, in one process, alternating: 319 [297-362] ms on one thread, 193 [173-210] on two).
The default is not applied when you chose yourself: NANOGEN_NUM_THREADS, or any of
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS / NUMBA_NUM_THREADS in the environment.
Results do not depend on the thread count (BLAS splits rows and columns, not sums; the Numba
kernels that sum split their work in fixed chunks; the convolutions add their weight gradients
in fixed slots, ops/conv.py), only the speed does.
BLAS threads are set through threadpoolctl (the scikit-learn project's small library for
exactly this: it finds the BLAS NumPy loaded and calls its set-threads function).
"""

import os
import sys
import time

_ENV_CHOICES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
_current = None


def cpu_count():
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _cpu_times(cpus, path="/proc/stat"):
    """{cpu: (total, idle)}: jiffies since boot of the given CPUs, from Linux's /proc/stat."""
    times = {}
    with open(path) as f:
        for line in f:
            name, *fields = line.split() or [""]
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                v = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
                times[int(name[3:])] = (sum(v), v[3] + v[4])
    return times


def busy_cores(window=0.1):
    """How many of this process's cores other programs are using now: each core's non-idle share
    of the next `window` seconds, while this process sleeps, summed (Linux's /proc/stat).
    Elsewhere the 1-minute load average (os.getloadavg), and 0.0 where there is neither."""
    try:
        cpus = os.sched_getaffinity(0)
        before = _cpu_times(cpus)
        time.sleep(window)
        after = _cpu_times(cpus)
        if after and after.keys() == before.keys():
            busy = 0.0
            for cpu, (total, idle) in after.items():
                if total > before[cpu][0]:
                    busy += 1 - (idle - before[cpu][1]) / (total - before[cpu][0])
            return busy
    except (AttributeError, OSError, ValueError):
        pass  # not Linux (no sched_getaffinity or /proc/stat), or a /proc/stat of another shape
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows: no load average, assume idle
        return 0.0


def default_num_threads():
    """NANOGEN_NUM_THREADS if set, else the cores not busy with other work: cores minus
    busy_cores(), rounded, at least 1."""
    env = os.environ.get("NANOGEN_NUM_THREADS", "").strip()
    if env:
        return _check(int(env) if env.isdigit() else env, "NANOGEN_NUM_THREADS")
    cores = cpu_count()
    if cores == 1:
        return 1  # nothing to choose: no need to measure (busy_cores sleeps a tenth of a second)
    return max(1, min(cores, cores - round(busy_cores())))


def _check(n, what="set_num_threads"):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what}: the number of threads must be a positive int, got {n!r}")
    return n


def set_num_threads(n):
    """Use n threads for BLAS (NumPy's matrix products) and for the Numba kernels, from now on.

    n above the core count is allowed (BLAS caps it itself); Numba is capped at the thread pool
    it started with (NUMBA_NUM_THREADS, by default the core count)."""
    global _current
    _check(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")  # not used as a context manager: the limit stays
    from .kernels import HAVE_NUMBA

    if HAVE_NUMBA:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    _current = n


def get_num_threads():
    """The thread count last set by set_num_threads (or the import-time default); if neither ran
    (you chose through the environment), what BLAS reports (asked once, then remembered)."""
    global _current
    if _current is None:
        counts = [i["num_threads"] for i in blas_info()]
        _current = max(counts) if counts else 1
    return _current


def blas_info():
    """The BLAS libraries loaded in this process, as threadpoolctl reports them: a list of dicts
    with 'internal_api' (e.g. 'openblas'), 'version', 'architecture' (the CPU kernel it chose,
    e.g. 'SkylakeX' or 'Haswell') and 'num_threads'."""
    from threadpoolctl import threadpool_info

    return [i for i in threadpool_info() if i.get("user_api") == "blas"]


def apply_default():
    """At import: set the default thread count unless the environment already chose one."""
    if os.environ.get("NANOGEN_NUM_THREADS", "").strip() or not any(os.environ.get(v) for v in _ENV_CHOICES):
        try:
            set_num_threads(default_num_threads())
        except ImportError:  # threadpoolctl missing (a broken install): keep the libraries' own defaults
            pass


def warn_numpy_came_first():
    """At import, when NumPy was loaded before nanogen without OPENBLAS_THREAD_TIMEOUT in the
    environment: OpenBLAS read its default then (idle threads poll for ~0.1 s after each
    multi-threaded GEMM), nanogen/__init__.py's setting came too late, and those polling threads
    hold a core while the convolutions run on two (measured, 2 cores, DCGAN iteration, three
    processes each way, alternating: 346-402 ms with NumPy first, 220-243 ms with nanogen first).
    OpenBLAS has no call to change it later, so say how to avoid it. Silent on one thread or with
    another BLAS, where nothing polls."""
    if get_num_threads() < 2 or not any(i.get("internal_api") == "openblas" for i in blas_info()):
        return
    import warnings

    # point at the user's `import nanogen`: the first frame outside nanogen (warnings skips
    # importlib's own frames when it counts, so they are not counted here either)
    level, frame = 2, sys._getframe(1)
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen")
                                 or os.path.abspath(frame.f_code.co_filename).startswith(here)):
        level += not frame.f_code.co_filename.startswith("<frozen")
        frame = frame.f_back
    warnings.warn("NumPy was imported before nanogen, so OpenBLAS's idle threads keep polling for about 0.1 s "
                  "after each matrix product and slow nanogen's two-thread convolutions (a DCGAN step took 1.6-1.8x "
                  "as long). Import nanogen before NumPy, or set OPENBLAS_THREAD_TIMEOUT=22 in the environment "
                  "(nanogen/__init__.py says why).", RuntimeWarning, stacklevel=level)


# ---------------------------------------------------------------------------------------------
# Running pieces of one operation on several threads (the convolutions: nanogen/ops/conv.py)
#
# A convolution over a batch is a loop over chunks of images, each chunk a few small kernels
# and GEMMs. Letting BLAS and Numba split each of those small calls over the cores costs a
# wake-up of the sleeping threads per call (about 50 us with OMP_WAIT_POLICY=PASSIVE: measured,
# im2col of 15 images took as long with two Numba threads as with one). So run_in_threads gives
# each thread whole chunks instead: every call inside runs on one core, BLAS included, and the
# threads wake once per operation, not once per call.
# ---------------------------------------------------------------------------------------------

_pool = None
_blas = None


def _blas_controllers():
    """threadpoolctl's handles on the loaded BLAS libraries (found once: the search takes ms)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas


def run_in_threads(fn, shares):
    """fn(share) for every share, in parallel: the first on this thread, the rest on a pool of
    worker threads, with BLAS on one thread per call meanwhile (restored afterwards).

    fn must do its heavy work outside the GIL (NumPy's BLAS and copies, Numba kernels compiled
    with nogil=True) and write only to memory no other share writes. Returns fn's results in
    the order of shares; an exception in any share is raised here."""
    global _pool
    if len(shares) == 1:
        return [fn(shares[0])]
    from concurrent.futures import ThreadPoolExecutor

    if _pool is None or _pool._max_workers < len(shares) - 1:
        _pool = ThreadPoolExecutor(max_workers=len(shares) - 1, thread_name_prefix="nanogen")
    blas = [(c, c.num_threads) for c in _blas_controllers()]
    for c, _ in blas:
        c.set_num_threads(1)
    try:
        futures = [_pool.submit(fn, share) for share in shares[1:]]
        first = fn(shares[0])
        return [first] + [f.result() for f in futures]
    finally:
        for c, n in blas:
            c.set_num_threads(n)
