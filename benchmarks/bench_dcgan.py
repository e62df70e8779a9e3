"""The reference DCGAN (nanogen/models/dcgan.py: G 100 -> 128x7x7 -> 64x14x14 -> 1x28x28, D the
mirror, BCE from logits, Adam 2e-4 betas (0.5, 0.999), batch 128) in nanogen and in PyTorch CPU.

One iteration = gan.train_step: one G forward, a D step on the real and the (detached) generated
batch, a G step through the frozen D, with the same diagnostics (D's mean outputs, both gradient
norms) on both sides. Both start from the same weights (nanogen's DCGAN init, copied into torch).

    python benchmarks/bench_dcgan.py              # ms per iteration + peak memory
    python benchmarks/bench_dcgan.py --epoch      # + seconds for one epoch over MNIST (468 iterations)
    python benchmarks/bench_dcgan.py --epochs 5   # + train both on MNIST, FCD / IS / digit shares
    python benchmarks/bench_dcgan.py --profile    # + where nanogen's time goes, op by op
Every measurement runs each framework in its own process, alternating (benchmarks/common.py: the
protocol, BLAS report, peak memory as the worker's VmHWM). Each worker first runs one step from
the same weights, data and noise, and the driver checks that both sides computed the same losses.
Training uses the same batch order and the same noise on both sides; the
samples are then judged by nanogen's standard classifier (models/gan_eval.py: in the cache, or $NANOGEN_CLASSIFIER).
Targets: time per iteration <= 1.0x PyTorch's; FCD within 15% of PyTorch's; every digit 5-15%
of the samples; peak memory <= PyTorch's. The machine may be shared: read times with that caveat.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

N, Z = 128, 100


def load_mnist():
    """Training images in [-1, 1] (N, 1, 28, 28) float32 and the test images in [0, 1]."""
    from nanogen.data import mnist

    x, _ = mnist("train")
    xt, _ = mnist("test")
    return x * np.float32(2) - np.float32(1), xt


def nanogen_models(seed):
    from nanogen.models.dcgan import DCGANDiscriminator, DCGANGenerator

    rng = np.random.default_rng(seed)
    return DCGANGenerator(Z, 64, rng=rng), DCGANDiscriminator(64, rng=rng)


# ---------------------------------------------------------------------------- the two implementations


def make_nanogen(seed):
    """(step(x, z) -> stats, sample(z) -> images in [0, 1], G, D) for nanogen."""
    from nanogen.models import gan
    from nanogen.optim import Adam
    from nanogen.tensor import Tensor

    G, D = nanogen_models(seed)
    cfg = gan.GANConfig()
    opt_g = Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step(x, z):
        return gan.train_step(G, D, opt_g, opt_d, Tensor(x), Tensor(z), cfg)

    def sample(z):
        G.eval()
        out = np.concatenate([gan.generate(G, z[i : i + 500]) for i in range(0, len(z), 500)])
        G.train()
        return out

    return step, sample, G, D


def make_torch(seed, threads):
    import torch
    import torch.nn.functional as TF
    from torch import nn

    torch.set_num_threads(threads)

    class Generator(nn.Module):                # attribute names as nanogen's: the state_dicts match
        def __init__(self):
            super().__init__()
            self.fc = nn.Sequential(nn.Linear(Z, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU())
            self.net = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                                     nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())

        def forward(self, z):
            return self.net(self.fc(z).view(-1, 128, 7, 7))

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1),
                                     nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 7 * 7, 1))

        def forward(self, x):
            return self.net(x)

    G_ng, D_ng = nanogen_models(seed)
    G, D = Generator(), Discriminator()
    G.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in G_ng.state_dict().items()})
    D.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in D_ng.state_dict().items()})
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def grad_norm(m):
        return float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in m.parameters() if p.grad is not None)))

    def step(x, z):
        x, z = torch.from_numpy(x), torch.from_numpy(z)
        fake = G(z)
        opt_d.zero_grad()
        lr_, lf = D(x), D(fake.detach())
        loss_d = (TF.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_))
                  + TF.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)))
        loss_d.backward()
        stats = {"loss_d": loss_d.item(), "d_real": torch.sigmoid(lr_).mean().item(),
                 "d_fake": torch.sigmoid(lf).mean().item(), "grad_norm_d": grad_norm(D)}
        opt_d.step()
        opt_g.zero_grad()
        for p in D.parameters():
            p.requires_grad_(False)
        lg = D(fake)
        loss_g = TF.binary_cross_entropy_with_logits(lg, torch.ones_like(lg))
        loss_g.backward()
        for p in D.parameters():
            p.requires_grad_(True)
        stats.update(loss_g=loss_g.item(), grad_norm_g=grad_norm(G))
        opt_g.step()
        return stats

    def sample(z):
        G.eval()
        with torch.no_grad():
            out = np.concatenate([G(torch.from_numpy(z[i : i + 500])).numpy() for i in range(0, len(z), 500)])
        G.train()
        return np.clip((out + 1) / 2, 0, 1)

    return step, sample, G, D


def make(framework, seed, threads):
    return make_nanogen(seed) if framework == "nanogen" else make_torch(seed, threads)


# ---------------------------------------------------------------------------- subprocess workers


def worker(args):
    """Run in a subprocess: timed iterations, one timed epoch, or a training run (quality); print JSON."""
    if args.worker == "nanogen":
        common.nanogen_memory(args)
    step, sample, _, _ = make(args.worker, args.seed, args.threads)
    rng = np.random.default_rng(args.seed + 1)
    x0 = np.random.default_rng(0).uniform(-1, 1, (N, 1, 28, 28)).astype(np.float32)
    z0 = np.random.default_rng(1).standard_normal((N, Z), dtype=np.float32)
    first = step(x0, z0)                                  # same weights, data, noise: same first step
    out = {"first": {k: float(v) for k, v in first.items()}}
    if args.epochs or args.epoch:
        from nanogen.data import DataLoader

        x, _ = load_mnist()
        loader = DataLoader(x, batch_size=N, shuffle=True, seed=args.seed, drop_last=True, as_tensor=False)
        seconds = []
        for e in range(args.epochs or 1):
            t0 = time.perf_counter()
            for i, (xb,) in enumerate(loader):
                if args.epoch and args.epoch_batches and i == args.epoch_batches:
                    break
                stats = step(xb, rng.standard_normal((N, Z), dtype=np.float32))
            seconds.append(time.perf_counter() - t0)
            print(f"  {args.worker} epoch {e + 1}: {seconds[-1]:.0f} s, loss_d {stats['loss_d']:.3f}, "
                  f"loss_g {stats['loss_g']:.3f}", file=sys.stderr, flush=True)
        if args.epochs:
            images = sample(np.random.default_rng(12345).standard_normal((10000, Z)).astype(np.float32))
            np.save(args.samples, images)
        out["epoch_seconds"] = seconds
        times = {"epoch": statistics.median(seconds)}
    else:
        # 10 warm-up calls: PyTorch's first 8 or so iterations run up to 2x slower than its steady
        # state (measured: 330 194 167 395 246 351 308 205, then 170-185 ms), and with 2 the median
        # of a few timed calls caught them (215 ms against 160 ms per iteration in its epoch)
        times = common.time_calls({"iteration": lambda: step(x0, rng.standard_normal((N, Z), dtype=np.float32))},
                                  repeat=args.repeat, warmup=10)
    common.finish_worker(times, **out)


def spawn(name, args, **extra):
    argv = ["--seed", args.seed, "--malloc", args.malloc]
    for k, v in extra.items():
        argv += [f"--{k}"] if v is True else [f"--{k}", v]
    return common.spawn(__file__, name, argv, args.threads)


# ---------------------------------------------------------------------------- the driver


def check_first_steps(results):
    """Both frameworks' workers ran one step from the same weights, data and noise: same losses."""
    if "torch" not in results:
        return
    for k in ("loss_d", "loss_g", "d_real", "d_fake"):
        a, b = results["nanogen"][0]["first"][k], results["torch"][0]["first"][k]
        assert abs(a - b) < 1e-3 * max(1.0, abs(b)), f"first step differs in {k}: nanogen {a}, torch {b}"


def profile(args):
    """In a worker (`--worker profile`), set up as the timed nanogen workers are: ms per
    iteration of each op's forward and backward (common.op_breakdown; Adam is in "the rest")."""
    common.nanogen_memory(args)
    step = make_nanogen(args.seed)[0]
    x = np.random.default_rng(0).uniform(-1, 1, (N, 1, 28, 28)).astype(np.float32)
    z = np.random.default_rng(1).standard_normal((N, Z), dtype=np.float32)
    common.op_breakdown(lambda: step(x, z), 10)


def evaluate_quality(args):
    from nanogen.models.classifier_recipes import load_classifier
    from nanogen.models.gan_eval import evaluate_samples, find_classifier

    classifier = load_classifier(find_classifier())
    _, xt = load_mnist()
    real_features = classifier.features(xt)
    results = {}
    for name in ["nanogen", "torch"]:
        path = os.path.join(args.tmp, f"samples_{name}.npy")
        run = spawn(name, args, epochs=args.epochs, samples=path, repeat=1)
        m = evaluate_samples(classifier, xt, np.load(path), real_features=real_features)
        results[name] = {**run, **m}
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_args(p, rounds=5, repeat=5)
    common.add_malloc_arg(p)
    p.add_argument("--epoch", action="store_true", help="also time one training epoch over MNIST per worker")
    p.add_argument("--epoch-batches", type=int, default=0, help="with --epoch: only the first N batches")
    p.add_argument("--epochs", type=int, default=0, help="also train both for this many epochs and compare quality")
    p.add_argument("--profile", action="store_true", help="where nanogen's time goes, op by op")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", help=argparse.SUPPRESS)
    p.add_argument("--tmp", default=os.path.join(HERE, "..", "runs", "bench_dcgan"), help="where samples go")
    args = p.parse_args()
    if args.worker == "profile":
        return profile(args)
    if args.worker:
        return worker(args)
    fws = ["nanogen"] + (["torch"] if common.have_torch() else [])
    results = common.run_rounds(__file__, fws, ["--seed", args.seed, "--malloc", args.malloc], args)
    check_first_steps(results)
    common.header(f"DCGAN iteration (D step + G step), batch {N}, float32 (benchmarks/bench_dcgan.py)", args, results)
    common.comparison_table(results, ["iteration"])
    if args.epoch:
        ep = common.run_rounds(__file__, fws, ["--seed", args.seed, "--malloc", args.malloc, "--epoch"]
                               + (["--epoch-batches", args.epoch_batches] if args.epoch_batches else []), args)
        what = f"the first {args.epoch_batches} batches of" if args.epoch_batches else "one"
        print(f"\n{what} epoch over MNIST (468 iterations) in each worker, {args.rounds} alternating rounds, s:\n")
        common.comparison_table(ep, ["epoch"], unit=1, unit_name="s")
    if "torch" not in fws:
        print("\ntorch not installed: the comparison needs it (`make bench` installs it)")
    if args.profile:
        common.profile_in_worker(__file__, args, ["--seed", args.seed, "--malloc", args.malloc])
    if args.epochs:
        if "torch" not in fws:
            print("--epochs needs torch")
            return
        os.makedirs(args.tmp, exist_ok=True)
        q = evaluate_quality(args)
        print(f"\nafter {args.epochs} epochs on MNIST, 10,000 samples each, judged by nanogen's classifier:\n")
        keys = [("fcd", "FCD", "{:.2f}"), ("inception_score", "IS", "{:.2f}"), ("class_min_share", "min digit share", "{:.1%}"),
                ("class_max_share", "max digit share", "{:.1%}"), ("classes_covered", "digits >= 5%", "{}"),
                ("peak_mb", "peak memory (MB)", "{:.0f}")]
        rows = [[label] + [fmt.format(q[n][k]) for n in ("nanogen", "torch")] for k, label, fmt in keys]
        rows.append(["s / epoch (median)"] + [f"{np.median(q[n]['epoch_seconds']):.0f}" for n in ("nanogen", "torch")])
        common.table(rows, ["", "nanogen", "torch"])
        print(f"\nFCD floor (test set half vs half): {q['nanogen']['fcd_test_halves']:.2f}; "
              f"FCD nanogen / torch: {q['nanogen']['fcd'] / q['torch']['fcd']:.2f} (target within 15%)")
        for n in ("nanogen", "torch"):
            shares = " ".join(f"{q[n][f'class_share_{k}']:.1%}" for k in range(10))
            print(f"  {n:>8} digit shares 0-9: {shares}")


if __name__ == "__main__":
    main()
