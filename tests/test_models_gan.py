"""GANs: the losses' gradients (float64 finite differences, batch norm in train mode), the two
steps touching only their own network, the non-saturating loss, spectral normalisation, the toy
ring GAN covering its modes, and one `nanogen train gan` run end to end."""

import json
import os
from dataclasses import replace

import numpy as np
import pytest

import nanogen.models.dcgan as dcgan
import nanogen.models.gan as gan
import nanogen.models.gan_recipes as gan_recipes
import nanogen.models.gan_toy as gan_toy
from nanogen import functional as F
from nanogen import nn
from nanogen.gradcheck import GradcheckError, gradcheck, gradcheck_module
from nanogen.optim import Adam
from nanogen.tensor import Tensor

# ---------------------------------------------------------------------------- helpers


def tiny_gan(kind, rng, spectral_norm=False, n_classes=0):
    """(G, D, Z) for kind 'gan' (MLP on 4x4 'images') or 'dcgan' (base_channels 2, 28x28), float64."""
    if kind == "gan":
        G = gan.MLPGenerator(3, (5, 6), image_shape=(1, 2, 2), rng=rng)
        D = gan.MLPDiscriminator((6, 5), image_shape=(1, 2, 2), spectral_norm=spectral_norm, dropout=0.0, rng=rng)
    else:
        G = dcgan.DCGANGenerator(3, base_channels=2, n_classes=n_classes, rng=rng)
        D = dcgan.DCGANDiscriminator(base_channels=2, n_classes=n_classes, spectral_norm=spectral_norm, rng=rng)
    return G.double(), D.double(), 3


def image_shape(kind):
    return (1, 2, 2) if kind == "gan" else (1, 28, 28)


# ---------------------------------------------------------------------------- gradients of the two losses


@pytest.mark.parametrize("kind", ["gan", "dcgan"])
@pytest.mark.parametrize("loss, real_label", [("bce", 1.0), ("bce", 0.9), ("hinge", 1.0), ("lsgan", 0.9)])
def test_gan_discriminator_loss_grad(kind, loss, real_label, rng):
    G, D, Z = tiny_gan(kind, rng)
    N = 4
    x_real = Tensor(rng.uniform(-1, 1, (N, *image_shape(kind))))
    x_fake = Tensor(G(Tensor(rng.standard_normal((N, Z)))).data)      # a constant for the D step
    assert D.training                                                  # batch norm on batch statistics
    gradcheck_module(D, lambda D: gan.discriminator_loss(D(x_real), D(x_fake), loss=loss, real_label=real_label),
                     max_elements=6)


@pytest.mark.parametrize("kind", ["gan", "dcgan"])
@pytest.mark.parametrize("loss", ["bce", "hinge", "lsgan"])
def test_gan_generator_loss_grad_through_frozen_discriminator(kind, loss, rng):
    G, D, Z = tiny_gan(kind, rng)
    z = Tensor(rng.standard_normal((4, Z)))                            # noise fixed
    D.requires_grad_(False)
    gradcheck_module(G, lambda G: gan.generator_loss(D(G(z)), loss=loss), max_elements=6)
    assert all(p.grad is None for p in D.parameters())                # frozen: D got nothing


def test_cgan_losses_grad(rng):
    G, D, Z = tiny_gan("dcgan", rng, n_classes=3)
    y = np.array([0, 2, 1, 2])
    z = Tensor(rng.standard_normal((4, Z)))
    x_real = Tensor(rng.uniform(-1, 1, (4, 1, 28, 28)))
    x_fake = Tensor(G(z, y).data)
    gradcheck_module(D, lambda D: gan.discriminator_loss(D(x_real, y), D(x_fake, y)), max_elements=4)
    D.requires_grad_(False)
    gradcheck_module(G, lambda G: gan.generator_loss(D(G(z, y), y)), max_elements=4)


def test_spectral_norm_discriminator_loss_grad(rng):
    """With u, v fixed (eval mode of the SpectralNorm wrappers), W / σ(W) is a fixed function of W,
    and its gradient -- through σ as well -- must match finite differences."""
    G, D, Z = tiny_gan("dcgan", rng, spectral_norm=True)
    for m in D.modules():
        if isinstance(m, gan.SpectralNorm):
            m.eval()
    x_real = Tensor(rng.uniform(-1, 1, (3, 1, 28, 28)))
    x_fake = Tensor(G(Tensor(rng.standard_normal((3, Z)))).data)
    gradcheck_module(D, lambda D: gan.discriminator_loss(D(x_real), D(x_fake), loss="hinge"), max_elements=6)


# ---------------------------------------------------------------------------- the two steps


def _snapshot(module):
    return [p.data.copy() for p in module.parameters()]


def _same(before, module):
    return all(np.array_equal(a, p.data) for a, p in zip(before, module.parameters()))


@pytest.mark.parametrize("kind", ["gan", "dcgan"])
def test_d_step_leaves_generator_untouched_and_g_step_leaves_discriminator_untouched(kind, rng):
    G, D, Z = tiny_gan(kind, rng)
    G.float(), D.float()
    cfg = gan.GANConfig(latent_dim=Z)
    opt_g, opt_d = Adam(G.parameters(), lr=1e-2), Adam(D.parameters(), lr=1e-2)
    x = Tensor(rng.uniform(-1, 1, (4, *image_shape(kind))).astype(np.float32))
    z = Tensor(rng.standard_normal((4, Z), dtype=np.float32))
    x_fake = G(z)                                          # with graph, as in gan.train_step
    g0, d0 = _snapshot(G), _snapshot(D)
    gan.d_step(D, opt_d, x, x_fake.detach(), cfg)
    assert _same(g0, G), "the D step changed a generator parameter"
    assert all(p.grad is None for p in G.parameters()), "the D step sent a gradient into G"
    assert not _same(d0, D), "the D step did not update D"
    d1 = _snapshot(D)
    d_grads = [p.grad.copy() for p in D.parameters()]     # what the D step left behind
    gan.g_step(G, D, opt_g, x_fake, cfg)
    assert _same(d1, D), "the G step changed a discriminator parameter"
    assert all(np.array_equal(g, p.grad) for g, p in zip(d_grads, D.parameters())), \
        "the G step added gradient to D's parameters"
    assert all(p.requires_grad for p in D.parameters()), "D must be unfrozen after the G step"
    assert not _same(g0, G), "the G step did not update G"


def test_d_skip_below_skips_the_update(rng):
    G, D, Z = tiny_gan("gan", rng)
    G.float(), D.float()
    opt_d = Adam(D.parameters(), lr=1e-2)
    x = Tensor(rng.uniform(-1, 1, (4, 1, 2, 2)).astype(np.float32))
    fake = Tensor(G(Tensor(rng.standard_normal((4, Z), dtype=np.float32))).data)
    d0 = _snapshot(D)
    stats = gan.d_step(D, opt_d, x, fake, gan.GANConfig(d_skip_below=100.0))   # loss_d ~1.4 < 100: skip
    assert stats["skipped_d"] == 1.0 and _same(d0, D)
    stats = gan.d_step(D, opt_d, x, fake, gan.GANConfig(d_skip_below=1e-3))     # loss_d > 1e-3: update
    assert stats["skipped_d"] == 0.0 and not _same(d0, D)


# ---------------------------------------------------------------------------- the losses themselves


def test_losses_match_their_formulas(rng):
    lr, lf = rng.standard_normal((5, 1)), rng.standard_normal((5, 1))
    s = lambda v: 1 / (1 + np.exp(-v))                    # noqa: E731
    tr, tf = Tensor(lr), Tensor(lf)
    bce = -np.mean(0.9 * np.log(s(lr)) + 0.1 * np.log(1 - s(lr))) - np.mean(np.log(1 - s(lf)))
    assert np.isclose(gan.discriminator_loss(tr, tf, "bce", 0.9).item(), bce)
    assert np.isclose(gan.discriminator_loss(tr, tf, "hinge").item(),
                      np.mean(np.maximum(0, 1 - lr)) + np.mean(np.maximum(0, 1 + lf)))
    assert np.isclose(gan.discriminator_loss(tr, tf, "lsgan").item(), 0.5 * np.mean((lr - 1) ** 2) + 0.5 * np.mean(lf**2))
    assert np.isclose(gan.generator_loss(tf, "bce").item(), -np.mean(np.log(s(lf))))
    assert np.isclose(gan.generator_loss(tf, "hinge").item(), -np.mean(lf))
    assert np.isclose(gan.generator_loss(tf, "lsgan").item(), 0.5 * np.mean((lf - 1) ** 2))
    assert np.isclose(gan.minimax_generator_loss(tf).item(), np.mean(np.log(1 - s(lf))))


def test_non_saturating_loss_keeps_its_gradient_when_d_rejects_fakes():
    """D(G(z)) ~ 0 (logits -8): log(1 - D) is flat there, -log D is not (the point of gan.py)."""
    logits = np.full((4, 1), -8.0)
    grads = {}
    for name, fn in [("minimax", gan.minimax_generator_loss), ("non_saturating", gan.generator_loss)]:
        t = Tensor(logits, requires_grad=True)
        fn(t).backward()
        grads[name] = np.abs(t.grad).sum()
    assert grads["minimax"] < 1e-3                        # σ(-8) = 3.4e-4
    assert grads["non_saturating"] > 0.99                 # 1 - σ(-8)
    assert gan.minimax_generator_loss(Tensor(logits)).item() < 0   # minimised towards log(1 - 1) = -inf


def test_hinge_with_label_smoothing_is_refused():
    with pytest.raises(ValueError, match="label smoothing"):
        gan.GANConfig(loss="hinge", real_label=0.9)
    with pytest.raises(ValueError, match="loss must be one of"):
        gan.GANConfig(loss="wasserstein")


# ---------------------------------------------------------------------------- spectral normalisation


def test_spectral_norm_estimates_the_largest_singular_value(rng):
    layer = nn.Conv2d(3, 5, 3, rng=rng).double()
    sn = gan.SpectralNorm(layer, rng=rng)
    sigma = np.linalg.svd(layer.weight.data.reshape(5, -1), compute_uv=False)[0]
    assert np.isclose(sn.sigma().item(), sigma, rtol=1e-4)
    x = Tensor(rng.standard_normal((2, 3, 6, 6)))
    sn(x)                                                  # training mode: one more power iteration
    w_sn = layer.weight.data / sn.sigma().item()
    assert np.isclose(np.linalg.svd(w_sn.reshape(5, -1), compute_uv=False)[0], 1.0, rtol=1e-4)


def test_spectral_norm_gradient_flows_through_sigma(rng):
    """Against a version with σ detached (a constant): that one must fail the check, ours pass."""
    layer = nn.Linear(4, 3, rng=rng).double()
    sn = gan.SpectralNorm(layer, rng=rng).eval()
    x = Tensor(rng.standard_normal((5, 4)))

    def sigma_detached(w):
        s = float((w.data * np.outer(sn.u.data, sn.v.data)).sum())
        return F.linear(x, w / s, layer.bias)

    gradcheck_module(sn, lambda sn: sn(x))
    with pytest.raises(GradcheckError):
        gradcheck(sigma_detached, layer.weight.data.copy())


# ---------------------------------------------------------------------------- toy ring: modes covered


def test_toy_ring_gan_covers_at_least_7_of_8_modes():
    # measured after 1200 steps (3-6 s on 2 cores): seed 0 reaches 8 of 8 modes with 50% high-quality
    # samples; seeds 0-9 all reach 8 of 8, with 26-56% high-quality samples
    cfg = replace(gan_toy.COVERING, steps=1200)
    result = gan_toy.train_toy_gan(cfg, np.random.default_rng(0))
    assert result["steps"] == 1200
    assert result["coverage"]["modes"] >= 7, result["coverage"]
    assert result["coverage"]["high_quality"] > 0.15, result["coverage"]


def test_toy_coverage_counts_a_collapsed_generator_as_one_mode(rng):
    centres = gan_toy.toy.mode_centres("ring8")
    collapsed = centres[3] + 0.01 * rng.standard_normal((500, 2))
    cov = gan_toy.coverage(collapsed, "ring8")
    assert cov["modes"] == 1 and cov["modes_1pct"] == 1 and cov["high_quality"] > 0.9
    spread = np.concatenate([collapsed, centres[:5]])      # one sample on each of 5 modes: reached, not covered
    cov = gan_toy.coverage(spread, "ring8")
    assert cov["modes"] == 5 and cov["modes_1pct"] == 1


# ---------------------------------------------------------------------------- end to end


def test_train_gan_cli_writes_progression_and_diagnostics(tmp_path):
    from nanogen.cli import main

    try:
        from nanogen.data import mnist

        mnist("train")
    except Exception as e:  # no MNIST on this machine: nothing to train on
        pytest.skip(f"MNIST not available: {e}")
    out = str(tmp_path / "run")
    assert main(["train", "gan", "--epochs", "2", "--subset", "128", "--batch-size", "64", "--latent-dim", "8",
                 "--label-smoothing", "0.9", "--out", out, "--quiet"]) == 0
    for name in ["progress_epoch_01.png", "progress_epoch_02.png", "progression.png", "gan_diagnostics.png",
                 "checkpoint.npz", "metrics.csv"]:
        assert os.path.exists(os.path.join(out, name)), name
    with np.load(os.path.join(out, "progress.npz")) as f:
        assert sorted(f.files) == ["epoch_001", "epoch_002"] and f["epoch_001"].shape == (8, 1, 28, 28)
    header = open(os.path.join(out, "metrics.csv")).readline().strip().split(",")
    for col in ["loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"]:
        assert col in header
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["real_label"] == 0.9 and config["model"] == "gan"
    assert main(["sample", out, "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert os.path.exists(tmp_path / "s.png")


@pytest.mark.parametrize("recipe_cls", [gan_recipes.GAN, gan_recipes.DCGAN, gan_recipes.CGAN])
def test_recipe_step_pictures_and_samples(recipe_cls, tmp_path, rng):
    """A tiny instance of each registered GAN through the Recipe interface that `nanogen train` uses."""
    config = {"model": recipe_cls.name, "seed": 0, "latent_dim": 3, "hidden_dims": (8,), "base_channels": 2,
              "lr": 1e-3, "loss": "lsgan", "real_label": 0.9, "lr_d": 4e-3, "spectral_norm": True}
    recipe = recipe_cls(config, rng)
    assert recipe.cfg.lr_g == 1e-3 and recipe.cfg.lr_d == 4e-3 and recipe.cfg.real_label == 0.9
    assert any(isinstance(m, gan.SpectralNorm) for m in recipe.D.modules())
    x01 = rng.random((8, 1, 28, 28)).astype(np.float32)
    y = np.arange(8) % 10
    x, labels = recipe.training_arrays(x01, y)
    assert x.min() >= -1 and x.max() <= 1 and x.dtype == np.float32
    stats = recipe.train_step((Tensor(x), Tensor(labels)), rng)
    assert {"loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"} <= set(stats)
    assert all(np.isfinite(v) for v in stats.values())
    recipe.on_epoch_end(str(tmp_path), 1, (x01, y))
    recipe.on_epoch_end(str(tmp_path), 2, (x01, y))
    with np.load(tmp_path / "progress.npz") as f:
        assert sorted(f.files) == ["epoch_001", "epoch_002"]
        assert f["epoch_002"].shape == (recipe.grid_cols, 1, 28, 28)
    assert (tmp_path / "progress_epoch_02.png").exists() and (tmp_path / "progression.png").exists()
    images = recipe.sample(12, np.random.default_rng(1))
    assert images.shape == (12, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert np.array_equal(images, recipe.sample(12, np.random.default_rng(1)))   # eval mode: no batch effects


def test_cgan_generator_obeys_its_labels(rng):
    G = dcgan.DCGANGenerator(3, base_channels=2, n_classes=10, rng=rng)
    z = rng.standard_normal((4, 3)).astype(np.float32)
    a = gan.generate(G, z, np.array([1, 1, 1, 1]))
    b = gan.generate(G, z, np.array([7, 7, 7, 7]))
    assert not np.allclose(a, b)                           # the label changes the image
    with pytest.raises(ValueError, match="conditional"):
        G(Tensor(z))
    with pytest.raises(ValueError, match="one_hot"):
        G(Tensor(z), np.array([0, 1, 2, 10]))
