"""The style-based generator's layers (nn/style_layers.py): instance norm and AdaIN against NumPy,
their gradients by finite differences (float64), noise injection and the error messages. The
equalized-lr linear layer of the mapping network and of AdaIN is tested in test_nn_gan_layers.py."""

import numpy as np
import pytest

from nanogen import nn
from nanogen.gradcheck import gradcheck, gradcheck_module
from nanogen.nn.style_layers import AdaIN, NoiseInjection, adain, instance_norm
from nanogen.tensor import Tensor


def adain_reference(x, y_s, y_b, eps=1e-5):
    mu = x.mean(axis=(2, 3), keepdims=True)
    var = x.var(axis=(2, 3), keepdims=True)                     # biased, as instance norm uses
    return y_s[:, :, None, None] * (x - mu) / np.sqrt(var + eps) + y_b[:, :, None, None]


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 1, 7, 7), (3, 2, 1, 6)])
def test_adain_forward_matches_numpy(shape, rng):
    x = rng.standard_normal(shape) * 3 + 1
    N, C = shape[:2]
    y_s, y_b = rng.standard_normal((N, C)), rng.standard_normal((N, C))
    out = adain(Tensor(x), Tensor(y_s), Tensor(y_b))
    np.testing.assert_allclose(out.data, adain_reference(x, y_s, y_b), rtol=1e-10, atol=1e-10)
    assert out.shape == shape and out.dtype == np.float64


def test_adain_imposes_the_styles_statistics(rng):
    x = rng.standard_normal((2, 3, 6, 5)) * 4 - 2                  # any statistics going in
    y_s, y_b = rng.uniform(0.5, 2, (2, 3)), rng.standard_normal((2, 3))
    out = adain(Tensor(x), Tensor(y_s), Tensor(y_b), eps=1e-12).data
    np.testing.assert_allclose(out.mean(axis=(2, 3)), y_b, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=(2, 3)), y_s, rtol=1e-8)


def test_instance_norm_keeps_dtype_and_normalises(rng):
    x = (rng.standard_normal((2, 3, 4, 4)) * 5).astype(np.float32)
    y = instance_norm(Tensor(x)).data
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=(2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(2, 3)), 1, atol=1e-3)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 2, 3, 3)])
def test_adain_grad(shape, rng):
    N, C = shape[:2]
    gradcheck(lambda x, s, b: adain(x, s, b), rng.standard_normal(shape), rng.standard_normal((N, C)),
              rng.standard_normal((N, C)))


def test_adain_module_grad_through_the_affine_map(rng):
    layer = AdaIN(4, 3, rng=rng).double()
    x = Tensor(rng.standard_normal((2, 3, 5, 4)))
    w = Tensor(rng.standard_normal((2, 4)))
    gradcheck_module(layer, lambda m, x, w: m(x, w), x.data, w.data)   # A's weight and bias, dL/dx, dL/dw


def test_adain_module_starts_near_instance_norm(rng):
    layer = AdaIN(4, 3, rng=rng).double()
    layer.affine.weight.data[...] = 0                               # style = the bias alone: y_s = 1, y_b = 0
    x = rng.standard_normal((2, 3, 5, 4))
    out = layer(Tensor(x), Tensor(rng.standard_normal((2, 4)))).data
    np.testing.assert_allclose(out, adain_reference(x, np.ones((2, 3)), np.zeros((2, 3))), atol=1e-12)


def test_adain_rejects_bad_shapes(rng):
    layer = AdaIN(4, 3, rng=rng)
    x = Tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))
    with pytest.raises(ValueError, match=r"AdaIN: w must be \(N, 4\) with N = 2"):
        layer(x, Tensor(np.zeros((3, 4), np.float32)))
    with pytest.raises(ValueError, match="AdaIN: expected 3 channels"):
        layer(Tensor(np.zeros((2, 2, 5, 5), np.float32)), Tensor(np.zeros((2, 4), np.float32)))
    with pytest.raises(ValueError, match="AdaIN: expected images"):
        layer(Tensor(np.zeros((2, 3, 5), np.float32)), Tensor(np.zeros((2, 4), np.float32)))


# ---------------------------------------------------------------------------- noise injection


def test_noise_injection_forward_and_grad(rng):
    layer = NoiseInjection(3).double()
    assert np.all(layer.weight.data == 0)                          # starts deterministic
    layer.weight.data[...] = rng.standard_normal(3)
    x = rng.standard_normal((2, 3, 4, 5))
    noise = rng.standard_normal((2, 1, 4, 5))
    out = layer(Tensor(x), noise).data
    np.testing.assert_allclose(out, x + layer.weight.data[None, :, None, None] * noise, rtol=1e-12)
    gradcheck_module(layer, lambda m, x, n: m(x, n), x, noise)      # dL/db, dL/dx, dL/dnoise


def test_noise_injection_rejects_noise_of_the_wrong_shape(rng):
    layer = NoiseInjection(3)
    x = Tensor(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"noise must be \(N, 1, H, W\) = \(2, 1, 4, 4\)"):
        layer(x, np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(TypeError, match="NoiseInjection"):
        layer(x, np.zeros((2, 1, 4, 4), np.float64))


def test_style_layers_are_modules_with_state():
    layer = AdaIN(4, 3)
    assert set(layer.state_dict()) == {"affine.weight", "affine.bias"}
    assert isinstance(NoiseInjection(2), nn.Module) and set(NoiseInjection(2).state_dict()) == {"weight"}
