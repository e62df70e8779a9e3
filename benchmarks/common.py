"""The benchmark protocol, shared by every script in benchmarks/.

1. Each framework runs in its own process (a "worker": the same script run with --worker NAME).
   In one process, PyTorch's OpenMP threads keep spinning for a while after each op and slow
   whatever runs next (nanogen's conv2d 16->32 went from 7 ms to 16 ms interleaved with torch).
2. Alternating: `--rounds` rounds; each round starts one worker per framework, one after the
   other, in alternating order (a, b, then b, a). Slow spells of a shared machine then hit both.
3. Inside a worker, after warm-up calls, each workload is timed `repeat` times; the worker reports
   the median. The driver reports, per framework, the median over rounds and the spread
   (min-max over rounds), and each ratio as the median of the per-round ratios (a round's two
   workers ran next to each other in time) with its min-max.
4. BLAS: every worker reports its BLAS library, version, CPU kernel ("architecture") and
   threads through threadpoolctl; the driver prints them with the BLAS environment variables.
5. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the workers' environment, only for
   the benchmark's own runs (never in tests or CI), and the header says so when they were set:
   some machines set them for old OpenBLAS builds, and they force NumPy's current OpenBLAS onto
   slower kernels (Haswell instead of SkylakeX: half the float32 GEMM speed on AVX-512 CPUs)
   while PyTorch's oneDNN ignores them. A user's machine does not set them.
6. Threads: `--threads T` (default: all cores) for BLAS, Numba and torch alike, through the
   environment (OPENBLAS/OMP/MKL/NUMBA/NANOGEN_NUM_THREADS) and torch.set_num_threads.
7. Memory reuse: the model benchmarks (vae, dcgan, conv-ae) run nanogen's worker as
   `nanogen train` runs, with nanogen.memory.keep_freed_memory() (freed memory kept for the
   next step instead of page-faulting it back); `--malloc default` runs it with the C
   library's defaults instead. PyTorch's worker always runs with the defaults, as a user's
   script does. The kernel and MLP benchmarks time the library as imported (defaults).
8. Peak memory: the worker's peak resident set, VmHWM from /proc/self/status (Linux), which
   starts afresh at exec (ru_maxrss can carry the parent's peak across fork + exec); it covers
   the whole worker: interpreter, framework, data and every workload it ran.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REMOVED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# what `import nanogen` sets before NumPy loads OpenBLAS (nanogen/__init__.py), as in `nanogen train`.
# Set here, in the driver's environment: every worker inherits it (the workers import NumPy
# first), and a driver that imports this module before NumPy (bench_conv_ae, bench_kernels) loads
# OpenBLAS as nanogen would, so `import nanogen` has nothing to warn about
OPENBLAS_THREAD_TIMEOUT = "22"
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
              "NANOGEN_NUM_THREADS")
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(1, os.path.dirname(HERE))  # the nanogen beside benchmarks/


def add_args(parser, rounds=5, repeat=5, threads=None):
    """The protocol's command-line options, shared by every script."""
    parser.add_argument("--rounds", type=int, default=rounds, help="alternating rounds, one worker "
                        "process per framework each (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=repeat, help="timed calls per workload inside a worker "
                        "(default %(default)s)")
    parser.add_argument("--threads", type=int, default=threads or os.cpu_count() or 1,
                        help="BLAS / Numba / torch threads, the same for every framework (default: all cores)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def add_malloc_arg(parser):
    """--malloc train|default: the model benchmarks' nanogen worker runs as `nanogen train` does."""
    parser.add_argument("--malloc", choices=["train", "default"], default="train",
                        help="nanogen worker: 'train' keeps freed memory as `nanogen train` does (default), "
                             "'default' leaves the C allocator's settings alone")
    return parser


def nanogen_memory(args):
    """In a nanogen worker of a model benchmark: keep freed memory unless --malloc default."""
    if getattr(args, "malloc", "default") == "train":
        from nanogen.memory import keep_freed_memory

        keep_freed_memory()


# ---------------------------------------------------------------------------------------------
# Inside a worker
# ---------------------------------------------------------------------------------------------


def peak_memory_mb():
    """This process's peak resident memory in MB: VmHWM (Linux), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB -> MB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, kB on Linux


def blas_report():
    """'openblas 0.3.31 SkylakeX x2' for each BLAS loaded in this process (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture', '?')} x{i['num_threads']}"
                     for i in threadpool_info() if i["user_api"] == "blas") or "none loaded"
    torch = sys.modules.get("torch")
    if torch is not None:  # torch's convolutions and GEMMs do not go through NumPy's BLAS
        blas += (f"; torch {torch.__version__}: oneDNN {torch.backends.mkldnn.is_available()}, MKL "
                 f"{torch.backends.mkl.is_available()}, {torch.get_num_threads()} thread(s)")
    return blas


def torch_threads(threads):
    import torch

    torch.set_num_threads(threads)
    return torch


def time_calls(fns, repeat=5, warmup=2):
    """Time each callable of `fns` (name -> fn) `repeat` times, interleaved among themselves,
    after `warmup` calls each; name -> median seconds per call."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in samples.items()}


def finish_worker(times, **extra):
    """Print the worker's result (one JSON line, the last on stdout): times (name -> seconds),
    peak memory, BLAS, and anything else the script wants back."""
    import numpy as np

    print(json.dumps({"times": times, "peak_mb": peak_memory_mb(), "blas": blas_report(),
                      "numpy": np.__version__, **extra}))


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def worker_env(threads):
    env = dict(os.environ)
    for var in REMOVED_ENV:
        env.pop(var, None)
    for var in THREAD_ENV:
        env[var] = str(threads)
    return env


def spawn(script, framework, argv, threads):
    """Run `script --worker framework argv...` in a fresh process; its JSON result."""
    cmd = [sys.executable, os.path.abspath(script), "--worker", framework, "--threads", str(threads), *map(str, argv)]
    out = subprocess.run(cmd, env=worker_env(threads), stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_rounds(script, frameworks, argv, args):
    """`args.rounds` rounds of one worker per framework, alternating the order; framework -> list
    of results (one per round)."""
    results = {fw: [] for fw in frameworks}
    for r in range(args.rounds):
        order = frameworks if r % 2 == 0 else frameworks[::-1]
        for fw in order:
            print(f"  round {r + 1}/{args.rounds}: {fw}", file=sys.stderr, flush=True)
            results[fw].append(spawn(script, fw, [*argv, "--repeat", args.repeat], args.threads))
    return results


def spread(values, fmt="{:.2f}"):
    """'median [min-max]'."""
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def ratios(results, a, b, name):
    """Per-round ratios a/b of workload `name` (the two workers of a round ran back to back)."""
    return [ra["times"][name] / rb["times"][name] for ra, rb in zip(results[a], results[b])]


def comparison_table(results, names, base="torch", unit=1e3, unit_name="ms"):
    """Rows: workload, then per framework 'median [min-max]', then each framework / base."""
    fws = list(results)
    rows = []
    for name in names:
        row = [name]
        for fw in fws:
            row.append(spread([r["times"][name] * unit for r in results[fw]]))
        for fw in fws:
            if fw != base and base in results:
                row.append(spread(ratios(results, fw, base, name)) + "x")
        rows.append(row)
    header = ["workload"] + [f"{fw} {unit_name}" for fw in fws]
    header += [f"{fw} / {base}" for fw in fws if fw != base and base in results]
    table(rows, header)
    mem = [[fw, spread([r["peak_mb"] for r in results[fw]], "{:.0f}")] for fw in fws]
    print()
    table(mem, ["worker", "peak memory MB (VmHWM, whole process)"])


def header(title, args, results=None, timing=None):
    """The protocol lines every script prints: machine, load, threads, BLAS and its environment.
    timing: how a worker times (default: `args.repeat` timed calls per workload after warm-up)."""
    import numpy as np

    print(f"{title}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"python {platform.python_version()}; load average at start {os.getloadavg()[0]:.1f}")
    removed = [f"{v}={os.environ[v]}" for v in REMOVED_ENV if v in os.environ]
    timing = timing or f"{args.repeat} timed calls per workload after warm-up, median"
    print(f"protocol: each framework in its own process, {args.rounds} alternating rounds; in a worker: {timing}; "
          f"medians [min-max] over rounds; {args.threads} thread(s) for BLAS, Numba and torch")
    if hasattr(args, "malloc"):
        print("memory: nanogen's worker " + ("keeps freed memory as `nanogen train` does (keep_freed_memory)"
                                             if args.malloc == "train" else "uses the C allocator's defaults")
              + "; torch's worker uses the defaults")
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)
    print(f"BLAS environment of the workers: " + ", ".join(f"{v}={args.threads}" for v in THREAD_ENV)
          + f", OPENBLAS_THREAD_TIMEOUT={timeout} (as `import nanogen` sets it)"
          + (f"; removed for the benchmark's own runs only: {', '.join(removed)} (set in this shell)" if removed
             else f"; {' and '.join(REMOVED_ENV)} not set"))
    if results:
        for fw, rs in results.items():
            print(f"BLAS in the {fw} worker: {rs[0].get('blas')}")
    print()


def op_breakdown(run, n, extra=(), warmup=3):
    """Where nanogen's time goes: call run() `warmup` times (kernels loaded from Numba's cache,
    workspace buffers allocated), then n times with a timer around every op's forward and
    backward (the Function subclasses' staticmethods, wrapped for this call only) and around
    each (object, method name) of `extra` (an optimizer's step, say); print ms per call of
    run(), costliest first. Run it in a worker (see profile_in_worker): the timings are only
    worth reading with the workers' BLAS environment."""
    from collections import defaultdict

    from nanogen.autograd import Function

    for _ in range(warmup):
        run()
    spent = defaultdict(float)

    def timed(key, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t0
        return wrapper

    classes, todo = [], [Function]
    while todo:
        c = todo.pop()
        todo.extend(c.__subclasses__())
        classes.append(c)
    saved = [(c, name, c.__dict__[name]) for c in classes for name in ("forward", "backward") if name in c.__dict__]
    for c, name, _ in saved:
        setattr(c, name, staticmethod(timed(f"{c.__name__}.{name}", getattr(c, name))))
    for obj, name in extra:  # an instance attribute shadows the method until it is deleted
        setattr(obj, name, timed(f"{type(obj).__name__}.{name}", getattr(obj, name)))
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            run()
        total = time.perf_counter() - t0
    finally:
        for c, name, orig in saved:
            setattr(c, name, orig)
        for obj, name in extra:
            delattr(obj, name)
    rows = [[k, f"{v / n * 1e3:.2f}", f"{100 * v / total:.0f}%"]
            for k, v in sorted(spent.items(), key=lambda kv: -kv[1])]
    rest = total - sum(spent.values())
    rows.append(["(graph, Python, allocation: the rest)", f"{rest / n * 1e3:.2f}", f"{100 * rest / total:.0f}%"])
    print(f"\nnanogen, where one iteration's {total / n * 1e3:.1f} ms go ({n} iterations, timers around each op; "
          f"{os.environ.get('NANOGEN_NUM_THREADS', '?')} thread(s)):\n")
    table(rows, ["op", "ms / iteration", "share"])


def profile_in_worker(script, args, argv=()):
    """Run `script --worker profile` in a fresh process with the workers' environment (this
    driver kept the machine's BLAS variables, and its NumPy came before nanogen)."""
    cmd = [sys.executable, os.path.abspath(script), "--worker", "profile", "--threads", str(args.threads),
           *map(str, argv)]
    subprocess.run(cmd, env=worker_env(args.threads), check=True)


def table(rows, header):
    """Print rows (lists of str) as a Markdown table."""
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def have_torch():
    try:
        import importlib.util

        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def machine_line():
    import numpy as np

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}"
