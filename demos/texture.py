# %% [markdown]
# # Texture synthesis: the style loss alone, from noise
#
# Drop the content term of style transfer and keep only the Gram matrices: start from noise and
# descend until the image's feature correlations match a texture's (Gatys, Ecker & Bethge 2015,
# "Texture Synthesis Using Convolutional Neural Networks"). The result is a new sample of the
# same texture -- no pixel copied, any size. The network has random weights; section 3 shows
# what it needs to work (Ustyuzhaninov et al. 2017): many filters, several sizes.
# Source: nanogen/models/style.py (synthesize_texture, random_features, ConvBank).
#
# Run: `python demos/texture.py` (a few minutes on two cores) or `--quick`.
# Figures go to demos/out/texture/.

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen import nn, plot
from nanogen.models import style as S
from nanogen.models import style_features as SF
from nanogen.style_cli import fit_size, load_image

parser = argparse.ArgumentParser(description="texture synthesis with random-weight features")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "texture")
os.makedirs(OUT, exist_ok=True)
SIZE, STEPS = (32, 20) if QUICK else (64, 150)

net = SF.random_features(seed=0)
config = S.StyleConfig(steps=STEPS, optimizer="lbfgs", style_weight=1.0, tv_weight=0.0)  # Gatys et al.'s optimiser
print(f"{net.description}; L-BFGS x {STEPS}, textures of {SIZE} pixels")

# %% [markdown]
# ## 1. From noise to texture
#
# Snapshots along the way: the coarse layout (deep layers, large receptive fields) settles
# first, the fine grain (first layer) last.

# %%
terrain = fit_size(load_image("terrain"), SIZE)
snapshots, losses = [], []
checkpoints = [0, 5, 20] if QUICK else [0, 10, 40, STEPS]
for steps in checkpoints:
    if steps == 0:  # the starting point: the same seeded noise every run starts from
        snapshots.append(np.clip(0.5 + 0.1 * np.random.default_rng(0).standard_normal(terrain.shape), 0, 1)[0])
        continue
    t0 = time.perf_counter()
    cfg = S.StyleConfig(**{**config.__dict__, "steps": steps})
    img = S.synthesize_texture(net, terrain, config=cfg, callback=lambda i, p: losses.append(p["style"]))
    snapshots.append(img[0])
    print(f"{steps:>4} iterations: style loss {losses[-1]:.2e} ({time.perf_counter() - t0:.1f} s)")
plot.image_grid(np.stack([terrain[0]] + snapshots), nrow=len(snapshots) + 1, path=os.path.join(OUT, "progression.png"),
                labels=["texture"] + [f"{n} iterations" for n in checkpoints], title="from noise to texture")

# %% [markdown]
# ## 2. Any size -- and what happens to pictures that are not textures
#
# The Gram matrix averages over positions, so a texture can be synthesised larger than its
# source: here twice as wide. The gift box and the portrait are objects, not textures: their
# colours and edges come back, their arrangement does not (the Gram matrix never knew it).

# %%
rows = []
for name in ["terrain", "present", "grace_hopper"]:
    source = fit_size(load_image(name), SIZE)
    big = S.synthesize_texture(net, source, size=(source.shape[2], 2 * source.shape[3]), config=config)
    plot.style_panel(source, source, big, path=os.path.join(OUT, f"{name}.png"),
                     titles=(name, "(the style is the texture)", "synthesised, twice as wide"))
    print(f"wrote {name}.png")

# %% [markdown]
# ## 3. What a random network needs
#
# Three random networks on the same texture: the default (a bank of 96 filters of sizes 3, 5
# and 7, then three more layers at 1/2, 1/4, 1/8 size); its first layer alone; and a narrow
# first layer of 8 filters of size 3. A 3x3 RGB patch has 27 numbers: 8 filters give a Gram
# matrix too small to pin its statistics down, and the noise survives.

# %%
def one_layer(n_filters, sizes, seed=0):
    rng = np.random.default_rng(seed)
    bank = SF.ConvBank(3, [n_filters // len(sizes)] * len(sizes), sizes, rng=rng)
    for conv in bank.convs:
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", rng=rng)
    return SF.FeatureNet(nn.Sequential(bank, nn.ReLU()), ["conv1", "relu1"], SF.IMAGENET_MEAN, SF.IMAGENET_STD,
                        content_layers=["relu1"], style_layers=["relu1"], description=f"{n_filters} filters {sizes}")


nets = [net, one_layer(96, (3, 5, 7)), one_layer(8, (3,))]
images = []
for candidate in nets:
    t0 = time.perf_counter()
    images.append(S.synthesize_texture(candidate, terrain, config=config)[0])
    print(f"{candidate.description}: {time.perf_counter() - t0:.1f} s")
plot.image_grid(np.stack([terrain[0]] + images), nrow=len(images) + 1, path=os.path.join(OUT, "networks.png"),
                labels=["texture", "default network", "its first layer", "8 filters 3x3"],
                title="which random network?")
print(f"figures in {OUT}")
