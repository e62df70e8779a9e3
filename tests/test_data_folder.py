"""Your own images: the folder loader (formats, labels, crop and resize, cache, bad input), the
one-door `data.images.load`, and the glyph maker that writes such a folder."""

import os

import numpy as np
import pytest
from PIL import Image

from nanogen.data import folder as fd
from nanogen.data import glyphs, images
from nanogen.data.datasets import DatasetNotFoundError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOGEN_CACHE", str(tmp_path / "cache"))


def _save(path, array, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)


def _quiet(msg):
    pass


def test_labels_come_from_sorted_subfolders(tmp_path, rng):
    for cls, n in [("zebra", 3), ("apple", 2), ("mango", 4)]:
        for i in range(n):
            _save(tmp_path / "d" / cls / f"{i}.png", rng.integers(0, 256, (12, 12), dtype=np.uint8))
    files, classes = fd.find_images(tmp_path / "d")
    assert classes == ["apple", "mango", "zebra"]
    a = fd.load_folder_uint8(tmp_path / "d", image_size=8, channels=1, log=_quiet)
    y = np.concatenate([a["y_train"], a["y_test"]])
    assert sorted(np.bincount(y).tolist()) == [2, 3, 4]
    assert np.bincount(y)[0] == 2 and np.bincount(y)[2] == 3          # apple = 0, zebra = 2
    assert list(a["classes"]) == ["apple", "mango", "zebra"]


def test_flat_folder_has_label_zero_and_a_test_image(tmp_path, rng):
    for i in range(3):
        _save(tmp_path / f"{i}.png", rng.integers(0, 256, (10, 10, 3), dtype=np.uint8))
    x, y, classes = fd.load_folder(tmp_path, "train", image_size=10, channels=3, log=_quiet)
    xt, yt, _ = fd.load_folder(tmp_path, "test", image_size=10, channels=3, log=_quiet)
    assert classes == [] and len(x) + len(xt) == 3 and len(xt) >= 1
    assert x.shape[1:] == (3, 10, 10) and x.dtype == np.float32 and (y == 0).all()


def test_centre_crop_and_area_resize(tmp_path, rng):
    a = rng.integers(0, 256, (64, 48), dtype=np.uint8)             # H 64, W 48: crop rows 8..56
    _save(tmp_path / "one.png", a)
    got = fd.convert(tmp_path / "one.png", 24, 1)
    crop = a[8:56].astype(np.float64)
    want = crop.reshape(24, 2, 24, 2).mean(axis=(1, 3))           # each output pixel: its 2x2 block
    assert got.shape == (1, 24, 24) and got.dtype == np.uint8
    assert np.abs(got[0].astype(np.float64) - want).max() <= 1.0  # Pillow rounds to bytes


def test_png_and_jpeg_gray_and_rgb(tmp_path):
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[..., 0] = 200                                            # pure red
    _save(tmp_path / "a.png", rgb)
    _save(tmp_path / "b.jpg", rgb, quality=95)
    for name in ("a.png", "b.jpg"):
        c3 = fd.convert(tmp_path / name, 16, 3)
        assert c3.shape == (3, 16, 16)
        assert abs(int(c3[0].mean()) - 200) <= 3 and c3[1].mean() < 5 and c3[2].mean() < 5
        g = fd.convert(tmp_path / name, 16, 1)
        assert abs(g.mean() - 0.299 * 200) < 3                     # ITU-R 601 luma, as Pillow's "L"


def test_transparency_is_laid_over_black(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[:, :4, 3] = 255                                         # left half opaque white, right transparent
    _save(tmp_path / "t.png", rgba)
    g = fd.convert(tmp_path / "t.png", 8, 1)[0]
    assert (g[:, :4] == 255).all() and (g[:, 4:] == 0).all()


def test_cache_is_used_then_rebuilt_when_a_file_changes(tmp_path, rng, monkeypatch):
    d = tmp_path / "d"
    for i in range(4):
        _save(d / f"{i}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    first = fd.load_folder_uint8(d, 8, 1, log=_quiet)
    path = fd.cache_path(d, 8, 1)
    assert path.exists()

    def no_reading(*a, **k):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(fd, "convert", no_reading)
    again = fd.load_folder_uint8(d, 8, 1, log=_quiet)
    np.testing.assert_array_equal(first["x_train"], again["x_train"])
    monkeypatch.undo()
    monkeypatch.setenv("NANOGEN_CACHE", str(tmp_path / "cache"))

    new = np.full((8, 8), 7, dtype=np.uint8)
    _save(d / "0.png", new)
    st = os.stat(d / "0.png")
    os.utime(d / "0.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))   # a later modification time
    assert fd.cache_path(d, 8, 1) != path
    changed = fd.load_folder_uint8(d, 8, 1, log=_quiet)
    x = np.concatenate([changed["x_train"], changed["x_test"]])
    assert any((im == 7).all() for im in x)
    assert fd.cache_path(d, 8, 3) != fd.cache_path(d, 8, 1)            # other channels, other cache


def test_empty_folder_missing_folder_and_a_file(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="no PNG or JPEG files"):
        fd.load_folder(tmp_path / "empty", log=_quiet)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        fd.load_folder(tmp_path / "nowhere", log=_quiet)
    with pytest.raises(ValueError, match="is a file"):
        fd.load_folder(tmp_path / "empty" / "notes.txt", log=_quiet)


def test_unreadable_files_are_skipped_and_named(tmp_path, rng):
    _save(tmp_path / "good.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    _save(tmp_path / "good2.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    said = []
    a = fd.load_folder_uint8(tmp_path, 8, 1, log=said.append)
    assert len(a["x_train"]) + len(a["x_test"]) == 2
    assert any("broken.png" in s and "skipped 1" in s for s in said)


def test_only_unreadable_files_is_an_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 nope")
    with pytest.raises(ValueError, match="none of the 1 image files"):
        fd.load_folder(tmp_path, log=_quiet)


def test_images_smaller_than_the_target_stop_with_their_names(tmp_path, rng):
    _save(tmp_path / "big.png", rng.integers(0, 256, (40, 40), dtype=np.uint8))
    _save(tmp_path / "tiny.png", rng.integers(0, 256, (20, 30), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"tiny\.png \(30x20 is smaller than 32x32\).*smaller --image-size"):
        fd.load_folder(tmp_path, image_size=32, log=_quiet)


def test_top_images_mixed_with_class_folders_is_an_error(tmp_path, rng):
    _save(tmp_path / "loose.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    _save(tmp_path / "cat" / "a.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="mixes images at its top"):
        fd.find_images(tmp_path)


def test_bad_size_or_channels(tmp_path, rng):
    _save(tmp_path / "a.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="channels must be 1"):
        fd.load_folder(tmp_path, channels=2, log=_quiet)
    with pytest.raises(ValueError, match="image_size must be"):
        fd.load_folder(tmp_path, image_size=2, log=_quiet)


def test_split_is_stable_and_about_one_in_ten():
    names = [f"class/{i:05d}.png" for i in range(5000)]
    tests = sum(fd.split_of(n) == "test" for n in names)
    assert 400 < tests < 600
    assert [fd.split_of(n) for n in names[:50]] == [fd.split_of(n) for n in names[:50]]


# ------------------------------------------------------------------ images.py: one door, resize


def test_resize_down_is_block_mean_and_up_keeps_constants(rng):
    x = rng.standard_normal((2, 3, 8, 8))
    np.testing.assert_allclose(images.resize(x, 4), x.reshape(2, 3, 4, 2, 4, 2).mean(axis=(3, 5)), atol=1e-12)
    c = np.full((1, 1, 28, 28), 0.25)
    np.testing.assert_allclose(images.resize(c, 32), 0.25, atol=1e-12)
    for n_in, n_out in [(28, 32), (28, 14), (7, 28), (28, 10)]:
        np.testing.assert_allclose(images._resize_matrix(n_in, n_out).sum(axis=1), 1.0, atol=1e-12)


def test_resize_up_is_bilinear_half_pixel(rng):
    """Against the textbook formula out[i] = in at source coordinate (i + 0.5) * scale - 0.5,
    linearly interpolated and clamped at the borders (PyTorch's align_corners=False)."""
    v = rng.standard_normal(5)
    R = images._resize_matrix(5, 8)
    src = np.clip((np.arange(8) + 0.5) * 5 / 8 - 0.5, 0, 4)
    np.testing.assert_allclose(R @ v, np.interp(src, np.arange(5), v), atol=1e-12)


def test_resize_matches_torch_when_present(rng):
    torch = pytest.importorskip("torch", reason="optional cross-check; the formula test above runs without torch")
    x = rng.standard_normal((1, 2, 7, 7))
    up = torch.nn.functional.interpolate(torch.tensor(x), size=(12, 12), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(images.resize(x, 12), up.numpy(), atol=1e-12)
    down = torch.nn.functional.adaptive_avg_pool2d(torch.tensor(rng.standard_normal((1, 1, 28, 28))), 14)
    np.testing.assert_allclose(images.resize(down.numpy(), 14), down.numpy())


def test_dataset_names():
    assert images.canonical_name("fashion_mnist") == images.canonical_name("Fashion-MNIST") == "fashion-mnist"
    assert images.canonical_name("folder:~/pics") == "folder:~/pics"
    for bad in ("cifar", "folder:", ""):
        with pytest.raises(ValueError, match="unknown data set"):
            images.canonical_name(bad)


def test_load_gives_the_models_size_and_channels(tmp_path, rng):
    for i in range(5):
        _save(tmp_path / "k" / f"{i}.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    x, y = images.load(f"folder:{tmp_path / 'k'}", "train", image_size=32, channels=3)
    assert x.shape[1:] == (3, 32, 32) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    g = images.to_channels(np.ones((2, 1, 4, 4), np.float32), 3)
    assert g.shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match="cannot turn 3-channel"):
        images.to_channels(np.ones((2, 3, 4, 4)), 1)


# ------------------------------------------------------------------ glyphs.py


def test_make_glyphs_writes_a_loadable_class_folder(tmp_path):
    n = glyphs.make_glyphs(tmp_path / "g", n_per_class=3, chars="AB7", size=16, progress=False)
    assert n == 9
    files, classes = fd.find_images(tmp_path / "g")
    assert classes == ["7", "A", "B"] and len(files) == 9
    x, y, _ = fd.load_folder(tmp_path / "g", "train", image_size=16, channels=3, log=_quiet)
    assert x.shape[1:] == (3, 16, 16) and x.std() > 0.05            # something was drawn


def test_make_glyphs_is_seeded_and_gray_is_white_on_black(tmp_path):
    glyphs.make_glyphs(tmp_path / "a", n_per_class=2, chars="Q", size=12, seed=3, progress=False)
    glyphs.make_glyphs(tmp_path / "b", n_per_class=2, chars="Q", size=12, seed=3, progress=False)
    assert (tmp_path / "a/Q/0001.png").read_bytes() == (tmp_path / "b/Q/0001.png").read_bytes()
    glyphs.make_glyphs(tmp_path / "c", n_per_class=1, chars="Q", size=32, color=False, progress=False)
    im = np.asarray(Image.open(tmp_path / "c/Q/0000.png"))
    assert im[0, 0].tolist() == [0, 0, 0] and im.max() > 200


def test_make_glyphs_refuses_bad_requests(tmp_path):
    glyphs.make_glyphs(tmp_path / "g", n_per_class=1, chars="A", size=8, progress=False)
    with pytest.raises(ValueError, match="already holds PNG"):
        glyphs.make_glyphs(tmp_path / "g", n_per_class=1, chars="A", size=8, progress=False)
    with pytest.raises(ValueError, match="letters and digits"):
        glyphs.make_glyphs(tmp_path / "h", chars="A/", progress=False)
    with pytest.raises(ValueError, match="one case"):
        glyphs.make_glyphs(tmp_path / "h", chars="Aa", progress=False)
