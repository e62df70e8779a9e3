"""Pooling, batch norm, upsampling and Adam: nanogen (Numba kernels) vs PyTorch CPU vs nanogen on
its NumPy twin kernels, float32, forward+backward, each in its own process, alternating rounds
(the protocol of benchmarks/common.py).

    max_pool2d 2x2        (128, 16, 28, 28)     target <= 0.5x torch (torch's CPU max-pool is slow)
    batch_norm (train)    (128, 64, 14, 14)     target <= 1.25x torch
    nearest upsample x2   (128, 64, 14, 14)     target <= 1.25x torch
    Adam step             1M parameters         target <= 1.0x torch.optim.Adam (foreach default)
Then the fused activation-backward and dropout kernels against the NumPy expressions they
replace, at (128, 400) and (128, 64, 14, 14) (the numbers quoted in kernels/elementwise.py).
The same thread count is given to Numba and torch. Run: python benchmarks/bench_kernels.py [--rounds 5]
"""

import argparse
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import numpy as np  # noqa: E402

import nanogen.kernels.elementwise as kel  # noqa: E402
import nanogen.kernels.norm as knorm  # noqa: E402
import nanogen.kernels.optim as kopt  # noqa: E402
import nanogen.kernels.pool as kpool  # noqa: E402
import nanogen.kernels.resample as kres  # noqa: E402
from nanogen.kernels import USE_NUMBA  # noqa: E402
from nanogen.ops.norm import batch_norm  # noqa: E402
from nanogen.ops.pool import interpolate, max_pool2d  # noqa: E402
from nanogen.tensor import Tensor  # noqa: E402


@contextlib.contextmanager
def numpy_twins(*modules):
    """Swap every picked kernel of `modules` for its NumPy twin, as NANOGEN_KERNELS=numpy would."""
    saved = []
    for m in modules:
        for name in dir(m):
            if name.endswith("_reference") and hasattr(m, name[: -len("_reference")]):
                picked = name[: -len("_reference")]
                saved.append((m, picked, getattr(m, picked)))
                setattr(m, picked, getattr(m, name))
    try:
        yield
    finally:
        for m, picked, fn in saved:
            setattr(m, picked, fn)


def on_twins(fn, *modules):
    def run():
        with numpy_twins(*modules):
            return fn()
    return run


# ------------------------------------------------------------------------- the four targets


def pool_case(rng, torch):
    x = rng.standard_normal((128, 16, 28, 28), dtype=np.float32)
    g = rng.standard_normal((128, 16, 14, 14), dtype=np.float32)
    xt = Tensor(x, requires_grad=True)

    def ng_pool():
        xt.grad = None
        max_pool2d(xt, 2).backward(g)

    impls = {"nanogen": ng_pool, "numpy twin": on_twins(ng_pool, kpool)}
    if torch is not None:
        tx, tg = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)

        def torch_pool():
            tx.grad = None
            torch.nn.functional.max_pool2d(tx, 2).backward(tg)

        impls["torch"] = torch_pool
    return impls


def batch_norm_case(rng, torch):
    x = rng.standard_normal((128, 64, 14, 14), dtype=np.float32)
    g = rng.standard_normal((128, 64, 14, 14), dtype=np.float32)
    w, b = rng.standard_normal(64, dtype=np.float32), rng.standard_normal(64, dtype=np.float32)
    rm, rv = np.zeros(64, np.float32), np.ones(64, np.float32)
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))

    def ng_bn():
        xt.grad = wt.grad = bt.grad = None
        batch_norm(xt, rm, rv, wt, bt, training=True).backward(g)

    impls = {"nanogen": ng_bn, "numpy twin": on_twins(ng_bn, knorm)}
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
        trm, trv, tg = torch.zeros(64), torch.ones(64), torch.from_numpy(g)

        def torch_bn():
            tx.grad = tw.grad = tb.grad = None
            torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=True).backward(tg)

        impls["torch"] = torch_bn
    return impls


def upsample_case(rng, torch):
    x = rng.standard_normal((128, 64, 14, 14), dtype=np.float32)
    g = rng.standard_normal((128, 64, 28, 28), dtype=np.float32)
    xt = Tensor(x, requires_grad=True)

    def ng_up():
        xt.grad = None
        interpolate(xt, 2, "nearest").backward(g)

    impls = {"nanogen": ng_up, "numpy twin": on_twins(ng_up, kres)}
    if torch is not None:
        tx, tg = torch.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(g)

        def torch_up():
            tx.grad = None
            torch.nn.functional.interpolate(tx, scale_factor=2, mode="nearest").backward(tg)

        impls["torch"] = torch_up
    return impls


def adam_case(rng, torch):
    n = 1_000_000
    p, grad = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)

    def adam(step):
        q, m, v, t = p.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32), [0]

        def run():
            t[0] += 1
            step(q, grad, m, v, t[0], 1e-3, 0.9, 0.999, 1e-8, 0.0, False)

        return run

    impls = {"nanogen": adam(kopt.adam_step_), "numpy twin": adam(kopt.adam_step_reference_)}
    if torch is not None:
        tp = torch.nn.Parameter(torch.from_numpy(p.copy()))
        tp.grad = torch.from_numpy(grad)
        impls["torch"] = torch.optim.Adam([tp], lr=1e-3).step  # foreach=None: the default path
    return impls


CASES = [  # name, target ratio nanogen/torch, builder
    ("max_pool2d 2x2 (128,16,28,28)", 0.5, pool_case),
    ("batch_norm train (128,64,14,14)", 1.25, batch_norm_case),
    ("nearest upsample x2 (128,64,14,14)", 1.25, upsample_case),
    ("Adam step, 1M params", 1.0, adam_case),
]


# ------------------------------------------------------------------------- the fused elementwise kernels


def elementwise_cases(rng):
    cases = {}
    for shape in [(128, 400), (128, 64, 14, 14)]:
        g = rng.standard_normal(shape, dtype=np.float32)
        y = rng.standard_normal(shape, dtype=np.float32)
        s = rng.random(shape, dtype=np.float32)
        u = rng.random(shape, dtype=np.float32)
        for name, args in [("relu_backward", (g, y)), ("leaky_relu_backward", (g, y, 0.2)),
                           ("elu_backward", (g, y, 1.0)), ("sigmoid_backward", (g, s)),
                           ("tanh_backward", (g, y)), ("dropout_forward", (g, u, 0.3)),
                           ("leaky_relu_forward", (g, 0.2))]:
            fast, ref = getattr(kel, name + "_numba"), getattr(kel, name + "_reference")
            cases[f"{name} {shape}"] = {"numba": lambda f=fast, a=args: f(*a), "numpy": lambda f=ref, a=args: f(*a)}
    return cases


def worker(args):
    rng = np.random.default_rng(0)
    times = {}
    if args.worker == "elementwise":
        for name, impls in elementwise_cases(rng).items():
            t = common.time_calls(impls, repeat=args.repeat)
            times.update({f"{name} {k}": v for k, v in t.items()})
        return common.finish_worker(times)
    torch = common.torch_threads(args.threads) if args.worker == "torch" else None
    key = {"torch": "torch", "nanogen": "nanogen", "numpy-twins": "numpy twin"}[args.worker]
    fns = {name: build(rng, torch)[key] for name, _, build in CASES}
    common.finish_worker(common.time_calls(fns, repeat=args.repeat))


def main():
    parser = common.add_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]), rounds=5, repeat=5)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if not USE_NUMBA:
        print("# NANOGEN_KERNELS=numpy or numba missing: 'nanogen' below runs the NumPy twins too")
    fws = ["nanogen"] + (["torch"] if common.have_torch() else []) + ["numpy-twins"]
    results = common.run_rounds(__file__, fws, [], args)
    common.header("pooling, batch norm, upsampling, Adam: forward+backward (Adam: one step), float32 "
                  "(benchmarks/bench_kernels.py)", args, results)
    common.comparison_table(results, [name for name, _, _ in CASES])
    if "torch" in results:
        print("\ntargets (nanogen / torch): " + ", ".join(f"{name} <= {target}x" for name, target, _ in CASES))
    el = common.run_rounds(__file__, ["elementwise"], [], args)["elementwise"]
    rows = []
    for name in elementwise_cases(np.random.default_rng(0)):
        numba_t = [r["times"][f"{name} numba"] for r in el]
        numpy_t = [r["times"][f"{name} numpy"] for r in el]
        rows.append([name, common.spread([t * 1e3 for t in numba_t], "{:.3f}"),
                     common.spread([t * 1e3 for t in numpy_t], "{:.3f}"),
                     common.spread([b / a for a, b in zip(numba_t, numpy_t)], "{:.1f}") + "x"])
    print("\nfused elementwise kernels vs the NumPy expression, ms, one worker process per round")
    common.table(rows, ["kernel, shape", "numba", "numpy", "speed-up"])


if __name__ == "__main__":
    main()
