"""Outlier detection with a generative model, and the famous case where the likelihood fails.

The idea: a model trained on a data set has learned where that data lives. Score a new image x
by how badly the model explains it and flag it above a threshold: an outlier (anomaly,
out-of-distribution input) is a value that deviates strongly from the learned distribution.
The scores, per image, higher = more anomalous (nats unless said):
    recon_mse         mean over pixels of (g(f(x)) - x)^2, x rebuilt from its code: any
                      autoencoder (autoencoder.py); no probability involved
    neg_elbo          -ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || p(z)) >= -log p(x), one z (vae.py)
    iwae_nll          -L_K(x) = -log (1/K) Σ_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x): the IWAE
                      estimate of -log p(x), tighter as K grows (Burda et al. 2016, Eq. 8)
A detector is graded on in-distribution test images (label 0) against outliers (label 1) by
AUROC and AUPRC (metrics.py). No outlier is seen in training; labels only grade afterwards.

The paradox (Nalisnick et al. 2019, "Do deep generative models know what they don't know?",
ICLR, Sec. 3 and Fig. 1): a model trained on Fashion-MNIST gives MNIST digits a *higher*
likelihood than Fashion-MNIST's own test images, so -log p(x) ranks the wrong set as normal
(AUROC < 0.5). -log p(x) is the number of nats the model needs to encode x, and a digit is
mostly black background that a model of any images encodes almost for free: the likelihood
is dominated by input complexity (how much there is to say about x), not by semantics
(whether x looks like the training data). Nalisnick et al. (Sec. 5) trace it, for flow
models, to a second-order expansion in which the pixel variance decides: MNIST's is lower
(0.067 against Fashion-MNIST's 0.087, averaged over the pixels of the test sets).

Two fixes, both a likelihood ratio against a model that only knows the generic part:
    likelihood_ratio  (Ren et al. 2019, "Likelihood ratios for out-of-distribution detection",
                      NeurIPS, Sec. 3): a background model p_0, the same network trained on
                      inputs whose pixels are each replaced by uniform noise with probability
                      mu (`perturb`), learns the background statistics but not the semantics.
                          score = -log p(x) + log p_0(x)       (the background terms cancel)
    input_complexity  (Serra et al. 2020, "Input complexity and out-of-distribution detection
                      with likelihood-based generative models", ICLR, Sec. 3, Eq. 2): a
                      lossless compressor is a generic model of all images, p_0(x) = 2^-L(x)
                      with L(x) the bits it needs for x. Here L is zlib's DEFLATE (the
                      compressor inside PNG) on the 8-bit pixels.
                          score = -log p(x) - L(x) ln 2        (both in nats)
Measured here (README, "Outlier detection"): the complexity correction turns Fashion-MNIST ->
MNIST from AUROC 0.25 to 0.99; the ratio against a VAE background does not (0.05): a VAE trained
on noisy pixels still learns the shapes (Ren et al.'s background was a PixelCNN++).
Caveat: the Bernoulli likelihood on grey pixels is not a normalised density (vae.py), so
-log p(x) of a grey image is not a true code length (a well-predicted grey pixel costs its binary
entropy, at most ln 2 nats, where zlib may need 8 bits) and input_complexity misfires on grey
images; --binarize gives a proper discrete one.
Shapes: x (N, C, H, W) in [0, 1]; every score (N,). Read after vae.py and metrics.py; the
command is `nanogen eval RUN --ood DATASET` (ood_cli.py), the lesson demos/outliers.py.
"""

import math
import zlib

import numpy as np

from ..autograd import no_grad
from ..metrics import auprc, auroc
from ..random import default_rng
from ..tensor import Tensor
from .vae import elbo_terms, iwae_nll

SCORES = {
    "recon_mse": "mean squared error of the reconstruction from the code (posterior mean for a VAE)",
    "neg_elbo": "-ELBO(x) in nats, one z sample: an upper bound on -log p(x)",
    "iwae_nll": "-log p(x) in nats, the IWAE estimate with K importance samples",
    "input_complexity": "-log p(x) - L(x) ln 2, L(x) = zlib-compressed bits of x (Serra et al. 2020)",
    "likelihood_ratio": "-log p(x) + log p_0(x), p_0 a background model on perturbed inputs (Ren et al. 2019)",
}
RECONSTRUCTION_SCORES = ("recon_mse",)                 # every autoencoder
LIKELIHOOD_SCORES = tuple(SCORES)                      # a model with a likelihood p(x): all of them
NEEDS_BACKGROUND = ("likelihood_ratio",)
ALIASES = {"recon": "recon_mse", "elbo": "neg_elbo", "iwae": "iwae_nll", "nll": "iwae_nll",
           "complexity": "input_complexity", "ratio": "likelihood_ratio", "llr": "likelihood_ratio"}


# ---------------------------------------------------------------------------- the scores


def reconstruction_mse(model, x, batch_size=500):
    """recon_mse: mean over pixels of (x̂ - x)^2 with x̂ = model.reconstruct(x).   (N, C, H, W) -> (N,)

    An autoencoder rebuilds through its code; a VAE decodes its posterior mean (no sampling).
    """
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            x_hat = model.reconstruct(Tensor(xb))
            x_hat = x_hat.data if isinstance(x_hat, Tensor) else x_hat
            out.append(np.mean((x_hat.reshape(len(xb), -1) - xb.reshape(len(xb), -1)) ** 2, axis=1))
    return np.concatenate(out).astype(np.float64)


def compressed_bits(x, level=9):
    """L(x): the bits zlib needs to store each image's 8-bit pixels.   (N, C, H, W) in [0, 1] -> (N,)

    DEFLATE (LZ77 + Huffman) is what PNG uses; a long run of black pixels costs a few bits, a
    textured patch nearly 8 bits a pixel. zlib's fixed 6-byte header and checksum add the same
    48 bits to every image, which shifts every score alike and changes no AUROC.
    """
    # BEGIN SOLUTION ood_input_complexity
    u8 = np.round(np.clip(np.asarray(x, dtype=np.float64), 0, 1) * 255).astype(np.uint8)
    return np.array([8.0 * len(zlib.compress(im.tobytes(), level)) for im in u8])
    # END SOLUTION


def input_complexity(nll, bits):
    """S(x) = -log p(x) - L(x) ln 2: the model's code length minus the compressor's, in nats.  (N,) -> (N,)

    log p_0(x) - log p(x) with p_0(x) = 2^-L(x): high when the model needs more nats for x than
    a generic compressor, i.e. when x is unlikely *for its complexity* (Serra et al. 2020, Eq. 2).
    """
    # BEGIN SOLUTION ood_input_complexity
    return np.asarray(nll, dtype=np.float64) - np.asarray(bits, dtype=np.float64) * math.log(2)
    # END SOLUTION


def likelihood_ratio(nll, nll_background):
    """-LLR(x) = -log p(x) + log p_0(x), p_0 the background model.   (N,), (N,) -> (N,)

    Ren et al. 2019, Eq. 5 with the sign turned so that higher means more anomalous.
    """
    # BEGIN SOLUTION ood_input_complexity
    return np.asarray(nll, dtype=np.float64) - np.asarray(nll_background, dtype=np.float64)
    # END SOLUTION


def perturb(x, mu, rng=None):
    """The background model's training input: each pixel replaced by u ~ U(0, 1) with probability mu.

    x: ndarray (N, C, H, W) in [0, 1] -> same shape and dtype. Ren et al. 2019, Sec. 3.1 (mu of
    0.1 to 0.2 for Fashion-MNIST): the noise destroys the shapes (semantics) but keeps the
    population statistics of the pixels, so p_0 learns only the latter.
    """
    if not 0 <= mu <= 1:
        raise ValueError(f"perturb: mu is a probability in [0, 1], got {mu}")
    rng = default_rng(rng)
    replace = rng.random(x.shape) < mu                     # which pixels become noise
    u = rng.random(x.shape).astype(x.dtype)
    return np.where(replace, u, x).astype(x.dtype)


def outlier_scores(model, x, names, rng=None, iw_samples=100, background=None):
    """The requested scores of images x: {name: (N,) float64}, in the order of `names`.

    model: an autoencoder (recon_mse only) or a VAE (all of SCORES); background: the
    background VAE for likelihood_ratio. -log p(x) is estimated once (IWAE, iw_samples) and
    shared by iwae_nll, input_complexity and likelihood_ratio.
    """
    rng = default_rng(rng)
    out = {}
    if "recon_mse" in names:
        out["recon_mse"] = reconstruction_mse(model, x)
    if "neg_elbo" in names:
        out["neg_elbo"] = elbo_terms(model, x, rng)["neg_elbo"].astype(np.float64)
    if {"iwae_nll", "input_complexity", "likelihood_ratio"} & set(names):
        nll = iwae_nll(model, x, iw_samples, rng).astype(np.float64)
        out["iwae_nll"] = nll
        if "input_complexity" in names:
            out["input_complexity"] = input_complexity(nll, compressed_bits(x))
        if "likelihood_ratio" in names:
            out["likelihood_ratio"] = likelihood_ratio(nll, iwae_nll(background, x, iw_samples, rng))
    return {name: out[name] for name in names}


def choose_scores(requested, model_name, has_likelihood, has_background):
    """The score names to compute, checked: `requested` (a list, aliases allowed) or None for
    every score the model supports. Raises ValueError naming the problem and the fix."""
    supported = LIKELIHOOD_SCORES if has_likelihood else RECONSTRUCTION_SCORES
    if requested is None:
        return [s for s in supported if has_background or s not in NEEDS_BACKGROUND]
    names = []
    for r in requested:
        name = ALIASES.get(r, r)
        if name not in SCORES:
            raise ValueError(f"unknown score {r!r}; the scores are {', '.join(SCORES)} "
                             f"(short names: {', '.join(ALIASES)})")
        if name not in supported:
            raise ValueError(f"score {r!r} needs a likelihood p(x), and the {model_name} model has none "
                             f"(an autoencoder only reconstructs); {model_name} supports: {', '.join(supported)}. "
                             "Train a vae (nanogen train vae) for the likelihood scores")
        if name in NEEDS_BACKGROUND and not has_background:
            raise ValueError(f"score {name!r} needs a background model: train the same model on perturbed "
                             "inputs (nanogen train vae --perturb 0.2 --out runs/vae-background) and pass "
                             "--background runs/vae-background")
        names.append(name)
    return list(dict.fromkeys(names))                       # duplicates once, order kept


# ---------------------------------------------------------------------------- grading a detector


def detection_metrics(score_in, score_out):
    """How well a score tells outliers (positive) from in-distribution images (negative):
    {"auroc", "auprc", "auprc_chance", "mean_in", "mean_out"}.   (N_in,), (N_out,) -> dict

    auprc_chance = N_out / (N_in + N_out), what AUPRC a random score gets.
    """
    s = np.r_[score_in, score_out]
    y = np.r_[np.zeros(len(score_in), bool), np.ones(len(score_out), bool)]
    return {"auroc": auroc(s, y), "auprc": auprc(s, y), "auprc_chance": float(y.mean()),
            "mean_in": float(np.mean(score_in)), "mean_out": float(np.mean(score_out))}


def per_class_auroc(score_in, score_out, classes_out):
    """AUROC of each outlier class alone against all in-distribution images: {class: AUROC}."""
    classes_out = np.asarray(classes_out)
    y = lambda n: np.r_[np.zeros(len(score_in), bool), np.ones(n, bool)]   # noqa: E731
    return {int(k): auroc(np.r_[score_in, score_out[classes_out == k]], y(int(np.sum(classes_out == k))))
            for k in np.unique(classes_out)}


def holdout_split(x, y, k):
    """The held-out-class protocol: (x, y) without class k, and the images of class k.

    Train on nine digits, score the tenth: ((x_in, y_in), (x_out, y_out)).
    """
    y = np.asarray(y)
    if not np.any(y == k):
        raise ValueError(f"holdout class {k!r} does not occur in the labels (classes {sorted(np.unique(y).tolist())})")
    keep = y != k
    return (x[keep], y[keep]), (x[~keep], y[~keep])
