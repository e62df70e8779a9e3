"""The `nanogen` command: help lists every model, a tiny train -> eval -> sample round trip,
resume, and clear errors for bad input before any work starts."""

import json
import os
import subprocess
import sys

import pytest

from nanogen.cli import main
from nanogen.models import load_all


def test_help_lists_every_registered_model(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name in load_all():
        assert name in out


def test_python_dash_m_nanogen_prints_help():
    r = subprocess.run([sys.executable, "-m", "nanogen", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "models:" in r.stdout and "vae" in r.stdout


def test_train_eval_sample_round_trip(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "ae", "--epochs", "1", "--subset", "256", "--batch-size", "64", "--out", run, "--quiet"]) == 0
    for f in ("checkpoint.npz", "metrics.csv", "config.json", "loss_curves.png"):
        assert os.path.exists(os.path.join(run, f)), f
    capsys.readouterr()
    assert main(["eval", run, "--json", "--limit", "200"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["model"] == "ae" and metrics["n_test"] == 200
    assert main(["sample", run, "--n", "16", "--out", str(tmp_path / "s.png")]) == 1  # an AE cannot sample
    assert "cannot sample" in capsys.readouterr().err
    # resume adds an epoch to the same run
    assert main(["train", "ae", "--epochs", "2", "--out", run, "--resume", "--quiet"]) == 0
    assert json.load(open(os.path.join(run, "config.json")))["model"] == "ae"


def test_sample_from_a_generative_run(tmp_path, capsys):
    run = str(tmp_path / "vae")
    assert main(["train", "vae", "--epochs", "1", "--subset", "256", "--out", run, "--quiet"]) == 0
    assert main(["sample", run, "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert os.path.getsize(tmp_path / "s.png") > 1000


@pytest.mark.parametrize("argv, message", [
    (["train", "ae", "--batch-size", "0"], "--batch-size must be a positive integer"),
    (["train", "ae", "--epochs", "-1"], "--epochs must be a positive integer"),
    (["train", "no-such-model"], "invalid choice: 'no-such-model'"),
    (["train", "ae", "--lr", "abc"], "--lr must be a positive number, got 'abc'"),
])
def test_bad_arguments_fail_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_eval_of_missing_run_says_what_to_do(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nothing")]) == 1
    assert "train first" in capsys.readouterr().err


def test_data_info_names_the_cache(capsys):
    assert main(["data", "info"]) == 0
    assert "cache" in capsys.readouterr().out.lower()
