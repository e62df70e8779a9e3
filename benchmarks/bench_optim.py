"""One optimizer step over the parameters of the MLP 784-400-20-400-784 (about 650k float32
numbers, 8 tensors): nanogen's SGD with momentum and Adam (fused kernels, and their NumPy twins)
vs torch.optim (single-tensor and foreach), each in its own process, alternating rounds (the
protocol of benchmarks/common.py).

An optimizer step is pure memory traffic (a few reads and writes per number), so the fused
kernel's job is to touch each array once instead of once per NumPy temporary.
Run: python benchmarks/bench_optim.py [--rounds 5] [--threads 2]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SIZES = [784, 400, 20, 400, 784]


def shapes():
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        yield (o, i)
        yield (o,)


def nanogen_case(make, rng, module=None, name=None, twin=None):
    import nanogen as ng

    params = [ng.Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes()]
    for p in params:
        p.grad = rng.standard_normal(p.shape).astype(np.float32)
    opt = make(params)
    if twin is None:
        return opt.step

    def step():  # the same step with the NumPy twin swapped in for the kernel
        fast = getattr(module, name)
        setattr(module, name, twin)
        try:
            opt.step()
        finally:
            setattr(module, name, fast)

    return step


def torch_case(torch, make, rng, foreach):
    params = [torch.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes()]
    for p in params:
        p.grad = torch.tensor(rng.standard_normal(p.shape).astype(np.float32))
    return make(params, foreach).step


def families():
    from nanogen import optim
    from nanogen.optim import adam as adam_module
    from nanogen.optim import sgd as sgd_module

    return [
        ("SGD momentum 0.9", lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=1e-4),
         sgd_module, "sgd_step_", sgd_module.sgd_step_reference_,
         lambda t: (lambda ps, fe: t.optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=1e-4, foreach=fe))),
        ("Adam", lambda ps: optim.Adam(ps, lr=1e-3, weight_decay=1e-4),
         adam_module, "adam_step_", adam_module.adam_step_reference_,
         lambda t: (lambda ps, fe: t.optim.Adam(ps, lr=1e-3, weight_decay=1e-4, foreach=fe))),
        ("AdamW", lambda ps: optim.AdamW(ps, lr=1e-3),
         adam_module, "adam_step_", adam_module.adam_step_reference_,
         lambda t: (lambda ps, fe: t.optim.AdamW(ps, lr=1e-3, foreach=fe))),
    ]


NAMES = ["SGD momentum 0.9", "Adam", "AdamW"]


def worker(args):
    rng = np.random.default_rng(0)
    fns = {}
    if args.worker.startswith("torch"):
        torch = common.torch_threads(args.threads)
        fe = args.worker == "torch-foreach"
        for label, torch_make in _torch_families(torch):
            fns[label] = torch_case(torch, torch_make, rng, foreach=fe)
    else:
        for label, make, module, name, twin, _ in families():
            fns[label] = nanogen_case(make, rng, module, name, twin) if args.worker == "numpy-twins" else \
                nanogen_case(make, rng)
    common.finish_worker(common.time_calls(fns, repeat=args.repeat, warmup=5))


def _torch_families(torch):
    return [
        ("SGD momentum 0.9", lambda ps, fe: torch.optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=1e-4, foreach=fe)),
        ("Adam", lambda ps, fe: torch.optim.Adam(ps, lr=1e-3, weight_decay=1e-4, foreach=fe)),
        ("AdamW", lambda ps, fe: torch.optim.AdamW(ps, lr=1e-3, foreach=fe)),
    ]


def main():
    parser = common.add_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]), rounds=5, repeat=20)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    n = sum(int(np.prod(s)) for s in shapes())
    fws = ["nanogen", "numpy-twins"] + (["torch", "torch-foreach"] if common.have_torch() else [])
    results = common.run_rounds(__file__, fws, [], args)
    common.header(f"optimizer step over {n:,} float32 parameters in 8 tensors (benchmarks/bench_optim.py)", args,
                  results)
    common.comparison_table(results, NAMES, base="torch-foreach" if "torch" in fws else None)


if __name__ == "__main__":
    main()
