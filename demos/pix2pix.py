# %% [markdown]
# # pix2pix: from an outline to the digit
#
# nanogen/models/pix2pix.py is the lecture; this demo runs it. A U-Net generator G gets an input
# image x (here: the line drawn around a digit's strokes) and must produce the digit y it was
# made from. Two ways to train the very same U-Net:
#
# 1. L1 alone: G(x) is pulled towards y pixel by pixel. Where x leaves doubt, the best L1 answer
#    is a compromise: a blurry stroke.
# 2. pix2pix: L1 * 100 plus a PatchGAN discriminator that sees (x, G(x)) pairs and calls blur fake.
#
# Then we look at input | output | target rows, and measure both: L1 to the target, and nanogen's
# MNIST classifier on the outputs (accuracy, FCD; `nanogen train classifier` makes it).
# The other tasks: `--task inpaint` (a hidden square to fill in), `--task edges` on Fashion-MNIST.
#
# Run: `python demos/pix2pix.py` (two runs of 2 epochs on 20,000 digits: tens of minutes on two
# shared cores) or `--quick` (a smoke run on 1024 digits: blobs, not digits). Figures: demos/out/pix2pix/

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen.plot_images import _rows_figure  # rows of images with a name each, as plot.reconstructions
from nanogen.data import DataLoader, mnist
from nanogen.models.img2img import evaluate_outputs
from nanogen.models.pix2pix import make_input
from nanogen.models.pix2pix_recipes import EVAL_SEED, Pix2PixRecipe
from nanogen.train import fit

parser = argparse.ArgumentParser(description="pix2pix on MNIST outlines, against the L1-only U-Net")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
parser.add_argument("--task", default="outline", choices=["outline", "inpaint"])
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "pix2pix")
os.makedirs(OUT, exist_ok=True)

# %% [markdown]
# ## 1. The pairs, made on the fly
# Every batch of digits gets its inputs made afresh (for inpaint: new squares each time).

# %%
x_train, y_train = mnist("train")
x_test, y_test = mnist("test")
x_train, y_train = (x_train[:1024], y_train[:1024]) if QUICK else (x_train[:20000], y_train[:20000])
rng = np.random.default_rng(0)
rows = [make_input(t, x_test[:10], rng) for t in ("outline", "inpaint", "edges")] + [x_test[:10]]
_rows_figure(rows, ["outline", "inpaint", "edges", "target"], 10, os.path.join(OUT, "tasks.png"),
                  "the inputs of each task, and the digit they were made from", (0, 1), "demo")
print(f"the tasks: {OUT}/tasks.png")

# %% [markdown]
# ## 2. Train the U-Net twice: L1 alone, and pix2pix (GAN + 100 * L1)

# %%
epochs = 1 if QUICK else 2


def train(name, **extra):
    config = {"model": "pix2pix", "seed": 0, "dataset": "mnist", "task": args.task,
              **Pix2PixRecipe.defaults, "epochs": epochs, **extra}
    rng = np.random.default_rng(0)
    recipe = Pix2PixRecipe(config, rng)
    loader = DataLoader(*recipe.training_arrays(x_train, y_train), batch_size=config["batch_size"], shuffle=True,
                        seed=0, drop_last=True)
    t0 = time.perf_counter()
    last = fit(recipe, loader, epochs, os.path.join(OUT, name), rng, config=config,
               data=(x_test[:1000], y_test[:1000]), quiet=True)
    print(f"{name}: {epochs} epochs of {len(loader)} steps in {time.perf_counter() - t0:.0f} s; last L1 {last['l1']:.3f}")
    return recipe


models = {"L1 only": train("l1_only", l1_only=True), "pix2pix": train("pix2pix")}

# %% [markdown]
# ## 3. Look: input | L1 only | pix2pix | target
# The L1-only outputs are grey where the stroke's exact width is uncertain; pix2pix commits to one.

# %%
x_in = make_input(args.task, x_test[:10], np.random.default_rng(EVAL_SEED))
rows = [x_in] + [m.translate(x_in) for m in models.values()] + [x_test[:10]]
path = os.path.join(OUT, "compare.png")
_rows_figure(rows, ["input", *models, "target"], 10, path, f"pix2pix, task {args.task}: test digits",
                  (0, 1), "demo")
print(f"compare: {path}")

# %% [markdown]
# ## 4. Measure: L1 to the target, the classifier's accuracy and FCD on the outputs

# %%
n = 2000 if QUICK else 10000
try:
    from nanogen.models.classifier_recipes import load_classifier
    from nanogen.models.gan_eval import find_classifier

    classifier = load_classifier(find_classifier())
except FileNotFoundError as e:
    classifier = None
    print(e)
x_in = make_input(args.task, x_test[:n], np.random.default_rng(EVAL_SEED))
print(f"{'':>8}  {'L1':>6}  {'PSNR':>6}  {'SSIM':>6}  {'accuracy':>8}  {'FCD':>7}")
for name, out in [("input", x_in)] + [(k, m.translate(x_in)) for k, m in models.items()]:
    r = evaluate_outputs(out, x_test[:n], y_test[:n], classifier)
    acc = f"{r['accuracy']:8.1%}" if "accuracy" in r else f"{'-':>8}"
    fcd = f"{r['fcd']:7.1f}" if "fcd" in r else f"{'-':>7}"
    print(f"{name:>8}  {r['l1']:6.3f}  {r['psnr']:6.2f}  {r['ssim']:6.3f}  {acc}  {fcd}")
