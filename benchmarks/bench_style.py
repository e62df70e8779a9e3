"""Style transfer (nanogen/models/style.py) against the same computation in PyTorch CPU, in one run.

Two measurements, both with respect to the input image (the network's weights are frozen):
  features   one forward + backward of the random feature network (random_features: a bank of 96
             filters 3/5/7, then 3 conv layers at 1/2, 1/4, 1/8 size), loss = Σ of all relu outputs
  step       one whole style-transfer step: features, Gram matrices, content + style + tv losses,
             backward, Adam update of the pixels, clip to [0, 1]
Both sides use the same weights (nanogen's copied into torch, same key names) and the same image;
the worker processes return the feature loss and image gradient of the first call and the driver
checks that both sides agree before reading any time. Each framework in its own process,
alternating rounds, medians (the protocol of benchmarks/common.py).
Run: python benchmarks/bench_style.py [--threads 2] [--sizes 64,128,256] [--rounds 5]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

parser = common.add_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]), rounds=5, repeat=3)
parser.add_argument("--sizes", default="64,128,256", help="image sides to time (default %(default)s)")
args = parser.parse_args()

import numpy as np  # noqa: E402

from nanogen.models import style as S  # noqa: E402
from nanogen.models import style_features as SF  # noqa: E402
from nanogen.optim import Adam  # noqa: E402
from nanogen.tensor import Tensor  # noqa: E402

LAYERS = ("relu1", "relu2", "relu3", "relu4")


def nanogen_features(net, image):
    x = Tensor(image, requires_grad=True)
    f = net(x, LAYERS)
    loss = None
    for name in LAYERS:
        term = f[name].sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return float(loss.data), x.grad


def torch_net(torch, net):
    """The same network in torch: ConvBank -> three parallel convs concatenated."""
    tnn = torch.nn

    class Bank(tnn.Module):
        def __init__(self, bank):
            super().__init__()
            self.convs = tnn.ModuleList()
            for c in bank.convs:
                k = c.kernel_size[0]
                conv = tnn.Conv2d(c.in_channels, c.out_channels, k, padding=k // 2, bias=False)
                conv.weight.data = torch.from_numpy(c.weight.data.copy())
                self.convs.append(conv)

        def forward(self, x):
            return torch.cat([c(x) for c in self.convs], dim=1)

    layers = []
    for m in net.features:
        if isinstance(m, SF.ConvBank):
            layers.append(Bank(m))
        elif type(m).__name__ == "Conv2d":
            conv = tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, dilation=m.dilation,
                              bias=False)
            conv.weight.data = torch.from_numpy(m.weight.data.copy())
            layers.append(conv)
        elif type(m).__name__ == "ReLU":
            layers.append(tnn.ReLU())
        else:
            layers.append(tnn.AvgPool2d(2))
    model = tnn.Sequential(*layers)
    for p in model.parameters():
        p.requires_grad_(False)
    mean = torch.tensor(net.mean, dtype=torch.float32).reshape(1, 3, 1, 1)
    std = torch.tensor(net.std, dtype=torch.float32).reshape(1, 3, 1, 1)
    return model, mean, std


def torch_taps(model, mean, std, x, names):
    out, h = {}, (x - mean) / std
    for name, layer in zip(names, model):
        h = layer(h)
        if name in LAYERS:
            out[name] = h
    return out


def torch_features(torch, model, mean, std, names, image):
    x = torch.from_numpy(image.copy()).requires_grad_(True)
    f = torch_taps(model, mean, std, x, names)
    loss = sum(f[k].sum() for k in LAYERS)
    loss.backward()
    return float(loss.detach()), x.grad.numpy()


def torch_gram(f):
    N, C, H, W = f.shape
    f = f.reshape(N, C, H * W)
    return f @ f.transpose(1, 2) / (C * H * W)


def worker():
    torch = common.torch_threads(args.threads) if args.worker == "torch" else None
    net = SF.random_features(seed=0)
    rng = np.random.default_rng(0)
    fns, check = {}, {}
    for side in (int(s) for s in args.sizes.split(",")):
        image = rng.random((1, 3, side, side), dtype=np.float32)
        style = rng.random((1, 3, side, side), dtype=np.float32)
        targets = S.style_targets(net, image, style, net.content_layers, net.style_layers)
        weights = {k: 1 / len(net.style_layers) for k in net.style_layers}
        if torch is None:
            fns[f"{side}x{side} features"] = lambda image=image: nanogen_features(net, image)
            x = Tensor(image.copy(), requires_grad=True)
            opt = Adam([x], lr=0.02)
            fns[f"{side}x{side} step"] = lambda x=x, opt=opt, targets=targets, weights=weights: S.style_step(
                net, x, opt, targets, 1.0, 100.0, 1.0, weights)
            loss, grad = nanogen_features(net, image)
        else:
            model, mean, std = torch_net(torch, net)
            fns[f"{side}x{side} features"] = lambda image=image: torch_features(torch, model, mean, std, net.names,
                                                                                image)
            ct = {k: torch.from_numpy(v) for k, v in targets["content"].items()}
            st = {k: torch.from_numpy(v) for k, v in targets["style"].items()}
            tx = torch.from_numpy(image.copy()).requires_grad_(True)
            topt = torch.optim.Adam([tx], lr=0.02)

            def torch_step(tx=tx, topt=topt, ct=ct, st=st, weights=weights, model=model, mean=mean, std=std):
                topt.zero_grad(set_to_none=True)
                f = torch_taps(model, mean, std, tx, net.names)
                loss = sum(torch.nn.functional.mse_loss(f[k], ct[k]) for k in ct)
                loss = loss + 100.0 * sum(weights[k] * ((torch_gram(f[k]) - st[k]) ** 2).sum() for k in st)
                tv = ((tx[:, :, 1:] - tx[:, :, :-1]) ** 2).mean() + ((tx[..., 1:] - tx[..., :-1]) ** 2).mean()
                (loss + tv).backward()
                topt.step()
                with torch.no_grad():
                    tx.clamp_(0, 1)

            fns[f"{side}x{side} step"] = torch_step
            loss, grad = torch_features(torch, model, mean, std, net.names, image)
        check[str(side)] = [float(loss), np.asarray(grad, np.float64).ravel()[::97].tolist()]
    common.finish_worker(common.time_calls(fns, repeat=args.repeat), check=check)


def main():
    if args.worker:
        return worker()
    fws = ["nanogen"] + (["torch"] if common.have_torch() else [])
    results = common.run_rounds(__file__, fws, ["--sizes", args.sizes], args)
    if "torch" in results:  # same numbers first
        for side, (a, ga) in results["nanogen"][0]["check"].items():
            b, gb = results["torch"][0]["check"][side]
            ga, gb = np.array(ga), np.array(gb)
            assert abs(a - b) <= 1e-4 * abs(b) and np.allclose(ga, gb, rtol=1e-3, atol=1e-6 * np.abs(gb).max()), \
                f"nanogen and torch disagree at {side}: loss {a} vs {b}, max grad diff {np.abs(ga - gb).max()}"
    common.header("style transfer: features (forward + backward w.r.t. the image) and a whole Adam step "
                  "(benchmarks/bench_style.py)", args, results)
    common.comparison_table(results, list(results["nanogen"][0]["times"]))


if __name__ == "__main__":
    main()
