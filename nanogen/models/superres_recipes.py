"""`nanogen train superres --scale 4|2 [--mse-only]`: superres.py (SRGAN) as a Recipe.

Read superres.py first: this file only makes the low-resolution images for each batch, loads
the classifier whose features the content loss compares, draws low-res | bicubic | output |
original rows and evaluates.
    --scale 4|2              7 x 7 -> 28 x 28, or 14 x 14 -> 28 x 28
    --mse-only               the same generator trained on pixel MSE alone (SRResNet-MSE), no D
    --content-weight W       weight of the classifier-feature loss (default 0.1; 0 switches it off)
    --adv-weight W           weight of the adversarial loss (default 1e-3, as the paper)
    (these and the other model flags come from SRConfig: `nanogen train superres --help`)
Training (unless --mse-only) needs nanogen's MNIST classifier ($NANOGEN_CLASSIFIER, --classifier,
else the standard one in the cache, trained once when missing: models/gan_eval.py).
Evaluation (`nanogen eval RUN --json`, img2img.py): on the test set, for the model and for
bicubic and bilinear upsampling of the same low-resolution images (prefixed bicubic_, bilinear_):
    psnr, ssim, l1          against the original 28 x 28 digits
    accuracy, fcd           nanogen's classifier on the upscaled digits (original_accuracy: its ceiling)
`nanogen sample RUN --input FILES` upscales given (28/r) x (28/r) images (PNG or .npy).
"""

import os

import numpy as np

from ..tensor import Tensor
from . import register
from .img2img import ImageToImageRecipe, classifier_for, evaluate_outputs, read_images
from .superres import (SRConfig, SRDiscriminator, SRGenerator, bicubic_upsample, bilinear_upsample,
                       classifier_content_features, downsample, super_resolve, train_step)


@register
class SuperResRecipe(ImageToImageRecipe):
    name = "superres"
    help = "SRGAN super-resolution 7x7 -> 28x28 (--scale 4) or 14x14 -> 28x28: residual G, pixel shuffle"
    defaults = {"epochs": 1, "batch_size": 32, "lr": 5e-4}
    baseline = ("--mse-only", "train G on pixel MSE alone (SRResNet-MSE): the baseline SRGAN is compared with",
                {"content_weight": 0.0, "adv_weight": 0.0, "adversarial": False})     # no content loss, no D
    classifier_use = "the content loss and eval"

    config_class = SRConfig
    flags = ("scale", "channels", "d_channels", "n_res_blocks", "pixel_weight", "content_weight", "adv_weight")

    def __init__(self, config, rng):
        super().__init__(config, rng)
        self._phi = None

    def build(self, cfg, rng):
        return (SRGenerator(cfg.scale, cfg.channels, cfg.n_res_blocks, rng=rng),
                SRDiscriminator(cfg.d_channels, rng=rng))

    def phi(self):
        """The content loss's feature map, from the classifier loaded on first use (frozen)."""
        if self._phi is None and self.cfg.content_weight:
            clf = classifier_for(self.config, "mnist")
            clf.requires_grad_(False)
            self._phi = classifier_content_features(clf)
        return self._phi

    def make_input(self, hr, rng=None):
        """The low-resolution images (N, 1, 28/r, 28/r) of hr (N, 1, 28, 28): block means, no noise."""
        return downsample(hr, self.cfg.scale)

    def train_step(self, batch, rng):
        hr = batch[0].data                                        # (N, 1, 28, 28) in [0, 1]
        lr = self.make_input(hr)
        return train_step(self.G, self.D, self.optimizers["generator"], self.optimizers["discriminator"],
                          self.phi(), Tensor(lr * 2 - 1), Tensor(hr * 2 - 1), self.cfg)

    def translate(self, lr):
        """The generator's upscaled images (N, 1, 28, 28) in [0, 1] of low-resolution lr in [0, 1]."""
        return super_resolve(self.G, lr)

    def translate_files(self, paths, out):
        """`nanogen sample RUN --input FILES`: low-res (shown blocky) | bicubic | output rows into `out`."""
        from ..plot_images import _rows_figure  # input | output | target rows, as plot.reconstructions

        r = self.cfg.scale
        lr = read_images(paths, 28 // r)
        blocky = np.repeat(np.repeat(lr, r, axis=2), r, axis=3)
        _rows_figure([blocky, np.clip(bicubic_upsample(lr, r), 0, 1), self.translate(lr)],
                          ["input", "bicubic", self.name], len(lr), out,
                          f"{self.name} x{r}: given images, upscaled", (0, 1), "translate_files")
        return out

    def on_epoch_end(self, run_dir, epoch, data):
        self.figure(data[0][:10], os.path.join(run_dir, "superres.png"), f"epoch {epoch}")

    def figure(self, hr, path, when=""):
        """low-res | bicubic | this model | original, one column per digit."""
        from ..plot_images import _rows_figure  # input | output | target rows, as plot.reconstructions

        r = self.cfg.scale
        lr = self.make_input(hr)
        blocky = np.repeat(np.repeat(lr, r, axis=2), r, axis=3)            # nearest: the pixels as they are
        kind = "MSE only" if not self.cfg.adversarial else "SRGAN"
        _rows_figure([blocky, np.clip(bicubic_upsample(lr, r), 0, 1), self.translate(lr), hr],
                          [f"{28 // r}x{28 // r} input", "bicubic", kind, "original"], len(hr), path,
                          f"{self.name} x{r} ({kind}) {when}: test digits", (0, 1), "superres")

    def evaluate(self, data, rng):
        hr, labels = data
        r = self.cfg.scale
        lr = self.make_input(hr)
        clf = classifier_for(self.config, self.config.get("dataset", "mnist"))
        out = evaluate_outputs(self.translate(lr), hr, labels, clf)
        for name, up in (("bicubic", bicubic_upsample), ("bilinear", bilinear_upsample)):
            base = evaluate_outputs(np.clip(up(lr, r), 0, 1), hr, labels, clf)
            out.update({f"{name}_{k}": v for k, v in base.items()})
        if clf is not None:
            out["original_accuracy"] = float(np.mean(clf.predict(hr) == labels))
        out.update({"scale": r, "adversarial": int(self.cfg.adversarial)})
        return out
