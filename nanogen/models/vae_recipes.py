"""`nanogen train vae | conv-vae | beta-vae | cvae`: the VAEs of vae.py and vae_conv.py as Recipes.

Read vae.py first: this file only wires the models into the training loop (nanogen/train.py),
draws their pictures and evaluates them. Each recipe is a VAEConfig variant (`variant`) and the
VAEConfig fields a user may change (`flags`, defaults in VAEConfig: `nanogen train vae --help`);
the recipe adds its own flags:
    --binarize              dynamically binarised MNIST: each batch's pixels are drawn afresh as
                            x_i ~ Bernoulli(grey value), and the test set is binarised once with --seed
    --iw-samples K, --iw-subset N      `nanogen eval`: the IWAE bound with K samples on the first N test images
    --perturb MU            train a background model for outlier detection (models/outliers.py): each
                            pixel replaced by U(0, 1) noise with probability MU
Evaluation (`nanogen eval RUN --json`), in nats per image:
    test_neg_elbo = test_recon + test_kl    on the whole test set, one z per image, beta = 1
    iwae_nll                                -L_K on the first iw_subset images (IWAE bound, K = iw_samples);
                                            neg_elbo_on_iw_subset is the ELBO on those same images
    active_units                            latent coordinates with Var_x(mu(x)) > 0.01
Eval cost: iw_samples * iw_subset decoder passes (10^6 by default, tens of seconds on two cores).
Outlier detection (`nanogen eval RUN --ood DATASET`, ood_cli.py): vae, conv-vae and beta-vae give
every score of models/outliers.py; the cvae none (its p(x|y) needs a label).
"""

import os
import time

import numpy as np

from ..autograd import no_grad
from ..data import dynamic_binarize
from ..metrics import active_units
from ..settings import number, positive
from ..tensor import Tensor
from ..train import Recipe
from . import register
from .outliers import outlier_scores, perturb
from .vae import VAEConfig, elbo_terms, iwae_nll, train_step
from .vae_conv import build_vae


@register
class VAERecipe(Recipe):
    """vae: exactly the PyTorch example (examples/vae/main.py); the other recipes change the config."""

    name = "vae"
    help = "variational autoencoder: 784-400-20 MLP, Bernoulli BCE + KL (the PyTorch example)"
    config_class, build_model = VAEConfig, build_vae
    flags = ("hidden_dim", "latent_dim", "likelihood", "gaussian_var", "gaussian_std")

    @property
    def n_classes(self):
        return self.model.config.n_classes                    # 0 unless the variant conditions on labels

    @classmethod
    def add_arguments(cls, parser):
        super().add_arguments(parser)
        parser.add_argument("--binarize", action="store_true",
                            help="dynamically binarised MNIST: pixels ~ Bernoulli(grey value), redrawn every batch")
        parser.add_argument("--perturb", type=number(float, "--perturb", lambda v: 0 <= v < 1, "a probability in [0, 1)"),
                            default=0.0, metavar="MU",
                            help="train a background model for `nanogen eval --ood --background`: each pixel "
                                 "replaced by uniform noise with probability MU (0.1-0.2; models/outliers.py)")
        parser.add_argument("--iw-samples", type=positive(int, "--iw-samples"), default=1000,
                            help="eval: importance samples K of the IWAE bound (default %(default)s)")
        parser.add_argument("--iw-subset", type=positive(int, "--iw-subset"), default=1000,
                            help="eval: IWAE on the first N test images (default %(default)s)")

    def training_arrays(self, x, y):
        return (x, y) if self.n_classes else (x,)

    def _labels(self, y):
        return y if self.n_classes else None

    def train_step(self, batch, rng):
        x = batch[0]
        if self.config.get("perturb"):                        # a background model (outliers.py), noise
            x = Tensor(perturb(x.data, self.config["perturb"], rng))   # before binarising: noise pixels stay binary
        if self.config.get("binarize"):
            x = Tensor(dynamic_binarize((x.data,), rng)[0])   # a fresh binary image every time
        y = batch[1].data if self.n_classes else None
        return train_step(self.model, self.optimizers["adam"], x, rng, y)

    has_likelihood = True                                     # `nanogen eval --ood`: every score in outliers.py

    def score_outliers(self, x, names, rng, background=None, iw_samples=100):
        """Outlier scores {name: (N,)} of images x (ood_cli.py); the test images binarised once if trained so."""
        if self.config.get("binarize"):
            x = dynamic_binarize((x,), rng)[0]
        return outlier_scores(self.model, x, names, rng, iw_samples, background.model if background else None)

    def sample(self, n, rng):
        return self.model.sample(n, rng)

    # ------------------------------------------------------------------ pictures

    def on_epoch_end(self, run_dir, epoch, data):
        with no_grad():
            self._pictures(run_dir, epoch, data)

    def _pictures(self, run_dir, epoch, data):
        from .. import plot  # pictures only here, never in the model code

        x, y = data
        m, Z = self.model, self.model.config.latent_dim
        yc = self._labels(y)
        path = lambda name: os.path.join(run_dir, f"{name}.png")   # noqa: E731
        tag = f"{self.name}, epoch {epoch}"
        fixed = np.random.default_rng(0)                      # the same z every epoch: watch them improve
        plot.image_grid(m.sample(64, fixed), nrow=8, path=path("samples"),
                        title=f"{tag}: decoded z ~ N(0, I)")
        plot.reconstructions(x[:10], m.reconstruct(x[:10], None if yc is None else yc[:10]),
                             path=path("reconstructions"), title=f"{tag}: test digits, decoded posterior means")
        mu = elbo_terms(m, x, fixed, yc)["mu"]
        plot.latent_scatter(mu, y, path=path("latent"), title=f"{tag}: posterior means of test digits ({Z}-D)")
        if self.n_classes:
            digits = np.repeat(np.arange(self.n_classes), 10)    # one row per digit, 10 styles each
            plot.image_grid(m.sample_digits(digits, fixed), nrow=10, path=path("digits"),
                            title=f"{tag}: each digit asked for 10 times, one row per digit")
            z = plot.interpolate(fixed.standard_normal(Z), fixed.standard_normal(Z), 10)    # (10, Z) style path
            z = Tensor(z.astype(np.float32))
            rows = [m.mean_images(m.decode(z, np.full(10, d))) for d in range(self.n_classes)]
            plot.interpolation_strip(rows, path=path("interpolation"), row_labels=list(range(self.n_classes)),
                                     title=f"{tag}: one style path z(t), every label")
            return
        if Z == 2:
            plot.latent_manifold(lambda z: m.mean_images(m.decode(Tensor(z))), grid_size=20, use_normal_quantiles=True,
                                 path=path("manifold"), title=f"{tag}: decoded grid of the 2-D latent space")
        first = {d: int(np.flatnonzero(y == d)[0]) for d in range(10) if np.any(y == d)}
        pairs = [(first[a], first[b]) for a, b in [(1, 7), (3, 8), (4, 9), (0, 6)] if a in first and b in first]
        if pairs:
            zs = plot.interpolate(mu[[i for i, _ in pairs]], mu[[j for _, j in pairs]], 10)   # (P, 10, Z)
            imgs = m.mean_images(m.decode(Tensor(zs.reshape(-1, Z))))                           # (P*10, C, H, W)
            plot.interpolation_strip(imgs.reshape(len(pairs), 10, *imgs.shape[1:]), path=path("interpolation"),
                                     title=f"{tag}: straight lines between posterior means")

    # ------------------------------------------------------------------ numbers

    def evaluate(self, data, rng):
        x, y = data
        binarized = bool(self.config.get("binarize"))
        if binarized:
            x = dynamic_binarize((x,), rng)[0]                # one fixed binarisation of the test set
        yc = self._labels(y)
        t0 = time.perf_counter()
        e = elbo_terms(self.model, x, rng, yc)
        k = int(self.config.get("iw_samples", 1000))
        n = min(int(self.config.get("iw_subset", 1000)), len(x))
        nll = iwae_nll(self.model, x[:n], k, rng, None if yc is None else yc[:n])
        return {
            "test_neg_elbo": float(e["neg_elbo"].mean()),
            "test_recon": float(e["recon"].mean()),
            "test_kl": float(e["kl"].mean()),
            "iwae_nll": float(nll.mean()),
            "iwae_nll_stderr": float(nll.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0,
            "neg_elbo_on_iw_subset": float(e["neg_elbo"][:n].mean()),
            "iw_samples": k,
            "iw_subset": n,
            "active_units": active_units(e["mu"]) if len(x) > 1 else 0,
            "binarized": int(binarized),
            "eval_seconds": float(time.perf_counter() - t0),
        }


@register
class ConvVAERecipe(VAERecipe):
    name = "conv-vae"
    help = "convolutional VAE: two stride-2 convs, transposed convs back, same ELBO"
    variant = {"arch": "conv", "hidden_dim": 256}
    flags = VAERecipe.flags + ("channels",)
    image_flags = True


@register
class BetaVAERecipe(VAERecipe):
    name = "beta-vae"
    help = "beta-VAE: loss = recon + beta * KL (--beta); beta > 1 trades detail for a smoother code"
    variant = {"beta": 4.0}
    flags = VAERecipe.flags + ("beta",)


@register
class CVAERecipe(VAERecipe):
    """cvae: q(z|x, y) and p(x|z, y); `sample_digits([7, 7, 7], rng)` draws three different 7s."""

    name = "cvae"
    help = "conditional VAE: the digit label goes into encoder and decoder; ask for 'a 7'"
    # Z = 2: the label carries the class, the code only the style. With Z = 20, prior samples often land
    # where no training code was and the decoder draws some other digit whatever the label says.
    variant = {"latent_dim": 2, "n_classes": 10}
    score_outliers = None                                     # p(x|y) needs a label an outlier does not have

    def sample(self, n, rng):
        return self.model.sample(n, rng)                      # labels 0, 1, ..., 9, 0, ... in turn

    def sample_digits(self, labels, rng):
        return self.model.sample_digits(labels, rng)
