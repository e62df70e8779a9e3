"""`nanogen eval RUN --ood DATASET` end to end on tiny runs: the held-out-class protocol on MNIST,
another data set (tiny synthetic stand-ins), the JSON naming every score, the figures, and clear
errors for bad input."""

import json
import os
import re

import numpy as np
import pytest

import nanogen.cli as cli
from nanogen.cli import main

TRAIN = ["--epochs", "1", "--subset", "256", "--batch-size", "64", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A vae and its background (--perturb) trained without the digit 1, and an ae likewise."""
    d = tmp_path_factory.mktemp("ood")
    paths = {name: str(d / name) for name in ("vae", "bg", "ae")}
    assert main(["train", "vae", "--holdout-class", "1", *TRAIN, "--out", paths["vae"]]) == 0
    assert main(["train", "vae", "--holdout-class", "1", "--perturb", "0.2", *TRAIN, "--out", paths["bg"]]) == 0
    assert main(["train", "ae", "--holdout-class", "1", *TRAIN, "--out", paths["ae"]]) == 0
    return paths


def read_json(capsys):
    return json.loads(capsys.readouterr().out)


def test_heldout_protocol_json_names_every_score(runs, capsys):
    argv = ["eval", runs["vae"], "--ood", "heldout", "--background", runs["bg"], "--limit", "60",
            "--iw-samples", "4", "--json"]
    assert main(argv) == 0
    r = read_json(capsys)
    assert r["holdout_class"] == 1 and r["n_in"] == 60 and r["n_out"] == 60
    assert list(r["scores"]) == ["recon_mse", "neg_elbo", "iwae_nll", "input_complexity", "likelihood_ratio"]
    for name, s in r["scores"].items():
        assert 0 <= s["auroc"] <= 1 and 0 <= s["auprc"] <= 1 and s["auprc_chance"] == 0.5, name
        assert list(s["per_class_auroc"]) == ["1"] and s["per_class_auroc"]["1"] == pytest.approx(s["auroc"])
        assert s["description"]
    # the ones (little ink, never trained on) are easy for every score: a run that learned nothing would not do this
    assert r["scores"]["neg_elbo"]["mean_out"] < r["scores"]["neg_elbo"]["mean_in"]
    folder = os.path.join(runs["vae"], "ood-heldout")
    for f in ("histograms.png", "roc.png", "results.json"):
        assert os.path.getsize(os.path.join(folder, f)) > 500, f
    assert json.load(open(os.path.join(folder, "results.json")))["scores"].keys() == r["scores"].keys()


def test_training_with_holdout_class_never_sees_that_class(tmp_path, monkeypatch):
    seen = {}

    def fake_fit(recipe, loader, *args, **kwargs):
        seen["labels"] = np.concatenate([b[1].data for b in loader])   # cvae batches carry labels

    monkeypatch.setattr("nanogen.train.fit", fake_fit)
    assert main(["train", "cvae", "--holdout-class", "3", *TRAIN, "--out", str(tmp_path / "r")]) == 0
    assert len(seen["labels"]) == 256 and 3 not in seen["labels"] and set(seen["labels"]) == set(range(10)) - {3}


def test_ood_against_another_dataset_prints_a_table_per_class(tmp_path, monkeypatch, capsys):
    """The other data set path, on tiny stand-ins: 'mnist' blobs, 'fashion-mnist' noise with labels."""
    rng = np.random.default_rng(0)
    sets = {"mnist": (rng.random((300, 1, 28, 28), dtype=np.float32) ** 8, rng.integers(0, 10, 300)),
            "fashion-mnist": (rng.random((300, 1, 28, 28), dtype=np.float32), np.arange(300) % 10)}
    monkeypatch.setattr(cli, "load_dataset", lambda name, split, shape=(1, 28, 28): sets[name])
    run = str(tmp_path / "vae")
    assert main(["train", "vae", *TRAIN, "--out", run]) == 0
    capsys.readouterr()
    assert main(["eval", run, "--ood", "fashion-mnist", "--limit", "50", "--iw-samples", "3",
                 "--scores", "elbo", "complexity"]) == 0
    out = capsys.readouterr().out
    assert "in: mnist test (50), out: fashion-mnist test (50)" in out
    assert "neg_elbo" in out and "input_complexity" in out and "iwae_nll" not in out
    assert "T-shirt" in out and "AUROC by outlier class" in out
    assert main(["eval", run, "--ood", "fashion-mnist", "--limit", "50", "--scores", "neg_elbo", "--json"]) == 0
    r = read_json(capsys)
    assert r["scores"]["neg_elbo"]["auroc"] > 0.9          # noise is far less likely than the blobs
    assert sorted(r["scores"]["neg_elbo"]["per_class_auroc"], key=int) == [str(k) for k in range(10)]
    assert main(["eval", run, "--ood", "heldout"]) == 1    # trained on every class: nothing held out
    assert "train with --holdout-class K" in capsys.readouterr().err


@pytest.mark.parametrize("which, argv, message", [
    ("vae", ["--ood", "cifar10"], "unknown dataset 'cifar10'; known: mnist"),
    ("ae", ["--ood", "heldout", "--scores", "elbo"], "needs a likelihood p\\(x\\), and the ae model has none"),
    ("vae", ["--ood", "heldout", "--scores", "ratio"], "needs a background model"),
    ("vae", ["--ood", "mnist"], "the run was trained on mnist, so that test set is the in-distribution set"),
    ("vae", ["--ood", "heldout", "--background", "AE"], "must be a vae run trained with --perturb"),
    ("vae", ["--ood", "heldout", "--scores", "bogus"], "unknown score 'bogus'"),
])
def test_bad_ood_input_gets_a_clear_error(runs, which, argv, message, capsys):
    argv = [a if a != "AE" else runs["ae"] for a in argv]
    assert main(["eval", runs[which], *argv, "--limit", "10"]) == 1
    assert re.search(message, capsys.readouterr().err)


def test_a_model_without_outlier_scores_says_which_have_them(tmp_path, monkeypatch, capsys):
    class GanLike:                                           # what load_run returns for a gan run
        name = "gan"

    monkeypatch.setattr(cli, "load_run", lambda run: (GanLike(), {"model": "gan", "dataset": "mnist"}))
    assert main(["eval", str(tmp_path), "--ood", "fashion-mnist"]) == 1
    assert "the gan model has no outlier scores; --ood works for the autoencoders" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--holdout-class", "10"], "--holdout-class"),
    (["--perturb", "1.5"], "--perturb must be a probability in [0, 1), got 1.5"),
])
def test_bad_training_flags_stop_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(["train", "vae", *argv])
    assert message in capsys.readouterr().err


def test_ood_names_a_folder_or_a_known_dataset():
    from nanogen.ood_cli import check_ood_name

    check_ood_name("folder:/some/pictures")
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        check_ood_name("cifar")
