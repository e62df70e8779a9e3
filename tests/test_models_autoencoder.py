"""The autoencoder family: shapes, corruption, penalties, whole-loss gradchecks, short learning runs."""

import json
import math
import os

import numpy as np
import pytest

import nanogen.functional as F
from nanogen.gradcheck import GradcheckError, gradcheck_module
from nanogen.models import REGISTRY
from nanogen.models import autoencoder as A
from nanogen.models import autoencoder_recipes  # noqa: F401  (registers ae, stacked-ae, ...)
from nanogen.tensor import Tensor

# tiny float64 instances for the gradient checks: (config, images shape)
TINY = {
    "ae": (A.AEConfig(image_shape=(1, 4, 4), hidden_dims=(6,), latent_dim=3), (3, 1, 4, 4)),
    "ae-mse": (A.AEConfig(image_shape=(1, 4, 4), hidden_dims=(6,), latent_dim=3, loss="mse"), (3, 1, 4, 4)),
    "stacked-ae": (A.AEConfig(image_shape=(1, 4, 4), hidden_dims=(8, 6), latent_dim=4), (3, 1, 4, 4)),
    "sparse-ae-l1": (A.AEConfig(image_shape=(1, 4, 4), hidden_dims=(), latent_dim=20, code_activation="sigmoid",
                                penalty="l1", sparsity_weight=0.7), (4, 1, 4, 4)),
    "sparse-ae-kl": (A.AEConfig(image_shape=(1, 4, 4), hidden_dims=(), latent_dim=20, code_activation="sigmoid",
                                penalty="kl", sparsity_weight=0.7, rho=0.1), (4, 1, 4, 4)),
    "denoising-ae-mask": (A.AEConfig(image_shape=(1, 4, 4), hidden_dims=(6,), latent_dim=3, noise="mask",
                                     noise_level=0.4), (3, 1, 4, 4)),
    "denoising-ae-gaussian": (A.AEConfig(image_shape=(1, 4, 4), hidden_dims=(6,), latent_dim=3, noise="gaussian",
                                         noise_level=0.3), (3, 1, 4, 4)),
    "conv-ae": (A.AEConfig(arch="conv", image_shape=(1, 8, 8), channels=(2, 3), loss="mse"), (2, 1, 8, 8)),
    "conv-ae-bce": (A.AEConfig(arch="conv", image_shape=(1, 8, 8), channels=(2, 3), loss="bce"), (2, 1, 8, 8)),
}


@pytest.mark.parametrize("name", list(TINY))
def test_autoencoder_loss_grad(name, rng):
    config, shape = TINY[name]
    model = A.build_model(config, dtype=np.float64, rng=rng)
    assert len(list(model.parameters())) >= 4
    # a fresh generator with the same seed at every call: the finite differences see the very noise backward saw
    gradcheck_module(model, lambda m, x: A.autoencoder_loss(m, x, np.random.default_rng(1))["loss"],
                     rng.random(shape), check_inputs=False, name=name)


def test_gradcheck_sees_unfixed_noise(rng):
    """Test the test: with fresh noise at every call the finite differences no longer match."""
    config, shape = TINY["denoising-ae-mask"]
    model = A.build_model(config, dtype=np.float64, rng=rng)
    noise = np.random.default_rng(7)
    with pytest.raises(GradcheckError, match="disagree"):
        gradcheck_module(model, lambda m, x: A.autoencoder_loss(m, x, noise)["loss"], rng.random(shape),
                         check_inputs=False, check_repeat=False, check_zero_grad=False)


# ---------------------------------------------------------------------------- shapes and dtypes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_shapes_follow_docstring(dtype, rng):
    model = A.build_model(A.AEConfig(hidden_dims=(64,), latent_dim=5), dtype=dtype, rng=rng)
    x = Tensor(rng.random((7, 1, 28, 28)).astype(dtype))
    z = model.encode(x)
    assert z.shape == (7, 5) and z.dtype == dtype
    assert model(x).shape == (7, 1, 28, 28) and model(x).dtype == dtype  # logits
    x_hat = model.reconstruct(x).data
    assert x_hat.shape == (7, 1, 28, 28) and x_hat.dtype == dtype
    assert 0 < x_hat.min() and x_hat.max() < 1
    np.testing.assert_allclose(x_hat, 1 / (1 + np.exp(-model(x).data)), rtol=1e-5)


def test_stacked_decoder_mirrors_encoder(rng):
    model = A.build_model(REGISTRY["stacked-ae"]({"latent_dim": 64, "lr": 1e-3}, rng).model.config, rng=rng)
    enc = [(m.in_features, m.out_features) for m in model.encoder if hasattr(m, "in_features")]
    dec = [(m.in_features, m.out_features) for m in model.decoder if hasattr(m, "in_features")]
    assert enc == [(784, 512), (512, 256), (256, 64)]
    assert dec == [(o, i) for i, o in reversed(enc)]


def test_conv_shapes_and_pytorch_layout(rng):
    model = A.build_model(A.AEConfig(arch="conv", loss="mse"), rng=rng)
    x = Tensor(rng.random((3, 1, 28, 28)).astype(np.float32))
    assert model.encode(x).shape == (3, 32, 7, 7)
    y = model(x).data
    assert y.shape == (3, 1, 28, 28) and y.dtype == np.float32 and 0 < y.min() and y.max() < 1
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {"encoder.0.weight": (16, 1, 3, 3), "encoder.0.bias": (16,),
                      "encoder.3.weight": (32, 16, 3, 3), "encoder.3.bias": (32,),
                      "decoder.0.weight": (32, 16, 2, 2), "decoder.0.bias": (16,),
                      "decoder.2.weight": (16, 1, 2, 2), "decoder.2.bias": (1,)}


def test_config_errors():
    with pytest.raises(ValueError, match="penalty"):
        A.AEConfig(penalty="l2")
    with pytest.raises(ValueError, match="KL sparsity penalty needs code activations"):
        A.AEConfig(penalty="kl", code_activation="relu")
    with pytest.raises(ValueError, match="rho"):
        A.AEConfig(rho=1.5)
    with pytest.raises(ValueError, match="divisible by 4"):
        A.AEConfig(arch="conv", image_shape=(1, 6, 6))


# ---------------------------------------------------------------------------- the pieces of the loss


def test_corrupt_mask_zeroes_a_fraction_p(rng):
    x = np.ones((50, 1, 20, 20), dtype=np.float32)
    out = A.corrupt(x, "mask", 0.3, np.random.default_rng(1))
    assert out.dtype == np.float32 and out.shape == x.shape
    assert set(np.unique(out)) == {0.0, 1.0}
    assert abs(np.mean(out == 0) - 0.3) < 0.01                  # 20000 pixels: std of the share ~0.003
    np.testing.assert_array_equal(out, A.corrupt(x, "mask", 0.3, np.random.default_rng(1)))  # same seed
    assert np.any(out != A.corrupt(x, "mask", 0.3, np.random.default_rng(2)))


def test_corrupt_gaussian_is_clipped_noise(rng):
    x = rng.random((30, 1, 10, 10))
    out = A.corrupt(x, "gaussian", 0.2, np.random.default_rng(3))
    assert out.dtype == np.float64 and 0 <= out.min() and out.max() <= 1
    inside = (out > 0) & (out < 1)
    d = (out - x)[inside]
    assert abs(d.mean()) < 0.02 and abs(d.std() - 0.2) < 0.03
    t = A.corrupt(Tensor(x.astype(np.float32)), "gaussian", 0.2, rng)
    assert isinstance(t, Tensor) and t.dtype == np.float32
    assert A.corrupt(x, "none", 0.5) is x


def test_kl_bernoulli_matches_formula_and_vanishes_at_rho():
    rho, rho_hat = 0.05, np.array([0.01, 0.05, 0.5, 0.9])
    expected = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    np.testing.assert_allclose(A.kl_bernoulli(rho, Tensor(rho_hat)).data, expected, rtol=1e-12)
    assert expected[1] == 0 and np.all(np.delete(expected, 1) > 0)


def test_sparsity_penalties_values(rng):
    z = rng.random((6, 5))
    assert math.isclose(A.l1_activity(Tensor(z - 0.5)).item(), np.abs(z - 0.5).mean())
    rho_hat = z.mean(axis=0)
    kl = 0.2 * np.log(0.2 / rho_hat) + 0.8 * np.log(0.8 / (1 - rho_hat))
    assert math.isclose(A.kl_sparsity(Tensor(z), 0.2).item(), kl.mean(), rel_tol=1e-12)


def test_denoising_loss_compares_with_the_clean_image(rng):
    """Masking every pixel leaves the encoder nothing, yet the target is still the clean x."""
    config = A.AEConfig(image_shape=(1, 4, 4), hidden_dims=(6,), latent_dim=3, noise="mask", noise_level=0.999999)
    model = A.build_model(config, dtype=np.float64, rng=rng)
    x = Tensor(rng.random((5, 1, 4, 4)))
    recon = A.autoencoder_loss(model, x, np.random.default_rng(0))["recon"].item()
    blank = F.binary_cross_entropy_with_logits(model(Tensor(np.zeros((5, 1, 4, 4)))), x).item()
    assert math.isclose(recon, blank, rel_tol=1e-12)


def test_reconstruction_errors_per_image(rng):
    model = A.build_model(A.AEConfig(image_shape=(1, 4, 4), hidden_dims=(6,), latent_dim=3), dtype=np.float64, rng=rng)
    x = rng.random((7, 1, 4, 4))
    e = A.reconstruction_errors(model, x, batch_size=3)           # several batches on purpose
    logits = model(Tensor(x)).data
    p = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(e["mse"], ((p - x) ** 2).mean(axis=(1, 2, 3)), rtol=1e-10)
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(e["bce"], bce, rtol=1e-8)


# ---------------------------------------------------------------------------- learning on real digits


@pytest.fixture(scope="module")
def digits():
    from nanogen.data import mnist

    x, y = mnist("train")
    xt, yt = mnist("test")
    return x[:512], y[:512], xt[:500], yt[:500]


def _recipe(name, **overrides):
    cls = REGISTRY[name]
    cfg = {**cls.defaults, "seed": 0, **overrides}
    return cls(cfg, np.random.default_rng(0))


def _train(recipe, x, epochs, batch_size=32):
    rng = np.random.default_rng(1)
    last = []
    for _ in range(epochs):
        for i in range(0, len(x), batch_size):
            last.append(recipe.train_step((Tensor(x[i : i + batch_size]),), rng)["recon"])
    return float(np.mean(last[-len(x) // batch_size:]))  # mean over the last epoch


# (model, epochs over 512 images in batches of 32, threshold on the last epoch's mean reconstruction
# loss). Measured with these seeds: ae 0.175, stacked-ae 0.228, sparse-ae 0.189, denoising-ae 0.198
# (BCE per pixel, from 0.69 at the start), conv-ae 0.035 (MSE, from 0.226).
LEARNING = [("ae", 10, 0.20), ("stacked-ae", 10, 0.25), ("sparse-ae", 10, 0.215), ("denoising-ae", 10, 0.225),
            ("conv-ae", 6, 0.045)]


@pytest.mark.parametrize("name, epochs, threshold", LEARNING)
def test_autoencoder_loss_falls(name, epochs, threshold, digits):
    x = digits[0]
    recipe = _recipe(name)
    first = _train(recipe, x[:32], 1)
    final = _train(recipe, x, epochs)
    assert final < threshold, f"{name}: reconstruction loss {final:.4f} after {epochs} epochs, expected < {threshold}"
    assert final < first


def test_sparsity_penalty_lowers_mean_activation(digits):
    x, _, xt, _ = digits
    acts = {}
    for penalty, weight in [("kl", 0.0), ("kl", 0.3), ("l1", 0.3)]:
        recipe = _recipe("sparse-ae", latent_dim=256, penalty=penalty, sparsity_weight=weight)
        _train(recipe, x, 3)
        acts[penalty, weight] = float(A.encode_all(recipe.model, xt).mean())
    # measured: 0.78 without the penalty, 0.31 with KL (rho 0.05), 0.33 with L1
    assert acts["kl", 0.3] < 0.6 * acts["kl", 0.0], acts
    assert acts["l1", 0.3] < 0.6 * acts["kl", 0.0], acts


def _denoising_vs_plain(x, xt, noise, level, epochs, batch_size):
    noisy = A.corrupt(xt, noise, level, np.random.default_rng(5))
    err = {}
    for name in ["ae", "denoising-ae"]:
        recipe = _recipe(name, latent_dim=32, noise=noise, noise_level=level)  # "ae" ignores the noise keys
        _train(recipe, x, epochs, batch_size)
        err[name] = float(A.reconstruction_errors(recipe.model, xt, noisy)["mse"].mean())
    return err


def test_denoising_beats_plain_ae_on_noisy_digits(digits):
    from nanogen.data import mnist

    x = mnist("train")[0][:1024]
    err = _denoising_vs_plain(x, digits[2], "gaussian", 0.5, epochs=10, batch_size=32)
    # measured: plain ae 0.067, denoising-ae 0.044 (MSE to the clean digit from noisy input, std 0.5)
    assert err["denoising-ae"] < 0.8 * err["ae"], err


@pytest.mark.slow
def test_denoising_beats_plain_ae_on_masked_digits():
    """Masking needs longer training to show: an undertrained plain AE is blurry enough to fill
    small holes by accident; once it rebuilds detail, it rebuilds the holes too."""
    from nanogen.data import mnist

    x, xt = mnist("train")[0], mnist("test")[0][:2000]
    err = _denoising_vs_plain(x, xt, "mask", 0.5, epochs=3, batch_size=128)
    # measured: plain ae 0.040, denoising-ae 0.020 (half the pixels zeroed)
    assert err["denoising-ae"] < 0.7 * err["ae"], err


# ---------------------------------------------------------------------------- the recipes


def test_recipes_registered_with_flags():
    from nanogen.cli import build_parser

    assert {"ae", "stacked-ae", "sparse-ae", "denoising-ae", "conv-ae"} <= set(REGISTRY)
    p = build_parser()
    a = p.parse_args(["train", "sparse-ae", "--penalty", "l1", "--sparsity-weight", "0.5", "--rho", "0.1"])
    assert (a.penalty, a.sparsity_weight, a.rho, a.latent_dim) == ("l1", 0.5, 0.1, 1024)
    a = p.parse_args(["train", "denoising-ae", "--noise", "gaussian", "--noise-level", "0.4"])
    assert (a.noise, a.noise_level) == ("gaussian", 0.4)
    assert p.parse_args(["train", "ae"]).latent_dim == 32
    assert not hasattr(p.parse_args(["train", "conv-ae"]), "latent_dim")


def test_recipe_figures_and_evaluate(tmp_path, digits):
    _, _, xt, yt = digits
    for name, figures in [("denoising-ae", ["reconstructions", "denoising", "latent", "interpolation"]),
                          ("sparse-ae", ["reconstructions", "latent", "interpolation", "filters"])]:
        recipe = _recipe(name, latent_dim=128)
        recipe.on_epoch_end(str(tmp_path), 1, (xt[:200], yt[:200]))
        for f in figures:
            assert os.path.getsize(tmp_path / f"{f}.png") > 1000, f
        metrics = recipe.evaluate((xt[:100], yt[:100]), np.random.default_rng(0))
        assert metrics["test_bce_per_image"] == pytest.approx(784 * metrics["test_bce_per_pixel"])
        assert 0 < metrics["test_mse"] < 0.3
    assert "test_denoising_mse" in _recipe("denoising-ae").evaluate((xt[:50], yt[:50]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="cannot sample"):
        recipe.sample(4, np.random.default_rng(0))


def test_cli_train_conv_ae_writes_run_folder(tmp_path):
    from nanogen.cli import main

    out = str(tmp_path / "run")
    assert main(["train", "conv-ae", "--epochs", "1", "--subset", "128", "--batch-size", "64",
                 "--out", out, "--quiet"]) == 0
    for f in ["checkpoint.npz", "metrics.csv", "config.json", "reconstructions.png", "latent.png",
              "interpolation.png", "loss_curves.png"]:
        assert os.path.exists(os.path.join(out, f)), f
    assert json.load(open(os.path.join(out, "config.json")))["model"] == "conv-ae"
