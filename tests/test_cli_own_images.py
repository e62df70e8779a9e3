"""Training on a folder of your own images from the command line: every model takes
--dataset folder:PATH, the convolutional ones also --image-size and --channels."""

import json

import numpy as np
import pytest

from nanogen.cli import load_run, main
from nanogen.data import glyphs


@pytest.fixture(scope="module")
def letters(tmp_path_factory):
    """A tiny colour folder data set: 3 letters x 12 images of 32x32 (models train on them at 16 or 28)."""
    folder = tmp_path_factory.mktemp("own") / "letters"
    glyphs.make_glyphs(folder, n_per_class=12, chars="ABC", size=32, progress=False)
    return folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOGEN_CACHE", str(tmp_path / "cache"))


def _train(argv, tmp_path):
    out = tmp_path / "run"
    assert main(["train", *argv, "--epochs", "1", "--batch-size", "8", "--out", str(out), "--quiet"]) == 0
    return out


def test_colour_dcgan_on_a_folder_samples_colour_images(letters, tmp_path):
    out = _train(["dcgan", "--dataset", f"folder:{letters}", "--channels", "3", "--image-size", "16",
                  "--base-channels", "4", "--latent-dim", "8"], tmp_path)
    recipe, cfg = load_run(str(out))
    assert cfg["image_size"] == 16 and cfg["image_channels"] == 3
    images = recipe.sample(5, np.random.default_rng(0))
    assert images.shape == (5, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    assert main(["sample", str(out), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0


def test_gan_eval_on_a_folder_says_why_not(letters, tmp_path, capsys):
    out = _train(["dcgan", "--dataset", f"folder:{letters}", "--channels", "3", "--image-size", "16",
                  "--base-channels", "4", "--latent-dim", "8"], tmp_path)
    assert main(["eval", str(out)]) == 1
    assert "MNIST digit classifier" in capsys.readouterr().err


def test_cgan_takes_as_many_labels_as_the_folder_has_classes(letters, tmp_path):
    out = _train(["cgan", "--dataset", f"folder:{letters}", "--image-size", "16", "--base-channels", "4",
                  "--latent-dim", "8"], tmp_path)
    recipe, cfg = load_run(str(out))
    assert cfg["data_classes"] == 3 and recipe.cfg.n_classes == 3
    assert recipe.sample(6, np.random.default_rng(0)).shape == (6, 1, 16, 16)


def test_conv_autoencoder_on_colour_images(letters, tmp_path):
    out = _train(["conv-ae", "--dataset", f"folder:{letters}", "--channels", "3", "--image-size", "16",
                  "--conv-channels", "4", "8"], tmp_path)
    recipe, _ = load_run(str(out))
    assert recipe.model.config.image_shape == (3, 16, 16)
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == f"folder:{letters}"


def test_mlp_model_gets_gray_28x28_from_a_folder(letters, tmp_path):
    out = _train(["ae", "--dataset", f"folder:{letters}", "--latent-dim", "4", "--hidden-dims", "16"], tmp_path)
    recipe, _ = load_run(str(out))
    assert recipe.model.config.image_shape == (1, 28, 28)


def test_image_size_must_fit_the_network(letters, tmp_path, capsys):
    code = main(["train", "dcgan", "--dataset", f"folder:{letters}", "--image-size", "15", "--epochs", "1",
                 "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 1
    assert "divisible by 4" in capsys.readouterr().err


def test_make_glyphs_command(tmp_path, capsys):
    assert main(["data", "make-glyphs", str(tmp_path / "g"), "--n-per-class", "2", "--chars", "XY",
                 "--size", "12"]) == 0
    assert "--dataset folder:" in capsys.readouterr().out
    assert len(list((tmp_path / "g").rglob("*.png"))) == 4
    assert main(["data", "make-glyphs"]) == 1
