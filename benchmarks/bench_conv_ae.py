"""conv-ae (nanogen/models/autoencoder.py) against the same network in PyTorch CPU, in one run.

    encoder Conv2d(1,16,3,p=1) ReLU MaxPool2d(2) Conv2d(16,32,3,p=1) ReLU MaxPool2d(2)
    decoder ConvTranspose2d(32,16,2,s=2) ReLU ConvTranspose2d(16,1,2,s=2) Sigmoid;  MSE, Adam 1e-3, batch 128

Both sides start from the same weights (nanogen's init copied into torch: the state_dict keys are
the same) and see the same batches. Default: time per iteration (forward + backward + Adam step),
interleaved rounds, medians. --epoch: also one epoch over MNIST each (same data order) and the
test MSE after it (minutes). --profile: where nanogen's time goes, op by op.
Run: python benchmarks/bench_conv_ae.py [--threads 2] [--epoch] [--profile]
"""

import argparse
import os

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--threads", type=int, default=2,
                    help="BLAS / Numba / torch threads, the same for both (default 2)")
parser.add_argument("--epoch", action="store_true", help="also train one epoch each and compare test MSE (minutes)")
parser.add_argument("--profile", action="store_true", help="time each op of 20 nanogen iterations: which one dominates")
parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (default 7)")
args = parser.parse_args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = str(args.threads)  # before numpy and numba start their thread pools

import time  # noqa: E402

import numpy as np  # noqa: E402
from common import interleaved, machine_line, table, try_torch  # noqa: E402

from nanogen.data import DataLoader, mnist  # noqa: E402
from nanogen.models import autoencoder as A  # noqa: E402
from nanogen.optim import Adam  # noqa: E402
from nanogen.tensor import Tensor  # noqa: E402

BATCH = 128


def nanogen_side(seed=0):
    model = A.build_model(A.AEConfig(arch="conv", loss="mse"), rng=np.random.default_rng(seed))
    return model, Adam(model.parameters(), lr=1e-3)


def torch_side(torch, state_dict):
    nn = torch.nn
    model = nn.Module()
    model.encoder = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    model.decoder = nn.Sequential(nn.ConvTranspose2d(32, 16, 2, stride=2), nn.ReLU(),
                                  nn.ConvTranspose2d(16, 1, 2, stride=2), nn.Sigmoid())
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state_dict.items()})
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def torch_step(torch, model, opt, x):
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(model.decoder(model.encoder(x)), x)
    loss.backward()
    opt.step()
    return loss


def test_mse_nanogen(model, x):
    return float(A.reconstruction_errors(model, x)["mse"].mean())


def test_mse_torch(torch, model, x):
    with torch.no_grad():
        out = [((model.decoder(model.encoder(xb)) - xb) ** 2).mean(dim=(1, 2, 3))
               for xb in torch.from_numpy(x).split(500)]
    return float(torch.cat(out).mean())


def op_breakdown(model, opt, xb, rng, n=20):
    """Time every op's forward and backward (wrapping the Function subclasses' staticmethods for
    this run only) and the optimizer step; print ms per iteration, costliest first."""
    from collections import defaultdict

    from nanogen.autograd import Function

    spent = defaultdict(float)

    def timed(key, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t0
        return staticmethod(wrapper)

    classes, todo = [], [Function]
    while todo:
        c = todo.pop()
        todo.extend(c.__subclasses__())
        classes.append(c)
    saved = []
    for c in classes:
        for name in ("forward", "backward"):
            if name in c.__dict__:
                saved.append((c, name, c.__dict__[name]))
                setattr(c, name, timed(f"{c.__name__}.{name}", getattr(c, name)))
    opt.step = timed("Adam.step", opt.step).__func__       # an instance attribute shadows the method
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            A.train_step(model, opt, xb, rng)
        total = time.perf_counter() - t0
    finally:
        for c, name, orig in saved:
            setattr(c, name, orig)
        del opt.step
    rows = [[k, f"{v / n * 1e3:.2f}", f"{100 * v / total:.0f}%"]
            for k, v in sorted(spent.items(), key=lambda kv: -kv[1])]
    rest = total - sum(spent.values())
    rows.append(["(graph, Python, allocation: the rest)", f"{rest / n * 1e3:.2f}", f"{100 * rest / total:.0f}%"])
    print(f"\nnanogen, where one iteration's {total / n * 1e3:.1f} ms go ({n} iterations, timers around each op):\n")
    table(rows, ["op", "ms / iteration", "share"])


def main():
    torch = try_torch(args.threads)
    x_train, _ = mnist("train")
    x_test, _ = mnist("test")
    xb = x_train[:BATCH]
    rng = np.random.default_rng(0)
    model, opt = nanogen_side()
    state = model.state_dict()
    fns = {"nanogen": lambda: A.train_step(model, opt, Tensor(xb), rng)}
    if torch is not None:
        tmodel, topt = torch_side(torch, state)
        txb = torch.from_numpy(xb)
        # same numbers first: the first step's loss from the same weights and batch must agree
        loss_ng = A.train_step(*nanogen_side(), Tensor(xb), rng)["loss"]
        loss_t = torch_step(torch, *torch_side(torch, state), txb).item()
        assert abs(loss_ng - loss_t) < 1e-5 * abs(loss_t) + 1e-7, (loss_ng, loss_t)
        fns["torch"] = lambda: torch_step(torch, tmodel, topt, txb)
    times = interleaved(fns, rounds=args.rounds, repeat=5, warmup=3)

    print(f"conv-ae, batch {BATCH}, float32, forward+backward+Adam, {args.threads} threads ({machine_line()})\n")
    rows = [[name, f"{t * 1e3:.1f}"] for name, t in times.items()]
    table(rows, ["implementation", "ms / iteration (median)"])
    if "torch" in times:
        print(f"\nnanogen / torch: {times['nanogen'] / times['torch']:.2f}x  (target <= 1.0x)")
    else:
        print("\ntorch not installed: `make bench` installs it (optional extra)")

    if args.epoch:
        loader = lambda: DataLoader(x_train, batch_size=BATCH, shuffle=True, seed=0, as_tensor=False)  # noqa: E731
        model, opt = nanogen_side()
        t0 = time.perf_counter()
        for (b,) in loader():
            A.train_step(model, opt, Tensor(b), rng)
        t_ng = time.perf_counter() - t0
        rows = [["nanogen", f"{t_ng:.0f}", f"{test_mse_nanogen(model, x_test):.5f}"]]
        if torch is not None:
            tmodel, topt = torch_side(torch, state)          # the same starting weights
            t0 = time.perf_counter()
            for (b,) in loader():                            # a fresh loader: the same batches in the same order
                torch_step(torch, tmodel, topt, torch.from_numpy(b))
            t_t = time.perf_counter() - t0
            rows.append(["torch", f"{t_t:.0f}", f"{test_mse_torch(torch, tmodel, x_test):.5f}"])
        print(f"\none epoch over 60000 MNIST digits ({len(loader())} iterations), then test MSE on 10000:\n")
        table(rows, ["implementation", "seconds", "test MSE"])
        if torch is not None:
            ratio = float(rows[0][2]) / float(rows[1][2])
            print(f"\ntest MSE nanogen / torch: {ratio:.3f}  (target within 5%: 0.95 .. 1.05)")

    if args.profile:
        model, opt = nanogen_side()
        op_breakdown(model, opt, Tensor(xb), rng)


if __name__ == "__main__":
    main()
