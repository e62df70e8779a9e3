"""What the image-to-image recipes share: the recipe itself, reading the images to translate, and
judging the outputs.

Read after pix2pix.py and superres.py (the models), and gan_eval.py (the classifier as a ruler).
ImageToImageRecipe is the base of pix2pix_recipes.py and superres_recipes.py: a generator G that
maps an input made from each training image back to that image, a discriminator D, one Adam each,
a flag that trains G without D (the baseline the GAN must beat), and --classifier.
A translation has a right answer, the target it was made from, so `nanogen eval` compares each
output with its target pixel by pixel and in structure, and asks nanogen's MNIST classifier
whether the output still shows the right digit:
  l1                 mean |output - target| over pixels, in [0, 1] units (what pix2pix's L1 term trains)
  psnr, ssim         metrics.psnr (dB) and metrics.ssim, averaged over the images: higher is better
  accuracy           the classifier's prediction on the outputs equals the target's label (MNIST only)
  fcd                Frechet classifier distance of the outputs to the real test images: are the
                     outputs, as a set, distributed like digits (gan_eval.py)? Lower is better.
`nanogen sample RUN --input FILES` reads images with read_images and writes input | output rows.
"""

import os

import numpy as np

from .. import metrics, settings
from ..optim import Adam
from ..train import Recipe

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy", ".npz")


def _to_images(a, size, source):
    """An array of one or many grey or colour images -> (N, 1, size, size) float32 in [0, 1]."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3 and a.shape[-1] in (3, 4) and a.shape[0] not in (1,):
        a = a[..., :3].mean(axis=-1)                                  # (H, W, 3|4) colour -> grey
    if a.ndim == 2:
        a = a[None, None]                                             # (H, W) -> (1, 1, H, W)
    elif a.ndim == 3:
        a = a[:, None]                                                # (N, H, W) -> (N, 1, H, W)
    if a.ndim != 4 or a.shape[1] != 1:
        raise ValueError(f"{source}: expected grey images (H, W), (N, H, W) or (N, 1, H, W), got shape {a.shape}")
    if a.shape[2:] != (size, size):
        raise ValueError(f"{source}: images must be {size} x {size} pixels for this model, got "
                         f"{a.shape[2]} x {a.shape[3]}")
    if a.max() > 1.0:
        a = a / 255.0                                                 # 8-bit grey values
    return np.clip(a, 0, 1).astype(np.float32)


def read_images(paths, size):
    """Images from PNG/JPEG files (one image each, light ink on dark paper as MNIST) or .npy/.npz
    arrays (the first array of an .npz), concatenated: (N, 1, size, size) float32 in [0, 1]."""
    out = []
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--input: no file {path}")
        suffix = os.path.splitext(path)[1].lower()
        if suffix == ".npy":
            a = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                a = f[f.files[0]]
        elif suffix in (".png", ".jpg", ".jpeg"):
            import matplotlib.image

            a = matplotlib.image.imread(path)
        else:
            raise ValueError(f"--input: {path}: unknown kind of file; use one of {', '.join(IMAGE_SUFFIXES)}")
        out.append(_to_images(a, size, path))
    if not out:
        raise ValueError("--input: give at least one image file")
    return np.concatenate(out)


def evaluate_outputs(out, target, labels=None, classifier=None, real=None):
    """The numbers for outputs `out` against `target`, both (N, 1, 28, 28) in [0, 1].

    labels (N,): the targets' digits, for the classifier's accuracy; classifier: a Classifier (or
    None: no accuracy, no FCD); real: images for FCD's reference set (default: target)."""
    out = np.asarray(out, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    result = {"l1": float(np.mean(np.abs(out - target))),
              "psnr": float(np.mean(metrics.psnr(out, target))),
              "ssim": float(np.mean(metrics.ssim(out, target)))}
    if classifier is not None:
        if labels is not None:
            result["accuracy"] = metrics.accuracy(classifier.predict(out.astype(np.float32)), labels)
        ref = target if real is None else real
        result["fcd"] = metrics.frechet_distance_from_features(classifier.features(ref.astype(np.float32)),
                                                               classifier.features(out.astype(np.float32)))
    return result


def classifier_for(config, dataset):
    """nanogen's MNIST classifier (gan_eval.find_classifier's search), or None for other data sets:
    a digit classifier has nothing to say about garments."""
    if dataset != "mnist":
        return None
    from .classifier_recipes import load_classifier
    from .gan_eval import find_classifier

    return load_classifier(find_classifier(config.get("classifier")))


class ImageToImageRecipe(Recipe):
    """A translation recipe. Subclasses set `baseline` = (flag, help, Config values it fixes) for the
    flag that trains G without D, `classifier_use` (what --classifier is for, in --help) and write:
        build(cfg, rng) -> (G, D)     the two networks from the model's Config
        make_input(y, rng)            inputs (N, 1, h, w) in [0, 1] made from targets y (N, 1, 28, 28)
        translate(x)                  G's outputs (N, 1, 28, 28) in [0, 1] for inputs x in [0, 1]
    """

    drop_last = True                    # batch norm dislikes a last batch of 1
    baseline = ("--g-only", "train G alone, without D", {"adversarial": False})
    classifier_use = "eval"

    @classmethod
    def add_arguments(cls, parser):
        from .gan_eval import add_classifier_flag  # at call time: gan_eval imports the classifier's recipe

        super().add_arguments(parser)
        flag, help, _ = cls.baseline
        parser.add_argument(flag, action="store_true", help=help)
        add_classifier_flag(parser, cls.classifier_use)

    def model_config(self, config):
        """The model's Config of a run: its flags and --lr, and what the baseline flag fixes when it is given."""
        flag, _, fixes = self.baseline
        fixed = fixes if config.get(flag.lstrip("-").replace("-", "_")) else {}   # --l1-only -> l1_only
        return settings.build(self.config_class, config, self.flags, lr=config.get("lr", self.defaults["lr"]),
                              **fixed)

    def __init__(self, config, rng):
        self.config = dict(config)
        self.cfg = self.model_config(config)
        self.G, self.D = self.build(self.cfg, rng)
        self.modules = {"generator": self.G, "discriminator": self.D}
        self.optimizers = {name: Adam(m.parameters(), lr=self.cfg.lr, betas=self.cfg.betas)
                           for name, m in self.modules.items()}

    def build(self, cfg, rng):
        raise NotImplementedError(f"{type(self).__name__} must define build(cfg, rng) -> (G, D)")

    def sample(self, n, rng):
        """Translations of inputs made from the first n test images (nothing is drawn from noise alone)."""
        from ..cli import load_dataset

        y, _ = load_dataset(self.config.get("dataset", "mnist"), "test")
        return self.translate(self.make_input(y[:n], rng))
