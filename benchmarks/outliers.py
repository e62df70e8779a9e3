"""Outlier detection quality: the numbers of the README's outlier table, through the `nanogen` command.

    python benchmarks/outliers.py [--epochs 5] [--holdout-epochs 3] [--holdout-subset 20000]
                                  [--limit 2000] [--iw-samples 20] [--out runs/outliers]
                                  [--parts pairs holdout] [--digits 0 1 ...]

pairs: MNIST vs Fashion-MNIST in both directions. For each training set: an ae (the
reconstruction-error baseline of demos/anomaly.py), a vae on grey pixels and one on binarised
pixels (--binarize), each vae with a background twin trained with --perturb 0.2 (Ren et al.
2019); then `nanogen eval RUN --ood OTHER --background BG` on the first --limit images of each
test set. holdout: the held-out-class protocol on MNIST: for each digit K an ae and a binarised
vae (and its background) trained with --holdout-class K on the first --holdout-subset training
images of the nine other digits, scored by `nanogen eval RUN --ood heldout`.
Runs already trained (a checkpoint in their folder) are reused, so an interrupted run continues.
Writes OUT/results.json and prints markdown tables. A quality measurement, not a speed one.
"""

import argparse
import contextlib
import io
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from nanogen.cli import main  # noqa: E402

OTHER = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}
VARIANTS = {"ae": ["ae"], "vae": ["vae"], "vaebin": ["vae", "--binarize"]}
PERTURB = "0.2"


def train(folder, argv, log):
    if os.path.exists(os.path.join(folder, "checkpoint.npz")):
        return
    t0 = time.perf_counter()
    if main(["train", *argv, "--out", folder, "--quiet"]) != 0:
        raise SystemExit(f"training {folder} failed")
    log(f"trained {folder} in {time.perf_counter() - t0:.0f} s")


def evaluate(run, ood, background, iw_samples, limit, log):
    argv = ["eval", run, "--ood", ood, "--json", "--iw-samples", str(iw_samples), "--limit", str(limit)]
    if background:
        argv += ["--background", background]
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        if main(argv) != 0:
            raise SystemExit(f"eval {run} --ood {ood} failed")
    log(f"evaluated {run} --ood {ood} in {time.perf_counter() - t0:.0f} s")
    return json.loads(out.getvalue())


def model_runs(out, variant, tag, common, epochs, log):
    """Train the variant (and its background for a vae); return (run, background or None)."""
    run = os.path.join(out, f"{variant}-{tag}")
    train(run, [*VARIANTS[variant], *common, "--epochs", str(epochs)], log)
    if variant == "ae":
        return run, None
    bg = run + "-bg"
    train(bg, [*VARIANTS[variant], *common, "--epochs", str(epochs), "--perturb", PERTURB], log)
    return run, bg


def main_(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--holdout-epochs", type=int, default=3)
    p.add_argument("--holdout-subset", type=int, default=20000, help="training images of the nine digits")
    p.add_argument("--limit", type=int, default=2000, help="test images per set (in, out)")
    p.add_argument("--iw-samples", type=int, default=20)
    p.add_argument("--out", default="runs/outliers")
    p.add_argument("--parts", nargs="+", default=["pairs", "holdout"], choices=["pairs", "holdout"])
    p.add_argument("--digits", type=int, nargs="+", default=list(range(10)))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "results.json")
    results = json.load(open(path)) if os.path.exists(path) else {"pairs": {}, "holdout": {}}

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def save():
        with open(path + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
        os.replace(path + ".tmp", path)

    if "pairs" in args.parts:
        for ds in ("fashion-mnist", "mnist"):
            for variant in ("vaebin", "ae", "vae"):
                key = f"{variant} {ds} -> {OTHER[ds]}"
                if key in results["pairs"]:
                    continue
                run, bg = model_runs(args.out, variant, ds, ["--dataset", ds], args.epochs, log)
                results["pairs"][key] = evaluate(run, OTHER[ds], bg, args.iw_samples, args.limit, log)
                save()
    if "holdout" in args.parts:
        for k in args.digits:
            for variant in ("vaebin", "ae"):
                key = f"{variant} holdout {k}"
                if key in results["holdout"]:
                    continue
                common = ["--holdout-class", str(k), "--subset", str(args.holdout_subset)]
                run, bg = model_runs(args.out, variant, f"holdout{k}", common, args.holdout_epochs, log)
                results["holdout"][key] = evaluate(run, "heldout", bg, args.iw_samples, args.limit, log)
                save()
    print(tables(results))


def tables(results):
    """The markdown tables of the README from results.json."""
    lines = []
    if results.get("pairs"):
        lines += ["| model | trained on -> outliers | " + " | ".join(
            ["recon_mse", "neg_elbo", "iwae_nll", "input_complexity", "likelihood_ratio"]) + " |",
            "|---|---|" + "---|" * 5]
        for key, r in results["pairs"].items():
            variant, ds, _, other = key.split()
            cells = [f"{r['scores'][s]['auroc']:.3f}" if s in r["scores"] else "-"
                     for s in ("recon_mse", "neg_elbo", "iwae_nll", "input_complexity", "likelihood_ratio")]
            lines.append(f"| {variant} | {ds} -> {other} | " + " | ".join(cells) + " |")
    if results.get("holdout"):
        digits = sorted({int(k.split()[-1]) for k in results["holdout"]})
        lines += ["", "| held-out digit | " + " | ".join(str(d) for d in digits) + " | mean |",
                  "|---|" + "---|" * (len(digits) + 1)]
        rows = [("ae", "recon_mse")] + [("vaebin", s) for s in
                                        ("recon_mse", "neg_elbo", "iwae_nll", "input_complexity", "likelihood_ratio")]
        for variant, score in rows:
            vals = [results["holdout"].get(f"{variant} holdout {d}", {}).get("scores", {}).get(score, {}).get("auroc")
                    for d in digits]
            if all(v is None for v in vals):
                continue
            got = [v for v in vals if v is not None]
            lines.append(f"| {variant} {score} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals)
                         + f" | {sum(got) / len(got):.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main_()
