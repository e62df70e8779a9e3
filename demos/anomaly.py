# %% [markdown]
# # Anomaly detection with an autoencoder: which digits has it never seen?
#
# Train an autoencoder on the digits 0-8 only. It learns to rebuild what it has seen; a 9 is
# rebuilt as the nearest thing it knows (often a 4 or a 7), so its reconstruction error is
# higher. Score every test digit by that error and ask how well the score separates the 9s from
# the rest: the area under the ROC curve (AUROC: 1 perfect, 0.5 chance). No 9 and no label is
# used in training; the labels only grade the detector afterwards.
#
# Run: `python demos/anomaly.py` (a few minutes on two cores) or `--quick`. Figures: demos/out/anomaly/
# (roc.png is the best detector's curve). demos/outliers.py goes on from here: the VAE's
# likelihood as the score, where it fails (a model of clothes finds digits more likely) and the fixes.

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen import plot
from nanogen.autograd import no_grad
from nanogen.data import DataLoader, mnist
from nanogen.metrics import auroc, roc_curve
from nanogen.models import autoencoder as A
from nanogen.optim import Adam
from nanogen.tensor import Tensor

parser = argparse.ArgumentParser(description="autoencoder anomaly detection on MNIST (9 = anomaly)")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
parser.add_argument("--anomaly", type=int, default=9, help="the digit left out of training (default 9)")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "anomaly")
os.makedirs(OUT, exist_ok=True)
ANOMALY = args.anomaly

x_train, y_train = mnist("train")
x_test, y_test = mnist("test")
normal = y_train != ANOMALY
x_train = x_train[normal]                                  # the digits 0-8 only: no 9 is ever seen
if QUICK:
    x_train, x_test, y_test = x_train[:5000], x_test[:2000], y_test[:2000]
EPOCHS = 1 if QUICK else 5
BATCH = 32 if QUICK else 128  # quick: more, smaller steps
is_anomaly = y_test == ANOMALY
print(f"training on {len(x_train)} digits without a {ANOMALY}; testing on {len(x_test)} digits, "
      f"{is_anomaly.sum()} of them {ANOMALY}s")

# %% [markdown]
# ## Train on the normal digits
# Four models: the plain autoencoder with a 32- and an 8-number code, a stacked one with an
# 8-number code, and the convolutional one. A narrower code generalises less, which here is
# what we want: it should fail on digits it has not seen.

# %%
def train(config, name, seed=0):
    rng = np.random.default_rng(seed)
    model = A.build_model(config, rng=rng)
    opt = Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(x_train, batch_size=BATCH, shuffle=True, seed=seed)
    t0 = time.perf_counter()
    for epoch in range(EPOCHS):
        for (xb,) in loader:
            terms = A.train_step(model, opt, xb, rng)
    print(f"{name}: {EPOCHS} epochs, last loss {terms['loss']:.4f} ({time.perf_counter() - t0:.0f} s)")
    return model


models = {"ae Z=32": train(A.AEConfig(hidden_dims=(256,), latent_dim=32), "ae, Z=32"),
          "ae Z=8": train(A.AEConfig(hidden_dims=(256,), latent_dim=8), "ae, Z=8"),
          "stacked-ae Z=8": train(A.AEConfig(hidden_dims=(512, 256), latent_dim=8), "stacked-ae, Z=8"),
          "conv-ae": train(A.AEConfig(arch="conv", loss="mse"), "conv-ae")}

# %% [markdown]
# ## Score the test digits by reconstruction error
# Score 1: the mean squared error of the reconstruction. Look at the mean score by digit: it
# mostly measures how much ink a digit has (1s are easy, 0s and 8s hard), and a 9 has an
# average amount. Score 2 divides the error by the ink (the sum of the pixels) to take that
# confound out. Neither is great: a 9 is made of strokes the model knows from 4s and 7s, and an
# autoencoder generalises to it -- the honest lesson of this demo.

# %%
ink = x_test.reshape(len(x_test), -1).sum(axis=1)            # (N,) total brightness per digit
results = {}
for name, model in models.items():
    mse = A.reconstruction_errors(model, x_test)["mse"]
    for score, s in [("mse", mse), ("mse / ink", mse / ink)]:
        results[name, score] = (auroc(s, is_anomaly), s)
    by_digit = "  ".join(f"{d}:{mse[y_test == d].mean():.4f}" for d in range(10))
    print(f"{name:>15}: AUROC for spotting the {ANOMALY}s: by mse {results[name, 'mse'][0]:.3f}, "
          f"by mse / ink {results[name, 'mse / ink'][0]:.3f}")
    print(f"{'':>15}  mean mse by digit  {by_digit}")

# %% [markdown]
# ## The ROC curve, and what the detector flags
# Each point is one threshold: flag every digit scoring above it. The top-scoring digits are a
# mix of 9s and odd-looking normal digits -- reconstruction error finds the unusual, not only
# the unseen.

# %%
best = max(results, key=lambda k: results[k][0])
for name in models:                                       # one ROC curve per model, its better score
    score = max(["mse", "mse / ink"], key=lambda sc: results[name, sc][0])
    area, s = results[name, score]
    fpr, tpr, _ = roc_curve(s, is_anomaly)
    tag = name.replace(" ", "_").replace("=", "")
    path = os.path.join(OUT, "roc.png" if (name, score) == best else f"roc_{tag}.png")
    plot.roc_curve_plot(fpr, tpr, auroc=area, label=f"{name}, {score}", path=path,
                        title=f"spotting unseen {ANOMALY}s by reconstruction error")

area, s = results[best]
order = np.argsort(-s)
top = order[:32]
plot.image_grid(x_test[top], nrow=8, labels=[str(int(d)) for d in y_test[top]],
                path=os.path.join(OUT, "most_anomalous.png"),
                title=f"{best[0]}, {best[1]}: the 32 highest-scoring test digits (label in the corner)")
with no_grad():
    rebuilt = models[best[0]].reconstruct(Tensor(x_test[top[:10]])).data
plot.reconstructions(x_test[top[:10]], rebuilt, path=os.path.join(OUT, "most_anomalous_reconstructions.png"),
                     title="the highest-scoring digits and what the model made of them")
print(f"best: {best[0]} scored by {best[1]}, AUROC {area:.3f}; of its 100 top-scoring test digits "
      f"{is_anomaly[order[:100]].sum()} are {ANOMALY}s (base rate {is_anomaly.mean():.1%})")
print(f"figures in {OUT} (roc.png: the best detector)")
