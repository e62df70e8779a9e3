"""`nanogen eval RUN --ood DATASET`: a trained autoencoder or VAE as an outlier detector, graded.

Read models/outliers.py first (the scores, the paradox, the fixes); this file owns the command:
which images are "in" and which are "out", the background run, the table or JSON, and the
pictures written to RUN/ood-DATASET/: histograms.png (every score, both sets), roc.png (every
score's ROC curve) and results.json (what --json prints).

    nanogen eval RUN --ood mnist|fashion-mnist|heldout [--scores NAME ...] [--background RUN]
                     [--iw-samples K] [--limit N] [--seed S] [--json]
In-distribution: the test set of the run's data set, without its held-out class when the run was
trained with --holdout-class K. Outliers: the test set of DATASET; `heldout` is the held-out
class of the run's own test set (the held-out-class protocol: train on nine classes, score the
tenth). Cost: the IWAE scores decode K codes per image, 2 * N * K decoder passes in all.
"""

import json
import os
import sys
import time

import numpy as np

from .settings import positive

OOD_DATASETS = {
    "mnist": "the MNIST test set (10,000 digits)",
    "fashion-mnist": "the Fashion-MNIST test set (10,000 clothes)",
    "heldout": "the run's held-out class of its own test set (train with --holdout-class K)",
}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
                      "bag", "boot"],
}


def add_ood_arguments(p):
    """The --ood flags of `nanogen eval` (cli.py calls this on its eval parser)."""
    from .models.outliers import ALIASES, SCORES

    p.add_argument("--ood", metavar="DATASET", default=None,
                   help="score the run as an outlier detector against DATASET: " + ", ".join(OOD_DATASETS)
                        + ", or folder:PATH (your own images, as 28x28 grayscale)")
    p.add_argument("--scores", nargs="+", metavar="NAME", default=None,
                   help=f"--ood: which scores (default: all the model supports): {', '.join(SCORES)} "
                        f"(short: {', '.join(ALIASES)})")
    p.add_argument("--background", metavar="RUN", default=None,
                   help="--ood: a background run (same model, trained with --perturb) for likelihood_ratio")
    p.add_argument("--iw-samples", type=positive(int, "--iw-samples"), default=100, metavar="K",
                   help="--ood: importance samples K of the IWAE estimate of -log p(x) (default %(default)s)")


def check_ood_name(name):
    if name.startswith("folder:") and len(name) > len("folder:"):   # a folder of your own images
        return
    if name not in OOD_DATASETS:
        raise ValueError(f"--ood: unknown dataset {name!r}; known: "
                         + "; ".join(f"{k} ({v})" for k, v in OOD_DATASETS.items()))


def ood_sets(cfg, ood, limit=None):
    """(x_in, x_out, y_out, description) for a run's config and an --ood name."""
    from .cli import load_dataset
    from .models.outliers import holdout_split

    check_ood_name(ood)
    dataset, k = cfg.get("dataset", "mnist"), cfg.get("holdout_class")
    if ood == dataset:
        raise ValueError(f"--ood {ood}: the run was trained on {dataset}, so that test set is the in-distribution "
                         "set; pick another data set" + (" or --ood heldout" if k is not None else ""))
    if ood == "heldout" and k is None:
        raise ValueError("--ood heldout: this run was trained on every class; train with --holdout-class K "
                         "(e.g. nanogen train vae --holdout-class 9) to hold one out")
    x, y = load_dataset(dataset, "test")
    x_in, x_out, y_out = x, None, None
    if k is not None:
        (x_in, _), (x_out, y_out) = holdout_split(x, y, k)
    if ood != "heldout":
        x_out, y_out = load_dataset(ood, "test")
    if limit:
        x_in, x_out, y_out = x_in[:limit], x_out[:limit], y_out[:limit]
    held = f" without class {k}" if k is not None else ""
    out = f"{dataset} test class {k}" if ood == "heldout" else f"{ood} test"
    return x_in, x_out, y_out, f"in: {dataset} test{held} ({len(x_in)}), out: {out} ({len(x_out)})"


def _load_background(path, recipe, cfg):
    from .cli import load_run

    background, bcfg = load_run(path)
    if not getattr(background, "has_likelihood", False) or bcfg.get("model") != cfg.get("model"):
        raise ValueError(f"--background {path}: a {bcfg.get('model')} run; the background of a {cfg['model']} "
                         f"run must be a {cfg['model']} run trained with --perturb")
    if bcfg.get("dataset", "mnist") != cfg.get("dataset", "mnist"):
        raise ValueError(f"--background {path}: trained on {bcfg.get('dataset')}, the run on {cfg.get('dataset')}; "
                         "train the background on the same data set")
    if not bcfg.get("perturb"):
        print(f"nanogen eval: warning: --background {path} was trained without --perturb; Ren et al. train "
              "it on perturbed inputs (--perturb 0.1 to 0.2)", file=sys.stderr)
    return background, bcfg


def eval_ood(args):
    """`nanogen eval RUN --ood DATASET`: prints a table (or --json), writes RUN/ood-DATASET/."""
    from .cli import load_run
    from .models.outliers import SCORES, choose_scores, detection_metrics, per_class_auroc
    from .serialize import atomic_write

    check_ood_name(args.ood)                                  # before any loading
    recipe, cfg = load_run(args.run)
    if getattr(recipe, "score_outliers", None) is None:
        raise ValueError(f"the {recipe.name} model has no outlier scores; --ood works for the autoencoders "
                         "(ae, stacked-ae, sparse-ae, denoising-ae, conv-ae) and the VAEs (vae, conv-vae, beta-vae)")
    has_likelihood = getattr(recipe, "has_likelihood", False)
    background, bcfg = _load_background(args.background, recipe, cfg) if args.background else (None, None)
    names = choose_scores(args.scores, recipe.name, has_likelihood, background is not None)
    x_in, x_out, y_out, what = ood_sets(cfg, args.ood, args.limit)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    scores = {}
    for part, x in (("in", x_in), ("out", x_out)):
        print(f"nanogen eval: scoring {len(x)} {part} images by {', '.join(names)} ...", file=sys.stderr, flush=True)
        scores[part] = recipe.score_outliers(x, names, rng, background, args.iw_samples)
    result = {"model": cfg["model"], "run": args.run, "dataset": cfg.get("dataset", "mnist"), "ood": args.ood,
              "holdout_class": cfg.get("holdout_class"), "sets": what, "n_in": int(len(x_in)),
              "n_out": int(len(x_out)), "iw_samples": args.iw_samples if has_likelihood else None,
              "background": args.background, "background_perturb": bcfg.get("perturb") if bcfg else None,
              "higher_means": "more anomalous", "scores": {}}
    for name in names:
        s_in, s_out = scores["in"][name], scores["out"][name]
        result["scores"][name] = {"description": SCORES[name], **detection_metrics(s_in, s_out),
                                  "per_class_auroc": {str(k): v for k, v in per_class_auroc(s_in, s_out, y_out).items()}}
    result["eval_seconds"] = float(time.perf_counter() - t0)
    folder = os.path.join(args.run, f"ood-{args.ood}")
    title = f"{cfg['model']}: {what}"
    class_names = CLASS_NAMES.get(cfg.get("dataset", "mnist") if args.ood == "heldout" else args.ood)
    score_histograms(scores["in"], scores["out"], path=os.path.join(folder, "histograms.png"), title=title)
    roc_curves(scores["in"], scores["out"], path=os.path.join(folder, "roc.png"), title=title)
    result["figures"] = [os.path.join(folder, f) for f in ("histograms.png", "roc.png")]
    with atomic_write(os.path.join(folder, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{title}\n{'score':>18} {'AUROC':>7} {'AUPRC':>7} {'(chance)':>8} {'mean in':>10} {'mean out':>10}")
    for name, r in result["scores"].items():
        print(f"{name:>18} {r['auroc']:7.3f} {r['auprc']:7.3f} {r['auprc_chance']:8.3f} "
              f"{r['mean_in']:10.4g} {r['mean_out']:10.4g}")
    classes = sorted(int(k) for k in np.unique(y_out))
    if len(classes) > 1:
        print("AUROC by outlier class:\n" + f"{'':>18} " + " ".join(f"{class_names[k][:7]:>7}" for k in classes))
        for name, r in result["scores"].items():
            print(f"{name:>18} " + " ".join(f"{r['per_class_auroc'][str(k)]:7.3f}" for k in classes))
    print(f"figures and results.json in {folder}/ ({result['eval_seconds']:.0f} s)")
    return 0


# ---------------------------------------------------------------------------- pictures


def score_histograms(scores_in, scores_out, path=None, title=None, labels=("in-distribution", "outliers")):
    """One panel per score: histograms of the in-distribution and the outlier scores, with AUROC.

    scores_in, scores_out: {name: (N,)} with the same names.   -> matplotlib Figure
    """
    from matplotlib.figure import Figure

    from .metrics import auroc
    from .plot import save_figure

    names = list(scores_in)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)                             # ceil: three panels a row
    fig = Figure(figsize=(3.3 * cols, 2.7 * rows + 0.4), dpi=100, layout="constrained")
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        a, b = np.asarray(scores_in[name], float), np.asarray(scores_out[name], float)
        lo, hi = np.percentile(np.r_[a, b], [0.5, 99.5])      # the extreme tails would squash the rest
        bins = np.linspace(lo, hi, 50) if hi > lo else 10
        ax.hist(a, bins=bins, alpha=0.55, density=True, color="C0", label=labels[0])
        ax.hist(b, bins=bins, alpha=0.55, density=True, color="C3", label=labels[1])
        y = np.r_[np.zeros(len(a)), np.ones(len(b))]
        ax.set_title(f"{name}\nAUROC {auroc(np.r_[a, b], y):.3f}", fontsize=10)
        ax.set_yticks([])
        if i == 0:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    if path is not None:
        save_figure(fig, path)
    return fig


def roc_curves(scores_in, scores_out, path=None, title=None, ax=None):
    """Every score's ROC curve (outliers = positives) on one axes, AUROC in the legend."""
    from matplotlib.figure import Figure

    from .metrics import auroc, roc_curve
    from .plot import save_figure

    if ax is None:
        fig = Figure(figsize=(5.0, 4.8), dpi=100, layout="constrained")
        ax = fig.add_subplot()
    for i, name in enumerate(scores_in):
        s = np.r_[scores_in[name], scores_out[name]]
        y = np.r_[np.zeros(len(scores_in[name])), np.ones(len(scores_out[name]))]
        fpr, tpr, _ = roc_curve(s, y)
        ax.plot(fpr, tpr, color=f"C{i}", linewidth=2, label=f"{name} ({auroc(s, y):.3f})")
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (in-distribution flagged)",
           ylabel="true positive rate (outliers flagged)", aspect="equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    if path is not None:
        save_figure(ax.figure, path)
    return ax.figure
