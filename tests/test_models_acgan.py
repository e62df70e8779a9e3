"""AC-GAN (models/acgan.py): both objectives' gradients on a tiny float64 instance, the losses
against their formulas, the steps touching only their own network, a learning test of seconds
(G learns to draw the class it is asked for), the recipe, and the per-class FCD of gan_eval."""

import numpy as np
import pytest
from test_models_classifier import tiny_classifier

import nanogen.models.acgan as acgan
import nanogen.models.gan_eval as gan_eval
from nanogen.gradcheck import gradcheck_module
from nanogen.models.acgan_recipes import ACGAN
from nanogen.models.dcgan import DCGANGenerator
from nanogen.optim import Adam
from nanogen.tensor import Tensor

K = 3


def tiny_acgan(rng, spectral_norm=False):
    G = DCGANGenerator(3, base_channels=2, n_classes=K, rng=rng)
    D = acgan.ACGANDiscriminator(base_channels=2, n_classes=K, spectral_norm=spectral_norm, rng=rng)
    return G.double(), D.double(), 3


@pytest.mark.parametrize("loss, real_label, fake_class_loss", [("bce", 1.0, True), ("bce", 0.9, False),
                                                             ("hinge", 1.0, True)])
def test_acgan_discriminator_loss_grad(loss, real_label, fake_class_loss, rng):
    G, D, Z = tiny_acgan(rng)
    cfg = acgan.ACGANConfig(loss=loss, real_label=real_label, aux_weight=0.7, fake_class_loss=fake_class_loss)
    y_real, y_fake = np.array([0, 2, 1, 2]), np.array([1, 1, 0, 2])
    x_real = Tensor(rng.uniform(-1, 1, (4, 1, 28, 28)))
    x_fake = Tensor(G(Tensor(rng.standard_normal((4, Z))), y_fake).data)          # a constant for the D step

    def loss_d(D):
        (lr, kr), (lf, kf) = D(x_real), D(x_fake)
        return acgan.auxiliary_discriminator_loss(lr, kr, lf, kf, y_real, y_fake, cfg)[0]

    assert D.training                                                              # batch norm on batch statistics
    gradcheck_module(D, loss_d, max_elements=5)


@pytest.mark.parametrize("loss", ["bce", "lsgan"])
def test_acgan_generator_loss_grad_through_frozen_discriminator(loss, rng):
    G, D, Z = tiny_acgan(rng)
    cfg = acgan.ACGANConfig(loss=loss, aux_weight=2.0)
    y = np.array([0, 2, 1, 1])
    z = Tensor(rng.standard_normal((4, Z)))                                        # noise fixed
    D.requires_grad_(False)

    gradcheck_module(G, lambda G: acgan.auxiliary_generator_loss(*D(G(z, y)), y, cfg)[0], max_elements=5)
    assert all(p.grad is None for p in D.parameters())


def test_acgan_losses_match_their_formulas(rng):
    lr, lf = rng.standard_normal((5, 1)), rng.standard_normal((5, 1))
    kr, kf = rng.standard_normal((5, K)), rng.standard_normal((5, K))
    yr, yf = rng.integers(0, K, 5), rng.integers(0, K, 5)
    softplus = lambda v: np.logaddexp(0, v)                                         # noqa: E731

    def ce(k, y):
        return np.mean(np.log(np.exp(k).sum(1)) - k[np.arange(len(y)), y])

    cfg = acgan.ACGANConfig(aux_weight=0.5, fake_class_loss=True)
    loss, source, classes = acgan.auxiliary_discriminator_loss(Tensor(lr), Tensor(kr), Tensor(lf), Tensor(kf),
                                                                yr, yf, cfg)
    assert np.isclose(source.item(), np.mean(softplus(-lr)) + np.mean(softplus(lf)))   # -log σ(l), -log(1 - σ(l))
    assert np.isclose(classes.item(), ce(kr, yr) + ce(kf, yf))
    assert np.isclose(loss.item(), source.item() + 0.5 * classes.item())
    real_only = acgan.ACGANConfig(aux_weight=0.5, fake_class_loss=False)
    _, _, classes = acgan.auxiliary_discriminator_loss(Tensor(lr), Tensor(kr), Tensor(lf), Tensor(kf), yr, yf, real_only)
    assert np.isclose(classes.item(), ce(kr, yr))
    loss, source, classes = acgan.auxiliary_generator_loss(Tensor(lf), Tensor(kf), yf, cfg)
    assert np.isclose(source.item(), np.mean(softplus(-lf)))                          # non-saturating
    assert np.isclose(classes.item(), ce(kf, yf))
    assert np.isclose(loss.item(), source.item() + 0.5 * classes.item())


def test_acgan_discriminator_predicts_the_class_without_being_told(rng):
    _, D, _ = tiny_acgan(rng)
    logits, classes = D(Tensor(rng.uniform(-1, 1, (2, 1, 28, 28))))
    assert logits.shape == (2, 1) and classes.shape == (2, K)
    with pytest.raises(ValueError, match="not shown the label"):
        D(Tensor(rng.uniform(-1, 1, (2, 1, 28, 28))), np.array([0, 1]))
    with pytest.raises(ValueError, match="aux_weight"):
        acgan.ACGANConfig(aux_weight=-1.0)


def test_acgan_steps_touch_only_their_own_network(rng):
    G, D, Z = tiny_acgan(rng)
    G.float(), D.float()
    cfg = acgan.ACGANConfig(latent_dim=Z)
    opt_g, opt_d = Adam(G.parameters(), lr=1e-2), Adam(D.parameters(), lr=1e-2)
    x = Tensor(rng.uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32))
    y = np.array([0, 1, 2, 0])
    x_fake = G(Tensor(rng.standard_normal((4, Z), dtype=np.float32)), y)
    g0, d0 = [p.data.copy() for p in G.parameters()], [p.data.copy() for p in D.parameters()]
    stats = acgan.d_step(D, opt_d, x, x_fake.detach(), y, y, cfg)
    assert all(np.array_equal(a, p.data) for a, p in zip(g0, G.parameters()))
    assert all(p.grad is None for p in G.parameters())
    d1 = [p.data.copy() for p in D.parameters()]
    assert not all(np.array_equal(a, b) for a, b in zip(d0, d1))
    assert np.isclose(stats["loss_d"], stats["loss_d_source"] + stats["loss_d_class"])
    stats = acgan.g_step(G, D, opt_g, x_fake, y, cfg)
    assert all(np.array_equal(a, p.data) for a, p in zip(d1, D.parameters()))
    assert all(p.requires_grad for p in D.parameters())
    assert not all(np.array_equal(a, p.data) for a, p in zip(g0, G.parameters()))
    assert {"loss_g_class", "grad_norm_g"} <= set(stats)


def two_class_images(rng, y):
    """Class 0: a bright top half; class 1: a bright bottom half; noise on both. (N, 1, 28, 28) in [-1, 1]."""
    x = np.full((len(y), 1, 28, 28), -1.0, dtype=np.float32)
    x[y == 0, :, :14] = 1.0
    x[y == 1, :, 14:] = 1.0
    return np.clip(x + 0.3 * rng.standard_normal(x.shape).astype(np.float32), -1, 1)


def test_acgan_learns_to_draw_the_requested_class(rng):
    """Two easy classes: after 100 steps, D's class head tells real images apart and G's samples,
    asked for a class, have their bright half where that class has it. Measured over seeds 0-4:
    all samples right (0.83-1.0 with fake_class_loss=True); with aux_weight 0 (no class signal
    for G) 0.5, a coin toss."""
    cfg = acgan.ACGANConfig(latent_dim=4, n_classes=2)
    G = DCGANGenerator(4, base_channels=4, n_classes=2, rng=rng)
    D = acgan.ACGANDiscriminator(base_channels=4, n_classes=2, rng=rng)
    opt_g, opt_d = Adam(G.parameters(), lr=5e-3, betas=(0.5, 0.999)), Adam(D.parameters(), lr=5e-3, betas=(0.5, 0.999))
    for _ in range(100):
        y = rng.integers(0, 2, 16)
        z = Tensor(rng.standard_normal((16, 4), dtype=np.float32))
        stats = acgan.train_step(G, D, opt_g, opt_d, Tensor(two_class_images(rng, y)), y, z, cfg)
    assert stats["d_class_acc_real"] >= 0.9, stats
    y = np.arange(200) % 2
    x = G(Tensor(rng.standard_normal((200, 4), dtype=np.float32)), y).data
    top_brighter = x[:, 0, :14].mean(axis=(1, 2)) > x[:, 0, 14:].mean(axis=(1, 2))
    accuracy = np.mean(top_brighter == (y == 0))
    assert accuracy >= 0.75, accuracy


def test_acgan_recipe_step_pictures_eval(tmp_path, rng):
    config = {"model": "acgan", "seed": 0, "latent_dim": 3, "base_channels": 2, "lr": 1e-3, "aux_weight": 0.5}
    recipe = ACGAN(config, rng)
    assert recipe.cfg.aux_weight == 0.5 and recipe.conditional
    x01 = rng.random((10, 1, 28, 28)).astype(np.float32)
    y = np.arange(10)
    x, labels = recipe.training_arrays(x01, y)
    stats = recipe.train_step((Tensor(x), Tensor(labels)), rng)
    assert {"loss_d_class", "loss_g_class", "d_class_acc_real", "d_class_acc_fake"} <= set(stats)
    assert all(np.isfinite(v) for v in stats.values())
    recipe.D.eval()                                 # as after each epoch (train.py)
    held = recipe.held_out((x01, y), rng)         # D sees the images only
    recipe.D.train()
    assert set(held) == {"test_d_real", "test_d_class_acc"} and 0 <= held["test_d_real"] <= 1
    assert held["test_d_class_acc"] == np.mean(recipe.classify(x01) == y)
    recipe.on_epoch_end(str(tmp_path), 1, (x01, y))
    assert (tmp_path / "progression.png").exists()
    real = np.concatenate([x01] * 8)
    out = gan_eval.evaluate_generator(recipe, (real, np.tile(y, 8)), rng, n=60, classifier=tiny_classifier(rng))
    assert 0 <= out["label_accuracy"] <= 1 and "fcd_class_9" in out and "fcd_within_class_floor" in out
    assert np.array_equal(recipe.classify(x01[:3]), recipe.classify(x01[:3]))
    assert recipe.classify(x01).shape == (10,)


def test_per_class_fcd_sees_a_shifted_class(rng):
    f_real = rng.standard_normal((400, 3))
    y_real = np.arange(400) % 2
    f_fake = rng.standard_normal((200, 3))
    y_fake = np.arange(200) % 2
    f_fake[y_fake == 1] += 3.0                                    # class 1 drawn in the wrong place
    out = gan_eval.per_class_fcd(f_real, y_real, f_fake, y_fake)
    assert out["fcd_class_0"] < 0.3 < 8 < out["fcd_class_1"]
    assert np.isclose(out["fcd_within_class_mean"], (out["fcd_class_0"] + out["fcd_class_1"]) / 2)
    assert out["fcd_within_class_floor"] < 0.3
