"""Progressive growing (models/progan.py): growing with alpha = 0 changes nothing, exactly; the
schedule; the real images D sees; both objectives' gradients on a tiny float64 instance in the
middle of a fade-in; a learning test of seconds; the recipe through its phases and figures."""

import numpy as np
import pytest

import nanogen.models.gan as gan
from nanogen import functional as F
import nanogen.models.progan as progan
from nanogen.gradcheck import gradcheck_module
from nanogen.models.progan_recipes import ProGAN
from nanogen.optim import Adam
from nanogen.tensor import Tensor

CH = (3, 2, 2)


def tiny(rng, dtype=np.float64):
    G = progan.ProGenerator(4, CH, rng=rng)
    D = progan.ProDiscriminator(CH, mbstd_group=2, rng=rng)
    return (G.double(), D.double()) if dtype == np.float64 else (G, D)


@pytest.mark.parametrize("stage", [1, 2])
def test_growing_with_alpha_zero_leaves_the_output_exactly_unchanged(stage, rng):
    """The paper's promise (Sec. 2, Fig. 2): the grown G at alpha = 0 draws the small G's image,
    pixels repeated; the grown D at alpha = 0 gives the small D's verdict on the pooled image."""
    G, D = tiny(rng)
    z = Tensor(rng.standard_normal((4, 4)))
    before = G.set_stage(stage - 1, 1.0)(z).data                        # (4, 1, R/2, R/2)
    after = G.set_stage(stage, 0.0)(z).data                             # (4, 1, R, R)
    R = progan.RESOLUTIONS[stage]
    assert after.shape == (4, 1, R, R)
    assert np.array_equal(after, before.repeat(2, axis=2).repeat(2, axis=3))
    x = rng.standard_normal((4, 1, R, R))
    small = F.avg_pool2d(Tensor(x), 2)                                  # the pooling D's old path applies
    assert np.allclose(small.data, x.reshape(4, 1, R // 2, 2, R // 2, 2).mean(axis=(3, 5)))
    verdict_before = D.set_stage(stage - 1, 1.0)(small).data
    verdict_after = D.set_stage(stage, 0.0)(Tensor(x)).data
    assert np.array_equal(verdict_after, verdict_before)
    # and alpha = 1 is the grown path alone, which differs
    assert not np.allclose(G.set_stage(stage, 1.0)(z).data, after)


def test_fade_in_is_the_blend(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    assert np.array_equal(progan.fade_in(a, b, 0.0), a) and np.array_equal(progan.fade_in(a, b, 1.0), b)
    assert np.allclose(progan.fade_in(a, b, 0.25), 0.75 * a + 0.25 * b)


def test_schedule_walks_through_the_phases():
    P = 100
    seen = [0, 99, 100, 150, 199, 200, 299, 300, 375, 400, 10 ** 6]
    got = [progan.schedule(s, P) for s in seen]
    assert got == [(0, 1.0), (0, 1.0), (1, 0.0), (1, 0.5), (1, 0.99), (1, 1.0), (1, 1.0), (2, 0.0), (2, 0.75),
                   (2, 1.0), (2, 1.0)]


def test_real_images_follow_the_stage(rng):
    x = rng.random((2, 1, 28, 28)).astype(np.float32)
    assert progan.real_images(x, 2) is x or np.array_equal(progan.real_images(x, 2), x)
    x7 = progan.real_images(x, 0)
    assert x7.shape == (2, 1, 7, 7) and x7.dtype == np.float32
    assert np.isclose(x7[0, 0, 0, 0], x[0, 0, :4, :4].mean())
    x14 = progan.real_images(x, 1)
    blocky = x7.repeat(2, axis=2).repeat(2, axis=3)
    assert np.allclose(progan.real_images(x, 1, 0.0), blocky)             # alpha 0: as blocky as G's old path
    assert np.allclose(progan.real_images(x, 1, 0.5), 0.5 * blocky + 0.5 * x14)


@pytest.mark.parametrize("stage, alpha", [(0, 1.0), (1, 0.4), (2, 0.7)])
def test_progan_discriminator_loss_grad(stage, alpha, rng):
    G, D = tiny(rng)
    G.set_stage(stage, alpha), D.set_stage(stage, alpha)
    R = progan.RESOLUTIONS[stage]
    x_real = Tensor(rng.uniform(-1, 1, (4, 1, R, R)))
    x_fake = Tensor(G(Tensor(rng.standard_normal((4, 4)))).data)
    gradcheck_module(D, lambda D: gan.discriminator_loss(D(x_real), D(x_fake)), max_elements=4)


@pytest.mark.parametrize("stage, alpha", [(1, 0.6), (2, 1.0)])
def test_progan_generator_loss_grad_through_frozen_discriminator(stage, alpha, rng):
    G, D = tiny(rng)
    G.set_stage(stage, alpha), D.set_stage(stage, alpha)
    z = Tensor(rng.standard_normal((4, 4)))
    D.requires_grad_(False)
    gradcheck_module(G, lambda G: gan.generator_loss(D(G(z)), loss="lsgan"), max_elements=4)
    assert all(p.grad is None for p in D.parameters())


def test_stage_errors_name_the_problem(rng):
    G, D = tiny(rng)
    with pytest.raises(ValueError, match="stage must be"):
        G.set_stage(3)
    with pytest.raises(ValueError, match=r"\(N, 1, 7, 7\)"):
        D(Tensor(rng.standard_normal((4, 1, 28, 28))))
    with pytest.raises(ValueError, match="channels"):
        progan.ProGANConfig(channels=(4, 4))


def test_progan_learns_a_pattern_then_grows(rng):
    """Real images: a bright square in the middle (plus noise). 50 steps at 7x7, 25 in the 14x14
    fade-in, 25 at 14x14: G's samples must end far closer to the pattern than they started
    (measured over seeds 0-2: mean squared error from 1.1-1.6 down to 0.05-0.18). Fails if a step,
    the blend or the layers break learning."""
    pattern = np.full((1, 1, 28, 28), -1.0, dtype=np.float32)
    pattern[..., 8:20, 8:20] = 1.0
    G = progan.ProGenerator(4, (8, 4, 4), rng=rng)
    D = progan.ProDiscriminator((8, 4, 4), rng=rng)
    cfg = gan.GANConfig()
    opt_g, opt_d = Adam(G.parameters(), lr=1e-2, betas=(0.0, 0.99)), Adam(D.parameters(), lr=1e-2, betas=(0.0, 0.99))

    def error(stage):
        G.set_stage(stage)
        target = progan.real_images(pattern, stage)
        return float(np.mean((G(Tensor(rng.standard_normal((32, 4), dtype=np.float32))).data - target) ** 2))

    start = error(0)
    for step in range(100):
        stage, alpha = (0, 1.0) if step < 50 else (1, min(1.0, (step - 50) / 25))
        G.set_stage(stage, alpha), D.set_stage(stage, alpha)
        x = pattern + 0.1 * rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
        z = Tensor(rng.standard_normal((16, 4), dtype=np.float32))
        gan.train_step(G, D, opt_g, opt_d, Tensor(progan.real_images(x, stage, alpha)), z, cfg)
    end = error(1)
    assert end < 0.3 * start, (start, end)


def test_progan_recipe_grows_through_its_phases(tmp_path, rng):
    config = {"model": "progan", "seed": 0, "latent_dim": 4, "lr": 1e-3, "channels": [4, 2, 2], "phase_images": 8}
    recipe = ProGAN(config, rng)
    assert recipe.cfg.phase_images == 8 and (recipe.cfg.beta1, recipe.cfg.beta2) == (0.0, 0.99) and recipe.cfg.channels == (4, 2, 2)
    x01 = rng.random((8, 1, 28, 28)).astype(np.float32)
    x, y = recipe.training_arrays(x01, np.zeros(8, dtype=np.int64))
    seen = []
    for _ in range(6):
        stats = recipe.train_step((Tensor(x), Tensor(y)), rng)
        seen.append((stats["stage"], stats["alpha"], stats["resolution"]))
    assert seen == [(0, 1, 7), (1, 0, 14), (1, 1, 14), (2, 0, 28), (2, 1, 28), (2, 1, 28)]
    assert recipe.generator.state_dict()["images_seen"] == 48
    recipe.on_epoch_end(str(tmp_path), 1, (x01, y))
    for name in ("stages.png", "fade_in.png", "progression.png"):
        assert (tmp_path / name).exists(), name
    with np.load(tmp_path / "stages.npz") as f:
        assert sorted(f.files) == [f"phase_{p}" for p in range(4)]
    images = recipe.sample(5, np.random.default_rng(1))
    assert images.shape == (5, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    again = ProGAN(config, np.random.default_rng(5))                  # a fresh build, as `nanogen sample` does
    again.generator.load_state_dict(recipe.generator.state_dict())
    again.D.load_state_dict(recipe.D.state_dict())
    assert again.position() == (2, 1.0)
    assert np.array_equal(again.sample(5, np.random.default_rng(1)), images)
