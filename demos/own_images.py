# %% [markdown]
# # Train on your own images
#
# The lectures end with an assignment: "train the GAN again with your own images: what can you
# create?". Any folder of PNG or JPEG files is a data set for nanogen (subfolders are class
# labels), given as `--dataset folder:PATH` to every model; the convolutional models also take
# `--image-size` and `--channels 1|3`, so colour pictures train a colour model.
#
# So that this lesson runs anywhere, it first *makes* such a folder: capital letters drawn in the
# fonts matplotlib ships, in random colours, sizes and slants (`nanogen data make-glyphs`). Swap
# in a folder of your own photos and run the same commands.
#
# Run: `python demos/own_images.py` (about 15 minutes on two cores) or `--quick` (a smoke run of
# a minute: too short to learn anything). Figures: demos/out/own_images/

# %%
import argparse
import os
import sys
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen import plot
from nanogen.cli import main as nanogen
from nanogen.data import load_folder

parser = argparse.ArgumentParser(description="train a colour DCGAN and a conv autoencoder on a folder of images")
parser.add_argument("--quick", action="store_true", help="a tiny smoke run (also NANOGEN_QUICK=1)")
parser.add_argument("--folder", default=None, help="your own image folder (default: draw letters into out/glyphs)")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "own_images")
os.makedirs(OUT, exist_ok=True)
t_start = time.perf_counter()


def run(argv):
    """Run one `nanogen ...` command in-process and stop the lesson if it fails."""
    print(f"\n$ nanogen {' '.join(argv)}", flush=True)
    code = nanogen(argv)
    if code:
        sys.exit(f"own_images: `nanogen {' '.join(argv)}` failed with exit code {code}")


# %% [markdown]
# ## 1. A folder of images
#
# One subfolder per class, any number of PNG/JPEG files in each. Here: 26 letters x 300 images,
# drawn at 32x32. nanogen converts every picture once (centre crop, area resize, gray or RGB) and
# caches the result, keyed by the files, so the next run starts at once.

# %%
FOLDER = args.folder or os.path.join(OUT, "glyphs")
if args.folder is None and not os.path.isdir(FOLDER):
    run(["data", "make-glyphs", FOLDER, "--n-per-class", "20" if QUICK else "300",
         *(["--chars", "ABCDE"] if QUICK else [])])
x, y, classes = load_folder(FOLDER, "train", image_size=32, channels=3)
print(f"{len(x)} training images of shape {x.shape[1:]}, classes: {' '.join(classes)}")
rng = np.random.default_rng(0)
plot.image_grid(x[rng.choice(len(x), 64, replace=False)], nrow=8, path=os.path.join(OUT, "data.png"),
                title="the training images")

# %% [markdown]
# ## 2. A colour DCGAN at 32x32
#
# The same generator and discriminator as on MNIST, one stride-2 layer per doubling: 8x8 -> 16x16
# -> 32x32, with three output channels. Watch `dcgan/progression.png`: colour blobs first, then
# strokes, then letters.

# %%
gan_dir = os.path.join(OUT, "dcgan")
run(["train", "dcgan", "--dataset", f"folder:{FOLDER}", "--channels", "3", "--image-size", "32",
     "--epochs", "1" if QUICK else "15", "--overwrite", "--out", gan_dir])
run(["sample", gan_dir, "--n", "64", "--out", os.path.join(OUT, "dcgan_samples.png")])

# %% [markdown]
# ## 3. A convolutional autoencoder on the same pictures
#
# Reconstructions show what a 32-channel 8x8 code keeps of a colour image.

# %%
cae_dir = os.path.join(OUT, "conv-ae")
run(["train", "conv-ae", "--dataset", f"folder:{FOLDER}", "--channels", "3", "--image-size", "32",
     "--epochs", "1" if QUICK else "5", "--overwrite", "--out", cae_dir])

# %%
print(f"\nown_images finished in {time.perf_counter() - t_start:.0f} s; pictures in {OUT}/, "
      f"{gan_dir}/ and {cae_dir}/")
