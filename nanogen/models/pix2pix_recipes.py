"""`nanogen train pix2pix --task outline|inpaint|edges [--l1-only]`: pix2pix.py as a Recipe.

Read pix2pix.py first: this file only makes the pairs for each batch, wires the model into the
training loop (nanogen/train.py), draws input | output | target rows and evaluates.
    --task outline|inpaint|edges   which input is made from each training image (pix2pix.make_input);
                                   edges is meant for --dataset fashion-mnist (edges -> garment)
    --l1-only                      the same U-Net trained on lambda * L1 alone: the paper's baseline
The model's flags (--l1-weight, --base-channels, ...) come from Pix2PixConfig: `nanogen train pix2pix --help`.
Evaluation (`nanogen eval RUN --json`, img2img.py): on the test set, inputs made with a fixed seed,
    l1, psnr, ssim          outputs against their targets
    accuracy, fcd           nanogen's MNIST classifier on the outputs (MNIST only)
    input_accuracy, input_fcd, input_l1    the same numbers for the inputs themselves: the baseline
`nanogen sample RUN --input FILES` translates given 28 x 28 images (PNG or .npy, light ink on dark).
"""

import os

import numpy as np

from ..tensor import Tensor
from . import register
from .img2img import ImageToImageRecipe, classifier_for, evaluate_outputs, read_images
from .pix2pix import PatchDiscriminator, Pix2PixConfig, UNetGenerator, make_input, train_step, translate

EVAL_SEED = 1234        # the test inputs (inpaint squares) are the same for every run and model


@register
class Pix2PixRecipe(ImageToImageRecipe):
    name = "pix2pix"
    help = "pix2pix: U-Net + PatchGAN translating outlines/masked digits/edges into images (Isola et al. 2017)"
    defaults = {"epochs": 3, "batch_size": 64, "lr": 2e-4}
    baseline = ("--l1-only", "train the U-Net on L1 alone, without D: the baseline the GAN should beat",
                {"adversarial": False})

    config_class = Pix2PixConfig
    flags = ("task", "base_channels", "dropout", "dropout_at_test", "l1_weight", "inpaint_size")

    def build(self, cfg, rng):
        return (UNetGenerator(cfg.base_channels, cfg.dropout, cfg.dropout_at_test, rng=rng),
                PatchDiscriminator(cfg.base_channels, rng=rng))

    def make_input(self, y, rng):
        return make_input(self.cfg.task, y, rng, self.cfg.inpaint_size)

    def train_step(self, batch, rng):
        y = batch[0].data                                          # targets (N, 1, 28, 28) in [0, 1]
        x = self.make_input(y, rng)                                # their inputs, made afresh (new squares)
        return train_step(self.G, self.D, self.optimizers["generator"], self.optimizers["discriminator"],
                          Tensor(x * 2 - 1), Tensor(y * 2 - 1), self.cfg)

    def translate(self, x):
        """Outputs (N, 1, 28, 28) in [0, 1] for inputs x in [0, 1]."""
        return translate(self.G, x)

    def translate_files(self, paths, out):
        """`nanogen sample RUN --input FILES`: input | output rows into the PNG `out`."""
        from ..plot_images import _rows_figure  # input | output | target rows, as plot.reconstructions

        x = read_images(paths, 28)
        _rows_figure([x, self.translate(x)], ["input", "output"], len(x), out,
                          f"{self.name} ({self.cfg.task}): given images, translated", (0, 1), "translate_files")
        return out

    def on_epoch_end(self, run_dir, epoch, data):
        from ..plot_images import _rows_figure  # input | output | target rows, as plot.reconstructions

        y = data[0][:10]
        x = self.make_input(y, np.random.default_rng(EVAL_SEED))
        kind = "L1 only" if not self.cfg.adversarial else "GAN + L1"
        _rows_figure([x, self.translate(x), y], ["input", "output", "target"], len(y),
                          os.path.join(run_dir, "translations.png"),
                          f"{self.name} {self.cfg.task} ({kind}), epoch {epoch}: test digits", (0, 1), "pix2pix")

    def evaluate(self, data, rng):
        y, labels = data
        dataset = self.config.get("dataset", "mnist")
        x = self.make_input(y, np.random.default_rng(EVAL_SEED))  # the same inputs for every model
        clf = classifier_for(self.config, dataset)
        out = evaluate_outputs(self.translate(x), y, labels, clf)
        base = evaluate_outputs(x, y, labels, clf)
        out.update({f"input_{k}": v for k, v in base.items()})
        out.update({"task": self.cfg.task, "adversarial": int(self.cfg.adversarial)})
        return out
