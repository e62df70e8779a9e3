# %% [markdown]
# # Style transfer: gradient descent on the pixels
#
# Every other lecture in nanogen changes a network's weights to fit the data. This one freezes a
# network and changes an *image* instead (Gatys, Ecker & Bethge 2016): make it look, to the
# network, like the content image in its feature maps and like the style image in the
# correlations between its feature maps (Gram matrices), with a total-variation term that keeps
# neighbouring pixels close. The network never learns anything -- its weights are random
# (Ustyuzhaninov et al. 2017; He et al. 2016), so nothing has to be downloaded.
# Source: nanogen/models/style.py (losses, networks, loop), nanogen/style_cli.py (`nanogen style`).
#
# Run: `python demos/style_transfer.py` (a few minutes on two cores) or `--quick`.
# Figures go to demos/out/style_transfer/.

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen import plot
from nanogen.models import style as S
from nanogen.models import style_features as SF
from nanogen.style_cli import DEFAULT_DIGITS, fit_size, load_feature_net, load_image
from nanogen.tensor import Tensor

parser = argparse.ArgumentParser(description="neural style transfer with random-weight features")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "style_transfer")
os.makedirs(OUT, exist_ok=True)
SIZE, STEPS = (48, 30) if QUICK else (128, 200)

content = fit_size(load_image("grace_hopper"), SIZE)   # (1, 3, H, W) in [0, 1]
style = fit_size(load_image("terrain"), SIZE)          # shaded relief from matplotlib's sample data
net = SF.random_features(seed=0)
print(f"content {content.shape}, style {style.shape}; network: {net.description}")
print("layers:", " ".join(net.names))

# %% [markdown]
# ## 1. The gradient with respect to the input
#
# The engine does not care which leaf it differentiates for: make the image a Tensor with
# `requires_grad=True` and the frozen network's weights get no gradient at all -- backward fills
# `x.grad`, the direction in pixel space that increases the loss fastest.

# %%
x = Tensor(content.copy(), requires_grad=True)
features = net(x, ["relu3"])
loss = (features["relu3"] * features["relu3"]).mean()  # any scalar of the features
loss.backward()
conv = net.features[0].convs[0]
print(f"x.grad: shape {x.grad.shape}, |grad| max {np.abs(x.grad).max():.2e}; "
      f"first conv weight requires_grad={conv.weight.requires_grad}, grad={conv.weight.grad}")
g = np.abs(x.grad).sum(axis=1, keepdims=True)
plot.style_panel(content, g / g.max(), np.clip(content + 0.5 * x.grad / np.abs(x.grad).max(), 0, 1),
                 path=os.path.join(OUT, "input_gradient.png"),
                 titles=("image", "|dL/dx| (summed over RGB)", "image + a step up the gradient"))

# %% [markdown]
# ## 2. What a Gram matrix keeps and what it forgets
#
# G = F F^T / (C H W) averages over positions, so it cannot tell where a feature fired. Swap the
# four quadrants of the content image: the content loss (features compared position by
# position) jumps, the style loss (Gram matrices compared) barely moves.

# %%
H, W = content.shape[2:]
h, w = H // 2, W // 2
crop = content[:, :, : 2 * h, : 2 * w]
swapped = np.concatenate([np.concatenate([crop[:, :, h:, w:], crop[:, :, h:, :w]], axis=3),
                          np.concatenate([crop[:, :, :h, w:], crop[:, :, :h, :w]], axis=3)], axis=2)
targets = S.style_targets(net, crop, crop, net.content_layers, net.style_layers)
weights = {k: 1 / len(net.style_layers) for k in net.style_layers}
noise = np.random.default_rng(0).random(crop.shape).astype(np.float32)
for name, img in [("the image itself", crop), ("quadrants swapped", swapped), ("uniform noise", noise)]:
    parts = S.objective(net, Tensor(img), targets, 1.0, 1.0, 0.0, weights)
    print(f"{name:>18}: content loss {float(parts['content'].data):.4f}   style loss {float(parts['style'].data):.5f}")

# %% [markdown]
# ## 3. Style transfer
#
# Start from the content image and descend on L = α content + β style + γ tv with Adam
# (lr 0.02 in pixel units), clipping to [0, 1] after each step.

# %%
history = {"step": [], "loss": [], "content": [], "style": [], "tv": []}


def record(step, parts):
    history["step"].append(step)
    for k in ("loss", "content", "style", "tv"):
        history[k].append(parts[k])


t0 = time.perf_counter()
result = S.stylize(net, content, style, S.StyleConfig(steps=STEPS, style_weight=100.0), callback=record)
print(f"{STEPS} Adam steps in {time.perf_counter() - t0:.1f} s; "
      f"loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f}")
plot.style_panel(content, style, result, path=os.path.join(OUT, "panel.png"))
plot.loss_curves(history, keys=["loss", "content", "style", "tv"], logy=True, path=os.path.join(OUT, "losses.png"))

# %% [markdown]
# ## 4. The content/style trade-off
#
# β sets how far the picture moves towards the style; α (here 1) how much of the layout stays.

# %%
betas = [1.0, 10.0, 100.0] if not QUICK else [1.0, 100.0]
results = [S.stylize(net, content, style, S.StyleConfig(steps=STEPS, style_weight=b))[0] for b in betas]
plot.image_grid(np.stack([content[0]] + results), nrow=len(results) + 1, path=os.path.join(OUT, "style_weights.png"),
                labels=["content"] + [f"β = {b:g}" for b in betas], title="more style weight, less content")
print("wrote style_weights.png: β =", betas)

# %% [markdown]
# ## 5. Adam or L-BFGS
#
# Gatys et al. used L-BFGS: a curvature model from the last few steps, one line search per
# iteration. Per iteration it gets further; each iteration may cost several forward/backward passes.

# %%
curves = {}
for opt in ("adam", "lbfgs"):
    losses = []
    t0 = time.perf_counter()
    S.stylize(net, content, style, S.StyleConfig(steps=STEPS // 2, optimizer=opt),
              callback=lambda i, p: losses.append(p["loss"]))
    curves[opt] = losses
    print(f"{opt:>6}: {STEPS // 2} iterations, {time.perf_counter() - t0:.1f} s, final loss {losses[-1]:.4f}")
n = min(len(v) for v in curves.values())
plot.loss_curves({"step": list(range(n)), "adam": curves["adam"][:n], "lbfgs": curves["lbfgs"][:n]},
                 logy=True, path=os.path.join(OUT, "adam_vs_lbfgs.png"))

# %% [markdown]
# ## 6. Other feature networks
#
# The MNIST classifier (`nanogen train classifier`, run folder runs/classifier) gives
# digit-to-digit transfer: `nanogen style --features classifier` thickens a thin 7 with the strokes
# of a bold 0 -- and, since the Gram matrix also counts how much ink there is, adds ink near the
# borders, where the content term holds least. VGG-19 weights converted from
# torchvision to an .npz give the network of the paper: `nanogen style --features vgg:vgg19.npz`
# (set NANOGEN_VGG19=path to run it here).

# %%
if os.path.exists(os.path.join("runs", "classifier", "checkpoint.npz")):
    digits = load_feature_net("classifier")
    c, s = load_image(DEFAULT_DIGITS[0]), load_image(DEFAULT_DIGITS[1])  # a thin 7, a bold 0
    r = S.stylize(digits, c, s, S.StyleConfig(steps=STEPS, style_weight=digits.style_weight))
    plot.style_panel(c, s, r, path=os.path.join(OUT, "digits.png"))
    print("wrote digits.png (classifier features)")
else:
    print("no runs/classifier: train one with `nanogen train classifier` to see digit-to-digit transfer")
if os.environ.get("NANOGEN_VGG19"):
    vgg = load_feature_net("vgg:" + os.environ["NANOGEN_VGG19"])
    r = S.stylize(vgg, content, style, S.StyleConfig(steps=STEPS))
    plot.style_panel(content, style, r, path=os.path.join(OUT, "vgg19.png"))
    print("wrote vgg19.png")
print(f"figures in {OUT}")
