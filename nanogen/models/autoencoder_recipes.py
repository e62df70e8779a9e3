"""`nanogen train ae | stacked-ae | sparse-ae | denoising-ae | conv-ae`: autoencoder.py's models as Recipes.

Read autoencoder.py first: this file only wires its variants into the training loop
(nanogen/train.py), draws their pictures and evaluates them. Each recipe is an AEConfig variant
(`variant`) and the AEConfig fields a user may change (`flags`); their defaults live in AEConfig.
Evaluation (`nanogen eval RUN`): test_mse (per pixel), test_bce_per_pixel and _per_image, and for
the denoising and sparse variants test_denoising_mse and mean_code_activation.
"""

import os

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from ..train import Recipe
from . import register
from .autoencoder import AEConfig, build_model, corrupt, encode_all, reconstruction_errors, train_step
from .outliers import outlier_scores


@register
class AutoencoderRecipe(Recipe):
    """ae: the plain fully connected autoencoder; the other variants change the config."""

    name = "ae"
    help = "autoencoder: 784 -> hidden -> code -> hidden -> 784, BCE from logits"
    config_class, build_model = AEConfig, build_model
    flags = ("hidden_dims", "latent_dim", "loss")

    def training_arrays(self, x, y):
        return (x,)                                           # unsupervised: the labels are never used

    def train_step(self, batch, rng):
        return train_step(self.model, self.optimizers["adam"], batch[0], rng)

    def on_epoch_end(self, run_dir, epoch, data):
        from .. import plot

        x, y = data
        path = lambda name: os.path.join(run_dir, f"{name}.png")   # noqa: E731
        cfg, m = self.model.config, self.model
        with no_grad():
            plot.reconstructions(x[:10], m.reconstruct(Tensor(x[:10])).data, path=path("reconstructions"),
                                 title=f"{self.name}, epoch {epoch}: test digits and their reconstructions")
            if cfg.noise != "none":
                noisy = corrupt(x[:10], cfg.noise, cfg.noise_level, np.random.default_rng(0))
                plot.denoising_rows(noisy, m.reconstruct(Tensor(noisy)).data, x[:10], path=path("denoising"),
                                    title=f"{self.name}, epoch {epoch}: {cfg.noise} noise {cfg.noise_level}")
            z = encode_all(m, x)
            plot.latent_scatter(z, y, path=path("latent"), title=f"{self.name}: test codes ({z.shape[1]}-D), by digit")
            first = {d: int(np.flatnonzero(y == d)[0]) for d in range(10) if np.any(y == d)}
            pairs = [(a, b) for a, b in [(1, 7), (3, 8), (4, 9), (0, 6)] if a in first and b in first]
            if pairs:                                         # from the first test a to the first test b
                za, zb = z[[first[a] for a, _ in pairs]], z[[first[b] for _, b in pairs]]
                path_z = plot.interpolate(za, zb, 10)              # (P, 10, features)
                code_shape = m.encode(Tensor(x[:1])).shape[1:]
                imgs = m.decode(Tensor(path_z.reshape(-1, *code_shape))).data   # (P*10, C, H, W)
                plot.interpolation_strip(imgs.reshape(len(pairs), 10, *imgs.shape[1:]), path=path("interpolation"),
                                         row_labels=[f"{a} -> {b}" for a, b in pairs],
                                         title=f"{self.name}: straight lines in code space")
            if cfg.arch == "mlp" and cfg.penalty != "none":
                plot.filters(m.encoder[0].weight.data[:100], path=path("filters"),
                             title=f"{self.name}: first 100 encoder filters")

    def evaluate(self, data, rng):
        x, _ = data
        m, cfg = self.model, self.model.config
        e = reconstruction_errors(m, x)
        D = int(np.prod(x.shape[1:]))
        out = {"test_mse": float(e["mse"].mean()), "test_bce_per_pixel": float(e["bce"].mean() / D),
               "test_bce_per_image": float(e["bce"].mean())}
        if cfg.noise != "none":
            noisy = corrupt(x, cfg.noise, cfg.noise_level, rng)
            out["test_denoising_mse"] = float(reconstruction_errors(m, x, noisy)["mse"].mean())
        if cfg.arch == "mlp" and cfg.code_activation != "none":
            out["mean_code_activation"] = float(encode_all(m, x).mean())
        return out

    has_likelihood = False                                    # `nanogen eval --ood`: recon_mse only

    def score_outliers(self, x, names, rng, background=None, iw_samples=None):
        """Outlier scores {name: (N,)} of images x (ood_cli.py, models/outliers.py)."""
        return outlier_scores(self.model, x, names, rng)

    def sample(self, n, rng):
        raise ValueError(
            f"{self.name}: an autoencoder has no distribution over codes to draw from, so it cannot "
            "sample new digits (decoding a random z lands in the holes between the codes); train a vae")


@register
class StackedAutoencoderRecipe(AutoencoderRecipe):
    name = "stacked-ae"
    help = "stacked autoencoder: 784-512-256-64 and back"
    variant = {"hidden_dims": (512, 256), "latent_dim": 64}


@register
class SparseAutoencoderRecipe(AutoencoderRecipe):
    name = "sparse-ae"
    help = "sparse autoencoder: overcomplete sigmoid code 784 -> 1024 -> 784 with an L1 or KL sparsity penalty"
    variant = {"hidden_dims": (), "latent_dim": 1024, "code_activation": "sigmoid", "penalty": "kl"}
    flags = ("latent_dim", "penalty", "sparsity_weight", "rho", "loss")


@register
class DenoisingAutoencoderRecipe(AutoencoderRecipe):
    name = "denoising-ae"
    help = "denoising autoencoder: rebuild the clean digit from a masked or noisy one"
    variant = {"noise": "mask", "noise_level": 0.3}
    flags = AutoencoderRecipe.flags + ("noise", "noise_level")


@register
class ConvAutoencoderRecipe(AutoencoderRecipe):
    name = "conv-ae"
    help = "convolutional autoencoder: conv-pool x2, transposed convs back, sigmoid output, MSE"
    defaults = {**Recipe.defaults, "epochs": 5}
    variant = {"arch": "conv", "loss": "mse"}
    flags = ("channels", "loss")
    image_flags = True
