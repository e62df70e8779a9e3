"""WGAN-GP and R1: the gradient penalty against its closed form, the whole critic loss checked by
finite differences (first and second order) on a tiny float64 critic, a learning test of
seconds, the recipe's pictures, and the R1 penalty of the dcgan/cgan recipes."""

import os

import numpy as np
import pytest

import nanogen as ng
from nanogen import nn
from nanogen.gradcheck import gradcheck_module, gradgradcheck
from nanogen.models import dcgan, gan, wgan
from nanogen.optim import Adam
from nanogen.tensor import Tensor


class LinearCritic(nn.Module):
    """f(x) = Σ w * x: its gradient is w for every x, so the penalty has a closed form."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).sum(dim=(1, 2, 3)).reshape(-1, 1)


def tiny_critic(rng, critic_norm="layer"):
    """A float64 critic with base_channels 2 and weights of order 1: with DCGAN's N(0, 0.02) the
    pre-activations sit so close to LeakyReLU's kink that a finite difference of the penalty (a
    function of grad f, which jumps at the kink) would straddle one."""
    critic = wgan.Critic(base_channels=2, critic_norm=critic_norm, rng=rng).double()
    for p in critic.parameters():
        p.data[...] = rng.standard_normal(p.shape) * (0.5 if p.ndim > 1 else 0.1)
    return critic


# ---------------------------------------------------------------------------- the penalty


def test_gradient_penalty_matches_its_closed_form(rng):
    """|grad f| = |w| for every example: penalty (|w| - 1)^2, d/dw = 2 (|w| - 1) w / |w|."""
    w = rng.standard_normal((1, 3, 3)) * 0.4
    critic = LinearCritic(w)
    x_hat = Tensor(rng.standard_normal((4, 1, 3, 3)), requires_grad=True)
    penalty, norms = wgan.gradient_penalty(critic, x_hat)
    n = np.linalg.norm(w)
    np.testing.assert_allclose(norms.data, np.full(4, n), rtol=1e-9)
    np.testing.assert_allclose(penalty.item(), (n - 1) ** 2, rtol=1e-9)
    penalty.backward()
    np.testing.assert_allclose(np.asarray(critic.w.grad), 2 * (n - 1) * w / n, rtol=1e-6)


def test_gradient_penalty_is_per_example(rng):
    """Each row of the gradient belongs to one example: scaling one example's critic path changes
    only that example's norm (this is why the critic has no batch norm)."""
    critic = tiny_critic(rng)
    x = rng.standard_normal((3, 1, 28, 28))
    _, norms = wgan.gradient_penalty(critic, Tensor(x, requires_grad=True))
    for i in range(3):
        _, alone = wgan.gradient_penalty(critic, Tensor(x[i : i + 1], requires_grad=True))
        np.testing.assert_allclose(alone.data[0], norms.data[i], rtol=1e-9)


def test_interpolates_lie_between_real_and_fake(rng):
    x, y = rng.standard_normal((5, 1, 2, 2)), rng.standard_normal((5, 1, 2, 2))
    eps = rng.random((5, 1, 1, 1))
    x_hat = wgan.interpolates(x, y, eps)
    assert x_hat.requires_grad
    np.testing.assert_allclose(x_hat.data, eps * x + (1 - eps) * y)


def test_batch_norm_critic_is_refused():
    with pytest.raises(ValueError, match="batch norm would mix the examples"):
        wgan.WGANConfig(critic_norm="batch")


# ---------------------------------------------------------------------------- the whole loss, checked


def _critic_loss(critic, x_real, x_fake, eps):
    with ng.enable_grad():   # the checker's differences run under no_grad(); the penalty needs a graph
        return wgan.critic_loss(critic, x_real, x_fake, eps, gp_weight=10.0)["loss"]


@pytest.mark.parametrize("critic_norm", ["layer", "none"])
def test_wgan_gp_critic_loss_grad(critic_norm, rng):
    """d L_critic / d params by finite differences: the penalty's term is a second derivative of f."""
    critic = tiny_critic(rng, critic_norm)
    x_real, x_fake = (Tensor(rng.uniform(-1, 1, (3, 1, 28, 28))) for _ in range(2))
    eps = rng.random((3, 1, 1, 1))
    gradcheck_module(critic, lambda m: _critic_loss(m, x_real, x_fake, eps), check_inputs=False,
                     directional=True, n_directions=4)


def test_wgan_gp_critic_loss_gradgrad(rng):
    """gradgradcheck of the whole critic loss in two of the critic's weights (the first conv and
    the last linear layer): L_critic already contains grad f, so this differentiates f three times.
    (The images are not checked: x_hat is made from their values, a constant, as in training.)"""
    critic = tiny_critic(rng)
    eps = rng.random((2, 1, 1, 1))
    x_real, x_fake = (Tensor(rng.uniform(-1, 1, (2, 1, 28, 28))) for _ in range(2))
    first, last = critic.net[0], critic.net[-1]

    def loss(w_first, w_last):
        saved = first._parameters["weight"], last._parameters["weight"]
        first._parameters["weight"], last._parameters["weight"] = w_first, w_last
        try:
            with ng.enable_grad():
                return wgan.critic_loss(critic, x_real, x_fake, eps)["loss"]
        finally:
            first._parameters["weight"], last._parameters["weight"] = saved

    gradgradcheck(loss, first.weight.data.copy(), last.weight.data.copy(), max_elements=10,
                  name="WGAN-GP critic loss")


def test_generator_loss_grad(rng):
    critic = tiny_critic(rng)
    G = dcgan.DCGANGenerator(3, base_channels=2, rng=rng).double()
    z = rng.standard_normal((3, 3))
    critic.requires_grad_(False)
    gradcheck_module(G, lambda m: wgan.generator_loss(critic, m(Tensor(z))), check_inputs=False,
                     directional=True, n_directions=3)


# ---------------------------------------------------------------------------- learning


def test_wgan_gp_learns_a_fixed_image(rng):
    """Seconds of training on one repeated image: the generator's samples move towards it and the
    critic's Wasserstein estimate falls from its peak."""
    target = -np.ones((1, 1, 28, 28), dtype=np.float32)
    target[..., 8:20, 10:18] = 0.8                                 # a bright bar on a dark ground
    cfg = wgan.WGANConfig(latent_dim=4, base_channels=4, n_critic=2, lr=2e-3)
    G, critic = wgan.build(cfg, rng)
    opt_g, opt_c = (Adam(m.parameters(), lr=cfg.lr, betas=cfg.betas) for m in (G, critic))
    N = 16
    z_eval = Tensor(rng.standard_normal((64, cfg.latent_dim), dtype=np.float32))

    def distance():
        G.eval()
        with ng.no_grad():
            d = float(np.abs(G(z_eval).data - target).mean())
        G.train()
        return d

    before = distance()
    w = []
    for step in range(80):
        x = Tensor(np.repeat(target, N, axis=0))
        z = Tensor(rng.standard_normal((N, cfg.latent_dim), dtype=np.float32))
        stats = wgan.train_step(G, critic, opt_g, opt_c, x, z, rng.random((N, 1, 1, 1), dtype=np.float32), cfg, step)
        w.append(stats["wasserstein"])
        assert np.isfinite(stats["loss_c"]) and np.isfinite(stats["grad_norm"])
    after = distance()
    assert after < 0.8 * before, (before, after)
    assert np.mean(w[-10:]) < max(w), w


def test_wgan_gp_recipe_trains_and_draws_the_critic(tmp_path):
    from nanogen.cli import main

    out = tmp_path / "run"
    main(["train", "wgan-gp", "--epochs", "1", "--subset", "128", "--batch-size", "32", "--quiet",
          "--out", str(out)])
    for name in ("checkpoint.npz", "metrics.csv", "critic.png", "progression.png"):
        assert os.path.exists(out / name), name
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"wasserstein", "grad_norm", "penalty", "loss_c"} <= set(header)


# ---------------------------------------------------------------------------- R1 for the GAN recipes


def test_r1_penalty_matches_its_closed_form(rng):
    """D(x) = Σ w * x: grad_x D = w, so R1 = |w|^2 for every example."""
    w = rng.standard_normal((1, 2, 2))
    D = LinearCritic(w)
    x = Tensor(rng.standard_normal((3, 1, 2, 2)), requires_grad=True)
    penalty = gan.r1_penalty(D(x), x)
    np.testing.assert_allclose(penalty.item(), np.sum(w * w), rtol=1e-12)
    penalty.backward()
    np.testing.assert_allclose(np.asarray(D.w.grad), 2 * w, rtol=1e-12)


@pytest.mark.parametrize("n_classes", [0, 10])
def test_d_step_with_r1_matches_finite_differences(n_classes, rng):
    """dcgan and cgan discriminators (batch norm, label planes) with the R1 term in their loss."""
    from tests.test_models_gan import tiny_gan

    _, D, _ = tiny_gan("dcgan", rng, n_classes=n_classes)
    y = np.arange(3) % 10 if n_classes else None
    x_real = rng.uniform(-1, 1, (3, 1, 28, 28))
    x_fake = Tensor(rng.uniform(-1, 1, (3, 1, 28, 28)))

    def loss(D):
        with ng.enable_grad():
            x = Tensor(x_real, requires_grad=True)
            real = D(x, y)
            return gan.discriminator_loss(real, D(x_fake, y)) + 0.5 * 2.0 * gan.r1_penalty(real, x)

    gradcheck_module(D, loss, check_inputs=False, directional=True, n_directions=3)


def test_dcgan_and_cgan_take_the_r1_flag_and_d_step_uses_it(rng):
    from nanogen.cli import build_parser
    from nanogen.models import load_all
    from tests.test_models_gan import tiny_gan

    registry, parser = load_all(), build_parser()
    for name in ("dcgan", "cgan"):
        args = vars(parser.parse_args(["train", name, "--r1", "1.5"]))
        recipe = registry[name].__new__(registry[name])
        assert registry[name].model_config(recipe, {**registry[name].defaults, **args}).r1 == 1.5
    cfg = gan.GANConfig(r1=1.5)
    G, D, Z = tiny_gan("dcgan", rng)
    opt = Adam(D.parameters(), lr=1e-3)
    x = Tensor(rng.uniform(-1, 1, (4, 1, 28, 28)))
    stats = gan.d_step(D, opt, x, Tensor(rng.uniform(-1, 1, (4, 1, 28, 28))), cfg)
    assert stats["r1"] > 0 and not x.requires_grad
    assert "r1" not in gan.d_step(D, opt, x, Tensor(rng.uniform(-1, 1, (4, 1, 28, 28))), gan.GANConfig())
