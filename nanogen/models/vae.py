"""Variational autoencoder: an autoencoder whose code is a distribution, so a random code decodes
to a digit.

The model (Kingma & Welling 2013, "Auto-Encoding Variational Bayes", §2 and App. C.2):
    p(z) = N(0, I)      z: (Z,), the prior over codes
    p(x|z)              the decoder: a network maps z to the parameters of a distribution over
                        images x: (D,), D = 784 -- Bernoulli logits, or a Gaussian mean
    q(z|x) = N(mu, diag(sigma^2))   the encoder: a network maps x to mu and logvar = log sigma^2
log p(x) = log ∫ p(x|z) p(z) dz has no closed form, but for every q it is bounded from below by
the evidence lower bound (ELBO):
    log p(x) >= ELBO(x) = E_q(z|x)[ log p(x|z) ]  -  KL( q(z|x) || p(z) )
                          reconstruction: a code      regularizer: every q(z|x) stays close to
                          sampled for x decodes to x   N(0, I), so codes fill the prior, no holes
The gap is KL( q(z|x) || p(z|x) ) >= 0: raising the ELBO fits the decoder to the data and pulls q
towards the true posterior at once. An autoencoder has the first term only (autoencoder.py).

Reparameterization (§2.4): z = mu + sigma * eps with eps ~ N(0, I) an input. z is then a
differentiable function of mu and logvar, so one sample of eps gives an unbiased gradient of
E_q[log p(x|z)] by ordinary backprop. The KL of two Gaussians is exact (App. B), per coordinate:
    KL( N(mu, sigma^2) || N(0, 1) ) = 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)
Shapes: x (N, C, H, W) -> (N, D);  mu, logvar, eps, z: (N, Z);  logits: (N, D).
The loss of a batch is Σ_n [ -log p(x_n|z_n) + beta KL_n ] in nats, summed as in PyTorch's
examples/vae/main.py; beta = 1 is minus the ELBO, beta > 1 the beta-VAE (Higgins et al. 2017).
The importance-weighted bound (Burda et al. 2016, Eq. 8) tightens the ELBO with K samples.

Failure modes: posterior collapse -- a decoder that can model x without z (or a large beta)
drives KL -> 0 and q(z|x) -> p(z) for some or all coordinates ("inactive units", counted by
metrics.active_units); blurry samples -- the factorised p(x|z) averages over what z does not pin
down; BCE on grey pixels in [0, 1] is not a normalised likelihood (Loaiza-Ganem & Cunningham 2019).
Read after autoencoder.py. vae_conv.py swaps in convolutional networks; vae_recipes.py plugs
both into `nanogen train` (vae, conv-vae, beta-vae, cvae) and evaluates them.
"""

import math
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..autograd import no_grad
from ..metrics import logmeanexp
from ..nn import Linear, Module, Parameter
from ..random import default_rng
from ..settings import setting
from ..tensor import Tensor

LIKELIHOODS = ("bernoulli", "gaussian")


@dataclass
class VAEConfig:
    """The VAE's settings; fields made with setting(default, help) are `nanogen train` flags (vae_recipes.py)."""

    image_shape: tuple = (1, 28, 28)  # (C, H, W) of one image; D = C*H*W pixels
    hidden_dim: int = setting(400, "width of the hidden layers (the reference's 400)", is_positive=True)
    latent_dim: int = setting(20, "Z, the size of the code z", is_positive=True)
    n_classes: int = 0                # K > 0: a conditional VAE, one-hot label into encoder and decoder
    likelihood: str = setting("bernoulli", "p(x|z): Bernoulli (BCE from logits) or Gaussian around sigmoid(logits)",
                              choices=LIKELIHOODS)
    gaussian_var: str = setting("fixed", "Gaussian likelihood: a fixed std, or one learned log-variance per pixel",
                                choices=("fixed", "learned"))
    gaussian_std: float = setting(0.1, "Gaussian likelihood: the fixed std, or where the learned one starts",
                                  is_positive=True)
    min_std: float = None             # gaussian: floor on the std (a pixel that is always 0 would push it to 0);
                                      # None: min(0.01, gaussian_std)
    beta: float = setting(1.0, "weight of the KL term: 1 = the ELBO, > 1 = beta-VAE")
    arch: str = "mlp"                 # "mlp" (this file) | "conv" (vae_conv.py)
    channels: tuple = setting((32, 64), "conv: channels after the first and the second stride-2 conv",
                              flag="--conv-channels",
                              is_positive=True, nargs=2)

    def __post_init__(self):
        self.image_shape, self.channels = tuple(self.image_shape), tuple(self.channels)
        if self.min_std is None:
            self.min_std = min(0.01, self.gaussian_std)
        for field, value, options in (("likelihood", self.likelihood, LIKELIHOODS),
                                      ("arch", self.arch, ("mlp", "conv")),
                                      ("gaussian_var", self.gaussian_var, ("fixed", "learned"))):
            if value not in options:
                raise ValueError(f"VAEConfig: {field} must be one of {options}, got {value!r}")
        if len(self.image_shape) != 3:
            raise ValueError(f"VAEConfig: image_shape must be (C, H, W), got {self.image_shape}")
        for field in ("hidden_dim", "latent_dim"):
            if not isinstance(getattr(self, field), (int, np.integer)) or getattr(self, field) < 1:
                raise ValueError(f"VAEConfig: {field} must be a positive integer, got {getattr(self, field)!r}")
        if self.n_classes < 0:
            raise ValueError(f"VAEConfig: n_classes must be >= 0 (0: unconditional), got {self.n_classes}")
        if not self.gaussian_std > 0 or not 0 < self.min_std <= self.gaussian_std:
            raise ValueError(f"VAEConfig: need 0 < min_std <= gaussian_std, got min_std {self.min_std}, "
                             f"gaussian_std {self.gaussian_std}")
        if not self.beta >= 0:
            raise ValueError(f"VAEConfig: beta must be >= 0, got {self.beta}")

    @property
    def data_dim(self):
        return int(np.prod(self.image_shape))


def flatten(x):
    """(N, C, H, W) -> (N, D), as a Tensor; (N, D) passes through."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return x.reshape(x.shape[0], -1) if x.ndim != 2 else x


# ---------------------------------------------------------------------------- the two networks


class Encoder(Module):
    """q(z|x) = N(mu, diag(exp(logvar))):   x (N, D) [, c (N, K)] -> h (N, H) -> mu, logvar (N, Z)

    The reference network: fc1 (D -> 400) and ReLU, then two heads fc21, fc22 (400 -> 20). The
    second head gives log sigma^2, not sigma: every real number is a valid log-variance, and
    exp() of it is a positive variance without any constraint on the network.
    """

    def __init__(self, config, dtype=np.float32, rng=None):
        super().__init__()
        D, H, Z, K = config.data_dim, config.hidden_dim, config.latent_dim, config.n_classes
        self.fc1 = Linear(D + K, H, dtype=dtype, rng=rng)
        self.fc21 = Linear(H, Z, dtype=dtype, rng=rng)        # mu
        self.fc22 = Linear(H, Z, dtype=dtype, rng=rng)        # logvar

    def forward(self, x, c=None):
        x = flatten(x)                                        # (N, C, H, W) -> (N, D)
        if c is not None:
            x = F.cat([x, c], dim=1)                          # (N, D) + (N, K) -> (N, D + K)
        h = F.relu(self.fc1(x))                               # (N, H)
        return self.fc21(h), self.fc22(h)


class Decoder(Module):
    """p(x|z):   z (N, Z) [, c (N, K)] -> h (N, H) -> logits (N, D)

    fc3 (20 -> 400) and ReLU, fc4 (400 -> 784). The pixel means are sigmoid(logits); which
    distribution sits around them is the Likelihood's business (below).
    """

    def __init__(self, config, dtype=np.float32, rng=None):
        super().__init__()
        D, H, Z, K = config.data_dim, config.hidden_dim, config.latent_dim, config.n_classes
        self.fc3 = Linear(Z + K, H, dtype=dtype, rng=rng)
        self.fc4 = Linear(H, D, dtype=dtype, rng=rng)

    def forward(self, z, c=None):
        if c is not None:
            z = F.cat([z, c], dim=1)                          # (N, Z) + (N, K) -> (N, Z + K)
        return self.fc4(F.relu(self.fc3(z)))                  # (N, H) -> (N, D)


# ---------------------------------------------------------------------------- p(x|z): the likelihood


def bernoulli_nll(x, logits):
    """-log p(x|z) = Σ_i BCE(logits_i, x_i), summed over the pixels (last axis).  (..., D) -> (...)

    Each pixel is a coin with p(x_i = 1) = sigmoid(logits_i); taken from the logits so that no
    log(0) appears. For grey x in [0, 1] (not binarised) it is the classic VAE loss, but not a
    normalised density (Loaiza-Ganem & Cunningham 2019): compare it only with the same protocol.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)


def gaussian_nll(x, mean, var, min_var):
    """-log N(x; mean, diag(var)) = Σ_i 0.5 (log 2π + log var_i + (x_i - mean_i)^2 / var_i).  (..., D) -> (...)

    var: a number (fixed) or a Tensor (D,) (learned); values below min_var are clamped to it.
    """
    return F.gaussian_nll_loss(mean, x, var, full=True, eps=min_var, reduction="none").sum(dim=-1)


class Likelihood(Module):
    """Turns the decoder's logits into -log p(x|z) and into the mean image E[x|z] = sigmoid(logits).

    bernoulli: no parameters.  gaussian, fixed: sigma = config.gaussian_std.  gaussian, learned:
    a parameter logvar (D,), one log-variance per pixel shared by all images, floored at min_std.
    """

    def __init__(self, config, dtype=np.float32):
        super().__init__()
        self.kind, self.mode = config.likelihood, config.gaussian_var
        self.var, self.min_var = config.gaussian_std ** 2, config.min_std ** 2
        if self.kind == "gaussian" and self.mode == "learned":
            self.logvar = Parameter(np.full(config.data_dim, math.log(self.var), dtype=dtype))

    def mean(self, logits):
        return F.sigmoid(logits)

    def nll(self, x, logits):
        if self.kind == "bernoulli":
            return bernoulli_nll(x, logits)
        var = self.logvar.exp() if self.mode == "learned" else self.var
        return gaussian_nll(x, self.mean(logits), var, self.min_var)


# ---------------------------------------------------------------------------- the math, in order


def reparameterize(mu, logvar, eps):
    """z = mu + sigma * eps,  sigma = exp(logvar / 2).     mu, logvar: (N, Z), eps: (..., N, Z) -> z

    eps ~ N(0, I) is passed in (tests fix it). dz/dmu = 1 and dz/dlogvar = 0.5 * sigma * eps:
    the gradient reaches the encoder through the sample. eps may carry a leading K axis of
    importance samples; mu and logvar broadcast over it.
    """
    # BEGIN SOLUTION vae_reparameterize
    return mu + (0.5 * logvar).exp() * eps
    # END SOLUTION


def kl_to_standard_normal(mu, logvar):
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) per example, exact:  (N, Z) -> (N,)"""
    # BEGIN SOLUTION vae_elbo
    return F.kl_normal_standard(mu, logvar, reduction="none").sum(dim=-1)
    # END SOLUTION


def elbo(x, logits, mu, logvar, nll=bernoulli_nll, beta=1.0):
    """The loss and its two terms, each summed over the batch (nats), as Tensors:

        recon = Σ_n -log p(x_n | z_n)    one sampled z_n per image: a Monte Carlo estimate of
                                         -E_q[log p(x|z)], unbiased, as is its gradient
        kl    = Σ_n KL(q(z|x_n) || p(z)) exact, so it adds no noise
        loss  = recon + beta * kl        (beta = 1: minus the ELBO, summed over the batch)
    x: (N, D) targets, logits: (N, D), mu and logvar: (N, Z); nll: Likelihood.nll or bernoulli_nll.
    """
    # BEGIN SOLUTION vae_elbo
    recon = nll(x, logits).sum()
    kl = kl_to_standard_normal(mu, logvar).sum()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}
    # END SOLUTION


def log_importance_weights(x, logits, z, logvar, eps, nll=bernoulli_nll):
    """log w = log p(x|z) + log p(z) - log q(z|x) for z = mu + sigma * eps.    (..., Z) -> (...)

    With (z - mu)^2 / sigma^2 = eps^2, the two Gaussian log-densities differ by
        log p(z) - log q(z|x) = -0.5 Σ_j (z_j^2 - eps_j^2 - logvar_j)     (the log 2π terms cancel)
    E_q[log w] is the ELBO; log E_q[w] is log p(x).
    """
    return -nll(x, logits) - 0.5 * (z * z - eps * eps - logvar).sum(dim=-1)


# ---------------------------------------------------------------------------- the model


class VAE(Module):
    """Encoder, decoder and likelihood; forward(x, eps) runs encode -> reparameterize -> decode.

    x: (N, C, H, W) or (N, D); y: (N,) integer labels, required when config.n_classes > 0 (cvae)
    and ignored otherwise. encoder and decoder default to the MLPs above; vae_conv.py passes
    convolutional ones with the same interface.
    """

    def __init__(self, config=None, dtype=np.float32, rng=None, encoder=None, decoder=None):
        super().__init__()
        self.config = config = config or VAEConfig()
        self.encoder = encoder if encoder is not None else Encoder(config, dtype, rng)
        self.decoder = decoder if decoder is not None else Decoder(config, dtype, rng)
        self.likelihood = Likelihood(config, dtype)

    def condition(self, y, n, dtype):
        """The one-hot condition c (N, K) of a cvae, or None for an unconditional model."""
        K = self.config.n_classes
        if K == 0:
            return None
        if y is None:
            raise ValueError("VAE: this is a conditional VAE (n_classes > 0): pass the labels y")
        c = F.one_hot(y, K, dtype)
        if c.shape[0] != n:
            raise ValueError(f"VAE: got {c.shape[0]} labels for {n} inputs")
        return c

    def encode(self, x, y=None):
        """(mu, logvar) of q(z|x): (N, Z) each."""
        return self.encoder(x, self.condition(y, x.shape[0], x.dtype))

    def decode(self, z, y=None):
        """logits (N, D) of p(x|z)."""
        return self.decoder(z, self.condition(y, z.shape[0], z.dtype))

    def forward(self, x, eps, y=None):
        """(logits, mu, logvar) for images x and noise eps (N, Z)."""
        mu, logvar = self.encode(x, y)                        # q(z|x)
        z = reparameterize(mu, logvar, eps)                   # one z per image, differentiable
        return self.decode(z, y), mu, logvar                  # p(x|z)

    def loss(self, x, eps, y=None):
        """elbo(...): {"loss", "recon", "kl"} summed over the batch, with beta from the config."""
        logits, mu, logvar = self(x, eps, y)
        return elbo(flatten(x), logits, mu, logvar, self.likelihood.nll, self.config.beta)

    def mean_images(self, logits):
        """E[x|z] = sigmoid(logits) as images: ndarray (N, D) -> (N, C, H, W)."""
        return self.likelihood.mean(logits).data.reshape(-1, *self.config.image_shape)   # (N, D) -> (N, C, H, W)

    def sample(self, n, rng=None, y=None):
        """n mean images E[x|z] for z ~ N(0, I): ndarray (n, C, H, W) in [0, 1].

        A cvae with y=None draws the digits 0, 1, ..., 9, 0, 1, ... in turn."""
        if self.config.n_classes and y is None:
            y = np.arange(n) % self.config.n_classes
        dtype = next(iter(self.parameters())).dtype                          # float32, or float64 after .double()
        z = default_rng(rng).standard_normal((n, self.config.latent_dim)).astype(dtype)   # z ~ p(z) = N(0, I)
        with no_grad():
            return self.mean_images(self.decode(Tensor(z), y))

    def sample_digits(self, labels, rng=None):
        """cvae: one image per requested label ("a 7" -> a fresh 7 each time): (len(labels), C, H, W)."""
        if not self.config.n_classes:
            raise ValueError("sample_digits: this VAE is not conditional (n_classes = 0); train a cvae")
        return self.sample(len(labels), rng, y=np.asarray(labels))

    def reconstruct(self, x, y=None):
        """E[x|z = mu(x)]: decode the posterior mean, no sampling. ndarray shaped like x."""
        with no_grad():
            mu, _ = self.encode(x if isinstance(x, Tensor) else Tensor(x), y)
            return self.mean_images(self.decode(mu, y))


def train_step(model, opt, x, rng=None, y=None):
    """One step: draw eps, forget old gradients, loss, backward, update. Returns nats per image."""
    N = x.shape[0]
    eps = default_rng(rng).standard_normal((N, model.config.latent_dim), dtype=x.dtype)   # eps ~ N(0, I)
    opt.zero_grad()
    terms = model.loss(x, eps, y)
    terms["loss"].backward()
    opt.step()
    return {k: v.item() / N for k, v in terms.items()}


# ---------------------------------------------------------------------------- how good is it?


def importance_log_weights(model, x, eps, y=None):
    """log w_k = log p(x, z_k) - log q(z_k | x) for z_k = mu + sigma * eps_k, no graph kept.

    x: (N, C, H, W) or (N, D); eps: (K, N, Z), K importance samples per image  ->  ndarray (K, N)
    All K*N codes are decoded as one batch: pick K and N to fit memory (see iwae_nll).
    """
    K, N, Z = eps.shape
    with no_grad():
        xf = flatten(x)                                                       # (N, D)
        mu, logvar = model.encode(xf, y)                                      # (N, Z), once for all K
        z = reparameterize(mu, logvar, eps)                                   # (K, N, Z)
        y_k = None if y is None else np.tile(np.asarray(y), K)                # labels of the k-major rows
        logits = model.decode(z.reshape(K * N, Z), y_k).reshape(K, N, -1)     # (K*N, D) -> (K, N, D)
        x_k = np.broadcast_to(xf.data, logits.shape)                          # (K, N, D): a view, no copy
        return log_importance_weights(x_k, logits, z, logvar, eps, model.likelihood.nll).data


def iwae_bound(model, x, eps, y=None):
    """The importance-weighted bound per image (Burda et al. 2016, Eq. 8):  ndarray (N,)

        log p(x) >= L_K = log (1/K) Σ_k w_k,      w_k = p(x, z_k) / q(z_k | x)
    taken as logmeanexp of the log-weights, so that w ~ exp(-100) does not underflow to 0.
    L_1 is the one-sample ELBO (its KL estimated by the same sample); E[L_K] grows with K
    towards log p(x) (Burda et al., Theorem 1).
    """
    return logmeanexp(importance_log_weights(model, x, eps, y), axis=0)


def iwae_nll(model, x, k, rng=None, y=None, max_rows=8192):
    """-L_k per image (nats), ndarray (N,): the IWAE estimate of -log p(x) with k samples.

    Images go through in groups of max(1, max_rows // k), and the k samples of an image in
    pieces of at most max_rows codes, so memory stays near max_rows * D floats per array
    whatever k is; the pieces' log-weights are joined before the one logmeanexp.
    """
    rng = default_rng(rng)
    N, Z = len(x), model.config.latent_dim
    B = max(1, max_rows // k)
    dtype = next(iter(model.parameters())).dtype
    out = []
    for i in range(0, N, B):
        xb, yb = x[i : i + B], (None if y is None else y[i : i + B])
        log_w = []
        for j in range(0, k, max_rows):
            eps = rng.standard_normal((min(max_rows, k - j), len(xb), Z), dtype=dtype)   # (K', B, Z)
            log_w.append(importance_log_weights(model, xb, eps, yb))
        out.append(-logmeanexp(np.concatenate(log_w), axis=0))
    return np.concatenate(out)


def elbo_terms(model, x, rng=None, y=None, batch_size=1000):
    """The true ELBO's parts per image (beta = 1 whatever the model trained with), one z each:
    {"neg_elbo", "recon", "kl"}: (N,) nats each, and "mu": (N, Z) posterior means."""
    rng = default_rng(rng)
    dtype = next(iter(model.parameters())).dtype
    parts = {"recon": [], "kl": [], "mu": []}
    with no_grad():
        for i in range(0, len(x), batch_size):
            xb = flatten(x[i : i + batch_size])
            yb = None if y is None else y[i : i + batch_size]
            eps = rng.standard_normal((xb.shape[0], model.config.latent_dim), dtype=dtype)
            logits, mu, logvar = model(xb, eps, yb)
            parts["recon"].append(model.likelihood.nll(xb, logits).data)     # (n,)
            parts["kl"].append(kl_to_standard_normal(mu, logvar).data)        # (n,)
            parts["mu"].append(mu.data)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["neg_elbo"] = out["recon"] + out["kl"]
    return out
