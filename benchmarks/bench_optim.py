"""One optimizer step over the parameters of the MLP 784-400-20-400-784 (about 650k float32
numbers, 8 tensors): nanogen's SGD with momentum and Adam (fused kernels, and their NumPy twins)
vs torch.optim (single-tensor and foreach), interleaved in one run.

An optimizer step is pure memory traffic (a few reads and writes per number), so the fused
kernel's job is to touch each array once instead of once per NumPy temporary.
Run: python benchmarks/bench_optim.py
"""

import numpy as np
from common import interleaved, machine_line, table, try_torch

import nanogen as ng
from nanogen import optim
from nanogen.optim import adam as adam_module
from nanogen.optim import sgd as sgd_module

SIZES = [784, 400, 20, 400, 784]


def shapes():
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        yield (o, i)
        yield (o,)


def nanogen_case(make, rng, module=None, name=None, twin=None):
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


def main():
    rng = np.random.default_rng(0)
    torch = try_torch()
    n = sum(int(np.prod(s)) for s in shapes())
    rows = []
    families = [
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
    for label, make, module, name, twin, torch_make in families:
        fns = {"nanogen": nanogen_case(make, rng),
               "nanogen (NumPy twin)": nanogen_case(make, rng, module, name, twin)}
        if torch is not None:
            fns["torch"] = torch_case(torch, torch_make(torch), rng, foreach=False)
            fns["torch foreach"] = torch_case(torch, torch_make(torch), rng, foreach=True)
        times = interleaved(fns, rounds=7, repeat=10)
        base = times["nanogen"]
        for k, t in times.items():
            rows.append([label, k, f"{t * 1e3:.2f}", f"{t / base:.2f}"])
    print(f"optimizer step over {n:,} float32 parameters in 8 tensors; {machine_line()}")
    table(rows, ["optimizer", "implementation", "ms / step", "time vs nanogen"])


if __name__ == "__main__":
    main()
