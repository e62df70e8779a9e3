"""nanogen/data/loader.py: batches cover every sample once per epoch, reproducibly, resumably."""

import numpy as np
import pytest

import nanogen.random
from nanogen.data import DataLoader, dynamic_binarize
from nanogen.tensor import Tensor


def epoch_batches(loader):
    return [tuple(a.copy() for a in batch) for batch in loader]


@pytest.mark.parametrize("N, B", [(10, 3), (9, 3), (1, 4), (7, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_each_index_once_per_epoch(N, B, shuffle):
    x = np.arange(N)
    y = 10 * np.arange(N)
    loader = DataLoader(x, y, batch_size=B, shuffle=shuffle, seed=3, as_tensor=False)
    assert len(loader) == -(-N // B)
    for _ in range(3):
        batches = epoch_batches(loader)
        assert len(batches) == len(loader)
        assert [len(xb) for xb, _ in batches[:-1]] == [B] * (len(batches) - 1)
        seen = np.concatenate([xb for xb, _ in batches])
        assert sorted(seen.tolist()) == list(range(N))
        for xb, yb in batches:
            np.testing.assert_array_equal(yb, 10 * xb)      # arrays stay aligned
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(N))


def test_drop_last():
    loader = DataLoader(np.arange(10), batch_size=3, shuffle=True, drop_last=True, seed=0, as_tensor=False)
    assert len(loader) == 3
    batches = epoch_batches(loader)
    assert [len(b[0]) for b in batches] == [3, 3, 3]
    assert len(set(np.concatenate([b[0] for b in batches]).tolist())) == 9


def test_shuffle_is_reproducible_and_changes_each_epoch():
    x = np.arange(50)
    a = DataLoader(x, batch_size=8, shuffle=True, seed=7, as_tensor=False)
    b = DataLoader(x, batch_size=8, shuffle=True, seed=7, as_tensor=False)
    c = DataLoader(x, batch_size=8, shuffle=True, seed=8, as_tensor=False)
    e0a, e0b, e0c = (np.concatenate([t[0] for t in epoch_batches(l)]) for l in (a, b, c))
    np.testing.assert_array_equal(e0a, e0b)
    assert not np.array_equal(e0a, e0c)
    e1a = np.concatenate([t[0] for t in epoch_batches(a)])
    assert not np.array_equal(e0a, e1a)
    assert a.epoch == 2


def test_permutation_depends_only_on_seed_and_epoch():
    x = np.arange(20)
    a = DataLoader(x, batch_size=4, shuffle=True, seed=5, as_tensor=False)
    for _ in range(3):
        epoch_batches(a)
    fresh = DataLoader(x, batch_size=6, shuffle=True, seed=5, as_tensor=False)
    np.testing.assert_array_equal(a.indices(2), fresh.indices(2))
    np.testing.assert_array_equal(a.indices(2), np.random.default_rng([5, 2]).permutation(20))


def test_seedless_loader_follows_manual_seed():
    x = np.arange(30)
    nanogen.random.manual_seed(123)
    a = DataLoader(x, batch_size=5, shuffle=True, as_tensor=False)
    nanogen.random.manual_seed(123)
    b = DataLoader(x, batch_size=5, shuffle=True, as_tensor=False)
    assert a.seed == b.seed
    np.testing.assert_array_equal(a.indices(0), b.indices(0))
    c = DataLoader(x, batch_size=5, shuffle=True, rng=np.random.default_rng(1), as_tensor=False)
    d = DataLoader(x, batch_size=5, shuffle=True, rng=np.random.default_rng(1), as_tensor=False)
    assert c.seed == d.seed


def test_exact_resume_mid_epoch():
    x = np.arange(23)
    a = DataLoader(x, batch_size=4, shuffle=True, seed=11, as_tensor=False)
    epoch_batches(a)                                         # epoch 0
    it = iter(a)                                             # epoch 1: take 2 batches, checkpoint
    next(it)
    next(it)
    state = a.state_dict()
    assert state == {"seed": 11, "epoch": 1, "batch": 2}
    rest_a = [b[0].copy() for b in it] + [b[0].copy() for b in a]   # rest of epoch 1, then epoch 2
    b = DataLoader(x, batch_size=4, shuffle=True, seed=999, as_tensor=False)
    b.load_state_dict(state)
    rest_b = [t[0].copy() for t in b] + [t[0].copy() for t in b]
    assert len(rest_a) == len(rest_b) == 4 + 6
    for u, v in zip(rest_a, rest_b):
        np.testing.assert_array_equal(u, v)


def test_break_starts_a_new_epoch_and_state_agrees():
    loader = DataLoader(np.arange(10), batch_size=2, shuffle=True, seed=0, as_tensor=False)
    for i, _ in enumerate(loader):
        assert loader.state_dict() == {"seed": 0, "epoch": 0, "batch": i + 1}
        if i == 1:
            break
    assert loader.state_dict() == {"seed": 0, "epoch": 1, "batch": 0}
    first = next(iter(loader))[0]
    np.testing.assert_array_equal(first, loader.indices(1)[:2])


def test_batches_are_tensors_with_the_dtype_kept(rng):
    x = rng.random((7, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 10, 7)
    loader = DataLoader(x, y, batch_size=3)
    xb, yb = next(iter(loader))
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
    assert xb.data.dtype == np.float32 and yb.data.dtype == np.int64
    assert xb.shape == (3, 1, 4, 4) and not xb.requires_grad
    np.testing.assert_array_equal(xb.data, x[:3])
    xb.data[...] = -1                                        # a batch is a copy, not a view
    assert x.min() >= 0
    assert loader.arrays[0] is x                             # and the data set itself is not copied
    x64 = Tensor(rng.random((4, 2)), dtype=np.float64)
    (b,) = next(iter(DataLoader(x64, batch_size=4)))         # Tensors are accepted as data
    assert b.data.dtype == np.float64


def test_dynamic_binarize_transform(rng):
    x = np.full((400, 5), 0.3, dtype=np.float32)
    y = np.arange(400)
    loader = DataLoader(x, y, batch_size=100, seed=2, transform=dynamic_binarize, as_tensor=False)
    batches = epoch_batches(loader)
    xb = np.concatenate([b[0] for b in batches])
    assert xb.dtype == np.float32 and set(np.unique(xb)) <= {0.0, 1.0}
    assert abs(xb.mean() - 0.3) < 0.03                       # 2000 Bernoulli(0.3): sd 0.01
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    again = DataLoader(x, y, batch_size=100, seed=2, transform=dynamic_binarize, as_tensor=False)
    np.testing.assert_array_equal(next(iter(again))[0], batches[0][0])   # seeded per batch
    assert not np.array_equal(next(iter(again))[0], batches[0][0])       # epoch 1: fresh draws


@pytest.mark.parametrize("kwargs, err, match", [
    ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
    ({"batch_size": -2}, ValueError, "positive int"),
    ({"batch_size": 2.5}, TypeError, "positive int"),
    ({"batch_size": True}, TypeError, "positive int"),
    ({"seed": 1, "rng": np.random.default_rng(0)}, ValueError, "seed or rng, not both"),
    ({"seed": -1}, ValueError, "non-negative int"),
    ({"batch_size": 11, "drop_last": True}, ValueError, "no batch at all"),
    ({"transform": 3}, TypeError, "transform must be callable"),
])
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        DataLoader(np.arange(10), **kwargs)


def test_bad_arrays():
    with pytest.raises(ValueError, match=r"same first dimension, got lengths \[10, 9\]"):
        DataLoader(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="at least one array"):
        DataLoader()
    with pytest.raises(ValueError, match="empty"):
        DataLoader(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="scalar"):
        DataLoader(np.float32(1.0))


def test_load_state_dict_checks():
    loader = DataLoader(np.arange(10), batch_size=3, seed=0)
    with pytest.raises(ValueError, match="missing keys \\['batch'\\]"):
        loader.load_state_dict({"seed": 0, "epoch": 1})
    with pytest.raises(ValueError, match="out of range"):
        loader.load_state_dict({"seed": 0, "epoch": 0, "batch": 5})
