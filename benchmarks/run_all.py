"""Run every benchmark in its quick default mode, one after the other (`make bench`).

Each script times nanogen against PyTorch CPU (when the optional `bench` extra is installed) and
the plain-NumPy twins, each framework in its own process, alternating rounds, and prints a table
of medians with their spread and the ratios (the protocol: benchmarks/common.py). The long runs
are flags of the individual scripts, e.g.
    python benchmarks/bench_vae.py --epochs 10
    python benchmarks/bench_conv_ae.py --epoch
    python benchmarks/bench_dcgan.py --epoch
    python benchmarks/bench_dcgan.py --epochs 5
    python benchmarks/bench_blas.py --libs /tmp/blas/unpacked   # with MKL and BLIS: see its docstring
    python benchmarks/compare_revisions.py --base e9f8fda --head b98cbc9,main --rounds 6 --threads 1
The last one is no framework comparison: it times nanogen's own first-order workloads (MLP step,
VAE steps, conv ops) at two git revisions, to tell whether a change slowed training down.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = [
    ["bench_mlp.py"],
    ["bench_kernels.py"],
    ["bench_conv.py"],
    ["bench_optim.py"],
    ["bench_blas.py"],
    ["bench_conv_ae.py"],
    ["bench_vae.py", "--epochs", "1"],
    ["bench_dcgan.py"],
    ["bench_style.py"],
]


def main():
    failed = []
    for argv in RUNS:
        print(f"\n=== python benchmarks/{' '.join(argv)}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, os.path.join(HERE, argv[0]), *argv[1:]], cwd=HERE)
        print(f"=== {argv[0]}: {time.perf_counter() - t0:.0f} s, exit {code}", flush=True)
        if code:
            failed.append(argv[0])
    if failed:
        sys.exit(f"benchmarks that failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
