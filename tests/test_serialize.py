"""Tests for nanogen/serialize.py: round trips, atomic writes, clear errors, PyTorch key compatibility."""

import os

import numpy as np
import pytest

import nanogen as ng
from nanogen import nn, serialize
from nanogen.serialize import CheckpointError


def _mlp(rng, dtype=np.float32):
    return nn.Sequential(nn.Linear(6, 5, rng=rng, dtype=dtype), nn.ReLU(), nn.Linear(5, 3, rng=rng, dtype=dtype))


def test_state_dict_round_trip_keeps_keys_order_values_and_dtypes(tmp_path, rng):
    sd = _mlp(rng).state_dict()
    sd["count"] = np.array(7, dtype=np.int64)
    path = tmp_path / "mlp.npz"
    assert serialize.save(sd, path) == str(path)
    back = serialize.load(path)
    assert list(back) == list(sd)
    for k in sd:
        assert back[k].dtype == sd[k].dtype and back[k].shape == sd[k].shape
        np.testing.assert_array_equal(back[k], sd[k])
    # the archive itself holds the state_dict keys one-to-one, readable by plain numpy
    with np.load(path, allow_pickle=False) as npz:
        assert [k for k in npz.files if k != "__nanogen__"] == list(sd)


def test_model_weights_survive_save_and_load(tmp_path, rng):
    a, b = _mlp(np.random.default_rng(1)), _mlp(np.random.default_rng(2))
    serialize.save(a.state_dict(), tmp_path / "a.ckpt")  # any file name, no suffix added
    assert os.listdir(tmp_path) == ["a.ckpt"]
    b.load_state_dict(serialize.load(tmp_path / "a.ckpt"))
    x = ng.randn(4, 6, rng=rng)
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_nested_checkpoint_with_metadata_round_trips(tmp_path, rng):
    ckpt = {
        "model": _mlp(rng, np.float64).state_dict(),
        "optimizer": {"lr": 1e-3, "betas": (0.9, 0.999), "state": {0: {"step": 10, "m": rng.standard_normal(4)}}},
        "epoch": 3,
        "history": [{"loss": np.float32(0.5), "kl": 1.25}, {"loss": 0.25, "kl": None}],
        "config": {"name": "vae", "latent_dim": 2, "is_binary": True},
        "rng_state": ng.random.get_state(),
    }
    serialize.save(ckpt, tmp_path / "ck.npz")
    back = serialize.load(tmp_path / "ck.npz")
    assert list(back) == list(ckpt)
    assert back["epoch"] == 3 and back["config"] == ckpt["config"]
    assert back["optimizer"]["betas"] == (0.9, 0.999)  # tuples stay tuples
    assert list(back["optimizer"]["state"]) == [0]  # int keys stay ints
    np.testing.assert_array_equal(back["optimizer"]["state"][0]["m"], ckpt["optimizer"]["state"][0]["m"])
    assert back["history"] == [{"loss": 0.5, "kl": 1.25}, {"loss": 0.25, "kl": None}]
    assert back["rng_state"] == ckpt["rng_state"]
    for k, v in ckpt["model"].items():
        assert back["model"][k].dtype == np.float64
        np.testing.assert_array_equal(back["model"][k], v)


def test_tensors_are_saved_as_their_arrays(tmp_path):
    t = ng.tensor([1.0, 2.0])
    serialize.save({"t": t}, tmp_path / "t.npz")
    back = serialize.load(tmp_path / "t.npz")["t"]
    assert isinstance(back, np.ndarray) and back.dtype == np.float32


def test_unstorable_values_are_refused_with_their_path(tmp_path):
    with pytest.raises(CheckpointError, match=r"cannot store a builtin_function_or_method at 'config/act'"):
        serialize.save({"config": {"act": len}}, tmp_path / "x.npz")
    with pytest.raises(CheckpointError, match="dtype object"):
        serialize.save({"a": np.array([None, 1])}, tmp_path / "x.npz")
    with pytest.raises(CheckpointError, match="may not contain '/'"):
        serialize.save({"a/b": np.zeros(1)}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []  # nothing written, not even a temporary file


def test_save_is_atomic_an_interrupted_write_leaves_the_old_file(tmp_path, rng, monkeypatch):
    path = tmp_path / "model.npz"
    old = {"w": np.ones(3)}
    serialize.save(old, path)

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half of an archive")
        raise KeyboardInterrupt  # the process is stopped in the middle of writing

    monkeypatch.setattr(serialize.np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        serialize.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]  # the temporary file is gone
    np.testing.assert_array_equal(serialize.load(path)["w"], old["w"])  # the old checkpoint is intact


def test_save_overwrites_an_existing_checkpoint(tmp_path):
    path = tmp_path / "m.npz"
    serialize.save({"w": np.ones(2)}, path)
    serialize.save({"w": np.zeros(2)}, path)
    np.testing.assert_array_equal(serialize.load(path)["w"], np.zeros(2))
    assert os.listdir(tmp_path) == ["m.npz"]


@pytest.fixture
def good_file(tmp_path, rng):
    path = tmp_path / "good.npz"
    serialize.save(_mlp(rng).state_dict(), path)
    return path


def test_truncated_file_gives_a_clear_error(good_file, tmp_path):
    data = good_file.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a nanogen checkpoint: .*truncated.npz"):
        serialize.load(bad)


def test_corrupted_bytes_give_a_clear_error(good_file, tmp_path):
    data = bytearray(good_file.read_bytes())
    data[200] ^= 0xFF  # flip one byte inside the first array
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="not a nanogen checkpoint"):
        serialize.load(bad)


@pytest.mark.parametrize("content", [b"", b"hello, this is text", b"\x80\x04\x95pickle"])
def test_foreign_file_gives_a_clear_error(tmp_path, content):
    bad = tmp_path / "foreign.bin"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a nanogen checkpoint: .*not an .npz archive"):
        serialize.load(bad)


def test_npz_from_elsewhere_and_npy_give_clear_errors(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones(2))
    with pytest.raises(CheckpointError, match="without the '__nanogen__' entry"):
        serialize.load(tmp_path / "plain.npz")
    np.save(tmp_path / "one.npy", np.ones(2))
    with pytest.raises(CheckpointError, match="single .npy array"):
        serialize.load(tmp_path / "one.npy")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        serialize.load(tmp_path / "missing.npz")


def test_checkpoint_loads_into_torch_and_back(tmp_path, rng):
    """Keys map one-to-one: {k: torch.from_numpy(v)} loads into the same architecture, strictly."""
    torch = pytest.importorskip("torch")
    ours = _mlp(rng)
    serialize.save(ours.state_dict(), tmp_path / "ours.npz")
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in serialize.load(tmp_path / "ours.npz").items()})
    x = rng.standard_normal((4, 6)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(ng.Tensor(x)).data, expected, rtol=1e-5, atol=1e-6)

    # and back: a torch state_dict (with BatchNorm buffers) saved by nanogen loads into nanogen
    t2 = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4))
    t2.train()
    t2(torch.randn(8, 6))  # move the running statistics and num_batches_tracked
    serialize.save({k: v.numpy() for k, v in t2.state_dict().items()}, tmp_path / "theirs.npz")
    m2 = nn.Sequential(nn.Linear(6, 4, rng=rng), nn.BatchNorm1d(4))
    m2.load_state_dict(serialize.load(tmp_path / "theirs.npz"))
    for k, v in t2.state_dict().items():
        np.testing.assert_array_equal(m2.state_dict()[k], v.numpy())
    assert m2[1].num_batches_tracked.dtype == np.int64 and int(m2[1].num_batches_tracked.data) == 1


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_saved_files_get_the_users_normal_permissions(tmp_path, umask, mode):
    """0666 less the umask, as open() would give, so a teacher can share runs (mkstemp alone: 0600)."""
    from nanogen.serialize import atomic_write

    old = os.umask(umask)
    try:
        serialize.save({"w": np.zeros(2)}, tmp_path / "c.npz")
        with atomic_write(tmp_path / "config.json", "w") as f:
            f.write("{}")
    finally:
        os.umask(old)
    for name in ("c.npz", "config.json"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == mode, name
