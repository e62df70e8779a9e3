"""First-order speed of nanogen at two (or more) git revisions: did a change slow training down?

Each revision's nanogen/ is exported from git (`git archive REV nanogen`) into a temporary
folder, removed afterwards. A worker process (the protocol of benchmarks/common.py) puts one of
those folders first on sys.path and times the same workloads, built by this checkout's benchmark
scripts, so only the library differs between the two sides:
    mlp   the MLP step of bench_mlp.py: 784-400-20-400-784, batch 128, forward+backward
    vae   VAE training steps as bench_vae.py's nanogen worker runs them (MNIST, Adam 1e-3, batch
          128, freed memory kept unless --malloc default), `--vae-batches` batches per timed call
    conv  conv2d / conv_transpose2d forward+backward for each shape of bench_conv.py's CASES
Workers alternate base and head (a, b, then b, a), one process per revision and workload group.
Each row reports both sides' median ms [min-max over rounds], head / base as the median of the
per-round ratios [min-max], and a verdict against --max-regression.

Before timing, one untimed worker per revision and workload group checks that the revisions
compute the same numbers; it also compiles the exported tree's Numba kernels (cache=True writes
them into the tree's __pycache__), so no timed call pays for compilation.

    python benchmarks/compare_revisions.py --base e9f8fda --head b98cbc9 --rounds 6 --threads 1
    python benchmarks/compare_revisions.py --base e9f8fda --head b98cbc9,main   # two heads, one base
    python benchmarks/compare_revisions.py --base e9f8fda --head main --workloads mlp --rounds 1 --repeat 2
"""

import argparse
import importlib.util
import io
import itertools
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import common  # noqa: E402

WORKLOADS = ("mlp", "vae", "conv")
REPEAT = {"mlp": 50, "vae": 10, "conv": 5}  # timed calls per workload when --repeat is not given
WARMUP = {"mlp": 5, "vae": 2, "conv": 2}


# ---------------------------------------------------------------------------------------------
# Inside a worker: one revision's nanogen, one workload group
# ---------------------------------------------------------------------------------------------


def import_nanogen(tree):
    """Import nanogen from `tree` (an exported revision), ahead of this checkout's and the venv's."""
    sys.path.insert(0, tree)
    import nanogen

    where = os.path.dirname(os.path.abspath(nanogen.__file__))
    assert where == os.path.join(tree, "nanogen"), f"imported nanogen from {where}, not from {tree}"
    return nanogen


def keep_freed_memory():
    """nanogen.memory.keep_freed_memory() of this checkout, loaded from its file: older revisions
    have no nanogen.memory, and both sides must run under the same allocator settings."""
    spec = importlib.util.spec_from_file_location("_nanogen_memory", os.path.join(ROOT, "nanogen", "memory.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # ctypes and mallopt only: it imports nothing of nanogen
    return module.keep_freed_memory()


def mlp_workload():
    """name -> step, and the numbers to compare across revisions (loss and gradients)."""
    import numpy as np

    import bench_mlp
    import nanogen as ng

    rng = np.random.default_rng(0)
    x = rng.random((bench_mlp.N, 784), dtype=np.float32)
    ws, bs = bench_mlp.make_params(rng)
    params = [ng.Tensor(a, requires_grad=True) for a in ws + bs]
    tx = ng.Tensor(x)

    def step():
        for p in params:
            p.grad = None
        return bench_mlp.nanogen_step(tx, params[: len(ws)], params[len(ws) :])

    loss = float(step().data)
    want = float(bench_mlp.numpy_step(x, ws, bs)[0])
    assert abs(loss - want) < 1e-3 * abs(want), ("MLP loss differs from the NumPy formula", loss, want)
    return {"MLP step": step}, {"loss": np.float64(loss), **{f"grad{i}": p.grad for i, p in enumerate(params)}}


def vae_workload(args):
    """Each call trains the next --vae-batches batches of epoch 0's permutation (wrapping around)."""
    import numpy as np

    import bench_vae

    if args.malloc == "train":
        keep_freed_memory()
    x, xt = bench_vae.load_data()
    order = bench_vae.batch_orders(len(x), 1, args.seed)[0]
    epoch, test_neg_elbo = bench_vae.run_nanogen(args, x, xt, [order])
    size = 128 * args.vae_batches
    chunks = itertools.cycle([order[i : i + size] for i in range(0, len(order) - size + 1, size)])
    step = lambda: epoch(next(chunks))  # noqa: E731
    name = f"VAE {args.vae_batches} training steps"
    if not args.check:
        return {name: step}, {}
    step()
    return {name: step}, {"test_neg_elbo": np.float64(test_neg_elbo())}  # after one call's training


def conv_workload():
    import bench_conv

    steps = bench_conv.nanogen_steps()
    numbers = {f"{i}_{k}": g for i, s in enumerate(steps.values()) for k, g in enumerate(s()) if g is not None}
    return steps, numbers


def worker(args):
    import numpy as np

    tree = os.path.join(args.trees, args.worker)
    nanogen = import_nanogen(tree)
    if args.workload == "mlp":
        steps, numbers = mlp_workload()
    elif args.workload == "vae":
        steps, numbers = vae_workload(args)
    else:
        steps, numbers = conv_workload()
    if args.check:  # untimed: the numbers to compare, and the Numba kernels compiled into the tree's cache
        np.savez(args.check, **numbers)
        return common.finish_worker({}, nanogen=nanogen.__file__)
    times = common.time_calls(steps, repeat=args.repeat, warmup=WARMUP[args.workload])
    common.finish_worker(times, nanogen=nanogen.__file__)


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def git(*argv):
    return subprocess.run(["git", "-C", ROOT, *argv], stdout=subprocess.PIPE, check=True, text=True).stdout.strip()


def export(rev, dest):
    """Write revision `rev`'s nanogen/ into dest/nanogen (git archive: no checkout, no worktree)."""
    tar = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", rev, "nanogen"], stdout=subprocess.PIPE,
                         check=True).stdout
    os.makedirs(dest)
    with tarfile.open(fileobj=io.BytesIO(tar)) as f:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12: refuse odd members
            f.extractall(dest, filter="data")
        else:
            f.extractall(dest)


def label(rev):
    """A revision as given ('main', 'b98cbc9'), made safe for a folder name."""
    return re.sub(r"[^\w.-]", "_", rev)


def check_same_numbers(names, workload, trees, args):
    """One untimed worker per revision; every array of each head must match the base's."""
    import numpy as np

    got = {}
    for name in names:
        path = os.path.join(trees, f"check-{name}-{workload}.npz")
        t0 = time.perf_counter()
        common.spawn(__file__, name, [*worker_argv(workload, trees, args), "--check", path, "--repeat", 1],
                     args.threads)
        print(f"  check {workload} on {name}: {time.perf_counter() - t0:.0f} s (first import compiles its kernels)",
              file=sys.stderr, flush=True)
        got[name] = dict(np.load(path))
    base = names[0]
    for name in names[1:]:
        for key, a in got[base].items():
            b = got[name][key]
            assert np.allclose(b, a, rtol=1e-3, atol=1e-4 * max(np.abs(a).max(), 1e-30)), \
                f"{workload}: {name} and {base} compute different numbers ({key}): not a like-for-like comparison"


def worker_argv(workload, trees, args):
    return ["--trees", trees, "--workload", workload, "--vae-batches", args.vae_batches, "--seed", args.seed,
            "--malloc", args.malloc]


def verdict(rs, limit):
    """ok: median ratio within the limit; REGRESSION: every round over it; else over, but noisy."""
    if statistics.median(rs) <= 1 + limit:
        return "ok"
    return "REGRESSION" if min(rs) > 1 + limit else "over? (noisy: some rounds within)"


def main():
    parser = common.add_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]), rounds=6, repeat=None,
                             threads=1)
    parser._option_string_actions["--repeat"].help = ("timed calls per workload inside a worker (default: "
                                                      + ", ".join(f"{k} {v}" for k, v in REPEAT.items()) + ")")
    parser._option_string_actions["--threads"].help = ("BLAS / Numba threads, the same for every revision "
                                                       "(default 1: the steadiest on a shared machine)")
    parser.add_argument("--base", help="the revision before the change (e.g. e9f8fda)")
    parser.add_argument("--head", help="the revision(s) to compare with it, comma-separated (e.g. b98cbc9,main)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated of: "
                        + ", ".join(WORKLOADS) + " (default: all)")
    parser.add_argument("--max-regression", type=float, default=0.03,
                        help="the verdict's threshold: head / base above 1 + this is a regression (default 0.03)")
    parser.add_argument("--vae-batches", type=int, default=20, help="VAE training steps per timed call (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    common.add_malloc_arg(parser)
    parser.add_argument("--trees", help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    if not (args.base and args.head):
        parser.error("--base and --head are required")
    workloads = args.workloads.split(",")
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w!r}: choose from {', '.join(WORKLOADS)}")
    revs = [args.base, *args.head.split(",")]
    names = [label(r) for r in revs]
    if len(set(names)) != len(names):
        parser.error("the revisions must be distinct")
    described = {name: git("log", "-1", "--format=%h %ad %s", "--date=short", f"{rev}^{{commit}}")
                 for name, rev in zip(names, revs)}

    results = {}  # workload -> name -> list of worker results (one per round)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nanogen-revisions-") as trees:
        for name, rev in zip(names, revs):
            export(rev, os.path.join(trees, name))
        for w in workloads:
            print(f"{w}: same numbers on every revision?", file=sys.stderr, flush=True)
            check_same_numbers(names, w, trees, args)
        for w in workloads:
            wargs = argparse.Namespace(**{**vars(args), "repeat": args.repeat or REPEAT[w]})
            print(f"{w}: {args.rounds} rounds", file=sys.stderr, flush=True)
            results[w] = common.run_rounds(__file__, names, worker_argv(w, trees, args), wargs)
    elapsed = time.perf_counter() - t_start

    base, heads = names[0], names[1:]
    repeats = ", ".join(f"{w} {args.repeat or REPEAT[w]}" for w in workloads)
    print_args = argparse.Namespace(rounds=args.rounds, threads=args.threads, repeat=args.repeat)
    common.header(f"nanogen first-order speed by revision (benchmarks/compare_revisions.py), {args.threads} thread(s)",
                  print_args, results[workloads[0]],
                  timing=f"timed calls per workload after warm-up ({repeats}), median")
    for name in names:
        print(f"{'base' if name == base else 'head'} {name}: {described[name]}")
    if "vae" in workloads:
        print("vae: " + ("freed memory kept, as `nanogen train` does" if args.malloc == "train"
                         else "the C allocator's defaults") + f" on both sides; {args.vae_batches} steps per call")
    print(f"run time {elapsed / 60:.1f} min; load average at the end {os.getloadavg()[0]:.1f}\n")

    rows, flagged = [], []
    for w in workloads:
        res = results[w]
        for item in res[base][0]["times"]:
            row = [item] + [common.spread([r["times"][item] * 1e3 for r in res[n]]) for n in names]
            for h in heads:
                rs = common.ratios(res, h, base, item)
                row += [common.spread(rs, "{:.3f}") + "x", verdict(rs, args.max_regression)]
                if row[-1] != "ok":
                    flagged.append(f"{item} ({h})")
            rows.append(row)
    header = ["workload"] + [f"{n} ms" for n in names]
    for h in heads:
        header += [f"{h} / {base}", f"verdict (<= {1 + args.max_regression:.2f}x)"]
    common.table(rows, header)

    print()
    mem = [[w] + [common.spread([r["peak_mb"] for r in results[w][n]], "{:.0f}") for n in names] for w in workloads]
    common.table(mem, ["worker"] + [f"{n} peak MB (VmHWM)" for n in names])
    print("\n" + (f"over +{args.max_regression:.0%} against {base}: " + "; ".join(flagged) if flagged
                  else f"no workload slower than {base} by more than {args.max_regression:.0%} (median of rounds)"))


if __name__ == "__main__":
    main()
