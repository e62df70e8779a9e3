"""Your own images as a data set: a folder of PNG and JPEG files, ready for any nanogen model.

    x, y, classes = load_folder("photos/", split="train", image_size=32, channels=3)

Read after datasets.py. What happens to each picture, in order (the same as torchvision's
ImageFolder followed by CenterCrop and Resize):
  1. files ending in .png, .jpg or .jpeg are found under the folder (anything else is ignored);
     when the folder has subfolders, each subfolder is a class and its name the label, sorted
     alphabetically as ImageFolder does; with no subfolders every image has label 0;
  2. the picture is turned upright (JPEG's EXIF orientation), transparency is laid over black,
     and it becomes grayscale (channels=1) or RGB (channels=3);
  3. the largest centred square is cut out, then shrunk to image_size x image_size by averaging
     the pixels each output pixel covers (an area resize: no aliasing, the right way down);
  4. bytes 0..255 become floats in [0, 1] (byte / 255), in (N, C, H, W) order.
A picture smaller than image_size would have to be blown up, which invents detail: that stops the
load with the names of the files. An unreadable file is skipped with a warning that names it.

The held-out test split is one image in ten, chosen by a hash of the file's path: the same file
always lands in the same split, however many files are added later. The converted images are
cached once as uint8 arrays in an .npz (read with allow_pickle=False) under the cache folder,
keyed by every file's path, size and modification time and by image_size and channels: a second
run starts at once, and adding, removing or changing a file builds a new cache.
"""

import hashlib
import sys
from pathlib import Path

import numpy as np

from ..serialize import atomic_write
from .datasets import DatasetNotFoundError, cache_dir

EXTENSIONS = (".png", ".jpg", ".jpeg")
TEST_ONE_IN = 10          # one image in ten is held out for testing
_CACHE_VERSION = 1        # bump when the conversion changes, so old caches are not reused


def _say(msg):
    print(f"nanogen.data: {msg}", file=sys.stderr, flush=True)


def find_images(folder):
    """The image files under `folder` and the class names: (paths relative to folder, classes).

    classes is the sorted list of subfolder names when images sit in subfolders (a file's label is
    the index of its first folder), or [] when all images sit in `folder` itself."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise DatasetNotFoundError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise ValueError(f"{root} is a file; --dataset folder:PATH needs a folder of PNG/JPEG images")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.suffix.lower() in EXTENSIONS and p.is_file() and not p.name.startswith("."))
    if not files:
        raise ValueError(f"no PNG or JPEG files in {root} (subfolders included); "
                         f"put images there, e.g. with `nanogen data make-glyphs {root}`")
    top = [f for f in files if "/" not in f]
    nested = [f for f in files if "/" in f]
    if top and nested:
        raise ValueError(f"{root} mixes images at its top ({top[0]}, ...) with class subfolders "
                         f"({nested[0]}, ...): move the top images into a subfolder of their own")
    classes = sorted({f.split("/", 1)[0] for f in nested})
    return files, classes


def split_of(relpath):
    """'test' for one file in TEST_ONE_IN (by a hash of its path, so it never moves), else 'train'."""
    h = int.from_bytes(hashlib.sha256(relpath.encode()).digest()[:4], "little")
    return "test" if h % TEST_ONE_IN == 0 else "train"


def convert(path, image_size, channels):
    """One picture as uint8 (channels, image_size, image_size): upright, centre-cropped, area-resized.

    Raises OSError when the file cannot be read as an image, ValueError when it is smaller than
    image_size."""
    from PIL import Image, ImageOps   # Pillow comes with matplotlib; imported only when a folder is used

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            black = Image.new("RGBA", im.size, (0, 0, 0, 255))
            im = Image.alpha_composite(black, im)             # transparency laid over black
        im = im.convert("L" if channels == 1 else "RGB")
        W, H = im.size
        S = min(W, H)
        if S < image_size:
            raise ValueError(f"{W}x{H} is smaller than {image_size}x{image_size}")
        left, top = (W - S) // 2, (H - S) // 2
        im = im.crop((left, top, left + S, top + S))          # the largest centred square
        if S != image_size:
            im = im.resize((image_size, image_size), Image.Resampling.BOX)   # area average
        a = np.asarray(im, dtype=np.uint8)
    return a[None] if channels == 1 else a.transpose(2, 0, 1)   # (S, S) -> (1, S, S); (S, S, 3) -> (3, S, S)


def _cache_file(root, files, image_size, channels):
    """cache_dir()/folders/NAME-SIZEpx-Cch-KEY.npz, KEY a hash of every file's path, size and mtime."""
    h = hashlib.sha256(f"v{_CACHE_VERSION} {image_size} {channels}\n".encode())
    for f in files:
        st = (root / f).stat()
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return cache_dir() / "folders" / f"{root.name or 'root'}-{image_size}px-{channels}ch-{h.hexdigest()[:16]}.npz"


def cache_path(folder, image_size=28, channels=1):
    """Where the converted arrays of `folder` are (or would be) cached."""
    root = Path(folder).expanduser().resolve()
    return _cache_file(root, find_images(root)[0], image_size, channels)


def _build(root, files, classes, image_size, channels, log):
    images, labels, splits, bad, small = [], [], [], [], []
    label_of = {c: i for i, c in enumerate(classes)}
    progress = _progress(files, f"reading {len(files)} images from {root}", log)
    for f in progress:
        try:
            a = convert(root / f, image_size, channels)
        except ValueError as e:
            small.append(f"{f} ({e})")
            continue
        except OSError as e:                # not an image after all, truncated, permission denied
            bad.append(f"{f} ({type(e).__name__})")
            continue
        images.append(a)
        labels.append(label_of[f.split("/", 1)[0]] if classes else 0)
        splits.append(split_of(f))
    if small:
        raise ValueError(f"{len(small)} image(s) in {root} are smaller than {image_size}x{image_size} "
                         f"and would have to be enlarged: {', '.join(small[:5])}"
                         f"{', ...' if len(small) > 5 else ''}; remove them, or train a convolutional model "
                         "with a smaller --image-size")
    if bad:
        log(f"skipped {len(bad)} unreadable file(s): {', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}")
    if not images:
        raise ValueError(f"none of the {len(files)} image files in {root} could be read")
    x = np.stack(images)                                  # (N, C, S, S) uint8
    y = np.asarray(labels, dtype=np.int64)
    is_test = np.asarray(splits) == "test"
    if not is_test.any() and len(x) > 1:
        is_test[-1] = True                                # a tiny folder still gets one test image
    if is_test.all():
        is_test[0] = False
    return {"x_train": x[~is_test], "y_train": y[~is_test], "x_test": x[is_test], "y_test": y[is_test],
            "classes": np.asarray(classes, dtype=str)}


def _progress(items, desc, log):
    if len(items) < 2000:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        log(desc)
        return items
    return tqdm(items, desc=desc, unit="img", file=sys.stderr, leave=False)


def load_folder_uint8(folder, image_size=28, channels=1, log=_say):
    """All splits of a folder as uint8 arrays, from the cache or built (and cached) now:
    {"x_train", "y_train", "x_test", "y_test", "classes"}."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    if not (isinstance(image_size, (int, np.integer)) and image_size >= 4):
        raise ValueError(f"image_size must be an integer >= 4, got {image_size!r}")
    root = Path(folder).expanduser().resolve()
    files, classes = find_images(root)
    path = _cache_file(root, files, image_size, channels)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception as e:             # a damaged cache is rebuilt, never trusted
            log(f"cache {path} is unreadable ({type(e).__name__}); rebuilding it")
    arrays = _build(root, files, classes, image_size, channels, log)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    n_tr, n_te = len(arrays["x_train"]), len(arrays["x_test"])
    log(f"{root}: {n_tr} training and {n_te} test images"
        + (f" in {len(classes)} classes" if classes else "") + f", cached in {path}")
    return arrays


def load_folder(folder, split="train", image_size=28, channels=1, log=_say):
    """Images float32 (N, channels, image_size, image_size) in [0, 1], labels int64 (N,), and the
    class names (list, [] without subfolders) of one split of an image folder."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    arrays = load_folder_uint8(folder, image_size, channels, log)
    x = arrays[f"x_{split}"].astype(np.float32)
    x /= np.float32(255)
    return x, arrays[f"y_{split}"], [str(c) for c in arrays["classes"]]
