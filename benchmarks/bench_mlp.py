"""MLP 784-400-20-400-784 forward+backward, batch 128, float32: nanogen vs hand-written NumPy vs
PyTorch CPU, interleaved in one run.

The hand-written NumPy version is the floor for this design (the same GEMMs with no graph);
the engine's overhead is the ratio to it. Run: python benchmarks/bench_mlp.py
"""

import numpy as np
from common import interleaved, machine_line, table, try_torch

import nanogen as ng
import nanogen.functional as F

SIZES = [784, 400, 20, 400, 784]
N = 128


def make_params(rng):
    ws, bs = [], []
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(i)
        ws.append(rng.uniform(-bound, bound, (o, i)).astype(np.float32))
        bs.append(rng.uniform(-bound, bound, o).astype(np.float32))
    return ws, bs


def nanogen_step(x, ws, bs):
    h = x
    for k, (w, b) in enumerate(zip(ws, bs)):
        h = F.linear(h, w, b)
        if k < len(ws) - 1:
            h = F.relu(h)
    loss = F.binary_cross_entropy_with_logits(h, x, reduction="sum")
    loss.backward()
    return loss


def numpy_step(x, ws, bs):
    """The same forward and backward written by hand: the floor for a NumPy design."""
    acts = [x]
    h = x
    for k, (w, b) in enumerate(zip(ws, bs)):
        h = h @ w.T + b
        if k < len(ws) - 1:
            h = np.maximum(h, 0)
        acts.append(h)
    z = h
    loss = np.sum(np.maximum(z, 0) - z * x + np.log1p(np.exp(-np.abs(z))))
    e = np.exp(-np.abs(z))
    g = np.where(z >= 0, 1, e) / (1 + e) - x  # dL/dz = sigmoid(z) - x
    grads = []
    for k in reversed(range(len(ws))):
        grads.append((g.T @ acts[k], g.sum(0)))
        if k > 0:
            g = (g @ ws[k]) * (acts[k] > 0)
    return loss, grads


def main():
    rng = np.random.default_rng(0)
    x = rng.random((N, 784), dtype=np.float32)
    ws, bs = make_params(rng)
    tw = [ng.Tensor(w, requires_grad=True) for w in ws]
    tb = [ng.Tensor(b, requires_grad=True) for b in bs]
    tx = ng.Tensor(x)

    def run_nanogen():
        for p in tw + tb:
            p.grad = None
        nanogen_step(tx, tw, tb)

    fns = {"numpy (hand-written)": lambda: numpy_step(x, ws, bs), "nanogen": run_nanogen}
    torch = try_torch()
    if torch is not None:
        pw = [torch.tensor(w, requires_grad=True) for w in ws]
        pb = [torch.tensor(b, requires_grad=True) for b in bs]
        px = torch.tensor(x)

        def run_torch():
            for p in pw + pb:
                p.grad = None
            h = px
            for k, (w, b) in enumerate(zip(pw, pb)):
                h = torch.nn.functional.linear(h, w, b)
                if k < len(pw) - 1:
                    h = torch.relu(h)
            torch.nn.functional.binary_cross_entropy_with_logits(h, px, reduction="sum").backward()

        fns["torch"] = run_torch
    # same numbers first: the comparison is only fair if all sides compute the same thing
    loss_ng = float(nanogen_step(tx, tw, tb).data)
    loss_np = float(numpy_step(x, ws, bs)[0])
    assert abs(loss_ng - loss_np) < 1e-3 * abs(loss_np), (loss_ng, loss_np)

    times = interleaved(fns, rounds=9, repeat=20)
    print(f"MLP 784-400-20-400-784, batch {N}, float32, forward+backward ({machine_line()})\n")
    rows = [[name, f"{t * 1e3:.3f}"] for name, t in times.items()]
    table(rows, ["implementation", "ms / step (median)"])
    print()
    print(f"nanogen / numpy: {times['nanogen'] / times['numpy (hand-written)']:.2f}x  (target <= 1.15x)")
    if "torch" in times:
        print(f"nanogen / torch: {times['nanogen'] / times['torch']:.2f}x  (target <= 1.0x)")
    else:
        print("torch not installed: `make bench` installs it (optional extra)")


if __name__ == "__main__":
    main()
