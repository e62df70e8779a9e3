"""The progressive-GAN layers (nn/gan_layers.py): forward against NumPy written from the paper's
formulas, the learning-rate multiplier of StyleGAN's mapping network, gradients against finite
differences in float64, and the errors they raise."""

import math

import numpy as np
import pytest

from nanogen import nn
from nanogen.gradcheck import gradcheck, gradcheck_module
from nanogen.nn import functional_call
from nanogen.nn.gan_layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from nanogen.tensor import Tensor


def conv2d_np(x, w, b, padding):
    """Stride-1 cross-correlation with zero padding, the plain way."""
    N, C, H, W = x.shape
    F_, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    OH, OW = H + 2 * padding - KH + 1, W + 2 * padding - KW + 1
    out = np.zeros((N, F_, OH, OW))
    for i in range(OH):
        for j in range(OW):
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", xp[:, :, i : i + KH, j : j + KW], w)
    return out + b[None, :, None, None]


def test_equalized_linear_scales_its_unit_normal_weights_at_run_time(rng):
    m = EqualizedLinear(5, 3, dtype=np.float64, rng=rng)
    assert m.scale == pytest.approx(math.sqrt(2) / math.sqrt(5))
    assert np.array_equal(m.bias.data, np.zeros(3))
    m.bias.data[...] = rng.standard_normal(3)
    x = rng.standard_normal((4, 5))
    assert np.allclose(m(Tensor(x)).data, x @ (m.weight.data * m.scale).T + m.bias.data)
    big = EqualizedLinear(200, 300, rng=rng)                  # stored weights ~ N(0, 1), whatever the fan-in
    assert abs(big.weight.data.std() - 1) < 0.02


def test_equalized_linear_lr_mul_keeps_the_function_at_init(rng):
    a = EqualizedLinear(4, 3, dtype=np.float64, rng=np.random.default_rng(1))
    b = EqualizedLinear(4, 3, lr_mul=0.01, dtype=np.float64, rng=np.random.default_rng(1))
    x = Tensor(rng.standard_normal((2, 4)))
    assert np.allclose(a(x).data, b(x).data)
    assert np.allclose(b.weight.data, a.weight.data * 100)     # stored 1/lr_mul larger: moves lr_mul times slower


def test_equalized_linear_gain_and_lr_mul_scale_weight_and_bias(rng):
    m = EqualizedLinear(5, 3, gain=2.0, lr_mul=0.01, dtype=np.float64, rng=rng)
    assert 50 < np.std(m.weight.data) < 200                         # stored as N(0, 1) / lr_mul
    m.bias.data[...] = rng.standard_normal(3)
    x = rng.standard_normal((4, 5))
    w_used = m.weight.data * 2.0 * 0.01 / math.sqrt(5)
    np.testing.assert_allclose(m(Tensor(x)).data, x @ w_used.T + 0.01 * m.bias.data, rtol=1e-12)
    gradcheck_module(m, lambda m, x: m(x), x)


def test_equalized_linear_learns_lr_mul_times_slower(rng):
    """The point of lr_mul: the same Adam step moves the used weight lr_mul times as far."""
    from nanogen.optim import Adam

    moves = []
    for lr_mul in (1.0, 0.1):
        m = EqualizedLinear(4, 2, gain=1.0, lr_mul=lr_mul, dtype=np.float64, rng=np.random.default_rng(0))
        before = m.weight.data * lr_mul / 2                          # the used weight: c = lr_mul / sqrt(4)
        opt = Adam(m.parameters(), lr=1e-3)
        m(Tensor(rng.standard_normal((8, 4)))).sum().backward()
        opt.step()
        moves.append(np.abs(m.weight.data * lr_mul / 2 - before).max())
    np.testing.assert_allclose(moves[1] / moves[0], 0.1, rtol=1e-6)


@pytest.mark.parametrize("lr_mul", [1.0, 0.1])
def test_equalized_linear_grad(lr_mul, rng):
    m = EqualizedLinear(4, 3, lr_mul=lr_mul, dtype=np.float64, rng=rng)
    x = rng.standard_normal((2, 4))
    b = rng.standard_normal(3)
    gradcheck(lambda x, w, b: functional_call(m, {"weight": w, "bias": b}, x), x, m.weight.data.copy(), b)


@pytest.mark.parametrize("k, padding, hw", [(3, 1, (5, 4)), (1, 0, (3, 3)), (2, 0, (4, 5))])
def test_equalized_conv2d_forward_matches_numpy(k, padding, hw, rng):
    m = EqualizedConv2d(3, 2, k, padding=padding, dtype=np.float64, rng=rng)
    m.bias.data[...] = rng.standard_normal(2)
    x = rng.standard_normal((2, 3, *hw))
    assert m.scale == pytest.approx(math.sqrt(2) / math.sqrt(3 * k * k))
    want = conv2d_np(x, m.weight.data * m.scale, m.bias.data, padding)
    got = m(Tensor(x)).data
    assert got.shape == want.shape and np.allclose(got, want)


def test_equalized_conv2d_grad(rng):
    m = EqualizedConv2d(2, 3, 3, padding=1, dtype=np.float64, rng=rng)
    x = rng.standard_normal((2, 2, 4, 3))
    b = rng.standard_normal(3)
    gradcheck(lambda x, w, b: functional_call(m, {"weight": w, "bias": b}, x), x, m.weight.data.copy(), b)


@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 3, 2), (1, 1, 2, 2)])
def test_pixel_norm_forward_and_grad(shape, rng):
    x = rng.standard_normal(shape) * 3
    y = PixelNorm()(Tensor(x)).data
    assert np.allclose(y, x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8))
    assert np.allclose((y ** 2).mean(axis=1), 1.0, atol=1e-6)          # every feature vector: unit mean square
    gradcheck(lambda x: PixelNorm()(x), x)


def minibatch_std_np(x, G, eps=1e-8):
    N, C, H, W = x.shape
    M = N // G
    out = np.empty((N, 1, H, W))
    for m in range(M):
        members = [n for n in range(N) if n % M == m]                   # group m: images m, m + M, ...
        s = np.sqrt(x[members].var(axis=0) + eps).mean()
        out[members] = s
    return np.concatenate([x, out], axis=1)


@pytest.mark.parametrize("N, G", [(4, 4), (8, 4), (6, 2), (3, 3), (2, 4)])
def test_minibatch_stddev_forward_and_grad(N, G, rng):
    x = rng.standard_normal((N, 3, 2, 3))
    m = MinibatchStdDev(group_size=G)
    y = m(Tensor(x)).data
    assert y.shape == (N, 4, 2, 3)
    assert np.allclose(y, minibatch_std_np(x, min(G, N)))
    gradcheck(lambda x: m(x), x)


def test_minibatch_stddev_sees_a_collapsed_batch(rng):
    """The point of the layer: a batch of copies gets (almost) 0, a varied batch does not."""
    one = np.repeat(rng.standard_normal((1, 2, 3, 3)), 4, axis=0)
    varied = rng.standard_normal((4, 2, 3, 3))
    m = MinibatchStdDev(group_size=None)
    assert m(Tensor(one)).data[:, -1].max() < 1e-3
    assert m(Tensor(varied)).data[:, -1].min() > 0.5


def test_gan_layers_errors_name_the_problem(rng):
    with pytest.raises(ValueError, match="divisible by 4"):
        MinibatchStdDev(4)(Tensor(rng.standard_normal((6, 1, 2, 2))))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        MinibatchStdDev()(Tensor(rng.standard_normal((4, 3))))
    with pytest.raises(ValueError, match="axis 1"):
        PixelNorm()(Tensor(rng.standard_normal(3)))
    with pytest.raises(ValueError, match="expects 2"):
        EqualizedConv2d(2, 3, 3)(Tensor(rng.standard_normal((1, 3, 4, 4)).astype(np.float32)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        EqualizedLinear(4, 3)(Tensor(rng.standard_normal((2, 5)).astype(np.float32)))
    with pytest.raises(TypeError, match="float64"):
        EqualizedLinear(4, 3)(Tensor(rng.standard_normal((2, 4))))
    with pytest.raises(ValueError, match="lr_mul and gain must be > 0"):
        EqualizedLinear(3, 2, lr_mul=0)
    with pytest.raises(ValueError, match="group_size"):
        MinibatchStdDev(0)


def test_gan_layers_are_exported_and_keep_state_dict_names(rng):
    assert nn.EqualizedConv2d is EqualizedConv2d and nn.PixelNorm is PixelNorm
    m = nn.Sequential(EqualizedConv2d(1, 2, 3, padding=1, rng=rng), PixelNorm(), MinibatchStdDev(),
                      EqualizedLinear(3, 1, rng=rng))
    assert sorted(m.state_dict()) == ["0.bias", "0.weight", "3.bias", "3.weight"]
