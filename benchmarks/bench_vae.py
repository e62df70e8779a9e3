"""The reference VAE (PyTorch's examples/vae/main.py: 784-400-20-400-784, Bernoulli BCE + KL summed
over the batch, Adam 1e-3, batch 128) trained on MNIST by nanogen and by PyTorch CPU, in one run.

Each framework trains in its own subprocess, alternating round after round (the protocol of
benchmarks/common.py: BLAS reported, OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE removed for these runs
only, peak memory as VmHWM of the worker: data included, both load the same float32 arrays
through nanogen.data.mnist). Both start from the same weights (nanogen's init, copied into torch), visit
the batches in the same order (nanogen's DataLoader permutation of epoch k) and use the same
eps (a numpy Generator seeded identically); PyTorch runs the reference code as written
(sigmoid, then F.binary_cross_entropy). Reported per framework: seconds per epoch (training
only, median over the epochs), the test negative ELBO (nats per image, all 10,000 test digits,
one z per image, fixed eps) after epochs 1, 5 and 10, and peak resident memory. CPU seconds
(process_time, all threads) are printed too: on a shared machine they move less than wall time.

    python benchmarks/bench_vae.py               # 10 epochs each: the real table (about 2 x 1 min)
    python benchmarks/bench_vae.py --epochs 1    # quick check
    python benchmarks/bench_vae.py --profile     # + where nanogen's time goes (cProfile, 1 epoch)
Targets: nanogen seconds per epoch <= 0.75x PyTorch's; test -ELBO after 10 epochs within 0.5 nats;
peak memory <= PyTorch's. The machine may be shared: read the times with that caveat.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
REPORT_EPOCHS = (1, 5, 10)


def load_data():
    from nanogen.data import mnist

    x, _ = mnist("train")
    xt, _ = mnist("test")
    return x.reshape(len(x), 784), xt.reshape(len(xt), 784)   # (N, 1, 28, 28) -> (N, 784), views


def batch_orders(n, epochs, seed):
    from nanogen.data import DataLoader

    loader = DataLoader(np.empty((n, 0), dtype=np.uint8), batch_size=128, shuffle=True, seed=seed)
    return [loader.indices(e) for e in range(epochs)]


def initial_weights(seed):
    from nanogen.models.vae import VAE, VAEConfig

    sd = VAE(VAEConfig(), rng=np.random.default_rng(seed)).state_dict()
    return {k.split(".", 1)[1]: v for k, v in sd.items()}    # "encoder.fc1.weight" -> "fc1.weight"


# ---------------------------------------------------------------------------- the two workers


def run_nanogen(args, x, xt, orders):
    from nanogen.models.vae import VAE, VAEConfig, elbo_terms, train_step
    from nanogen.optim import Adam
    from nanogen.tensor import Tensor

    model = VAE(VAEConfig(), rng=np.random.default_rng(args.seed))
    opt = Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(args.seed + 1)               # eps, as in the torch worker

    def epoch(order):
        for i in range(0, len(order), 128):
            train_step(model, opt, Tensor(x[order[i : i + 128]]), rng)

    def test_neg_elbo():
        return float(elbo_terms(model, xt, np.random.default_rng(12345))["neg_elbo"].mean())

    return epoch, test_neg_elbo


def run_torch(args, x, xt, orders):
    import torch
    import torch.nn.functional as TF
    from torch import nn

    torch.set_num_threads(args.threads)

    class VAE(nn.Module):                                    # examples/vae/main.py, verbatim in substance
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def encode(self, x):
            h1 = TF.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar, eps):
            std = torch.exp(0.5 * logvar)
            return mu + eps * std

        def decode(self, z):
            h3 = TF.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x, eps):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar, eps)
            return self.decode(z), mu, logvar

    def loss_function(recon_x, x, mu, logvar):
        bce = TF.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    model = VAE()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in initial_weights(args.seed).items()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(args.seed + 1)
    tx, txt = torch.from_numpy(x), torch.from_numpy(xt)

    def epoch(order):
        model.train()
        for i in range(0, len(order), 128):
            idx = torch.from_numpy(order[i : i + 128])
            data = tx[idx]
            eps = torch.from_numpy(rng.standard_normal((len(idx), 20), dtype=np.float32))
            opt.zero_grad()
            recon, mu, logvar = model(data, eps)
            loss = loss_function(recon, data, mu, logvar)
            loss.backward()
            opt.step()

    def test_neg_elbo():
        model.eval()
        r = np.random.default_rng(12345)
        total = 0.0
        with torch.no_grad():
            for i in range(0, len(xt), 1000):
                data = txt[i : i + 1000]
                eps = torch.from_numpy(r.standard_normal((len(data), 20), dtype=np.float32))
                recon, mu, logvar = model(data, eps)
                total += loss_function(recon, data, mu, logvar).item()
        return total / len(xt)

    return epoch, test_neg_elbo


def worker(args):
    if args.worker == "nanogen":
        common.nanogen_memory(args)
    x, xt = load_data()
    orders = batch_orders(len(x), args.epochs, args.seed)
    make = run_nanogen if args.worker == "nanogen" else run_torch
    epoch, test_neg_elbo = make(args, x, xt, orders)
    seconds, cpu, elbos = [], [], {}
    for e in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        epoch(orders[e])
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if e + 1 in REPORT_EPOCHS or e + 1 == args.epochs:
            elbos[e + 1] = test_neg_elbo()
        print(f"  {args.worker} epoch {e + 1}: {seconds[-1]:.2f} s" +
              (f", test -ELBO {elbos[e + 1]:.2f}" if e + 1 in elbos else ""), file=sys.stderr, flush=True)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "elbos": elbos, "peak_mb": common.peak_memory_mb(),
                      "blas": common.blas_report()}))


def profile(args):
    """In a worker (`--worker profile`) with the workers' environment, freed memory kept as the
    nanogen worker keeps it: one epoch under cProfile."""
    import cProfile
    import pstats

    common.nanogen_memory(args)
    x, xt = load_data()
    orders = batch_orders(len(x), 1, args.seed)
    epoch, _ = run_nanogen(args, x, xt, orders)
    epoch(orders[0][:128 * 20])                               # warm-up
    prof = cProfile.Profile()
    prof.enable()
    epoch(orders[0])
    prof.disable()
    print("\nnanogen, one epoch under cProfile (profiling slows Python-level work, not BLAS):")
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


# ---------------------------------------------------------------------------- the driver


def spawn(name, args):
    return common.spawn(__file__, name, ["--epochs", args.epochs, "--seed", args.seed, "--malloc", args.malloc],
                        args.threads)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS / Numba / torch threads (default: all cores)")
    p.add_argument("--rounds", type=int, default=3, help="alternate the two runs this many times (medians)")
    p.add_argument("--profile", action="store_true", help="also profile one nanogen epoch")
    common.add_malloc_arg(p)
    p.add_argument("--worker", choices=["nanogen", "torch", "profile"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker == "profile":
        return profile(args)
    if args.worker:
        return worker(args)

    from common import table

    have_torch = common.have_torch()
    names = ["nanogen", "torch"] if have_torch else ["nanogen"]
    runs = {n: [] for n in names}
    for r in range(args.rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            print(f"round {r + 1}/{args.rounds}: {n}, {args.epochs} epochs", file=sys.stderr, flush=True)
            runs[n].append(spawn(n, args))
    res = {}
    for n, rs in runs.items():
        res[n] = {"s": statistics.median(statistics.median(r["seconds"]) for r in rs),
                  "cpu": statistics.median(statistics.median(r["cpu"]) for r in rs),
                  "mb": statistics.median(r["peak_mb"] for r in rs),
                  "elbos": {int(k): statistics.median(r["elbos"][k] for r in rs) for k in rs[0]["elbos"]}}
    common.header(f"VAE 784-400-20, MNIST, batch 128, Adam 1e-3, float32, seed {args.seed} (benchmarks/bench_vae.py)",
                  args, runs, timing=f"{args.epochs} epoch(s) of training, median epoch")
    epochs = sorted(res["nanogen"]["elbos"])
    header = ["", *names] + (["nanogen / torch"] if have_torch else [])

    def row(label, values, fmt, ratio=True):
        cells = [fmt(v) for v in values]
        if have_torch:
            cells.append(f"{values[0] / values[1]:.2f}x" if ratio else f"{values[0] - values[1]:+.2f}")
        return [label, *cells]

    spreads = {n: common.spread([statistics.median(r["seconds"]) for r in rs]) for n, rs in runs.items()}
    if have_torch:
        per_round = [statistics.median(a["seconds"]) / statistics.median(b["seconds"])
                     for a, b in zip(runs["nanogen"], runs["torch"])]
    rows = [["seconds / epoch, median [min-max over rounds]", *[spreads[n] for n in names]]
            + ([common.spread(per_round) + "x"] if have_torch else []),
            row("seconds / epoch (median)", [res[n]["s"] for n in names], lambda v: f"{v:.2f}"),
            row("CPU seconds / epoch (all threads)", [res[n]["cpu"] for n in names], lambda v: f"{v:.2f}")]
    for e in epochs:
        rows.append(row(f"test -ELBO after epoch {e}", [res[n]["elbos"][e] for n in names], lambda v: f"{v:.2f}",
                        ratio=False))
    rows.append(row("peak memory (MB, VmHWM)", [res[n]["mb"] for n in names], lambda v: f"{v:.0f}"))
    table(rows, header)
    if have_torch:
        s, t = res["nanogen"], res["torch"]
        last = epochs[-1]
        gap = s["elbos"][last] - t["elbos"][last]
        print(f"\ntargets: time {s['s'] / t['s']:.2f}x (<= 0.75x), -ELBO gap {gap:+.2f} "
              f"nats after epoch {last} (|gap| <= 0.5), memory {s['mb'] / t['mb']:.2f}x (<= 1.0x)")
    else:
        print("\ntorch not installed: nanogen alone (install the optional `bench` extra to compare)")
    if args.profile:
        common.profile_in_worker(__file__, args,
                                 ["--epochs", args.epochs, "--seed", args.seed, "--malloc", args.malloc])


if __name__ == "__main__":
    main()
