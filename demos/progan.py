# %% [markdown]
# # Progressive growing: 7x7 first, then 14x14, then 28x28
#
# nanogen/models/progan.py is the lecture; this demo runs it. G and D start small, at 7x7, where
# only the rough shape of a digit matters. Then each grows by one block, faded in with alpha
# going from 0 to 1, so that the new layers start out doing nothing at all.
#
# 1. The promise of the fade-in, checked: grown with alpha = 0, G draws exactly the small G's image.
# 2. The three layers that make it train: equalized learning rate, pixel norm, minibatch stddev.
# 3. A run through all stages, with the samples at the end of each phase and the fade-in.
#
# Run: `python demos/progan.py` (one epoch: 468 iterations, the last 68 at 28x28) or `--quick`
# (phases of 1280 images on 4096 digits: a smoke run). Figures: demos/out/progan/

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen import nn
from nanogen.data import DataLoader, mnist
from nanogen.models import progan
from nanogen.models.progan_recipes import ProGAN
from nanogen.tensor import Tensor
from nanogen.train import fit

parser = argparse.ArgumentParser(description="progressive growing of a GAN on MNIST")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "progan")
os.makedirs(OUT, exist_ok=True)

# %% [markdown]
# ## 1. Growing at alpha = 0 changes nothing
# G's output during a fade-in is (1 - alpha) * upsample(toRGB_old(h)) + alpha * toRGB_new(block(h)).

# %%
rng = np.random.default_rng(0)
G = progan.ProGenerator(100, rng=rng)
z = Tensor(rng.standard_normal((4, 100), dtype=np.float32))
small = G.set_stage(0)(z).data                                      # (4, 1, 7, 7)
grown = G.set_stage(1, alpha=0.0)(z).data                           # (4, 1, 14, 14)
print("7x7 image, pixels repeated, equals the grown G at alpha = 0:",
      np.array_equal(grown, small.repeat(2, axis=2).repeat(2, axis=3)))
half = G.set_stage(1, alpha=0.5)(z).data
print(f"at alpha = 0.5 the images move by {np.abs(half - grown).mean():.3f} on average (pixels in about [-1, 1])")

# %% [markdown]
# ## 2. The layers
# Equalized learning rate: weights ~ N(0, 1), multiplied by c = sqrt(2 / fan_in) in every forward.
# Pixel norm: every pixel's feature vector scaled to unit mean square. Minibatch stddev: one extra
# map for D, the batch's average standard deviation; a collapsed batch gets 0.

# %%
layer = nn.EqualizedConv2d(16, 32, 3, padding=1, rng=rng)
print(f"stored weight std {layer.weight.data.std():.2f}, run-time scale c = {layer.scale:.4f}")
h = Tensor(rng.standard_normal((8, 16, 7, 7), dtype=np.float32) * 5)
print(f"pixel norm: mean square per pixel {float((nn.PixelNorm()(h).data ** 2).mean(axis=1).mean()):.3f}")
same = Tensor(np.repeat(h.data[:1], 8, axis=0))
mbstd = nn.MinibatchStdDev(group_size=None)
print(f"minibatch stddev: varied batch {float(mbstd(h).data[0, -1, 0, 0]):.3f}, "
      f"eight copies of one image {float(mbstd(same).data[0, -1, 0, 0]):.3f}")

# %% [markdown]
# ## 3. One run through every stage
# Phases: 7x7, 14x14 fade-in, 14x14, 28x28 fade-in, 28x28. stages.png shows the fixed noise at the
# end of each phase; fade_in.png the same z through each grown block at alpha = 0, 0.25, ... 1.

# %%
x_train, y_train = mnist("train")
x_test, y_test = mnist("test")
if QUICK:
    x_train, y_train = x_train[:4096], y_train[:4096]
config = {**ProGAN.defaults, "model": "progan", "seed": 0, "epochs": 1,
          "phase_images": 1280 if QUICK else 12800}
rng = np.random.default_rng(0)
recipe = ProGAN(config, rng)
loader = DataLoader(*recipe.training_arrays(x_train, y_train), batch_size=128, shuffle=True, seed=0, drop_last=True)
t0 = time.perf_counter()
last = fit(recipe, loader, 1, OUT, rng, config=config, data=(x_test[:1000], y_test[:1000]), quiet=True)
print(f"one epoch in {time.perf_counter() - t0:.0f} s; ended at stage {int(last['stage'])} "
      f"({int(last['resolution'])}x{int(last['resolution'])}), alpha {last['alpha']:.2f}")
print(f"figures: {OUT}/stages.png, {OUT}/fade_in.png, {OUT}/progression.png")
