"""Super-resolution (SRGAN): downsampling and the bicubic baseline against their definitions, the
generator's shapes, the gradients of G's and D's whole objectives (float64 finite differences,
content loss through a frozen classifier) and a learning test of seconds. The CLI end to end:
test_models_img2img.py."""

import math

import numpy as np
import pytest

import nanogen.models.superres as sr
from nanogen.gradcheck import gradcheck
from nanogen.models.classifier import Classifier, ClassifierConfig
from nanogen.models.gan import discriminator_loss
from nanogen.optim import Adam
from nanogen.tensor import Tensor

from test_models_pix2pix import as_function_of_params, digits  # noqa: E402  (tests/ is on sys.path)


def tiny(rng, scale=4, adversarial=True, content_weight=0.5):
    cfg = sr.SRConfig(scale=scale, channels=2, n_res_blocks=1, content_weight=content_weight,
                      adv_weight=0.3 if adversarial else 0.0, adversarial=adversarial)
    G = sr.SRGenerator(scale, channels=2, n_res_blocks=1, rng=rng).double()
    D = sr.SRDiscriminator(channels=2, hidden_dim=3, rng=rng).double()
    clf = Classifier(ClassifierConfig(channels=(2, 3), hidden_dim=4), rng=rng).double().eval()
    clf.requires_grad_(False)
    return G, D, sr.classifier_content_features(clf), cfg


# ---------------------------------------------------------------------------- low resolution and the baselines


def test_downsample_is_the_block_mean(rng):
    x = rng.uniform(0, 1, (2, 1, 28, 28))
    lr = sr.downsample(x, 4)
    assert lr.shape == (2, 1, 7, 7)
    assert lr[1, 0, 2, 3] == pytest.approx(x[1, 0, 8:12, 12:16].mean())
    with pytest.raises(ValueError, match="divisible by the scale"):
        sr.downsample(x[:, :, :27, :27], 4)


def test_bicubic_matches_its_definition(rng):
    """PyTorch's bicubic (align_corners=False, a = -0.75), written out for one output pixel."""
    x = rng.uniform(0, 1, (1, 1, 5, 6))
    r = 4
    y = sr.bicubic_upsample(x, r)
    assert y.shape == (1, 1, 20, 24)

    def w(t, a=-0.75):
        t = abs(t)
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1 if t <= 1 else (a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
                                                                        if t < 2 else 0.0)

    for oi, oj in [(0, 0), (9, 13), (19, 23), (2, 21)]:
        si, sj = (oi + 0.5) / r - 0.5, (oj + 0.5) / r - 0.5
        total = 0.0
        for ki in range(math.floor(si) - 1, math.floor(si) + 3):
            for kj in range(math.floor(sj) - 1, math.floor(sj) + 3):
                total += w(si - ki) * w(sj - kj) * x[0, 0, min(max(ki, 0), 4), min(max(kj, 0), 5)]
        assert y[0, 0, oi, oj] == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(sr.bicubic_upsample(np.full((1, 1, 3, 3), 0.7), 2), 0.7)   # constants stay
    assert sr.bicubic_upsample(x.astype(np.float32), 2).dtype == np.float32


# ---------------------------------------------------------------------------- the networks


@pytest.mark.parametrize("scale", [2, 4])
def test_generator_shapes(scale, rng):
    G, D, _, _ = tiny(rng, scale)
    y = G(Tensor(rng.uniform(-1, 1, (3, 1, 28 // scale, 28 // scale))))
    assert y.shape == (3, 1, 28, 28) and np.all(np.abs(y.data) <= 1)
    assert sum(isinstance(m, sr.nn.PixelShuffle) for m in G.modules()) == int(math.log2(scale))
    assert D(y).shape == (3, 1)
    with pytest.raises(ValueError, match="scale must be one of"):
        sr.SRConfig(scale=3)


# ---------------------------------------------------------------------------- gradients of the whole objectives


@pytest.mark.parametrize("adversarial", [True, False])
def test_srgan_generator_loss_grad(adversarial, rng):
    G, D, phi, cfg = tiny(rng, adversarial=adversarial, content_weight=0.5 if adversarial else 0.0)
    hr = digits(rng, 3) * 2 - 1
    lr = Tensor(sr.downsample(hr, 4))
    hr = Tensor(hr)
    D.requires_grad_(False)
    f, params = as_function_of_params(G, lambda: sr.generator_objective(D, phi, G(lr), hr, cfg)["loss"])
    gradcheck(f, *params, max_elements=4)
    assert all(p.grad is None for p in D.parameters())


def test_srgan_discriminator_loss_grad(rng):
    G, D, _, cfg = tiny(rng)
    hr = Tensor(rng.uniform(-1, 1, (3, 1, 28, 28)))
    fake = Tensor(G(Tensor(rng.uniform(-1, 1, (3, 1, 7, 7)))).data)
    f, params = as_function_of_params(D, lambda: discriminator_loss(D(hr), D(fake), cfg.loss, cfg.real_label))
    gradcheck(f, *params, max_elements=4)


def test_content_loss_is_zero_on_the_target_and_grows_with_difference(rng):
    _, _, phi, _ = tiny(rng)
    hr = Tensor(digits(rng, 2) * 2 - 1)
    assert sr.content_loss(phi, hr, hr).item() == 0.0
    near = Tensor(hr.data + 0.05 * rng.standard_normal(hr.shape))
    far = Tensor(hr.data + 0.5 * rng.standard_normal(hr.shape))
    assert 0 < sr.content_loss(phi, near, hr).item() < sr.content_loss(phi, far, hr).item()


# ---------------------------------------------------------------------------- learning


def test_superres_mse_falls(rng):
    """60 steps on 16 fixed strokes (x2): the MSE must fall well below its start."""
    cfg = sr.SRConfig(scale=2, channels=8, n_res_blocks=1, content_weight=0.0, adv_weight=0.0, adversarial=False,
                      lr=3e-3, betas=(0.9, 0.999))
    G = sr.SRGenerator(2, 8, 1, rng=rng)
    D = sr.SRDiscriminator(2, 3, rng=rng)
    hr01 = digits(rng, 16).astype(np.float32)
    lr01 = sr.downsample(hr01, 2)
    opt = Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    mse = [sr.train_step(G, D, opt, None, None, Tensor(lr01 * 2 - 1), Tensor(hr01 * 2 - 1), cfg)["mse"]
           for _ in range(60)]
    assert np.mean(mse[-5:]) < 0.3 * np.mean(mse[:3]), mse
    out = sr.super_resolve(G, lr01)
    assert out.shape == hr01.shape and np.mean((out - hr01) ** 2) < 0.3 * 0.25 * np.mean(mse[:3])   # [0, 1] units
