"""The training loop: exact resume (bit for bit), Ctrl-C checkpoints, NaN stops, files written."""

import csv
import json
import os
import signal

import numpy as np
import pytest

import nanogen.functional as F
import nanogen.nn as nn
import nanogen.optim as optim
from nanogen import serialize
from nanogen.data import DataLoader
from nanogen.train import Recipe, TrainingDiverged, fit, load_checkpoint, save_checkpoint


class TinyRecipe(Recipe):
    """A small regression with dropout, so the loop's data order and random state both matter."""

    name = "tiny"

    def __init__(self, config, rng, fail_at=None, interrupt_at=None, sigint_at=None):
        self.model = nn.Sequential(nn.Linear(6, 8, rng=np.random.default_rng(1)), nn.ReLU(), nn.Dropout(0.3),
                                   nn.Linear(8, 1, rng=np.random.default_rng(2)))
        self.opt = optim.Adam(self.model.parameters(), lr=1e-2)
        self.modules = {"model": self.model}
        self.optimizers = {"opt": self.opt}
        self.fail_at, self.interrupt_at, self.sigint_at, self.calls = fail_at, interrupt_at, sigint_at, 0

    def train_step(self, batch, rng):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        if self.calls == self.sigint_at:
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C during this step
        x, y = batch
        noise = rng.standard_normal(x.shape).astype(np.float32) * 0.01  # the recipe's own randomness
        loss = F.mse_loss(self.model(x + noise), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        value = loss.item()
        return {"loss": float("nan") if self.calls == self.fail_at else value}


def _data():
    r = np.random.default_rng(0)
    x = r.standard_normal((40, 6)).astype(np.float32)
    return x, (x @ r.standard_normal((6, 1))).astype(np.float32)


def _run(tmp, epochs, resume=False, recipe=None, **kw):
    x, y = _data()
    recipe = recipe or TinyRecipe({}, None, **kw)
    loader = DataLoader(x, y, batch_size=8, shuffle=True, seed=3)
    rng = np.random.default_rng(5)
    import nanogen

    nanogen.manual_seed(11)  # dropout draws from the global generator
    fit(recipe, loader, epochs, str(tmp), rng, config={"model": "tiny"}, resume=resume, quiet=True, log_every=1)
    return recipe


def _params(recipe):
    return {k: v.copy() for k, v in recipe.model.state_dict().items()}


def test_two_epochs_equal_one_plus_resume_bit_for_bit(tmp_path):
    straight = _params(_run(tmp_path / "a", 2))
    _run(tmp_path / "b", 1)
    resumed = _params(_run(tmp_path / "b", 2, resume=True))
    for k in straight:
        np.testing.assert_array_equal(straight[k], resumed[k], err_msg=k)


def test_ctrl_c_checkpoints_mid_epoch_and_resume_is_exact(tmp_path):
    straight = _params(_run(tmp_path / "a", 2))
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "b", 2, interrupt_at=8)  # 5 batches per epoch: stops inside epoch 2
    meta = load_checkpoint(tmp_path / "b" / "checkpoint.npz")["meta"]
    assert (meta["epoch"], meta["step"], meta["loader"]["batch"]) == (1, 7, 2)
    resumed = _params(_run(tmp_path / "b", 2, resume=True))
    for k in straight:
        np.testing.assert_array_equal(straight[k], resumed[k], err_msg=k)


def test_sigint_finishes_the_step_then_checkpoints(tmp_path):
    straight = _params(_run(tmp_path / "a", 2))
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "b", 2, sigint_at=4)
    meta = load_checkpoint(tmp_path / "b" / "checkpoint.npz")["meta"]
    assert (meta["epoch"], meta["step"], meta["loader"]["batch"]) == (0, 4, 4)  # step 4 completed
    resumed = _params(_run(tmp_path / "b", 2, resume=True))
    for k in straight:
        np.testing.assert_array_equal(straight[k], resumed[k], err_msg=k)


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    _run(tmp_path, 1)
    before = _params(TinyRecipe({}, None))
    good = load_checkpoint(tmp_path / "checkpoint.npz")
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 8.*Last good checkpoint: .*end of epoch 1"):
        _run(tmp_path, 3, resume=True, fail_at=3)
    after = load_checkpoint(tmp_path / "checkpoint.npz")
    assert after["meta"]["step"] == good["meta"]["step"] == 5
    assert before  # the fresh recipe is unaffected


def test_run_folder_holds_config_metrics_checkpoint_and_curves(tmp_path):
    _run(tmp_path, 2)
    assert json.load(open(tmp_path / "config.json"))["model"] == "tiny"
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert os.path.getsize(tmp_path / "loss_curves.png") > 1000


def test_checkpoint_round_trip_and_foreign_file_errors(tmp_path):
    recipe = TinyRecipe({}, None)
    save_checkpoint(tmp_path / "c.npz", recipe, {"epoch": 3, "nested": {"t": (1, 2.5)}})
    state = load_checkpoint(tmp_path / "c.npz")
    assert state["meta"] == {"epoch": 3, "nested": {"t": (1, 2.5)}}
    for k, v in recipe.model.state_dict().items():
        np.testing.assert_array_equal(state["modules"]["model"][k], v)
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a nanogen checkpoint"):
        load_checkpoint(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a nanogen checkpoint"):
        load_checkpoint(tmp_path / "other.npz")
    serialize.save({"weights": np.zeros(2)}, tmp_path / "state.npz")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        load_checkpoint(tmp_path / "state.npz")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.npz")


def test_epochs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        _run(tmp_path, 0)


class HeldOutRecipe(TinyRecipe):
    """TinyRecipe with a held-out number: the training loss on fixed other data."""

    def held_out(self, data, rng):
        x, y = data
        return {"test_loss": F.mse_loss(self.model(x), y).item()}


def test_held_out_numbers_join_each_epochs_last_row_and_the_loss_curves(tmp_path):
    from nanogen.tensor import Tensor

    x, y = _data()
    recipe = HeldOutRecipe({}, None)
    loader = DataLoader(x, y, batch_size=8, shuffle=True, seed=3)
    fit(recipe, loader, 2, str(tmp_path), np.random.default_rng(5), config={"model": "tiny", "seed": 0},
        data=(Tensor(x[:10] + 1), Tensor(y[:10])), quiet=True, log_every=2)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert list(rows[0]) == ["epoch", "step", "loss", "test_loss"]
    assert [(r["epoch"], r["step"]) for r in rows if r["test_loss"]] == [("1", "5"), ("2", "10")]
    assert all(r["test_loss"] == "" for r in rows if r["step"] not in ("5", "10"))
    assert float(rows[-1]["test_loss"]) == pytest.approx(
        F.mse_loss(recipe.model.eval()(Tensor(x[:10] + 1)), Tensor(y[:10])).item())
    assert os.path.getsize(tmp_path / "loss_curves.png") > 1000


def test_resume_is_exact_with_held_out_numbers(tmp_path):
    """Held-out evaluation draws from its own generator: the run's randomness is untouched."""
    x, y = _data()

    def run(folder, epochs, resume=False):
        recipe = HeldOutRecipe({}, None)
        loader = DataLoader(x, y, batch_size=8, shuffle=True, seed=3)
        import nanogen

        nanogen.manual_seed(11)
        fit(recipe, loader, epochs, str(folder), np.random.default_rng(5), config={"model": "tiny"},
            data=(x[:10], y[:10]), resume=resume, quiet=True)
        return _params(recipe)

    straight = run(tmp_path / "a", 2)
    run(tmp_path / "b", 1)
    resumed = run(tmp_path / "b", 2, resume=True)
    for k in straight:
        np.testing.assert_array_equal(straight[k], resumed[k], err_msg=k)
    a, b = (load_checkpoint(tmp_path / r / "checkpoint.npz")["meta"] for r in "ab")
    assert a["global_rng"] == b["global_rng"] and a["rng"] == b["rng"]
