# %% [markdown]
# # Super-resolution: a 7 x 7 thumbnail back to a 28 x 28 digit (SRGAN)
#
# nanogen/models/superres.py is the lecture; this demo runs it. Each digit is averaged down to
# 7 x 7 (16 pixels become one); a residual generator with sub-pixel upsampling (pixel_shuffle)
# must draw the 28 x 28 digit back. Three answers to compare:
#
# 1. bicubic interpolation: no learning, a smooth blur of the 49 pixels;
# 2. the generator trained on pixel MSE alone: sharper, but it predicts the mean of all the digits
#    that fit the thumbnail;
# 3. SRGAN: MSE + a content loss on nanogen's classifier features + 10^-3 * adversarial loss.
#
# Measured on test digits: PSNR and SSIM against the originals, and the classifier's accuracy on
# the upscaled digits (is it still the right digit?). SRGAN needs nanogen's MNIST classifier
# (`nanogen train classifier`).
#
# Run: `python demos/superres.py` (two runs of 400 steps: tens of minutes on two shared cores) or
# `--quick` (a smoke run). Figures: demos/out/superres/

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen.plot_images import _rows_figure  # rows of images with a name each, as plot.reconstructions
from nanogen.data import DataLoader, mnist
from nanogen.models.img2img import evaluate_outputs
from nanogen.models.superres import bicubic_upsample, bilinear_upsample, downsample
from nanogen.models.superres_recipes import SuperResRecipe
from nanogen.train import fit

parser = argparse.ArgumentParser(description="SRGAN x4 on MNIST against bicubic and the MSE-only generator")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
parser.add_argument("--scale", type=int, default=4, choices=[2, 4])
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "superres")
os.makedirs(OUT, exist_ok=True)
r = args.scale

# %% [markdown]
# ## 1. Train the same generator twice: MSE only, and SRGAN

# %%
x_train, y_train = mnist("train")
x_test, y_test = mnist("test")
x_train, y_train = (x_train[:640], y_train[:640]) if QUICK else (x_train[:12800], y_train[:12800])


def train(name, **extra):
    config = {"model": "superres", "seed": 0, "dataset": "mnist", "scale": r, **SuperResRecipe.defaults, **extra}
    rng = np.random.default_rng(0)
    recipe = SuperResRecipe(config, rng)
    loader = DataLoader(*recipe.training_arrays(x_train, y_train), batch_size=config["batch_size"], shuffle=True,
                        seed=0, drop_last=True)
    t0 = time.perf_counter()
    last = fit(recipe, loader, config["epochs"], os.path.join(OUT, name), rng, config=config,
               data=(x_test[:1000], y_test[:1000]), quiet=True)
    print(f"{name}: {len(loader)} steps in {time.perf_counter() - t0:.0f} s; last MSE {last['mse']:.4f}")
    return recipe


models = {"MSE only": train("mse_only", mse_only=True), "SRGAN": train("srgan")}

# %% [markdown]
# ## 2. Look: low-res | bicubic | MSE only | SRGAN | original

# %%
hr = x_test[:10]
lr = downsample(hr, r)
rows = [np.repeat(np.repeat(lr, r, axis=2), r, axis=3), np.clip(bicubic_upsample(lr, r), 0, 1)]
rows += [m.translate(lr) for m in models.values()] + [hr]
path = os.path.join(OUT, "compare.png")
_rows_figure(rows, [f"{28 // r}x{28 // r}", "bicubic", *models, "original"], 10, path,
                  f"super-resolution x{r}: test digits", (0, 1), "demo")
print(f"compare: {path}")

# %% [markdown]
# ## 3. Measure: PSNR, SSIM, and whether the classifier still reads the right digit

# %%
n = 2000 if QUICK else 10000
try:
    from nanogen.models.classifier_recipes import load_classifier
    from nanogen.models.gan_eval import find_classifier

    classifier = load_classifier(find_classifier())
except FileNotFoundError as e:
    classifier = None
    print(e)
hr, labels = x_test[:n], y_test[:n]
lr = downsample(hr, r)
outputs = [("bilinear", np.clip(bilinear_upsample(lr, r), 0, 1)), ("bicubic", np.clip(bicubic_upsample(lr, r), 0, 1))]
outputs += [(k, m.translate(lr)) for k, m in models.items()]
print(f"{'':>9}  {'PSNR':>6}  {'SSIM':>6}  {'accuracy':>8}  {'FCD':>7}")
for name, out in outputs:
    m = evaluate_outputs(out, hr, labels, classifier)
    acc = f"{m['accuracy']:8.1%}" if "accuracy" in m else f"{'-':>8}"
    fcd = f"{m['fcd']:7.1f}" if "fcd" in m else f"{'-':>7}"
    print(f"{name:>9}  {m['psnr']:6.2f}  {m['ssim']:6.3f}  {acc}  {fcd}")
