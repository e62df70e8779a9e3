"""Would another BLAS make nanogen fast enough? The float32 GEMMs of the MLP step and of the
DCGAN's conv2d 64->128 layer, timed on NumPy's BLAS (what nanogen uses), on PyTorch's torch.mm
(MKL, bundled in torch), and, when you point the script at them, on Intel's MKL called directly
(the `mkl` wheel, through ctypes) and on BLIS (the `blis` wheel). Each library runs in its own
process, alternating rounds (the protocol of benchmarks/common.py); every worker first checks its
products against float64 ones.

    python benchmarks/bench_blas.py [--rounds 5] [--threads 2]

MKL and BLIS are not nanogen dependencies and are not installed for this: unpack their wheels
into a scratch folder and name it (MKL's threaded layer needs Intel's OpenMP, hence intel-openmp):

    python -m pip download --no-deps --only-binary=:all: mkl intel-openmp blis -d /tmp/blas
    (cd /tmp/blas && for w in *.whl; do unzip -qo "$w" -d unpacked; done)
    python benchmarks/bench_blas.py --libs /tmp/blas/unpacked

The ratios are each library's time over NumPy's: below 1 is faster than what nanogen has now.
"""

import argparse
import ctypes
import glob
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# (name, M, K, N): C (M, N) = A (M, K) @ B (K, N), all C-contiguous float32
SHAPES = [
    ("MLP 128x784 @ 784x400", 128, 784, 400),     # the first layer's forward, the last one's input gradient
    ("MLP 400x128 @ 128x784", 400, 128, 784),     # the first layer's weight gradient
    ("MLP 128x400 @ 400x784", 128, 400, 784),     # the last layer's forward
    ("MLP 784x128 @ 128x400", 784, 128, 400),     # the last layer's weight gradient
    ("conv 128x1024 @ 1024x6272", 128, 1024, 6272),  # conv2d 64->128 k4 s2: the forward over the batch
    ("conv 128x6272 @ 6272x1024", 128, 6272, 1024),  # its weight gradient
    ("conv 1024x128 @ 128x6272", 1024, 128, 6272),   # its column gradient (then col2im)
]


def find(folder, pattern):
    hits = sorted(glob.glob(os.path.join(folder, "**", pattern), recursive=True))
    return hits[0] if hits else None


def mkl_gemm(folder, threads):
    """(gemm, path): C = A @ B through MKL's cblas_sgemm (libmkl_rt at path, under `folder`), MKL's
    own threads."""
    os.environ["MKL_NUM_THREADS"] = str(threads)
    os.environ["MKL_THREADING_LAYER"] = "SEQUENTIAL" if threads == 1 else "INTEL"
    if threads > 1:  # libmkl_rt loads its threading layer lazily; Intel's OpenMP must be found first
        iomp = find(folder, "libiomp5.so")
        if iomp is None:
            raise SystemExit(f"mkl: no libiomp5.so under {folder}: unpack the intel-openmp wheel there too, "
                             "or run with --threads 1")
        ctypes.CDLL(iomp, mode=ctypes.RTLD_GLOBAL)
    path = find(folder, "libmkl_rt.so*")
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    sgemm = lib.cblas_sgemm
    sgemm.restype = None
    sgemm.argtypes = ([ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                             ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int])
    row_major, no_trans = 101, 111

    def gemm(a, b, out):
        (m, k), n = a.shape, b.shape[1]
        sgemm(row_major, no_trans, no_trans, m, n, k, 1.0, a.ctypes.data, k, b.ctypes.data, n, 0.0,
              out.ctypes.data, n)
    return gemm, path


def library(name, args):
    """gemm(a, b, out) for the worker's library, and a line that says what it is."""
    if name == "numpy":
        return (lambda a, b, out: np.matmul(a, b, out=out)), common.blas_report()
    if name == "torch":
        torch = common.torch_threads(args.threads)

        def gemm(a, b, out):
            torch.mm(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))
        return gemm, f"torch {torch.__version__} torch.mm, MKL {torch.backends.mkl.is_available()}, x{args.threads}"
    if name == "mkl":
        gemm, path = mkl_gemm(args.libs, args.threads)
        return gemm, f"MKL (cblas_sgemm) from {path}, x{args.threads}"
    if name == "blis":
        os.environ["BLIS_NUM_THREADS"] = str(args.threads)  # read when BLIS initializes
        sys.path.insert(0, args.libs)
        import blis.about
        import blis.py

        return (lambda a, b, out: blis.py.gemm(a, b, out=out, beta=0.0)), \
            f"blis {blis.about.__version__}, BLIS_NUM_THREADS={args.threads}"
    raise ValueError(name)


def worker(args):
    gemm, what = library(args.worker, args)
    rng = np.random.default_rng(0)
    fns = {}
    for name, m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out = np.empty((m, n), np.float32)
        gemm(a, b, out)
        want = a.astype(np.float64) @ b.astype(np.float64)
        if not np.allclose(out, want, rtol=1e-3, atol=1e-3 * np.sqrt(k)):
            raise SystemExit(f"{args.worker}: {name} differs from the float64 product")
        reps = max(1, int(4e8 / (2 * m * k * n)))  # about 0.4 GFLOP per timed call

        def run(a=a, b=b, out=out, reps=reps):
            for _ in range(reps):
                gemm(a, b, out)
        fns[name] = (run, reps)
    times = common.time_calls({name: fn for name, (fn, _) in fns.items()}, repeat=args.repeat, warmup=3)
    common.finish_worker({name: t / fns[name][1] for name, t in times.items()}, library=what)


def main():
    p = common.add_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), rounds=5, repeat=9)
    p.add_argument("--libs", help="folder with the unpacked mkl / intel-openmp / blis wheels (see the docstring)")
    args = p.parse_args()
    if args.worker:
        return worker(args)
    fws = ["numpy"] + (["torch"] if common.have_torch() else [])
    if args.libs:
        found = [n for n, pattern in (("mkl", "libmkl_rt.so*"), ("blis", "blis/py*.so")) if find(args.libs, pattern)]
        if not found:
            p.error(f"--libs {args.libs}: no libmkl_rt.so* or blis/py*.so under it (see the docstring)")
        fws += found
    argv = ["--libs", args.libs] if args.libs else []
    results = common.run_rounds(__file__, fws, argv, args)
    common.header("float32 GEMMs of the MLP step and of conv2d 64->128 on each BLAS", args, results)
    for fw in fws:
        print(f"{fw} worker: {results[fw][0]['library']}")
    print("\ntime per product (each library / numpy: below 1 is faster than nanogen's BLAS now):\n")
    common.comparison_table(results, [s[0] for s in SHAPES], base="numpy", unit=1e6, unit_name="us")
    print("\nGFLOP/s (median over rounds):\n")
    rows = [[name] + [f"{2 * m * k * n / statistics.median(r['times'][name] for r in results[fw]) / 1e9:.0f}"
                      for fw in fws] for name, m, k, n in SHAPES]
    common.table(rows, ["product"] + fws)


if __name__ == "__main__":
    main()
