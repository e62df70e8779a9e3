"""`nanogen style`: neural style transfer from the command line, and the image files it needs.

Read models/style.py first (the losses, the feature networks and the loop); this file owns what
the model file must not: reading images, the sample pictures that ship with matplotlib, resizing
(a separable area/bilinear resize, two small matrix products), loading a feature network from a
file, the progress bar, and writing the result and the panel.

    nanogen style [--content IMG] [--style IMG] [--steps N] [--size S] [--out FILE]
                  [--content-weight A] [--style-weight B] [--tv-weight G]
                  [--features random|classifier[:RUN]|vgg:PATH] [--init content|noise]
                  [--optimizer adam|lbfgs] [--lr LR] [--seed S]

IMG is a file (PNG read by matplotlib, JPEG through Pillow, which matplotlib depends on), a sample
name (grace_hopper, terrain, present, logo) or mnist:INDEX (a test-set digit).
"""

import os
import sys
import time

import numpy as np

from . import settings
from .models.style import StyleConfig
from .serialize import atomic_write
from .settings import positive

# name -> what it is; all from matplotlib's own sample data (mpl-data/sample_data), nothing downloaded
SAMPLE_IMAGES = {
    "grace_hopper": "a portrait photo, matplotlib's grace_hopper.jpg",
    "terrain": "a shaded relief map drawn from matplotlib's jacksboro_fault_dem.npz",
    "present": "a gift box, matplotlib's Minduka_Present_Blue_Pack.png",
    "logo": "matplotlib's logo2.png",
}
DEFAULT_CONTENT, DEFAULT_STYLE = "grace_hopper", "terrain"
DEFAULT_DIGITS = ("mnist:0", "mnist:25")  # content, style for --features classifier: a thin 7, a bold 0


# ---------------------------------------------------------------------------- images


def _to_float(a, what):
    """An imread result (H, W), (H, W, 3) or (H, W, 4), uint8/uint16 or float, -> float32 in [0, 1]."""
    if a.dtype.kind in "ui":
        a = a.astype(np.float32) / np.iinfo(a.dtype).max
    a = a.astype(np.float32)
    if a.ndim == 3 and a.shape[2] == 4:  # RGBA: composite over white, so transparent parts are paper
        a = a[..., :3] * a[..., 3:] + (1 - a[..., 3:])
    if a.ndim == 3 and a.shape[2] == 2:  # grey + alpha
        a = a[..., :1] * a[..., 1:] + (1 - a[..., 1:])
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"load_image: {what}: expected a grey or RGB(A) image, got an array of shape {a.shape}")
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None])  # (H, W, C) -> (1, C, H, W)


def _sample(name):
    import matplotlib.cbook as cbook
    import matplotlib.image as mpimg

    if name == "terrain":
        from matplotlib import colormaps
        from matplotlib.colors import LightSource

        with cbook.get_sample_data("jacksboro_fault_dem.npz") as dem:
            z = dem["elevation"].astype(np.float64)
        rgb = LightSource(azdeg=315, altdeg=45).shade(z, cmap=colormaps["gist_earth"], blend_mode="overlay",
                                                     vert_exag=0.05)
        return _to_float(rgb[..., :3], name)
    files = {"grace_hopper": "grace_hopper.jpg", "present": "Minduka_Present_Blue_Pack.png", "logo": "logo2.png"}
    return _to_float(mpimg.imread(cbook.get_sample_data(files[name], asfileobj=False)), name)


def load_image(spec):
    """The image `spec` names, as float32 (1, C, H, W) in [0, 1], C = 3 (RGB) or 1 (grey).

    spec: a file path (PNG, JPEG, ... whatever matplotlib.image.imread reads), a sample name
    (SAMPLE_IMAGES) or "mnist:INDEX" (digit INDEX of the MNIST test set, (1, 1, 28, 28)).
    """
    spec = str(spec)
    if spec in SAMPLE_IMAGES:
        return _sample(spec)
    if spec.startswith("mnist:"):
        try:
            index = int(spec[len("mnist:"):])
        except ValueError:
            raise ValueError(f"load_image: {spec!r}: expected mnist:INDEX with an integer INDEX, "
                             "e.g. mnist:7") from None
        from .data import mnist

        x, _ = mnist("test")
        if not 0 <= index < len(x):
            raise ValueError(f"load_image: {spec!r}: INDEX must be in [0, {len(x) - 1}]")
        return x[index : index + 1].copy()
    if not os.path.isfile(spec):
        raise FileNotFoundError(f"load_image: no image file {spec!r} (not a file, and not a sample name: "
                                f"{', '.join(SAMPLE_IMAGES)}, or mnist:INDEX)")
    import matplotlib.image as mpimg

    try:
        a = mpimg.imread(spec)
    except Exception as e:  # Pillow's UnidentifiedImageError, OSError, SyntaxError for broken PNGs
        raise ValueError(f"load_image: cannot read {spec!r} as an image ({type(e).__name__}: {e}); "
                         "PNG and JPEG work (JPEG through Pillow)") from None
    return _to_float(a, spec)


def _resize_matrix(n_in, n_out):
    """(n_out, n_in) weights of a 1-D resize: area averaging when shrinking (each output pixel the
    mean of the input pixels it covers, fractions included, so nothing aliases), bilinear with
    half-pixel centres when growing (PyTorch's align_corners=False)."""
    m = np.zeros((n_out, n_in))
    if n_out < n_in:
        scale = n_in / n_out  # each output pixel covers [j*scale, (j+1)*scale) of the input
        for j in range(n_out):
            lo, hi = j * scale, (j + 1) * scale
            for i in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                m[j, i] = (min(hi, i + 1) - max(lo, i)) / scale
    else:
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        frac = src - i0
        np.add.at(m, (np.arange(n_out), i0), 1 - frac)
        np.add.at(m, (np.arange(n_out), i1), frac)
    return m


def resize(image, size):
    """Resize images (..., H, W) to size (OH, OW): a separable resize, out = R_h @ image @ R_w^T,
    with the 1-D weight matrices of _resize_matrix (area when shrinking, bilinear when growing).
    The dtype is kept; rows of R sum to 1, so a constant image stays constant."""
    OH, OW = (int(s) for s in size)
    if OH < 1 or OW < 1:
        raise ValueError(f"resize: size must be positive, got {tuple(size)}")
    a = np.asarray(image)
    if a.ndim < 2:
        raise ValueError(f"resize: image must be (..., H, W), got shape {a.shape}")
    H, W = a.shape[-2:]
    rh = _resize_matrix(H, OH).astype(a.dtype)
    rw = _resize_matrix(W, OW).astype(a.dtype)
    return rh @ a @ rw.T  # (OH, H)(..., H, W)(W, OW) -> (..., OH, OW)


def fit_size(image, size):
    """Resize (1, C, H, W) so that its longer side is `size` pixels, keeping the aspect ratio."""
    H, W = image.shape[2:]
    scale = size / max(H, W)
    return resize(image, (max(1, round(H * scale)), max(1, round(W * scale))))


def save_image(image, path):
    """Write (1, C, H, W) or (C, H, W) in [0, 1] as a PNG (or whatever the extension says), atomically."""
    import matplotlib.image as mpimg

    a = np.clip(np.asarray(image, dtype=np.float32).reshape(image.shape[-3:]), 0, 1).transpose(1, 2, 0)
    fmt = (os.path.splitext(path)[1] or ".png")[1:].lower()
    with atomic_write(path) as f:
        if a.shape[2] == 1:
            mpimg.imsave(f, a[..., 0], cmap="gray", vmin=0, vmax=1, format=fmt)
        else:
            mpimg.imsave(f, a, format=fmt)
    return path


# ---------------------------------------------------------------------------- feature networks


def load_feature_net(spec, seed=0):
    """A FeatureNet from --features: "random", "classifier" / "classifier:RUN" or "vgg:PATH"."""
    from .models import style_features

    spec = str(spec)
    if spec == "random":
        return style_features.random_features(seed)
    if spec == "classifier" or spec.startswith("classifier:"):
        run = spec.partition(":")[2] or os.path.join("runs", "classifier")
        if not os.path.isfile(os.path.join(run, "checkpoint.npz")):
            raise FileNotFoundError(f"load_feature_net: no classifier checkpoint at "
                                    f"{os.path.join(run, 'checkpoint.npz')}; train one first: "
                                    f"nanogen train classifier --out {run}")
        from .models.classifier import MNIST_MEAN, MNIST_STD
        from .models.classifier_recipes import load_classifier

        model = load_classifier(run)  # the classifier standardises its input itself: so does prepare()
        return style_features.sequential_features(model, mean=(MNIST_MEAN,), std=(MNIST_STD,),
                                         description=f"classifier features ({run})")
    if spec.startswith("vgg:"):
        path = spec[len("vgg:"):]
        if not os.path.isfile(path):
            raise FileNotFoundError(f"load_feature_net: no VGG-19 weights file {path!r}; give an .npz with "
                                    "torchvision's key names (features.0.weight, features.0.bias, ...)")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:
            raise ValueError(f"load_feature_net: cannot read {path!r} as an .npz of arrays "
                             f"({type(e).__name__}: {e})") from None
        return style_features.vgg19_features(arrays)
    raise ValueError(f"load_feature_net: unknown feature network {spec!r}; use random, classifier, "
                     "classifier:RUN or vgg:PATH")


# ---------------------------------------------------------------------------- the command


# the StyleConfig fields `nanogen style` exposes as flags (style_weight and the layers: below, by hand,
# because their defaults come from the feature network)
STYLE_FLAGS = ("steps", "lr", "content_weight", "tv_weight", "init", "optimizer", "seed")


def _layers(text):
    return tuple(t.strip() for t in text.split(",") if t.strip())


def add_style_parser(subparsers):
    """Register `nanogen style` on the subparsers of nanogen's main parser; returns the parser."""
    p = subparsers.add_parser(
        "style", help="neural style transfer: paint a picture in the style of another",
        description="Optimise an image so that a CNN sees the content image's layout and the style image's "
                    "textures (Gatys et al. 2016). Samples: "
                    + "; ".join(f"{k}: {v}" for k, v in SAMPLE_IMAGES.items()),
    )
    p.add_argument("--content", default=None,
                   help=f"content image: a file, a sample name or mnist:INDEX (default {DEFAULT_CONTENT}; "
                        f"{DEFAULT_DIGITS[0]} with --features classifier)")
    p.add_argument("--style", default=None, help=f"style image (default {DEFAULT_STYLE}; {DEFAULT_DIGITS[1]} with "
                                                 "--features classifier)")
    p.add_argument("--size", type=positive(int, "--size"), default=None,
                   help="longer side of the result in pixels (default 128; 28 with --features classifier)")
    p.add_argument("--out", default=os.path.join("runs", "style", "result.png"),
                   help="result image; the panel goes beside it as NAME_panel.png (default %(default)s)")
    p.add_argument("--style-weight", type=settings.at_least(float, "--style-weight", 0), default=None,
                   help="β (default: the feature network's, 100 for random)")
    p.add_argument("--features", default="random",
                   help="feature network: random (fixed random weights, the default), classifier[:RUN] (a run "
                        "of `nanogen train classifier`, default runs/classifier) or vgg:PATH (VGG-19 .npz)")
    p.add_argument("--content-layers", type=_layers, default=None, help="comma-separated layer names")
    p.add_argument("--style-layers", type=_layers, default=None, help="comma-separated layer names")
    settings.add_flags(p, StyleConfig, STYLE_FLAGS)            # their defaults: StyleConfig's
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def cmd_style(args):
    """Run `nanogen style`: load, check everything, optimise with a progress bar, write result and panel."""
    from . import plot
    from .models.style import stylize
    from .train import Progress

    is_digits = str(args.features).startswith("classifier")
    net = load_feature_net(args.features, seed=args.seed)
    content_spec = args.content or (DEFAULT_DIGITS[0] if is_digits else DEFAULT_CONTENT)
    style_spec = args.style or (DEFAULT_DIGITS[1] if is_digits else DEFAULT_STYLE)
    size = args.size or (28 if is_digits else 128)
    style_weight = args.style_weight if args.style_weight is not None else net.style_weight
    content = fit_size(load_image(content_spec), size)
    style = fit_size(load_image(style_spec), size)
    if content.shape[1] != style.shape[1]:  # grey and colour: the result takes the content's channels
        style = style.mean(axis=1, keepdims=True) if content.shape[1] == 1 else np.repeat(style, 3, axis=1)
    cfg = settings.build(StyleConfig, vars(args), STYLE_FLAGS, style_weight=style_weight,
                         content_layers=args.content_layers, style_layers=args.style_layers)
    if not args.quiet:
        print(f"style: content {content_spec} {content.shape[3]}x{content.shape[2]}, style {style_spec} "
              f"{style.shape[3]}x{style.shape[2]}, {net.description}, {args.optimizer} x {args.steps}", file=sys.stderr)
    bar = None if args.quiet else Progress(args.steps, "style")
    t0 = time.perf_counter()
    try:
        result = stylize(net, content, style, cfg,
                         callback=None if bar is None else (lambda step, parts: bar.update(parts)))
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    stem, ext = os.path.splitext(args.out)
    panel = f"{stem}_panel.png"
    save_image(result, args.out)
    plot.style_panel(content, style, result, path=panel,
                     titles=(f"content: {os.path.basename(content_spec)}", f"style: {os.path.basename(style_spec)}",
                             f"result: {args.steps} {args.optimizer} steps"))
    if not args.quiet:
        print(f"style: {seconds:.1f} s ({seconds / args.steps * 1e3:.0f} ms/step); wrote {args.out} and {panel}",
              file=sys.stderr)
    print(args.out)
    return 0
