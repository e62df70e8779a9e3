"""Evaluation numbers on raw NumPy arrays: AUROC, AUPRC, Frechet distance, inception score, mode
coverage, the IWAE log-mean-exp, active units, accuracy.

No autograd and no models here: every function takes arrays that a model has already produced
(scores, features, softmax probabilities, predicted labels, posterior means) and returns plain
floats. Read after models/ (which produce those arrays); plot.py draws what these measure.
Everything is computed in float64 with the stable form of each formula, and bad shapes raise a
ValueError naming the function, what it expected and what it got.

References: Mann & Whitney 1947 (AUROC as a rank statistic); Davis & Goadrich 2006, "The
relationship between precision-recall and ROC curves", Sec. 4 (AUPRC without linear
interpolation); Heusel et al. 2017, "GANs trained by a two time-scale update rule", App. B
(Frechet distance); Salimans et al. 2016, "Improved techniques for training GANs", Sec. 4
(inception score); Burda et al. 2016, "Importance weighted autoencoders", Sec. 3 and 5.2 (the
bound and active units).
"""

import numpy as np

from .tensor import as_array

__all__ = [
    "accuracy",
    "auroc",
    "roc_curve",
    "precision_recall_curve",
    "auprc",
    "gaussian_stats",
    "frechet_distance",
    "frechet_distance_from_features",
    "inception_score",
    "mode_coverage_from_labels",
    "logmeanexp",
    "active_units",
]


# ----------------------------------------------------------------------------------------------
# input checks, shared by everything below

def _array(x, name, op, ndim=None, finite=True):
    """x as a float64 array, with a clear error if it has the wrong number of axes or NaN/Inf."""
    a = as_array(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{op}: {name} must be a numeric array, got dtype {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        want = {1: "(N,)", 2: "(N, D)"}.get(ndim, f"{ndim} axes")
        raise ValueError(f"{op}: {name} must have shape {want}, got shape {a.shape}")
    a = a.astype(np.float64)
    if finite and not np.all(np.isfinite(a)):
        raise ValueError(f"{op}: {name} contains NaN or Inf; evaluate a model whose outputs are finite")
    return a


def _int_labels(x, name, op):
    """x as an int64 (N,) array; floats are accepted only if they hold whole numbers."""
    a = as_array(x)
    if a.ndim != 1:
        raise ValueError(f"{op}: {name} must have shape (N,), got shape {a.shape}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{op}: {name} must hold integer class labels, got non-integer values")
    elif not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise ValueError(f"{op}: {name} must hold integer class labels, got dtype {a.dtype}")
    return a.astype(np.int64)


def _binary_labels(labels, n, op):
    """labels as a bool (N,) array: True for the positive class; both classes must be present."""
    y = as_array(labels)
    if y.shape != (n,):
        raise ValueError(f"{op}: labels must have shape ({n},) like scores, got shape {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{op}: labels must be 0/1 or bool (1 = positive class), "
                         f"got values {np.unique(y)[:5]}")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise ValueError(f"{op}: labels must contain both classes (0 and 1); "
                         f"got only {int(y[0])}s, so the ROC is undefined")
    return y


# ----------------------------------------------------------------------------------------------
# classification

def accuracy(pred_labels, labels):
    """Fraction of predictions equal to the labels.

    pred_labels: (N,) class indices, or (N, K) scores/logits/probabilities (argmax is taken).
    labels: (N,) class indices.   ->   float in [0, 1]
    """
    y = _int_labels(labels, "labels", "accuracy")
    p = as_array(pred_labels)
    if p.ndim == 2:
        p = p.argmax(axis=1)                                  # (N, K) scores -> (N,) classes
    p = _int_labels(p, "pred_labels", "accuracy")
    if p.shape != y.shape:
        raise ValueError(f"accuracy: pred_labels and labels must have the same length, "
                         f"got {p.shape[0]} and {y.shape[0]}")
    if y.size == 0:
        raise ValueError("accuracy: got no labels (N = 0)")
    return float(np.mean(p == y))


def _average_ranks(x):
    """1-based ranks of x, tied values sharing the mean of the ranks they occupy.   (N,) -> (N,)

    e.g. x = [10, 20, 20, 30] -> [1, 2.5, 2.5, 4].
    """
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)                                   # rank of the last copy of each value
    mean_rank = last - (counts - 1) / 2.0                      # mean of first..last
    return mean_rank[inverse]


def auroc(scores, labels):
    """Area under the ROC curve: P(score of a random positive > score of a random negative),
    counting ties as one half.

    scores: (N,) real, higher means "more positive";  labels: (N,) 0/1 or bool.   ->   float
    Computed from ranks, as the Mann-Whitney U statistic, in O(N log N):
        U = (sum of the ranks of the positives) - P (P + 1) / 2,    AUROC = U / (P * Q)
    with P positives, Q negatives and tied scores given their average rank (which is exactly
    what turns each tied positive-negative pair into one half).
    1.0: every positive scores above every negative; 0.5: chance; 0.0: perfectly inverted.
    """
    s = _array(scores, "scores", "auroc", ndim=1)
    y = _binary_labels(labels, s.shape[0], "auroc")
    P, Q = int(y.sum()), int((~y).sum())
    ranks = _average_ranks(s)
    U = ranks[y].sum() - P * (P + 1) / 2.0
    return float(U / (P * Q))


def _threshold_counts(s, y):
    """True and false positives of the rule "positive if score >= t" for each distinct score t,
    thresholds decreasing: tps, fps: (T,) int, thresholds: (T,). Tied scores form one threshold,
    so a block of equal scores is counted all at once (no arbitrary order inside a tie)."""
    order = np.argsort(-s, kind="stable")                     # highest score first
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], s.shape[0] - 1]   # end of each block of equal scores
    tps = np.cumsum(y)[last_of_tie]                           # positives scoring >= each threshold
    fps = (last_of_tie + 1) - tps                             # negatives scoring >= each threshold
    return tps, fps, s[last_of_tie]


def roc_curve(scores, labels):
    """The ROC curve: for each threshold t, (false positive rate, true positive rate) of the
    rule "positive if score >= t".

    scores: (N,);  labels: (N,) 0/1 or bool.
    -> fpr: (T + 1,), tpr: (T + 1,), thresholds: (T + 1,) with T distinct scores, thresholds
       decreasing; the first point is (0, 0) at threshold +inf and the last is (1, 1) at the
       smallest score. The trapezoid area under (fpr, tpr) equals auroc(scores, labels).
    """
    s = _array(scores, "scores", "roc_curve", ndim=1)
    y = _binary_labels(labels, s.shape[0], "roc_curve")
    tps, fps, thresholds = _threshold_counts(s, y)
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return fpr, tpr, np.r_[np.inf, thresholds]


def precision_recall_curve(scores, labels):
    """Precision and recall of the rule "positive if score >= t", for each distinct score t.

    scores: (N,);  labels: (N,) 0/1 or bool.
    -> precision: (T,), recall: (T,), thresholds: (T,) with T distinct scores, thresholds
       decreasing (so recall rises to 1 at the smallest score).
        precision(t) = TP(t) / (TP(t) + FP(t)),    recall(t) = TP(t) / P
    """
    s = _array(scores, "scores", "precision_recall_curve", ndim=1)
    y = _binary_labels(labels, s.shape[0], "precision_recall_curve")
    tps, fps, thresholds = _threshold_counts(s, y)
    return tps / (tps + fps), tps / tps[-1], thresholds


def auprc(scores, labels):
    """Area under the precision-recall curve, as average precision (AP):

        AP = Σ_t (R_t - R_{t-1}) P_t      over the thresholds t, highest first, R_0 = 0
    the precision at each threshold weighted by the recall it adds: a step function, not a
    trapezoid (linear interpolation between PR points is optimistic: Davis & Goadrich 2006).
    scores: (N,) real, higher means "more positive";  labels: (N,) 0/1 or bool.   ->   float
    Tied scores are one threshold. Chance level is the positive fraction P / N (not 0.5 as for
    AUROC): report it beside the number. Unlike AUROC, AP depends on which class is "positive".
    e.g. scores [0.8, 0.4, 0.35, 0.1], labels [1, 0, 1, 0]: AP = 0.5 * 1 + 0.5 * 2/3 = 0.833.
    """
    precision, recall, _ = precision_recall_curve(scores, labels)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# ----------------------------------------------------------------------------------------------
# Frechet distance between Gaussians fitted to features (FID, with any feature extractor)

def gaussian_stats(features):
    """Mean and covariance of a set of feature vectors.

    features: (N, D), N >= 2   ->   mu: (D,), sigma: (D, D) (unbiased, divides by N - 1)
    """
    f = _array(features, "features", "gaussian_stats", ndim=2)
    N = f.shape[0]
    if N < 2:
        raise ValueError(f"gaussian_stats: need at least 2 feature vectors for a covariance, got {N}")
    mu = f.mean(axis=0)
    fc = f - mu                                               # (N, D) centred
    sigma = fc.T @ fc / (N - 1)                               # (D, N)(N, D) -> (D, D)
    return mu, sigma


def _sqrt_psd(a):
    """Symmetric square root of a symmetric positive semi-definite matrix, via eigh.

    Rounding can leave eigenvalues like -1e-17 on a singular covariance: clip them to 0 rather
    than take the square root of a negative number.
    """
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T         # V diag(sqrt w) V^T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Frechet (2-Wasserstein) distance squared between N(mu1, sigma1) and N(mu2, sigma2):

        d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr( (sigma1 sigma2)^(1/2) )

    mu: (D,), sigma: (D, D) symmetric PSD.   ->   float >= 0
    The textbook code calls scipy.linalg.sqrtm on the non-symmetric sigma1 sigma2, which can
    return complex noise. Here: with r = sigma1^(1/2), the matrix r sigma2 r is symmetric PSD and
    similar to sigma1 sigma2 (same eigenvalues), so tr((sigma1 sigma2)^(1/2)) = sum_i sqrt(l_i)
    with l_i = eigvalsh(r sigma2 r) -- real, stable, no scipy.
    """
    op = "frechet_distance"
    m1 = _array(mu1, "mu1", op, ndim=1)
    m2 = _array(mu2, "mu2", op, ndim=1)
    s1 = _array(sigma1, "sigma1", op, ndim=2)
    s2 = _array(sigma2, "sigma2", op, ndim=2)
    D = m1.shape[0]
    for name, a, want in (("mu2", m2, (D,)), ("sigma1", s1, (D, D)), ("sigma2", s2, (D, D))):
        if a.shape != want:
            raise ValueError(f"{op}: {name} must have shape {want} to match mu1 of shape ({D},), "
                             f"got shape {a.shape}")
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if not np.allclose(s, s.T, rtol=1e-5, atol=1e-8 * max(1.0, np.abs(s).max())):
            raise ValueError(f"{op}: {name} must be a symmetric covariance matrix")
    r = _sqrt_psd(s1)                                         # (D, D)
    m = r @ s2 @ r
    m = (m + m.T) / 2.0                                       # remove rounding asymmetry before eigh
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(m), 0.0, None)).sum()
    diff = m1 - m2
    d2 = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt
    return float(max(d2, 0.0))                                # rounding can give -1e-13 for equal inputs


def frechet_distance_from_features(f1, f2):
    """Frechet distance between Gaussians fitted to two feature sets.

    f1: (N1, D), f2: (N2, D), N1, N2 >= 2.   ->   float
    Use the same feature extractor for both sets (e.g. the penultimate layer of an MNIST
    classifier); the number is only comparable between runs that share it and the sample sizes
    (the estimate is biased upward for small N).
    """
    a = _array(f1, "f1", "frechet_distance_from_features", ndim=2)
    b = _array(f2, "f2", "frechet_distance_from_features", ndim=2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"frechet_distance_from_features: f1 and f2 must have the same feature "
                         f"size D, got {a.shape[1]} and {b.shape[1]}")
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


# ----------------------------------------------------------------------------------------------
# inception score and mode coverage: what a classifier says about generated samples

def inception_score(probs, splits=1):
    """exp( E_x KL( p(y|x) || p(y) ) ), with p(y) = mean over x of p(y|x).

    probs: (N, K) classifier softmax outputs on generated samples, rows summing to 1.
    splits: the samples are cut into this many equal parts and the score computed on each.
    -> (mean, std) over the splits (std = 0.0 for one split).
    Between 1 (every sample gets the same prediction) and K (each sample is classified with
    certainty, and the classes are used equally often). Logs are of values clamped at 1e-12, so
    a probability of exactly 0 contributes 0 * log(...) = 0 rather than NaN.
    """
    op = "inception_score"
    p = _array(probs, "probs", op, ndim=2)
    N, K = p.shape
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(f"{op}: probs must be softmax probabilities (non-negative, rows summing to 1); "
                         "apply softmax to the logits first")
    if not isinstance(splits, (int, np.integer)) or not 1 <= splits <= N:
        raise ValueError(f"{op}: splits must be an integer in [1, N = {N}], got {splits!r}")
    scores = []
    for part in np.array_split(p, splits):                    # (n, K) each
        logp = np.log(np.clip(part, 1e-12, 1.0))              # log p(y|x)
        log_py = np.log(np.clip(part.mean(axis=0), 1e-12, 1.0))   # log p(y), (K,)
        kl = np.sum(part * (logp - log_py), axis=1)           # (n,) KL(p(y|x) || p(y))
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def mode_coverage_from_labels(pred_labels, n_classes=10, min_share=0.05):
    """How evenly the generated samples cover the classes (mode collapse shows as a skewed histogram).

    pred_labels: (N,) class indices in [0, n_classes) that a classifier gave generated samples.
    -> dict with
        "histogram":       (n_classes,) float64, fraction of samples in each class (sums to 1)
        "kl_from_uniform": KL(histogram || uniform) = log K - H(histogram); 0 when all classes are
                           equally common, log K when every sample is one class
        "n_covered":       number of classes holding at least `min_share` of the samples
        "min_share", "max_share": the smallest and largest class fraction
    """
    op = "mode_coverage_from_labels"
    y = _int_labels(pred_labels, "pred_labels", op)
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"{op}: n_classes must be a positive integer, got {n_classes!r}")
    if y.size == 0:
        raise ValueError(f"{op}: got no labels (N = 0)")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"{op}: pred_labels must lie in [0, {n_classes}), "
                         f"got values from {y.min()} to {y.max()}")
    h = np.bincount(y, minlength=n_classes) / y.size          # (K,) fractions
    nz = h > 0
    kl = float(np.sum(h[nz] * np.log(h[nz] * n_classes)))     # 0 log 0 = 0: empty classes add nothing
    return {
        "histogram": h,
        "kl_from_uniform": max(kl, 0.0),
        "n_covered": int(np.sum(h >= min_share)),
        "min_share": float(h.min()),
        "max_share": float(h.max()),
    }


# ----------------------------------------------------------------------------------------------
# VAE diagnostics

def logmeanexp(a, axis=None, keepdims=False):
    """log( mean( exp(a) ) ) along `axis`, without overflow or underflow.

        logmeanexp(a) = m + log( mean( exp(a - m) ) ),   m = max(a)
    so the largest term becomes exp(0) = 1. The IWAE bound (Burda et al. 2016, Eq. 8) is
        log p(x) >= logmeanexp(log w, axis=k-axis),   log w_i = log p(x, z_i) - log q(z_i | x)
    with k samples z_i ~ q(z|x); at log w = -1000 the naive form gives log(0) = -inf, this one -1000.
    a: any shape, float; -inf entries are allowed (weight 0).   ->   float64 array (or float if
    the result is a scalar).
    """
    x = _array(a, "a", "logmeanexp", finite=False)
    if np.any(np.isnan(x)):
        raise ValueError("logmeanexp: a contains NaN")
    if x.size == 0:
        raise ValueError("logmeanexp: a is empty")
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)                      # all -inf (or +inf) slices: shift by 0
    with np.errstate(divide="ignore"):                        # log(0) = -inf is the right answer there
        out = m + np.log(np.mean(np.exp(x - m), axis=axis, keepdims=True))
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return float(out) if out.ndim == 0 else out


def active_units(mu, threshold=1e-2):
    """Number of latent dimensions the encoder actually uses (Burda et al. 2016, Sec. 5.2).

    Dimension u is active when Var_x( E_q(z|x)[z_u] ) > threshold: its posterior mean moves with
    the input. A collapsed dimension outputs the same mean for every x (and its q(z_u|x) sits on
    the prior), so its variance over the data is ~0.
    mu: (N, Z) posterior means of N data points, N >= 2.   ->   int in [0, Z]
    """
    m = _array(mu, "mu", "active_units", ndim=2)
    if m.shape[0] < 2:
        raise ValueError(f"active_units: need the means of at least 2 data points, got {m.shape[0]}")
    return int(np.sum(m.var(axis=0) > threshold))
