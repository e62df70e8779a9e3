# %% [markdown]
# # GANs: a generator and a discriminator playing one game
#
# nanogen/models/gan.py is the lecture; this demo runs it. A discriminator D learns to tell real
# digits from generated ones; a generator G learns to fool it. Each iteration is two steps:
# a D step on a real batch (label 1) and a generated batch (label 0, made without a graph into
# G), then a G step through the frozen D towards "real".
#
# 1. Why G's loss is -log D(G(z)) and not log(1 - D(G(z))): the gradients, measured.
# 2. An MLP GAN and a DCGAN on MNIST: the same noise rendered after every epoch, and the
#    diagnostics (D's outputs, both losses, both gradient norms).
# 3. A conditional GAN: ask for a digit, get it.
# 4. An honest score: FCD, class coverage and inception score from nanogen's own classifier.
#
# Run: `python demos/gan.py` (about 30 minutes on two cores) or `--quick` (a minute or two: a
# smoke run on 4096 digits for one epoch, which gives noise, not digits). Figures: demos/out/gan/

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np
from matplotlib.figure import Figure

from nanogen import plot
from nanogen.data import DataLoader, mnist
from nanogen.models import gan, gan_eval, gan_recipes
from nanogen.tensor import Tensor
from nanogen.train import fit

parser = argparse.ArgumentParser(description="GANs on MNIST: MLP GAN, DCGAN, conditional GAN")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "gan")
os.makedirs(OUT, exist_ok=True)

# %% [markdown]
# ## 1. The saturating and the non-saturating generator loss
# D outputs a logit l and D = σ(l). The minimax game asks G to minimise log(1 - D(G(z))); the
# non-saturating version minimises -log D(G(z)). Same fixed point, very different gradients
# where training starts, with D confidently rejecting the fakes (D(G(z)) near 0). We let
# nanogen's autograd compute both gradients with respect to the logit.

# %%
logits = np.linspace(-9, 4, 200)
grads = {}
for name, loss_fn in [("minimax: log(1 - D)", gan.minimax_generator_loss),
                      ("non-saturating: -log D", gan.generator_loss)]:
    t = Tensor(logits[:, None].copy(), requires_grad=True)
    (loss_fn(t) * len(logits)).backward()                 # the losses are means: undo the 1/N
    grads[name] = np.abs(t.grad[:, 0])
d = 1 / (1 + np.exp(-logits))
fig = Figure(figsize=(6, 3.6), dpi=100, layout="constrained")
ax = fig.add_subplot()
for name, g in grads.items():
    ax.plot(d, g, label=name, linewidth=2)
ax.set_xscale("log")
ax.set_xlabel("D(G(z)), the discriminator's belief that a fake is real")
ax.set_ylabel("|d loss_G / d logit|")
ax.set_title("G's gradient where G is worst (left) vanishes for the minimax loss")
ax.grid(alpha=0.3)
ax.legend()
plot.save_figure(fig, os.path.join(OUT, "generator_losses.png"))
for dv in (1e-3, 0.5):
    i = int(np.argmin(np.abs(d - dv)))
    print(f"D(G(z)) = {d[i]:.3f}: |grad| minimax {grads['minimax: log(1 - D)'][i]:.4f}, "
          f"non-saturating {grads['non-saturating: -log D'][i]:.4f}")

# %% [markdown]
# ## 2. Train on MNIST with nanogen's training loop
# `fit` is what `nanogen train gan` runs: every epoch it renders the same fixed noise batch
# (progress_epoch_XX.png), appends a row to progression.png, and redraws gan_diagnostics.png
# from metrics.csv. How to read the diagnostics: d_real and d_fake (D's mean "real"
# probability on each batch) hovering around 0.5-0.8 and 0.2-0.5 is a healthy game; d_real -> 1,
# d_fake -> 0 with loss_g climbing means D has won and G's gradient is vanishing.

# %%
x_train, y_train = mnist("train")
x_test, y_test = mnist("test")
if QUICK:
    x_train, y_train = x_train[:4096], y_train[:4096]


def train(recipe_cls, name, epochs, **extra):
    config = {"model": recipe_cls.name, "seed": 0, "batch_size": 128, "epochs": epochs,
              **recipe_cls.defaults, **extra}
    config["epochs"] = epochs
    rng = np.random.default_rng(config["seed"])
    recipe = recipe_cls(config, rng)
    loader = DataLoader(*recipe.training_arrays(x_train, y_train), batch_size=128, shuffle=True, seed=0,
                        drop_last=True)
    run_dir = os.path.join(OUT, name)
    t0 = time.perf_counter()
    last = fit(recipe, loader, epochs, run_dir, rng, config=config, data=(x_test[:1000], y_test[:1000]),
               quiet=True)
    print(f"{name}: {epochs} epochs of {len(loader)} iterations in {time.perf_counter() - t0:.0f} s; "
          f"last step: " + ", ".join(f"{k} {v:.3f}" for k, v in last.items() if k not in ("epoch", "step")))
    print(f"   pictures: {run_dir}/progression.png, gan_diagnostics.png, progress_epoch_*.png")
    return recipe


models = {}
models["gan"] = train(gan_recipes.GAN, "mlp_gan", 1 if QUICK else 20, real_label=0.9)
models["dcgan"] = train(gan_recipes.DCGAN, "dcgan", 1 if QUICK else 3)

# %% [markdown]
# ## 3. The conditional GAN: one row per requested digit
# cgan gives G a one-hot label next to z and D a learned label plane next to the image. Each
# column below is one z, each row one requested digit: the style (slant, thickness) should stay
# with the column and the identity with the row.

# %%
models["cgan"] = train(gan_recipes.CGAN, "cgan", 1 if QUICK else 3)
z = np.random.default_rng(3).standard_normal((8, 100)).astype(np.float32)
rows = [gan.generate(models["cgan"].G, z, np.full(8, digit)) for digit in range(10)]
plot.image_grid(np.concatenate(rows), nrow=8, path=os.path.join(OUT, "cgan_digits.png"),
                labels=[str(d) if j == 0 else "" for d in range(10) for j in range(8)],
                title="cgan: row = the digit asked for, column = the same z")

# %% [markdown]
# ## 4. An honest score
# FCD (Frechet distance in the classifier's penultimate features; lower is better; the floor
# is the distance between two halves of the test set), the share of each digit among the
# samples (a collapsed GAN over-produces a few), the inception score (1 to 10), and for cgan
# how often the classifier reads the digit that was asked for. The classifier is trained by
# nanogen: the standard one in nanogen's cache (~/.cache/nanogen/classifier), trained there once,
# with a fixed seed, the first time a GAN is evaluated ($NANOGEN_CLASSIFIER points elsewhere).

# %%
n_eval = 2000 if QUICK else 10000
classifier = gan_eval.classifier_or_none()
if classifier is not None:
    print(f"\n{n_eval} samples per model against the {len(x_test)} test digits:")
    gan_eval.report_table([(name, gan_eval.evaluate_generator(recipe, (x_test, y_test), np.random.default_rng(1),
                                                              n=n_eval, classifier=classifier))
                           for name, recipe in models.items()])
print(f"\nfigures in {OUT}")
