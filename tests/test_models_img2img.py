"""What the image-to-image recipes share (models/img2img.py), end to end for each of them:
`nanogen train pix2pix|superres` -> eval -> sample --input, and the errors on a wrong input size
and on a setting the model's Config refuses."""

import os

import numpy as np
import pytest

# each recipe: the training command's own flags, the figure it draws every epoch, the metrics it logs,
# the size of its inputs, and one setting its Config refuses
RECIPES = {
    "pix2pix": dict(train=["--task", "inpaint", "--base-channels", "2"], figure="translations.png",
                    logged={"loss_d", "loss_g", "l1", "adv_g"}, input_size=28, refused=["--dropout", "1.5"]),
    "superres": dict(train=["--scale", "4", "--channels", "4", "--n-res-blocks", "1"], figure="superres.png",
                     logged={"loss_d", "loss_g", "mse", "content", "adv"}, input_size=7,
                     refused=["--content-weight", "-1"]),
}


@pytest.fixture
def tiny_classifier(tmp_path, monkeypatch):
    """An untrained classifier checkpoint as $NANOGEN_CLASSIFIER: enough to run every metric of eval
    (and superres's content loss) without training the standard one."""
    from nanogen.models.classifier import Classifier, ClassifierConfig
    from nanogen.optim import Adam
    from nanogen.train import save_checkpoint

    clf = Classifier(ClassifierConfig(channels=(2, 2), hidden_dim=4), rng=np.random.default_rng(0))

    class Holder:
        modules = {"model": clf}
        optimizers = {"adam": Adam(clf.parameters())}

    path = str(tmp_path / "clf.npz")
    save_checkpoint(path, Holder, {"config": {"model": "classifier", "channels": [2, 2], "hidden_dim": 4}})
    monkeypatch.setenv("NANOGEN_CLASSIFIER", path)
    return path


@pytest.mark.parametrize("model", sorted(RECIPES))
def test_train_eval_sample_cli(model, tmp_path, tiny_classifier):
    from nanogen.cli import main

    try:
        from nanogen.data import mnist

        mnist("test")
    except Exception as e:  # no MNIST on this machine: nothing to train on
        pytest.skip(f"MNIST not available: {e}")
    r = RECIPES[model]
    out = str(tmp_path / "run")
    assert main(["train", model, *r["train"], "--epochs", "1", "--subset", "64", "--batch-size", "32",
                 "--out", out, "--quiet"]) == 0
    assert os.path.exists(os.path.join(out, r["figure"]))
    header = open(os.path.join(out, "metrics.csv")).readline().strip().split(",")
    assert r["logged"] <= set(header)
    assert main(["eval", out, "--json", "--limit", "40"]) == 0
    S = r["input_size"]
    np.save(tmp_path / "in.npy", np.zeros((2, S, S), np.float32))
    assert main(["sample", out, "--input", str(tmp_path / "in.npy"), "--out", str(tmp_path / "t.png")]) == 0
    assert os.path.exists(tmp_path / "t.png")
    np.save(tmp_path / "bad.npy", np.zeros((2, S + 1, S + 1), np.float32))
    assert main(["sample", out, "--input", str(tmp_path / "bad.npy")]) == 1      # wrong size: an error
    assert main(["train", model, *r["refused"], "--out", str(tmp_path / "refused")]) == 1
