"""conv2d / conv_transpose2d forward+backward, batch 128, float32: nanogen vs PyTorch CPU vs nanogen
on its NumPy twin kernels (NANOGEN_KERNELS=numpy), each in its own process (benchmarks/common.py).

The shapes are the layers of the MNIST DCGAN/VAE/conv-ae in nanogen/models. Every input requires
grad (x, weight, bias), except the "x no grad" row: a network's first layer, whose input is data.
Before timing, the first round's workers save their outputs and gradients and the driver checks
that nanogen and torch agree (the comparison is only fair if both compute the same thing).
    python benchmarks/bench_conv.py [--rounds 5] [--threads 2] [--passes]
--passes: also each im2col/col2im pass alone against a memcpy of its buffer (nanogen only).
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

N = 128
# name, transposed?, x shape, weight shape, stride, padding, x requires grad
CASES = [
    ("conv2d (128,64,14,14)->128 k4 s2 p1", False, (N, 64, 14, 14), (128, 64, 4, 4), 2, 1, True),
    ("conv2d (128,16,14,14)->32 k3 p1", False, (N, 16, 14, 14), (32, 16, 3, 3), 1, 1, True),
    ("conv_t2d (128,128,7,7)->64 k4 s2 p1", True, (N, 128, 7, 7), (128, 64, 4, 4), 2, 1, True),
    ("conv2d (128,1,28,28)->16 k3 p1", False, (N, 1, 28, 28), (16, 1, 3, 3), 1, 1, True),
    ("conv2d (128,1,28,28)->16 k3 p1, x no grad", False, (N, 1, 28, 28), (16, 1, 3, 3), 1, 1, False),
    ("conv_t2d (128,64,14,14)->1 k4 s2 p1", True, (N, 64, 14, 14), (64, 1, 4, 4), 2, 1, True),
]


def make_case(case):
    import numpy as np

    name, transposed, xs, ws, stride, padding, x_grad = case
    rng = np.random.default_rng(CASES.index(case))
    x = rng.standard_normal(xs, dtype=np.float32)
    w = (rng.standard_normal(ws, dtype=np.float32) * 0.05).astype(np.float32)
    b = rng.standard_normal(ws[1] if transposed else ws[0], dtype=np.float32)
    OH = (xs[2] - 1) * stride - 2 * padding + ws[2] if transposed else (xs[2] + 2 * padding - ws[2]) // stride + 1
    g = rng.standard_normal((N, ws[1] if transposed else ws[0], OH, OH), dtype=np.float32)
    return x, w, b, g


def nanogen_steps():
    from nanogen.ops.conv import conv2d, conv_transpose2d
    from nanogen.tensor import Tensor

    steps = {}
    for case in CASES:
        name, transposed, _, _, stride, padding, x_grad = case
        x, w, b, g = make_case(case)
        ts = (Tensor(x, requires_grad=x_grad), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True))
        op = conv_transpose2d if transposed else conv2d

        def step(ts=ts, op=op, g=g, stride=stride, padding=padding):
            for t in ts:
                t.grad = None
            op(*ts, stride=stride, padding=padding).backward(g)
            return [t.grad for t in ts]

        steps[name] = step
    return steps


def torch_steps(threads):
    torch = common.torch_threads(threads)
    F = torch.nn.functional
    steps = {}
    for case in CASES:
        name, transposed, _, _, stride, padding, x_grad = case
        x, w, b, g = make_case(case)
        ts = (torch.tensor(x, requires_grad=x_grad), torch.tensor(w, requires_grad=True),
              torch.tensor(b, requires_grad=True))
        tg = torch.from_numpy(g)
        op = F.conv_transpose2d if transposed else F.conv2d

        def step(ts=ts, op=op, tg=tg, stride=stride, padding=padding):
            for t in ts:
                t.grad = None
            op(*ts, stride=stride, padding=padding).backward(tg)
            return [None if t.grad is None else t.grad.numpy() for t in ts]

        steps[name] = step
    return steps


def worker(args):
    import numpy as np

    if args.worker == "numpy-twins":
        os.environ["NANOGEN_KERNELS"] = "numpy"
    steps = torch_steps(args.threads) if args.worker == "torch" else nanogen_steps()
    if args.check:
        np.savez(args.check, **{f"{i}_{k}": gr for i, s in enumerate(steps.values())
                                for k, gr in enumerate(s()) if gr is not None})
    if args.passes:
        return passes(args)
    common.finish_worker(common.time_calls(steps, repeat=args.repeat))


def passes(args):
    """Each im2col / col2im pass of the first three cases, whole batch, vs np.copyto of its buffer."""
    import numpy as np

    import nanogen.kernels.conv as kconv

    rng = np.random.default_rng(1)
    times = {}
    for name, transposed, xs, ws, stride, padding, _ in CASES[:3]:
        KH, KW = ws[2:]
        s, p, d = (stride, stride), (padding, padding), (1, 1)
        if transposed:
            big = (xs[0], ws[1], (xs[2] - 1) * stride - 2 * padding + KH, (xs[3] - 1) * stride - 2 * padding + KW)
            img_shape, (oh, ow) = big, xs[2:]
        else:
            img_shape = xs
            oh = ow = kconv.conv_output_size(xs[2], KH, stride, padding, 1)
        img = rng.standard_normal(img_shape, dtype=np.float32)
        cols = kconv.im2col(img, KH, KW, s, p, d, oh, ow)
        buf, back = np.empty_like(cols), np.empty_like(img)
        times[f"{name}: im2col ({cols.nbytes / 1e6:.0f} MB)"] = lambda: kconv.im2col(img, KH, KW, s, p, d, oh, ow,
                                                                                      out=buf)
        times[f"{name}: col2im"] = lambda: kconv.col2im(cols, img_shape, KH, KW, s, p, d, oh, ow, out=back)
        times[f"{name}: memcpy of the columns"] = lambda: np.copyto(buf, cols)
    common.finish_worker(common.time_calls(times, repeat=args.repeat))


def main():
    parser = common.add_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--passes", action="store_true", help="also time each im2col/col2im pass vs a memcpy")
    parser.add_argument("--twins", action="store_true", help="also time nanogen on its NumPy twin kernels (slow)")
    parser.add_argument("--check", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    import numpy as np

    fws = ["nanogen"] + (["torch"] if common.have_torch() else []) + (["numpy-twins"] if args.twins else [])
    with tempfile.TemporaryDirectory() as tmp:  # same numbers first
        got = {}
        for fw in fws[:2]:
            path = os.path.join(tmp, f"{fw}.npz")
            common.spawn(__file__, fw, ["--check", path, "--repeat", 1], args.threads)
            got[fw] = dict(np.load(path))
        if "torch" in got:
            for key, a in got["nanogen"].items():
                p = got["torch"][key]
                assert np.allclose(a, p, rtol=1e-3, atol=1e-4 * np.abs(p).max()), f"nanogen and torch differ: {key}"
    results = common.run_rounds(__file__, fws, [], args)
    common.header("conv2d / conv_transpose2d, forward+backward, float32, batch 128 (benchmarks/bench_conv.py)",
                  args, results)
    common.comparison_table(results, [c[0] for c in CASES])
    if args.passes:
        res = {"nanogen": [common.spawn(__file__, "nanogen", ["--passes", "--repeat", args.repeat], args.threads)
                           for _ in range(args.rounds)]}
        print("\nim2col / col2im, whole batch, each pass alone (nanogen worker), ms:")
        common.comparison_table(res, list(res["nanogen"][0]["times"]), base=None)


if __name__ == "__main__":
    main()
