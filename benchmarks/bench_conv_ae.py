"""conv-ae (nanogen/models/autoencoder.py) against the same network in PyTorch CPU, in one run.

    encoder Conv2d(1,16,3,p=1) ReLU MaxPool2d(2) Conv2d(16,32,3,p=1) ReLU MaxPool2d(2)
    decoder ConvTranspose2d(32,16,2,s=2) ReLU ConvTranspose2d(16,1,2,s=2) Sigmoid;  MSE, Adam 1e-3, batch 128

Both sides start from the same weights (nanogen's init copied into torch: the state_dict keys are
the same) and see the same batches; each framework runs in its own process, alternating rounds
(the protocol of benchmarks/common.py), and the driver first checks that both workers' first
step from the same weights and batch gave the same loss. Default: time per iteration (forward
+ backward + Adam step). --epoch: also one epoch over MNIST per worker (same data order) and the
test MSE after it. --profile: where nanogen's time goes, op by op (in a worker of its own,
set up as the timed nanogen workers are).
Run: python benchmarks/bench_conv_ae.py [--threads 2] [--rounds 5] [--epoch] [--profile]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

parser = common.add_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]), rounds=5, repeat=10)
common.add_malloc_arg(parser)
parser.add_argument("--epoch", action="store_true", help="also train one epoch per worker and compare test MSE")
parser.add_argument("--epoch-batches", type=int, default=0, help="with --epoch: only the first N batches")
parser.add_argument("--profile", action="store_true", help="time each op of 20 nanogen iterations: which one dominates")
args = parser.parse_args()

import time  # noqa: E402

import numpy as np  # noqa: E402

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


def worker():
    if args.worker in ("nanogen", "profile"):
        common.nanogen_memory(args)
    x_train, _ = mnist("train")
    if args.worker == "profile":  # every op's time over 20 iterations (common.op_breakdown)
        model, opt = nanogen_side()
        xb, rng = Tensor(x_train[:BATCH]), np.random.default_rng(0)
        return common.op_breakdown(lambda: A.train_step(model, opt, xb, rng), 20, extra=[(opt, "step")])
    xb = x_train[:BATCH]
    rng = np.random.default_rng(0)
    model, opt = nanogen_side()
    if args.worker == "torch":
        torch = common.torch_threads(args.threads)
        model, opt = torch_side(torch, model.state_dict())
        step = lambda b: torch_step(torch, model, opt, torch.from_numpy(b)).item()  # noqa: E731
    else:
        step = lambda b: A.train_step(model, opt, Tensor(b), rng)["loss"]  # noqa: E731
    out = {"first_loss": float(step(xb))}  # same weights, same batch: the same loss on both sides
    if args.epoch:
        x_test, _ = mnist("test")
        model, opt = nanogen_side()  # the same starting weights on both sides
        if args.worker == "torch":
            model, opt = torch_side(torch, model.state_dict())
        loader = DataLoader(x_train, batch_size=BATCH, shuffle=True, seed=0, as_tensor=False)
        t0 = time.perf_counter()
        for i, (b,) in enumerate(loader):
            if args.epoch_batches and i == args.epoch_batches:
                break
            step(b)
        times = {"epoch": time.perf_counter() - t0}
        out["test_mse"] = test_mse_torch(torch, model, x_test) if args.worker == "torch" else test_mse_nanogen(model,
                                                                                                             x_test)
    else:
        times = common.time_calls({"iteration": lambda: step(xb)}, repeat=args.repeat, warmup=10)  # as bench_dcgan
    common.finish_worker(times, **out)


def main():
    if args.worker:
        return worker()
    fws = ["nanogen"] + (["torch"] if common.have_torch() else [])
    results = common.run_rounds(__file__, fws, ["--malloc", args.malloc], args)
    if "torch" in results:
        a, b = results["nanogen"][0]["first_loss"], results["torch"][0]["first_loss"]
        assert abs(a - b) < 1e-5 * abs(b) + 1e-7, f"first step loss differs: nanogen {a}, torch {b}"
    common.header(f"conv-ae, batch {BATCH}, float32, forward+backward+Adam (benchmarks/bench_conv_ae.py)", args, results)
    common.comparison_table(results, ["iteration"])
    if args.epoch:
        argv = ["--epoch", "--malloc", args.malloc] + (["--epoch-batches", args.epoch_batches] if args.epoch_batches else [])
        ep = common.run_rounds(__file__, fws, argv, args)
        what = f"the first {args.epoch_batches} batches of" if args.epoch_batches else "one"
        print(f"\n{what} epoch over 60000 MNIST digits in each worker, seconds; then test MSE on 10000:\n")
        common.comparison_table(ep, ["epoch"], unit=1, unit_name="s")
        for fw, rs in ep.items():
            print(f"  {fw} test MSE: {common.spread([r['test_mse'] for r in rs], '{:.5f}')}")
    if args.profile:
        common.profile_in_worker(__file__, args, ["--malloc", args.malloc])


if __name__ == "__main__":
    main()
