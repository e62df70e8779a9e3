# %% [markdown]
# # nanogen in a few minutes: `make demo`
#
# A tour of the whole library on MNIST, on the CPU, with the pictures written to
# demos/out/demo/:
#   1. the engine: an op's gradient checked against finite differences;
#   2. a variational autoencoder (the classic 784-400-20 network) learns digits: samples from
#      the prior, reconstructions, and its test-set ELBO;
#   3. the convolutional autoencoder rebuilds digits through a 32x7x7 bottleneck;
#   4. a GAN on a ring of 8 Gaussians, where mode collapse is easy to see;
#   5. a DCGAN plays the two-step minimax game on real digits.
# Each part is also a command you can run on its own (printed as it goes). The longer lessons,
# one per model family, are the other scripts in demos/.
#
# Run: `python demos/demo.py` (about five minutes on two cores), `--quick` for a smoke run.

# %%
import argparse
import os
import sys
import time

import nanogen as ng  # first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

import nanogen.functional as F
from nanogen.cli import main as nanogen

parser = argparse.ArgumentParser(description="a tour of nanogen on MNIST")
parser.add_argument("--quick", action="store_true", help="tiny subsets and one epoch (also NANOGEN_QUICK=1)")
parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out", "demo"))
args = parser.parse_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = args.out
os.makedirs(OUT, exist_ok=True)
pictures = []
t_start = time.perf_counter()


def run(argv):
    """Run one `nanogen ...` command in-process and stop the demo if it fails."""
    print(f"\n$ nanogen {' '.join(argv)}", flush=True)
    code = nanogen(argv)
    if code:
        sys.exit(f"demo: `nanogen {' '.join(argv)}` failed with exit code {code}")


def collect(folder):
    pictures.extend(os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".png"))


# %% [markdown]
# ## 1. The engine: is the backward pass the derivative of the forward pass?

# %%
rng = np.random.default_rng(0)
x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
ok = ng.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1).tanh(), x, w, b)
print(f"gradcheck of tanh(conv2d(x, w, b, stride=2, padding=1)) for x, w and b in float64: {ok}")

# %% [markdown]
# ## 2. A variational autoencoder

# %%
vae_dir = os.path.join(OUT, "vae")
subset = ["--subset", "2048"] if QUICK else []
run(["train", "vae", "--epochs", "1" if QUICK else "5", "--out", vae_dir, *subset])
run(["sample", vae_dir, "--n", "64"])
run(["eval", vae_dir, "--limit", "500" if QUICK else "2000"])
collect(vae_dir)

# %% [markdown]
# ## 3. The convolutional autoencoder

# %%
cae_dir = os.path.join(OUT, "conv-ae")
run(["train", "conv-ae", "--epochs", "1", "--out", cae_dir, *(["--subset", "2048"] if QUICK else [])])
collect(cae_dir)

# %% [markdown]
# ## 4. Mode collapse on a toy problem: 8 Gaussians in a ring

# %%
from nanogen import plot  # noqa: E402
from nanogen.data import toy  # noqa: E402
from nanogen.models.gan_toy import COLLAPSING, COVERING, train_toy_gan  # noqa: E402

for label, cfg in (("collapsing", COLLAPSING), ("covering", COVERING)):
    snaps = (cfg.steps // 4, cfg.steps // 2, cfg.steps)
    result = train_toy_gan(cfg, rng=np.random.default_rng(0), snapshot_steps=snaps)
    c = result["coverage"]
    print(f"toy GAN ({label}: lr_g {cfg.lr_g}, lr_d {cfg.lr_d}), {result['steps']} steps in "
          f"{result['seconds']:.0f} s: {c['modes']} of {c['n_modes']} modes reached, "
          f"{100 * c['high_quality']:.0f}% of samples within 3 std of a mode")
    png = os.path.join(OUT, f"toy_ring_{label}.png")
    plot.toy_progression([p for _, p in result["snapshots"]], [s for s, _ in result["snapshots"]],
                         toy.mode_centres("ring8"), path=png)
    pictures.append(png)

# %% [markdown]
# ## 5. A DCGAN: the discriminator and the generator take turns

# %%
gan_dir = os.path.join(OUT, "dcgan")
run(["train", "dcgan", "--epochs", "1", "--subset", "1024" if QUICK else "12800", "--out", gan_dir])
collect(gan_dir)

# %%
print(f"\ndemo finished in {time.perf_counter() - t_start:.0f} s; pictures:")
for p in pictures:
    print("  ", p)
