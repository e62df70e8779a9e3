"""conv2d / conv_transpose2d forward+backward, batch 128, float32: nanogen vs PyTorch CPU vs nanogen
on its NumPy twin kernels, interleaved in one run; then each im2col/col2im pass vs a memcpy.

The shapes are the layers of the MNIST DCGAN/VAE in nanogen/models. Every input requires grad
(x, weight, bias), except the "x no grad" row: a network's first layer, whose input is data.
A convolution here is im2col + 3 GEMMs (forward, dL/dw, dL/dx) + col2im, so the floor is the
GEMM time of NumPy's BLAS; PyTorch (oneDNN) may use wider vector units than that BLAS does.
Run: python benchmarks/bench_conv.py [--rounds 7] [--threads 1]
(--threads T sets BLAS, Numba and torch threads alike: 1 gives a steadier per-core comparison
when other jobs share the machine.)
"""

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rounds", type=int, default=7)
parser.add_argument("--threads", type=int, default=None, help="BLAS/Numba/torch threads (default: all cores)")
ARGS = parser.parse_args() if __name__ == "__main__" else parser.parse_args([])
if ARGS.threads:  # before numpy and numba are imported: both read these once
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["NUMBA_NUM_THREADS"] = str(ARGS.threads)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from common import interleaved, machine_line, table, try_torch  # noqa: E402

import nanogen.kernels.conv as kconv  # noqa: E402
from nanogen.ops.conv import conv2d, conv_transpose2d  # noqa: E402
from nanogen.tensor import Tensor  # noqa: E402

N = 128
# name, transposed?, x shape, weight shape, stride, padding, x requires grad
CASES = [
    ("conv2d 64->128 14x14 k4 s2 p1", False, (N, 64, 14, 14), (128, 64, 4, 4), 2, 1, True),
    ("conv2d 1->16 28x28 k3 p1", False, (N, 1, 28, 28), (16, 1, 3, 3), 1, 1, True),
    ("conv2d 1->16 28x28 k3 p1, x no grad", False, (N, 1, 28, 28), (16, 1, 3, 3), 1, 1, False),
    ("conv2d 16->32 14x14 k3 p1", False, (N, 16, 14, 14), (32, 16, 3, 3), 1, 1, True),
    ("conv_t2d 128->64 7x7 k4 s2 p1", True, (N, 128, 7, 7), (128, 64, 4, 4), 2, 1, True),
    ("conv_t2d 64->1 14x14 k4 s2 p1", True, (N, 64, 14, 14), (64, 1, 4, 4), 2, 1, True),
]


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return ", ".join(f"{i['internal_api']} {i.get('architecture', '?')} x{i['num_threads']}" for i in threadpool_info()
                     if i["user_api"] == "blas")


def make_case(rng, transposed, xs, ws):
    x = rng.standard_normal(xs, dtype=np.float32)
    w = (rng.standard_normal(ws, dtype=np.float32) * 0.05).astype(np.float32)
    b = rng.standard_normal(ws[1] if transposed else ws[0], dtype=np.float32)
    return x, w, b


def nanogen_step(transposed, x, w, b, grad, stride, padding):
    for t in (x, w, b):
        t.grad = None
    op = conv_transpose2d if transposed else conv2d
    y = op(x, w, b, stride=stride, padding=padding)
    y.backward(grad)
    return y


KERNELS = ("im2col", "col2im", "conv2d_direct", "conv2d_direct_weight_grad")


class numpy_twins:
    """Context manager: run the ops on the NumPy reference kernels (as NANOGEN_KERNELS=numpy)."""

    def __enter__(self):
        self.saved = {name: getattr(kconv, name) for name in KERNELS}
        for name in KERNELS:
            setattr(kconv, name, getattr(kconv, f"{name}_reference"))

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(kconv, name, fn)


def page_faults(fn, steps=3):
    """Minor page faults per call of fn (Linux/macOS; 0 where getrusage is missing)."""
    try:
        import resource
    except ImportError:
        return 0
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // steps


def bench_ops(rounds, torch):
    rng = np.random.default_rng(0)
    rows = []
    for name, transposed, xs, ws, stride, padding, x_grad in CASES:
        x, w, b = make_case(rng, transposed, xs, ws)
        tx, tw, tb = Tensor(x, requires_grad=x_grad), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        op = conv_transpose2d if transposed else conv2d
        y = op(tx, tw, tb, stride=stride, padding=padding)
        grad = rng.standard_normal(y.shape, dtype=np.float32)

        def run_nanogen():
            nanogen_step(transposed, tx, tw, tb, grad, stride, padding)

        def run_twins():
            with numpy_twins():
                nanogen_step(transposed, tx, tw, tb, grad, stride, padding)

        fns = {"nanogen": run_nanogen, "twins": run_twins}
        if torch is not None:
            px = torch.tensor(x, requires_grad=x_grad)
            pw, pb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
            pg = torch.tensor(grad)
            top = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d

            def run_torch():
                for t in (px, pw, pb):
                    t.grad = None
                top(px, pw, pb, stride=stride, padding=padding).backward(pg)

            fns["torch"] = run_torch
            # same numbers first: the comparison is only fair if both sides compute the same thing
            run_nanogen()
            run_torch()
            for a, p in ((tx, px), (tw, pw), (tb, pb)):
                if a.grad is not None:
                    scale = np.abs(p.grad.numpy()).max()
                    assert np.allclose(a.grad, p.grad.numpy(), rtol=1e-3, atol=1e-4 * scale), name
        times = interleaved(fns, rounds=rounds, repeat=3, warmup=2)
        tt = times.get("torch")
        rows.append([name, f"{times['nanogen'] * 1e3:.2f}", f"{tt * 1e3:.2f}" if tt else "-",
                     f"{times['twins'] * 1e3:.2f}", f"{times['nanogen'] / tt:.2f}x" if tt else "-",
                     f"{page_faults(run_nanogen)}"])
    table(rows, ["fwd+bwd, float32, batch 128", "nanogen ms", "torch ms", "numpy-twin ms", "nanogen/torch",
                 "page faults/step"])
    print("(page faults: fresh memory the OS hands back per nanogen step; each costs ~1 us. glibc returns freed\n"
          " blocks over ~32 MB to the OS; MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_MMAP_THRESHOLD_=33554432 keep them)")


def bench_passes(rounds):
    """Each im2col / col2im pass of the cases above vs np.copyto of a buffer of the same size."""
    rng = np.random.default_rng(1)
    rows = []
    for name, transposed, xs, ws, stride, padding, _ in CASES:
        if "no grad" in name:
            continue
        KH, KW = ws[2:]
        s, p, d = (stride, stride), (padding, padding), (1, 1)
        if transposed:  # forward: col2im onto the output; backward: im2col of the output grad
            OH = (xs[2] - 1) * stride - 2 * padding + KH
            OW = (xs[3] - 1) * stride - 2 * padding + KW
            big = (xs[0], ws[1], OH, OW)
            passes = [("col2im (fwd)", "col2im", big, xs[2:]), ("im2col (bwd)", "im2col", big, xs[2:])]
        else:
            OH = kconv.conv_output_size(xs[2], KH, stride, padding, 1)
            OW = kconv.conv_output_size(xs[3], KW, stride, padding, 1)
            passes = [("im2col (fwd)", "im2col", xs, (OH, OW)), ("col2im (bwd dx)", "col2im", xs, (OH, OW))]
        for label, kind, img_shape, (oh, ow) in passes:
            img = rng.standard_normal(img_shape, dtype=np.float32)
            cols = kconv.im2col(img, KH, KW, s, p, d, oh, ow)
            buf = np.empty_like(cols)
            if kind == "im2col":
                fns = {"kernel": lambda: kconv.im2col(img, KH, KW, s, p, d, oh, ow),
                       "twin": lambda: kconv.im2col_reference(img, KH, KW, s, p, d, oh, ow)}
            else:
                fns = {"kernel": lambda: kconv.col2im(cols, img_shape, KH, KW, s, p, d, oh, ow),
                       "twin": lambda: kconv.col2im_reference(cols, img_shape, KH, KW, s, p, d, oh, ow)}
            fns["memcpy"] = lambda: np.copyto(buf, cols)
            t = interleaved(fns, rounds=rounds, repeat=5, warmup=2)
            rows.append([f"{name}: {label}", f"{cols.nbytes / 1e6:.1f}", f"{t['kernel'] * 1e3:.2f}",
                         f"{t['memcpy'] * 1e3:.2f}", f"{t['kernel'] / t['memcpy']:.1f}x", f"{t['twin'] * 1e3:.2f}"])
    table(rows, ["pass", "cols MB", "kernel ms", "memcpy ms", "kernel/memcpy", "numpy twin ms"])


def main():
    args = ARGS
    import numba

    threads = numba.get_num_threads()
    torch = try_torch(threads)
    print(f"conv forward+backward, float32 ({machine_line()}); numba threads {threads}; "
          f"BLAS: {blas_threads()}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if torch is None:
        print("torch not installed: timing nanogen and its NumPy twins only")
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print()
    t0 = time.perf_counter()
    bench_ops(args.rounds, torch)
    print()
    bench_passes(args.rounds)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
