"""conv2d / conv_transpose2d forward+backward, batch 128, float32: nanogen vs PyTorch CPU vs nanogen
on its NumPy twin kernels (NANOGEN_KERNELS=numpy), each in its own process (benchmarks/common.py).

The shapes are the layers of the MNIST DCGAN/VAE/conv-ae in nanogen/models. Every input requires
grad (x, weight, bias), except the "x no grad" row: a network's first layer, whose input is data.
Before timing, the first round's workers save their outputs and gradients and the driver checks
that nanogen and torch agree (the comparison is only fair if both compute the same thing).
    python benchmarks/bench_conv.py [--rounds 5] [--threads 2] [--passes] [--floor]
--passes: also each im2col/col2im pass alone against a memcpy of its buffer (nanogen only).
--floor: also the GEMMs alone of the two big im2col layers, chunked and threaded as the ops run
them, against torch's whole layer: what these layers would cost if every layout pass were free.
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


def gemm_floor_steps():
    """The three GEMMs of each im2col layer among the first three cases, over the op's chunks and
    threads (ops/conv.py: _over_chunks, _chunk_size), with no im2col, col2im or layout copy:
    the floor of the im2col design. conv2d's forward is (F, K) @ (K, n*L), its dL/dw
    (K, n*L) @ (n*L, F), its dL/dx (K, F) @ (F, n*L), with K = C*KH*KW; conv_transpose2d runs the
    same three with its input channels in F's place and K = F*KH*KW."""
    import threading

    import numpy as np

    from nanogen.kernels.conv import conv_output_size
    from nanogen.ops import conv as ops_conv

    steps = {}
    for name, transposed, xs, ws, stride, padding, _ in CASES[:3]:
        KH, KW = ws[2:]
        if ops_conv._takes_winograd(KH, KW, (stride, stride), (1, 1), 1):
            continue  # Winograd's route, not im2col
        if transposed:
            M, K, L = xs[1], ws[1] * KH * KW, xs[2] * xs[3]
        else:
            OH, OW = (conv_output_size(size, KH, stride, padding, 1) for size in xs[2:])
            M, K, L = ws[0], xs[1] * KH * KW, OH * OW
        w = np.full((M, K), 0.01, dtype=np.float32)
        per_thread = threading.local()  # each thread's own buffers, filled once, outside the timing

        def body(n0, n, dw_part, w=w, M=M, K=K, L=L, per_thread=per_thread):
            if getattr(per_thread, "n", None) != n:
                per_thread.n = n
                per_thread.cols = np.full((K, n * L), 0.5, dtype=np.float32)
                per_thread.rows = np.empty((M, n * L), dtype=np.float32)
                per_thread.dcols = np.empty((K, n * L), dtype=np.float32)
                per_thread.dw = np.empty((K, M), dtype=np.float32)
            t = per_thread
            np.matmul(w, t.cols, out=t.rows)                   # forward
            dw_part += np.matmul(t.cols, t.rows.T, out=t.dw)  # dL/dw, as _add_weight_grad runs it
            np.matmul(w.T, t.rows, out=t.dcols)                # dL/dx before col2im

        def step(body=body, M=M, K=K, step_n=ops_conv._chunk_size((K + M) * L, 4)):
            ops_conv._over_chunks(N, step_n, body, (np.zeros((K, M), dtype=np.float32),))

        steps[f"{name}: its GEMMs alone"] = step
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
    if args.floor and args.worker == "nanogen" and not args.check:
        steps.update(gemm_floor_steps())  # timed in the same calls' rotation as the layers
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


def floor_table(results):
    """Each big im2col layer: nanogen's whole layer, its GEMMs alone, torch's whole layer (same rounds)."""
    floors = [k for k in results["nanogen"][0]["times"] if k.endswith(": its GEMMs alone")]
    rows = []
    for key in floors:
        layer = key[: -len(": its GEMMs alone")]
        ng = [r["times"][layer] * 1e3 for r in results["nanogen"]]
        gemm = [r["times"][key] * 1e3 for r in results["nanogen"]]
        row = [layer, common.spread(ng), common.spread(gemm),
               common.spread([100 * (a - b) / a for a, b in zip(ng, gemm)], "{:.0f}")]
        if "torch" in results:
            th = [r["times"][layer] * 1e3 for r in results["torch"]]
            row += [common.spread(th), common.spread([g / t for g, t in zip(gemm, th)]) + "x"]
        rows.append(row)
    header = ["layer", "nanogen ms", "its GEMMs alone ms", "% outside the GEMMs"]
    header += ["torch ms", "GEMMs alone / torch"] if "torch" in results else []
    print("\nthe floor of the im2col design: the same GEMMs over the same chunks and threads, "
          "no layout pass (nanogen worker)")
    common.table(rows, header)


def main():
    parser = common.add_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--passes", action="store_true", help="also time each im2col/col2im pass vs a memcpy")
    parser.add_argument("--floor", action="store_true",
                        help="also time the GEMMs alone of the big im2col layers, against torch's whole layer")
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
    results = common.run_rounds(__file__, fws, ["--floor"] if args.floor else [], args)
    common.header("conv2d / conv_transpose2d, forward+backward, float32, batch 128 (benchmarks/bench_conv.py)",
                  args, results)
    common.comparison_table(results, [c[0] for c in CASES])
    if args.floor:
        floor_table(results)
    if args.passes:
        res = {"nanogen": [common.spawn(__file__, "nanogen", ["--passes", "--repeat", args.repeat], args.threads)
                           for _ in range(args.rounds)]}
        print("\nim2col / col2im, whole batch, each pass alone (nanogen worker), ms:")
        common.comparison_table(res, list(res["nanogen"][0]["times"]), base=None)


if __name__ == "__main__":
    main()
