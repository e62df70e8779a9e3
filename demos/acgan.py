# %% [markdown]
# # AC-GAN: a discriminator that also names the digit
#
# nanogen/models/acgan.py is the lecture; this demo runs it beside the conditional GAN it
# improves on. Both ask G for a digit; cgan's D is *shown* the label and judges "a real 7?",
# AC-GAN's D is not, and answers two questions: real or fake, and which digit. G is rewarded for
# images that look real and that D's classifier reads as the digit asked for.
#
# 1. The two objectives on one batch, term by term.
# 2. cgan and acgan trained for the same number of epochs: one row per requested digit.
# 3. What it trades: requested-class accuracy against the diversity within each class (FCD per
#    class), measured with nanogen's classifier.
#
# Run: `python demos/acgan.py` (two epochs per model, 936 iterations each) or
# `--quick` (one epoch on 4096 digits: a smoke run, blurry digits). Figures: demos/out/acgan/

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen import plot
from nanogen.data import DataLoader, mnist
from nanogen.models import acgan, dcgan, gan, gan_eval, gan_recipes
from nanogen.models.acgan_recipes import ACGAN
from nanogen.tensor import Tensor
from nanogen.train import fit

parser = argparse.ArgumentParser(description="AC-GAN against the conditional GAN on MNIST")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "acgan")
os.makedirs(OUT, exist_ok=True)

# %% [markdown]
# ## 1. The objectives, term by term
# A tiny AC-GAN (base_channels 4), untrained, on eight real digits. D's loss is the usual
# real/fake loss plus λ times the cross-entropy of its class head on the real digits (their true
# labels; the paper's form, `--fake-class-loss`, adds the fakes with the labels G was asked for);
# G's loss is the non-saturating loss plus λ times the class cross-entropy on its fakes.
# Untrained, each class term is near log 10 = 2.30.

# %%
x_train, y_train = mnist("train")
x_test, y_test = mnist("test")
rng = np.random.default_rng(0)
cfg = acgan.ACGANConfig(latent_dim=100)
G = dcgan.DCGANGenerator(100, base_channels=4, n_classes=10, rng=rng)
D = acgan.ACGANDiscriminator(base_channels=4, n_classes=10, rng=rng)
x = Tensor(x_train[:8] * 2 - 1)
y = y_train[:8]
fake = G(Tensor(rng.standard_normal((8, 100), dtype=np.float32)), y)
(lr, kr), (lf, kf) = D(x), D(fake)
loss_d, source_d, class_d = acgan.auxiliary_discriminator_loss(lr, kr, lf, kf, y, y, cfg)
loss_g, source_g, class_g = acgan.auxiliary_generator_loss(lf, kf, y, cfg)
print(f"loss_D = {source_d.item():.3f} (real/fake) + 1 x {class_d.item():.3f} (class of real digits) = {loss_d.item():.3f}")
print(f"loss_G = {source_g.item():.3f} (non-saturating) + 1 x {class_g.item():.3f} (class of fakes) = {loss_g.item():.3f}")

# %% [markdown]
# ## 2. cgan and acgan, the same epochs
# The same G (one-hot label next to z), the same D trunk; only the way D uses the label differs.

# %%
if QUICK:
    x_train, y_train = x_train[:4096], y_train[:4096]
EPOCHS = 1 if QUICK else 2


def train(recipe_cls, name):
    config = {**recipe_cls.defaults, "model": recipe_cls.name, "seed": 0, "epochs": EPOCHS}
    rng = np.random.default_rng(0)
    recipe = recipe_cls(config, rng)
    loader = DataLoader(*recipe.training_arrays(x_train, y_train), batch_size=128, shuffle=True, seed=0,
                        drop_last=True)
    t0 = time.perf_counter()
    fit(recipe, loader, EPOCHS, os.path.join(OUT, name), rng, config=config, data=(x_test[:1000], y_test[:1000]),
        quiet=True)
    print(f"{name}: {EPOCHS} epochs in {time.perf_counter() - t0:.0f} s")
    return recipe


models = {"cgan": train(gan_recipes.CGAN, "cgan"), "acgan": train(ACGAN, "acgan")}
z = np.random.default_rng(3).standard_normal((8, 100)).astype(np.float32)
for name, recipe in models.items():
    rows = [gan.generate(recipe.G, z, np.full(8, digit)) for digit in range(10)]
    plot.image_grid(np.concatenate(rows), nrow=8, path=os.path.join(OUT, f"{name}_digits.png"),
                    labels=[str(d) if j == 0 else "" for d in range(10) for j in range(8)],
                    title=f"{name}: row = the digit asked for, column = the same z")
print(f"digits asked for: {OUT}/cgan_digits.png, {OUT}/acgan_digits.png")

# %% [markdown]
# ## 3. What AC-GAN trades
# label accuracy: how often nanogen's classifier reads the digit G was asked for.
# FCD within a class: the samples asked for k against the real k's, averaged over k; the floor
# is the same distance between two halves of the real k's. A G that draws only the most typical
# 7 scores a high label accuracy and a high within-class FCD. AC-GAN's D also is a digit
# classifier: its accuracy on the test set is printed too.

# %%
n_eval = 2000 if QUICK else 10000
classifier = gan_eval.classifier_or_none()
if classifier is not None:
    gan_eval.report_table([(name, gan_eval.evaluate_generator(recipe, (x_test, y_test), np.random.default_rng(1),
                                                              n=n_eval, classifier=classifier))
                           for name, recipe in models.items()],
                          ["fcd", "inception_score", "label_accuracy", "fcd_within_class_mean",
                           "fcd_within_class_floor"])
    print(f"acgan's D as a classifier: {np.mean(models['acgan'].classify(x_test) == y_test):.1%} of the test digits")
print(f"\nfigures in {OUT}")
