# %% [markdown]
# # A style-based generator: styles, noise, mixing and truncation
#
# nanogen/models/stylegan.py is the lecture (Karras et al. 2019); this demo runs it.
# The generator never feeds z to its convolutions: it starts from a learned constant 7x7 block,
# and a mapping network turns z into w, which sets the *style* of every layer through AdaIN.
# Per-pixel noise, scaled per channel, adds the random detail.
#
# 1. AdaIN replaces each channel's statistics by the style's: measured.
# 2. Train `stylegan` on MNIST with nanogen's training loop (mixing regularisation on).
# 3. Style mixing: coarse styles from one digit, fine styles from another.
# 4. Stochastic variation: one w, fresh noise; where does the noise act?
# 5. The truncation trick: psi from 0 (the average digit) to 1.
# 6. An honest score against dcgan: FCD, inception score, digit coverage.
#
# Run: `python demos/stylegan.py` (2 epochs, about an hour on two quiet cores; GANs are slow in
# nanogen's im2col convolutions) or `--quick` (a minute or two on 2048 digits: blobs, not digits,
# but every figure is drawn). Figures: demos/out/stylegan/

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen.data import DataLoader, mnist
from nanogen.models import gan_eval
from nanogen.models import stylegan as sg
from nanogen.models.stylegan_recipes import StyleGANRecipe, stylegan_figures
from nanogen.nn.style_layers import adain
from nanogen.tensor import Tensor
from nanogen.train import fit

parser = argparse.ArgumentParser(description="a style-based generator on MNIST")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "stylegan")
os.makedirs(OUT, exist_ok=True)

# %% [markdown]
# ## 1. AdaIN: the style replaces the statistics
# AdaIN(x, y) = y_s * (x - mu(x)) / sigma(x) + y_b, per image and channel. Whatever mean and
# standard deviation a feature map had, afterwards it has the style's: (y_b, y_s).

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 3, 7, 7)) * np.array([5.0, 0.1, 2.0])[None, :, None, None] + 3.0
y_s, y_b = np.array([[1.0, 2.0, 0.5]]), np.array([[0.0, -1.0, 4.0]])
out = adain(Tensor(x), Tensor(y_s), Tensor(y_b)).data
for c in range(3):
    print(f"channel {c}: before mean {x[0, c].mean():6.2f} std {x[0, c].std():5.2f}   "
          f"after mean {out[0, c].mean():6.2f} std {out[0, c].std():5.2f}   "
          f"(style y_b {y_b[0, c]:5.2f}, y_s {y_s[0, c]:4.2f})")

# %% [markdown]
# ## 2. Train on MNIST
# `fit` is what `nanogen train stylegan` runs. Each iteration draws z, maps it to w; for 90% of
# the batches a second z and a crossover layer split the six styles between two latents (mixing
# regularisation); fresh noise goes into every layer; then gan.py's D step and G step.
# The column `crossover` of metrics.csv says which layer the split came at (6: not mixed).

# %%
x_train, y_train = mnist("train")
x_test, y_test = mnist("test")
if QUICK:
    x_train, y_train = x_train[:2048], y_train[:2048]
epochs = 1 if QUICK else 2
config = {"model": "stylegan", "seed": 0, **StyleGANRecipe.defaults, "epochs": epochs}
rng = np.random.default_rng(config["seed"])
recipe = StyleGANRecipe(config, rng)
loader = DataLoader(*recipe.training_arrays(x_train, y_train), batch_size=128, shuffle=True, seed=0, drop_last=True)
run_dir = os.path.join(OUT, "run")
t0 = time.perf_counter()
last = fit(recipe, loader, epochs, run_dir, rng, config=config, data=(x_test[:1000], y_test[:1000]), quiet=True)
print(f"{epochs} epochs of {len(loader)} iterations in {time.perf_counter() - t0:.0f} s; last step: "
      + ", ".join(f"{k} {v:.3f}" for k, v in last.items() if k not in ("epoch", "step")))
G = recipe.G
print("learned noise scales per layer (mean |b|):",
      ", ".join(f"{np.abs(layer.noise.weight.data).mean():.3f}" for layer in G.synthesis.layers))

# %% [markdown]
# ## 3-5. Style mixing, stochastic variation, truncation
# `style_mixing.png`: the top row and the left column are the sources; every other cell takes
# the coarse (7x7) styles of its row and the rest from its column (left panel), or the 7x7 and
# 14x14 styles from its row (right panel). If styles localise, a row keeps its digit and
# pose while the columns change the stroke.
# `noise.png`: the same w eight times with fresh noise; the std image is bright where the noise
# changes pixels -- along the strokes' edges, not their identity.
# `truncation.png`: psi = 0 maps every z to w_avg, one "average digit"; psi = 1 is the model.

# %%
stylegan_figures(recipe, OUT, tag=f"stylegan after {epochs} epoch(s)")
_, std = sg.stochastic_variation(G, np.random.default_rng(5).standard_normal((1, G.latent_dim)), 100,
                                 np.random.default_rng(6))
print(f"per-pixel std from the noise alone: mean {std.mean():.4f}, max {std.max():.4f} (images in [0, 1])")
for name in ("style_mixing", "noise", "truncation"):
    print(f"   {os.path.join(OUT, name + '.png')}")

# %% [markdown]
# ## 6. An honest score
# The same numbers as `nanogen eval`: FCD against the test set (lower is better; the floor is
# the distance between its two halves), inception score (1 to 10) and the digit shares.
# Truncation trades diversity for typical samples: watch the FCD and the digit shares as psi falls.

# %%
n_eval = 2000 if QUICK else 10000
classifier = gan_eval.classifier_or_none()
if classifier is not None:
    rows = []
    for psi in (1.0, 0.7, 0.5):
        recipe.config["truncation"] = psi
        fake = recipe.sample(n_eval, np.random.default_rng(1))
        rows.append((f"{psi:.2f}", gan_eval.evaluate_samples(classifier, x_test, fake)))
    gan_eval.report_table(rows, ["fcd", "fcd_test_halves", "inception_score", "digit_shares"], first="psi")
print(f"\nfigures in {OUT}")
