"""A data set you can make on any machine: letters drawn in the fonts that matplotlib ships.

    nanogen data make-glyphs data/glyphs          # 26 letters x 300 images, 32x32, in colour
    nanogen train dcgan --dataset folder:data/glyphs --channels 3 --image-size 32

Read after folder.py: this writes exactly the kind of folder it reads, one subfolder per letter
(the class label) holding PNG files. Each image is one capital letter in one of matplotlib's fonts
(DejaVu Sans/Serif/Mono in their weights and slants, STIX, Computer Modern), at a random size,
rotation and offset, in a random bright colour on a random dark background. Nothing is
downloaded: the fonts are part of matplotlib (their licences are in matplotlib's mpl-data/fonts).
Same seed, same pictures.
"""

import colorsys
import os
import string
from pathlib import Path

import numpy as np

FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
         "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
         "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "cmr10.ttf", "cmss10.ttf"]


def font_files():
    """The paths of the FONTS that this matplotlib has (at least one, or a clear error)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    found = [folder / f for f in FONTS if (folder / f).is_file()]
    if not found:
        raise FileNotFoundError(f"none of matplotlib's fonts ({', '.join(FONTS[:3])}, ...) is in {folder}")
    return found


def _colours(rng, color):
    """(foreground, background) RGB byte triples: a bright saturated hue on a dark one, or white on black."""
    if not color:
        return (255, 255, 255), (0, 0, 0)
    fg = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.8, 1.0))
    bg = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.0, 0.3))
    return tuple(int(255 * c) for c in fg), tuple(int(255 * c) for c in bg)


def draw_glyph(char, font_path, size, rng, color=True):
    """One image of `char`, as a PIL RGB image size x size: drawn at 4x, turned, shrunk (antialiased)."""
    from PIL import Image, ImageDraw, ImageFont

    big = 4 * size
    fg, bg = _colours(rng, color)
    font = ImageFont.truetype(str(font_path), int(big * rng.uniform(0.55, 0.8)))
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).text((big / 2, big / 2), char, fill=255, font=font, anchor="mm")
    mask = mask.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BICUBIC,
                       translate=(rng.uniform(-0.08, 0.08) * big, rng.uniform(-0.08, 0.08) * big))
    image = Image.composite(Image.new("RGB", (big, big), fg), Image.new("RGB", (big, big), bg), mask)
    return image.resize((size, size), Image.Resampling.BOX)


def make_glyphs(out, n_per_class=300, chars=string.ascii_uppercase, size=32, color=True, seed=0,
                progress=True):
    """Write n_per_class PNGs of each character in `chars` into out/<char>/NNNN.png; return the count.

    Refuses to write into a folder that already holds images (delete it or choose another)."""
    from PIL import Image  # noqa: F401  (fail here, before any file is written, if Pillow is missing)

    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; make-glyphs needs a folder to write into")
    if out.is_dir() and any(out.rglob("*.png")):
        raise ValueError(f"{out} already holds PNG files; delete it or choose another folder")
    chars = "".join(dict.fromkeys(chars))          # each character once, in the order given
    bad = [c for c in chars if not (c.isascii() and c.isalnum())]
    if bad or not chars:
        raise ValueError(f"make-glyphs draws letters and digits (folder names must be safe), got {bad or 'nothing'}")
    if len({c.lower() for c in chars}) < len(chars):
        raise ValueError("upper and lower case of one letter would share a folder on some file systems; "
                         "use one case")
    if size < 8 or n_per_class < 1:
        raise ValueError(f"need size >= 8 and n_per_class >= 1, got {size} and {n_per_class}")
    fonts = font_files()
    rng = np.random.default_rng(seed)
    jobs = [(c, i) for c in chars for i in range(n_per_class)]
    if progress:
        from tqdm import tqdm
        jobs = tqdm(jobs, desc=f"drawing glyphs into {out}", unit="img", leave=False)
    for c, i in jobs:
        folder = out / c
        if i == 0:
            os.makedirs(folder, exist_ok=True)
        draw_glyph(c, fonts[rng.integers(len(fonts))], size, rng, color).save(folder / f"{i:04d}.png")
    return len(chars) * n_per_class
