"""MLP 784-400-20-400-784 forward+backward, batch 128, float32: nanogen vs hand-written NumPy vs
PyTorch CPU, each in its own process, alternating rounds (the protocol of benchmarks/common.py).

The hand-written NumPy version is the floor for this design (the same GEMMs with no graph);
the engine's overhead is the ratio to it. Each worker checks its loss against the NumPy formula
before timing. Run: python benchmarks/bench_mlp.py [--rounds 5] [--threads 2]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

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
    import nanogen.functional as F

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


def worker(args):
    rng = np.random.default_rng(0)
    x = rng.random((N, 784), dtype=np.float32)
    ws, bs = make_params(rng)
    want = float(numpy_step(x, ws, bs)[0])
    if args.worker == "numpy":
        step = lambda: numpy_step(x, ws, bs)  # noqa: E731
        loss = want
    elif args.worker == "nanogen":
        import nanogen as ng

        tw = [ng.Tensor(w, requires_grad=True) for w in ws]
        tb = [ng.Tensor(b, requires_grad=True) for b in bs]
        tx = ng.Tensor(x)

        def step():
            for p in tw + tb:
                p.grad = None
            return nanogen_step(tx, tw, tb)

        loss = float(step().data)
    else:
        torch = common.torch_threads(args.threads)
        pw = [torch.tensor(w, requires_grad=True) for w in ws]
        pb = [torch.tensor(b, requires_grad=True) for b in bs]
        px = torch.tensor(x)

        def step():
            for p in pw + pb:
                p.grad = None
            h = px
            for k, (w, b) in enumerate(zip(pw, pb)):
                h = torch.nn.functional.linear(h, w, b)
                if k < len(pw) - 1:
                    h = torch.relu(h)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(h, px, reduction="sum")
            loss.backward()
            return loss

        loss = float(step().detach())  # a number to compare; detached, as torch asks
    # same numbers first: the comparison is only fair if all sides compute the same thing
    assert abs(loss - want) < 1e-3 * abs(want), (args.worker, loss, want)
    common.finish_worker(common.time_calls({"MLP step": step}, repeat=args.repeat, warmup=5))


def main():
    parser = common.add_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]), rounds=5, repeat=50)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    fws = ["nanogen", "numpy"] + (["torch"] if common.have_torch() else [])
    results = common.run_rounds(__file__, fws, [], args)
    common.header(f"MLP 784-400-20-400-784, batch {N}, float32, forward+backward (benchmarks/bench_mlp.py)", args,
                  results)
    common.comparison_table(results, ["MLP step"])
    print(f"\nnanogen / numpy (hand-written): {common.spread(common.ratios(results, 'nanogen', 'numpy', 'MLP step'))}x"
          "  (target <= 1.15x)")
    if "torch" in results:
        print(f"nanogen / torch: {common.spread(common.ratios(results, 'nanogen', 'torch', 'MLP step'))}x"
              "  (target <= 0.8x)")


if __name__ == "__main__":
    main()
