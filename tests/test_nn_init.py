"""Tests for nanogen/nn/init.py: PyTorch's formulas, moments and bounds of the fills, in place."""

import math

import numpy as np
import pytest

import nanogen as ng
from nanogen import nn
from nanogen.nn import init

N_BIG = (512, 256)  # 131,072 samples: sample std within ~0.5% of the true one


def _check_moments(a, mean, std):
    """Sample mean within 5 standard errors, sample std within 2% (both loose for n = 131k)."""
    n = a.size
    assert abs(a.mean() - mean) < 5 * std / math.sqrt(n) + 1e-12, (a.mean(), mean)
    assert abs(a.std() - std) < 0.02 * std, (a.std(), std)


# ---------------------------------------------------------------------------- gains and fans


@pytest.mark.parametrize("nonlinearity, param, expected", [
    ("linear", None, 1), ("conv2d", None, 1), ("conv_transpose2d", None, 1), ("sigmoid", None, 1),
    ("tanh", None, 5.0 / 3), ("relu", None, math.sqrt(2.0)), ("selu", None, 0.75),
    ("leaky_relu", None, math.sqrt(2.0 / (1 + 0.01**2))), ("leaky_relu", 0.2, math.sqrt(2.0 / 1.04)),
    ("leaky_relu", math.sqrt(5), math.sqrt(2.0 / 6.0)),
])
def test_calculate_gain_values(nonlinearity, param, expected):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-15)


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a number"):
        init.calculate_gain("leaky_relu", "0.2")


@pytest.mark.parametrize("shape, fans", [
    ((400, 784), (784, 400)),            # Linear (out, in)
    ((16, 3, 5, 3), (3 * 15, 16 * 15)),  # Conv2d (F, C, KH, KW)
    ((8, 4, 4, 4), (4 * 16, 8 * 16)),    # ConvTranspose2d (C_in, C_out, KH, KW): PyTorch's convention
])
def test_fan_in_and_fan_out(shape, fans):
    assert init._calculate_fan_in_and_fan_out(np.empty(shape)) == fans
    with pytest.raises(ValueError, match="at least 2 dims"):
        init._calculate_fan_in_and_fan_out(np.empty(5))


def test_gain_and_fans_match_torch():
    torch = pytest.importorskip("torch")
    for nl, p in [("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p), rel=1e-12)
    for shape in [(5, 7), (4, 3, 2, 5), (3, 6, 4, 4)]:
        assert init._calculate_fan_in_and_fan_out(np.empty(shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


# ---------------------------------------------------------------------------- distributions


def test_uniform_bounds_and_moments(rng):
    t = ng.zeros(*N_BIG)
    assert init.uniform_(t, -2.0, 3.0, rng=rng) is t
    assert t.data.min() >= -2.0 and t.data.max() <= 3.0
    assert t.data.min() < -1.99 and t.data.max() > 2.99  # the whole interval is used
    _check_moments(t.data, 0.5, 5.0 / math.sqrt(12))
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(t, 1.0, 0.0, rng=rng)


def test_normal_moments_and_dtype_kept(rng):
    for dtype in (np.float32, np.float64):
        t = ng.zeros(*N_BIG, dtype=dtype)
        init.normal_(t, 1.5, 0.02, rng=rng)
        assert t.dtype == dtype
        _check_moments(t.data, 1.5, 0.02)


def test_fills_write_in_place_into_the_same_array(rng):
    p = nn.Parameter(np.zeros((3, 4), dtype=np.float32))
    a = p.data
    for fill in (lambda t: init.uniform_(t, rng=rng), lambda t: init.normal_(t, rng=rng),
                 lambda t: init.xavier_uniform_(t, rng=rng), lambda t: init.kaiming_normal_(t, rng=rng)):
        fill(p)
        assert p.data is a and np.any(a != 0)
    init.zeros_(p)
    assert p.data is a and not a.any()
    init.ones_(p)
    np.testing.assert_array_equal(a, 1)
    init.constant_(p, 0.25)
    np.testing.assert_array_equal(a, 0.25)
    raw = np.empty((2, 2))
    init.constant_(raw, 3.0)  # a bare ndarray works too
    np.testing.assert_array_equal(raw, 3.0)


def test_same_rng_seed_gives_same_fill():
    a, b = ng.zeros(5, 6), ng.zeros(5, 6)
    init.kaiming_uniform_(a, rng=np.random.default_rng(7))
    init.kaiming_uniform_(b, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.data, b.data)


def test_xavier_uniform_bound_and_std(rng):
    t = ng.zeros(*N_BIG)
    fan_in, fan_out = N_BIG[1], N_BIG[0]
    init.xavier_uniform_(t, gain=2.0, rng=rng)
    bound = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(t.data).max() <= bound
    _check_moments(t.data, 0.0, bound / math.sqrt(3))


def test_xavier_normal_std(rng):
    t = ng.zeros(*N_BIG)
    init.xavier_normal_(t, rng=rng)
    _check_moments(t.data, 0.0, math.sqrt(2.0 / sum(N_BIG)))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_bound_and_std(mode, rng):
    t = ng.zeros(64, 32, 8, 8)  # a conv weight: fan_in = 32*64, fan_out = 64*64
    fan = 32 * 64 if mode == "fan_in" else 64 * 64
    init.kaiming_uniform_(t, mode=mode, nonlinearity="relu", rng=rng)
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan)
    assert np.abs(t.data).max() <= bound
    _check_moments(t.data, 0.0, bound / math.sqrt(3))


def test_kaiming_normal_std(rng):
    t = ng.zeros(*N_BIG)
    init.kaiming_normal_(t, a=0.2, nonlinearity="leaky_relu", rng=rng)
    _check_moments(t.data, 0.0, math.sqrt(2.0 / 1.04) / math.sqrt(N_BIG[1]))
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_normal_(t, mode="fan_avg")


def test_kaiming_uniform_with_a_sqrt5_is_pytorchs_linear_default(rng):
    """kaiming_uniform_(a=sqrt(5)) works out to U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    t = ng.zeros(*N_BIG)
    init.kaiming_uniform_(t, a=math.sqrt(5), rng=rng)
    bound = 1 / math.sqrt(N_BIG[1])
    assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.99 * bound


def test_init_errors_are_clear():
    with pytest.raises(TypeError, match="floating-point"):
        init.normal_(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="Tensor or ndarray"):
        init.zeros_([1.0, 2.0])
    empty = ng.zeros(0, 3)
    assert init.kaiming_uniform_(empty) is empty  # nothing to fill, no division by a zero fan


# ---------------------------------------------------------------------------- the layers' defaults


def test_linear_and_conv_default_init_distributions(rng):
    lin = nn.Linear(256, 512, rng=rng)
    bound = 1 / math.sqrt(256)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    _check_moments(lin.weight.data, 0.0, bound / math.sqrt(3))
    conv = nn.Conv2d(16, 64, 5, rng=rng)  # fan_in = 16*25 = 400
    assert np.abs(conv.weight.data).max() <= 1 / 20 and np.abs(conv.bias.data).max() <= 1 / 20
    assert np.abs(conv.weight.data).max() > 0.99 / 20
    deconv = nn.ConvTranspose2d(64, 16, 4, rng=rng)  # weight (64, 16, 4, 4): fan_in = 16*16 = 256
    assert np.abs(deconv.weight.data).max() <= 1 / 16 and np.abs(deconv.weight.data).max() > 0.99 / 16


def test_embedding_default_init_is_standard_normal(rng):
    emb = nn.Embedding(1024, 128, rng=rng)
    _check_moments(emb.weight.data, 0.0, 1.0)
