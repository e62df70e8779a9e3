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
  label_accuracy    cgan only: how often the classifier reads the digit that G was asked for.
The classifier is found at $NANOGEN_CLASSIFIER, else the run's `classifier` config key, else
runs/classifier/checkpoint.npz; the error message names the command that creates it.
"""

import os

import numpy as np

from .. import metrics
from .classifier_recipes import load_classifier

ENV = "NANOGEN_CLASSIFIER"
DEFAULT_PATH = os.path.join("runs", "classifier", "checkpoint.npz")
TRAIN_COMMAND = "nanogen train classifier --out runs/classifier"


def find_classifier(path=None):
    """The classifier checkpoint to use: $NANOGEN_CLASSIFIER, else `path`, else the default.

    A run folder is accepted in place of its checkpoint.npz. Raises FileNotFoundError naming the
    place looked at and the command that creates the classifier.
    """
    source, chosen = "default", DEFAULT_PATH
    if os.environ.get(ENV):
        source, chosen = f"${ENV}", os.environ[ENV]
    elif path:
        source, chosen = "the run's config key 'classifier'", path
    if os.path.isdir(chosen):
        chosen = os.path.join(chosen, "checkpoint.npz")
    if not os.path.isfile(chosen):
        raise FileNotFoundError(
            f"GAN evaluation needs a trained MNIST classifier; none at {chosen} ({source}). Create it with:\n"
            f"    {TRAIN_COMMAND}\n(5 epochs, a few minutes on two cores, 99.1% test accuracy; or point "
            f"${ENV} at another classifier checkpoint)")
    return chosen


def fcd(classifier, real, fake):
    """Frechet classifier distance between two image sets (N, 1, 28, 28) in [0, 1]."""
    return metrics.frechet_distance_from_features(classifier.features(real), classifier.features(fake))


def evaluate_samples(classifier, real, fake, requested_labels=None, real_features=None):
    """All the numbers for generated images `fake` against real images `real`, both (N, 1, 28, 28)
    in [0, 1]. requested_labels (N_fake,): the digits a conditional G was asked for.
    real_features: the classifier's features of `real`, if already computed."""
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
    return out


def evaluate_generator(recipe, data, rng, n=10000, classifier=None):
    """`nanogen eval` for a GAN recipe (gan.GANRecipe): n samples against the test images `data`.

    classifier: a Classifier, a checkpoint path, or None (find_classifier's search order)."""
    if classifier is None or isinstance(classifier, (str, os.PathLike)):
        classifier = load_classifier(find_classifier(classifier))
    x, _ = data
    labels = np.arange(n) % recipe.cfg.n_classes if recipe.conditional else None
    fake = recipe.sample(n, rng, labels=labels) if recipe.conditional else recipe.sample(n, rng)
    return evaluate_samples(classifier, x, fake, requested_labels=labels)
