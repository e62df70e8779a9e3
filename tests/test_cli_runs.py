"""Runs that protect themselves: --resume with changed flags, --overwrite, bad --out and --subset,
eval of a checkpoint file, the global generator after resume, `nanogen --version`, sample's own
file, NANOGEN_KERNELS, both spellings of Fashion-MNIST, figure titles that say what the images are."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nanogen.cli import _config_from_args, build_parser, main
from nanogen.models import load_all
from nanogen.train import load_checkpoint

TINY = ["--epochs", "1", "--subset", "128", "--batch-size", "64", "--quiet"]


@pytest.fixture(autouse=True)
def figures_not_rendered(monkeypatch):
    """Figures are built but not rendered (rendering is most of a tiny run's time): each file gets
    a few bytes naming the figure's title instead. test_cli.py checks real PNGs."""
    from nanogen import plot_images     # where _done saves every figure family's figures

    def write(fig, path):
        with open(path, "wb") as f:
            f.write(repr([ax.get_title() for ax in fig.axes]).encode())
        return path

    monkeypatch.setattr(plot_images, "save_figure", write)


def _train(run, *extra, model="ae"):
    return main(["train", model, *TINY, "--out", str(run), *extra])


def _files(run):
    return {f: os.path.getmtime(os.path.join(run, f)) for f in os.listdir(run)}


def test_resume_refuses_changed_model_flags_naming_each_flag_and_both_values(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run) == 0
    before = _files(run)
    capsys.readouterr()
    assert main(["train", "ae", "--epochs", "2", "--out", str(run), "--resume", "--quiet",
                 "--latent-dim", "8", "--hidden-dims", "100", "50", "--batch-size", "32"]) == 1
    err = capsys.readouterr().err
    for line in ("--latent-dim 8 (the run has 32)", "--hidden-dims 100 50 (the run has 256)",
                 "--batch-size 32 (the run has 64)"):
        assert line in err
    assert _files(run) == before                          # refused before any work: nothing rewritten
    assert main(["train", "ae", "--out", str(run), "--resume", "--quiet", "--loss", "mse"]) == 1
    assert "--loss mse (the run has bce)" in capsys.readouterr().err
    assert main(["train", "vae", "--out", str(run), "--resume", "--quiet"]) == 1
    assert f"{run} holds a run of ae, not of vae" in capsys.readouterr().err


def test_resume_applies_a_new_learning_rate_with_a_notice_and_keeps_untyped_settings(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run, "--lr", "5e-4") == 0
    capsys.readouterr()
    # --lr left out: the run's 5e-4 stays (the default 1e-3 is not a request to change it)
    assert main(["train", "ae", "--epochs", "2", "--out", str(run), "--resume", "--quiet"]) == 0
    assert "resuming with --lr" not in capsys.readouterr().err
    groups = load_checkpoint(run / "checkpoint.npz")["optimizers"]["adam"]["param_groups"]
    assert [g["lr"] for g in groups] == [5e-4]
    assert main(["train", "ae", "--epochs", "3", "--out", str(run), "--resume", "--quiet", "--lr", "1e-4",
                 "--subset", "128"]) == 0                 # --subset as the run had it: fine
    err = capsys.readouterr().err
    assert "resuming with --lr 0.0001 (the run had 0.0005)" in err
    assert "training on to epoch 3 (the run was planned for 2)" in err
    state = load_checkpoint(run / "checkpoint.npz")
    assert [g["lr"] for g in state["optimizers"]["adam"]["param_groups"]] == [1e-4]
    assert state["meta"]["epoch"] == 3 and state["meta"]["config"]["lr"] == 1e-4
    assert json.load(open(run / "config.json"))["lr"] == 1e-4


def test_training_into_a_run_refuses_unless_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run) == 0
    before = _files(run)
    capsys.readouterr()
    assert _train(run, "--latent-dim", "4") == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert _files(run) == before
    assert _train(run, "--latent-dim", "4", "--overwrite") == 0
    assert load_checkpoint(run / "checkpoint.npz")["meta"]["config"]["latent_dim"] == 4


def test_out_naming_a_file_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    assert _train(f) == 1
    assert "is a file; --out names the folder" in capsys.readouterr().err
    assert f.read_text() == "mine"


def test_subset_larger_than_the_dataset_says_so(tmp_path, capsys):
    assert main(["train", "ae", "--subset", "70000", "--out", str(tmp_path / "r"), "--quiet"]) == 1
    assert "--subset 70000 is more than the 60000 training images of mnist" in capsys.readouterr().err


def test_eval_and_sample_accept_the_checkpoint_file_and_sample_keeps_the_training_figure(tmp_path, capsys):
    run = tmp_path / "vae"
    assert _train(run, model="vae") == 0
    training_figure = (run / "samples.png").read_bytes()
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoint.npz"), "--json", "--limit", "50"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "vae"
    assert main(["sample", str(run / "checkpoint.npz"), "--n", "4", "--seed", "3"]) == 0
    assert "4 samples" in (run / "sample_seed3.png").read_text()
    assert (run / "samples.png").read_bytes() == training_figure      # the epoch's figure is untouched
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path)]) == 1
    assert "is a folder; --out names the PNG file" in capsys.readouterr().err


def test_global_generator_state_survives_resume(tmp_path):
    """2 epochs in one go and 1 + resume + 1 save the same weights and every generator's state."""
    assert _train(tmp_path / "a", "--epochs", "2") == 0
    assert _train(tmp_path / "b") == 0
    assert main(["train", "ae", "--epochs", "2", "--out", str(tmp_path / "b"), "--resume", "--quiet"]) == 0
    a, b = (load_checkpoint(tmp_path / r / "checkpoint.npz") for r in "ab")
    assert a["meta"]["global_rng"] == b["meta"]["global_rng"]
    assert a["meta"]["rng"] == b["meta"]["rng"] and a["meta"]["loader"] == b["meta"]["loader"]
    for k, v in a["modules"]["model"].items():
        np.testing.assert_array_equal(v, b["modules"]["model"][k], err_msg=k)


def test_held_out_numbers_per_epoch_in_metrics_csv(tmp_path):
    import csv

    assert _train(tmp_path / "r", "--epochs", "2") == 0
    rows = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    held = [r for r in rows if r["test_loss"]]
    assert [int(r["epoch"]) for r in held] == [1, 2] and held[-1] is rows[-1]
    assert all(0 < float(r["test_loss"]) < 1 for r in held)             # BCE per pixel
    assert float(held[1]["test_loss"]) < float(held[0]["test_loss"])


def test_version(capsys):
    import nanogen

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"nanogen {nanogen.__version__}"


def test_unknown_kernel_choice_is_one_line_without_traceback():
    env = dict(os.environ, NANOGEN_KERNELS="numbaa")
    r = subprocess.run([sys.executable, "-m", "nanogen", "--help"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["nanogen: NANOGEN_KERNELS must be 'numba' or 'numpy', got 'numbaa'; "
                                             "unset it for the Numba kernels"]


@pytest.fixture
def tiny_fashion_mnist(tmp_path, monkeypatch, rng):
    """Fashion-MNIST as a folder of four tiny IDX files where Debian's package would put them
    (with their own checksums), and an empty cache: these tests need no 30 MB download."""
    import dataclasses
    import hashlib

    from test_data_mnist import idx_bytes  # tests/ is on sys.path

    from nanogen.data import datasets

    shapes = {"x_train": (6, 28, 28), "y_train": (6,), "x_test": (4, 28, 28), "y_test": (4,)}
    files = {}
    for key, shape in shapes.items():
        a = rng.integers(0, 10 if key.startswith("y") else 256, shape, dtype=np.uint8)
        data = idx_bytes(a)
        name = datasets.FASHION_MNIST.files[key].filename
        (tmp_path / name).write_bytes(data)
        files[key] = datasets.IDXFile(name, shape, hashlib.sha256(data).hexdigest())
    spec = dataclasses.replace(datasets.FASHION_MNIST, files=files, mirrors=(), label_counts={},
                               system_dirs=(str(tmp_path),))
    monkeypatch.setitem(datasets.DATASETS, "fashion_mnist", spec)
    monkeypatch.setattr(datasets, "FASHION_MNIST", spec)
    monkeypatch.setenv("NANOGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NANOGEN_DATA", raising=False)
    monkeypatch.setenv("NANOGEN_OFFLINE", "1")
    return spec


def test_both_spellings_of_fashion_mnist_are_accepted(tiny_fashion_mnist, capsys):
    parser = build_parser()
    for spelling in ("fashion-mnist", "fashion_mnist", "Fashion-MNIST"):
        assert parser.parse_args(["train", "ae", "--dataset", spelling]).dataset == "fashion-mnist"
        assert parser.parse_args(["data", "download", "--dataset", spelling]).dataset == "fashion-mnist"
    for argv in (["data", "download", "fashion_mnist"], ["data", "download", "--dataset", "fashion_mnist"]):
        assert main(argv) == 0 and "Fashion-MNIST" in capsys.readouterr().out


def test_fashion_mnist_error_suggests_a_command_that_works(tiny_fashion_mnist, capsys):
    from nanogen.data import datasets

    msg = datasets._not_found_message(datasets.FASHION_MNIST, [])
    command = next(line.split("(")[0].split() for line in msg.splitlines() if "nanogen data download" in line)
    assert main(command[1:]) == 0                                        # what the user would type


@pytest.fixture
def figure_texts(monkeypatch):
    """Every text drawn into a saved figure (titles, labels, legends), by file name."""
    from matplotlib.text import Text

    from nanogen import plot_images

    texts, save = {}, plot_images.save_figure

    def spy(fig, path):
        texts[os.path.basename(path)] = " ".join(t.get_text() for t in fig.findobj(Text))
        return save(fig, path)

    monkeypatch.setattr(plot_images, "save_figure", spy)
    return texts


@pytest.mark.parametrize("model", ["ae", "vae", "cvae", "classifier"])
def test_fashion_mnist_figures_do_not_say_digits(model, tmp_path, rng, figure_texts):
    args = build_parser().parse_args(["train", model, "--dataset", "fashion_mnist"])
    recipe_cls = load_all()[model]
    recipe = recipe_cls(_config_from_args(args, recipe_cls), rng)
    for m in recipe.modules.values():
        m.eval()
    x = rng.random((60, 1, 28, 28)).astype(np.float32)
    recipe.on_epoch_end(str(tmp_path), 1, (x, np.arange(60) % 10))
    assert figure_texts
    for name, text in figure_texts.items():
        assert "digit" not in text.lower(), (name, text)
    assert any("Fashion-MNIST" in text or "class" in text for text in figure_texts.values())


def test_resume_messages_name_flags_as_the_user_types_them():
    from nanogen.models.gan_recipes import GAN
    from nanogen.train import resume_config

    parser = build_parser()
    argv = ["train", "gan", "--label-smoothing", "0.8", "--lr", "1e-4"]
    args = parser.parse_args(argv)
    names = {a.dest: a.option_strings[0] for a in parser.model_parsers["gan"]._actions if a.option_strings}
    saved = dict(_config_from_args(parser.parse_args(["train", "gan"]), GAN))
    with pytest.raises(ValueError, match=r"--label-smoothing 0.8 \(the run has 1.0\)"):
        resume_config(saved, _config_from_args(args, GAN), {"real_label", "lr"}, GAN, "runs/gan", names)
    cfg, notices = resume_config(saved, _config_from_args(args, GAN), {"lr"}, GAN, "runs/gan", names)
    assert cfg["lr"] == 1e-4 and notices == ["resuming with --lr 0.0001 (the run had 0.0002)"]
