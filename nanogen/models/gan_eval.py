"""Judging a generator honestly: FCD, class coverage, inception score, and label accuracy for cgan.

Read after classifier.py and metrics.py. A GAN's losses go up and down with the game and say
little about the digits (gan.py), so `nanogen eval RUN` for gan, dcgan and cgan measures samples
with a classifier trained by nanogen (`nanogen train classifier`), never with the GAN's own D:
  fcd               Frechet distance between Gaussians fitted to the classifier's penultimate
                    features of the real test images and of n generated ones (FID with an MNIST
                    network instead of Inception-v3: Heusel et al. 2017, App. B). Lower is better.
  fcd_test_halves   the same distance between the two halves of the test set: the floor a perfect
                    generator would reach with this many samples (FCD is biased upwards for small n).
  class_*           the predicted-digit histogram of the samples (metrics.mode_coverage_from_labels):
                    a collapsed GAN draws a few digits far too often. Share of each class, min/max,
                    classes holding >= 5%, KL from uniform.
  inception_score   exp E_x KL(p(y|x) || p(y)) (Salimans et al. 2016, Sec. 4), from 1 to 10 here:
                    high when each sample is clearly one digit and all digits appear.
  label_accuracy    conditional GANs (cgan, acgan): how often the classifier reads the digit that G
                    was asked for.
  fcd_class_k       conditional GANs: FCD of the samples asked for digit k against the real k's, the
                    diversity *within* a class that label_accuracy cannot see; fcd_within_class_mean
                    averages them, fcd_within_class_floor is the same mean for the real k's split in
                    half (the floor with these sample sizes).
The classifier is $NANOGEN_CLASSIFIER if set, else the run's `classifier` config key, else
nanogen's standard classifier in <cache>/classifier/, beside the data sets (<cache> is
$NANOGEN_CACHE, default ~/.cache/nanogen): the same place from any working folder. When that one is
missing it is trained once, by one fixed recipe and seed (STANDARD_ARGS), so that everyone's FCD
is measured with the same network -- as FID's numbers are comparable because everyone uses the
same Inception weights.
"""

import os
import sys

import numpy as np

from .. import metrics
from .classifier_recipes import load_classifier

ENV = "NANOGEN_CLASSIFIER"
#: `nanogen ...` arguments that train the standard classifier: the recipe's defaults, seed 0, MNIST
STANDARD_ARGS = ("train", "classifier", "--seed", "0", "--dataset", "mnist")


def standard_classifier_dir():
    """Where the standard classifier's run lives: <cache>/classifier (see nanogen.data.cache_dir)."""
    from ..data import cache_dir

    return os.path.join(cache_dir(), "classifier")


def _finished(checkpoint):
    """True when `checkpoint` holds a classifier trained to the end of its planned epochs."""
    from ..train import load_checkpoint

    if not os.path.isfile(checkpoint):
        return False
    meta = load_checkpoint(checkpoint)["meta"]
    return meta.get("epoch", 0) >= (meta.get("config") or {}).get("epochs", 1)


def train_standard_classifier(folder=None):
    """Train (or finish, after an interruption) the standard classifier into `folder` with
    STANDARD_ARGS, with a progress bar; returns its checkpoint path."""
    from ..cli import build_parser, cmd_train
    from ..train import CHECKPOINT

    folder = folder or standard_classifier_dir()
    resume = os.path.isfile(os.path.join(folder, CHECKPOINT))
    print(f"nanogen: GAN evaluation needs nanogen's MNIST classifier; {'finishing' if resume else 'training'} "
          f"it once into {folder} ({' '.join(STANDARD_ARGS[2:])}; about 4 minutes on two cores)",
          file=sys.stderr, flush=True)
    args = build_parser().parse_args([*STANDARD_ARGS, "--out", str(folder), "--resume" if resume else "--overwrite"])
    cmd_train(args)
    return os.path.join(folder, CHECKPOINT)


def add_classifier_flag(parser, purpose="eval"):
    """The `--classifier PATH` flag of a recipe whose numbers (or, for superres, whose loss) use the
    classifier; find_classifier below resolves it. purpose: what the recipe uses it for, for --help."""
    parser.add_argument("--classifier", default=None,
                        help=f"classifier checkpoint for {purpose} (default ${ENV}, else nanogen's standard "
                             "one in the cache, trained once when missing)")


def find_classifier(path=None, train_if_missing=True):
    """The classifier checkpoint to use: $NANOGEN_CLASSIFIER, else `path`, else the standard one in
    the cache (trained there first when missing, unless train_if_missing is False).

    A run folder is accepted in place of its checkpoint.npz. A named file that does not exist
    raises FileNotFoundError naming where it looked and what to do.
    """
    from ..train import CHECKPOINT

    if os.environ.get(ENV):
        source, chosen = f"${ENV}", os.environ[ENV]
    elif path:
        source, chosen = "the run's config key 'classifier'", path
    else:
        chosen = os.path.join(standard_classifier_dir(), CHECKPOINT)
        if not _finished(chosen):
            if not train_if_missing:
                raise FileNotFoundError(f"no standard classifier at {chosen} yet; `nanogen eval` of a GAN run "
                                        "trains it there")
            chosen = train_standard_classifier()
        return chosen
    if os.path.isdir(chosen):
        chosen = os.path.join(chosen, CHECKPOINT)
    if not os.path.isfile(chosen):
        raise FileNotFoundError(
            f"GAN evaluation needs a trained MNIST classifier; none at {chosen} ({source}). Point it at a "
            f"checkpoint of `nanogen train classifier`, or leave it unset to use nanogen's standard "
            f"classifier in {standard_classifier_dir()} (trained once when missing)")
    return chosen


def fcd(classifier, real, fake):
    """Frechet classifier distance between two image sets (N, 1, 28, 28) in [0, 1]."""
    return metrics.frechet_distance_from_features(classifier.features(real), classifier.features(fake))


def evaluate_samples(classifier, real, fake, requested_labels=None, real_features=None, real_labels=None):
    """All the numbers for generated images `fake` against real images `real`, both (N, 1, 28, 28)
    in [0, 1]. requested_labels (N_fake,): the digits a conditional G was asked for.
    real_features: the classifier's features of `real`, if already computed. real_labels (N_real,):
    with requested_labels, adds the per-class FCDs."""
    f_real = classifier.features(real) if real_features is None else real_features    # (N_real, D)
    f_fake = classifier.features(fake)                                                 # (N_fake, D)
    probs = classifier.predict_proba(fake)                                             # (N_fake, K)
    pred = probs.argmax(axis=1)
    K = probs.shape[1]
    cov = metrics.mode_coverage_from_labels(pred, n_classes=K, min_share=0.05)
    is_mean, is_std = metrics.inception_score(probs, splits=10 if len(fake) >= 1000 else 1)
    half = len(f_real) // 2
    out = {
        "fcd": metrics.frechet_distance_from_features(f_real, f_fake),
        "fcd_test_halves": metrics.frechet_distance_from_features(f_real[:half], f_real[half:]),
        "inception_score": is_mean,
        "inception_score_std": is_std,
        "classes_covered": cov["n_covered"],
        "class_min_share": cov["min_share"],
        "class_max_share": cov["max_share"],
        "class_kl_from_uniform": cov["kl_from_uniform"],
        "n_generated": int(len(fake)),
    }
    out.update({f"class_share_{k}": float(s) for k, s in enumerate(cov["histogram"])})
    if requested_labels is not None:
        out["label_accuracy"] = metrics.accuracy(pred, requested_labels)
        if real_labels is not None:
            out.update(per_class_fcd(f_real, np.asarray(real_labels), f_fake, np.asarray(requested_labels)))
    return out


def per_class_fcd(f_real, y_real, f_fake, y_fake):
    """FCD per class k between real features with label k and fake ones asked for k, (N, D) each
    with labels (N,); the mean over classes, and the floor: the mean over classes of the real k's
    first half against their second half."""
    out, floors = {}, []
    for k in np.unique(y_fake):
        real_k, fake_k = f_real[y_real == k], f_fake[y_fake == k]
        if len(real_k) < 4 or len(fake_k) < 2:
            continue                                  # too few to fit a Gaussian: leave the class out
        out[f"fcd_class_{int(k)}"] = metrics.frechet_distance_from_features(real_k, fake_k)
        half = len(real_k) // 2
        floors.append(metrics.frechet_distance_from_features(real_k[:half], real_k[half:]))
    if floors:
        out["fcd_within_class_mean"] = float(np.mean(list(out.values())))
        out["fcd_within_class_floor"] = float(np.mean(floors))
    return out


def evaluate_generator(recipe, data, rng, n=10000, classifier=None):
    """`nanogen eval` for a GAN recipe (gan.GANRecipe): n samples against the test images `data`.

    classifier: a Classifier, a checkpoint path, or None (find_classifier's search order)."""
    if classifier is None or isinstance(classifier, (str, os.PathLike)):
        classifier = load_classifier(find_classifier(classifier))
    x, y = data
    labels = np.arange(n) % recipe.cfg.n_classes if recipe.conditional else None
    fake = recipe.sample(n, rng, labels=labels) if recipe.conditional else recipe.sample(n, rng)
    return evaluate_samples(classifier, x, fake, requested_labels=labels, real_labels=y)


# ---------------------------------------------------------------------------- a table for the demos

#: the columns report_table can print: metric -> (heading, how one value is written)
REPORT_COLUMNS = {
    "fcd": ("FCD", "{:.2f}"),
    "fcd_test_halves": ("floor", "{:.2f}"),
    "inception_score": ("IS", "{:.2f}"),
    "digit_shares": ("min/max digit share", None),     # class_min_share / class_max_share
    "label_accuracy": ("label acc", "{:.1%}"),
    "fcd_within_class_mean": ("FCD within class", "{:.2f}"),
    "fcd_within_class_floor": ("class floor", "{:.2f}"),
}


def _cell(m, column):
    if column == "digit_shares":
        return f"{m['class_min_share']:.1%} / {m['class_max_share']:.1%}" if "class_min_share" in m else "-"
    return REPORT_COLUMNS[column][1].format(m[column]) if column in m else "-"


def report_table(rows, columns=("fcd", "fcd_test_halves", "inception_score", "digit_shares", "label_accuracy"),
                 first="model", file=None):
    """Print evaluations side by side: one line per (name, metrics) in `rows`, metrics being what
    evaluate_samples or evaluate_generator returned; `columns` are keys of REPORT_COLUMNS, `first`
    heads the column of names. A number a row lacks (label accuracy of an unconditional GAN) is "-"."""
    table = [[first] + [REPORT_COLUMNS[c][0] for c in columns]]
    table += [[str(name)] + [_cell(m, c) for c in columns] for name, m in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths)), file=file)


def classifier_or_none():
    """The classifier of find_classifier(), or None after printing why there is none: a demo then
    goes on without its numbers."""
    try:
        return load_classifier(find_classifier())
    except FileNotFoundError as e:
        print(e)
        return None
