"""pix2pix: the paired inputs, the U-Net's shapes and skips, the gradients of G's and D's whole
objectives (float64 finite differences, batch norm in train mode), a learning test of seconds,
and evaluate()'s numbers. `nanogen train pix2pix` -> eval -> sample --input end to end:
test_models_img2img.py."""

import json

import numpy as np
import pytest

import nanogen.models.pix2pix as p2p
from nanogen.gradcheck import gradcheck
from nanogen.optim import Adam
from nanogen.tensor import Tensor


def as_function_of_params(module, loss_fn):
    """(f, arrays): f(*tensors) runs loss_fn() with module's parameters replaced by `tensors`, so
    gradcheck can perturb them; arrays are float64 copies of the current values."""
    slots = [(m, name) for _, m in module.named_modules() for name, p in m._parameters.items() if p is not None]

    def f(*tensors):
        saved = [m._parameters[n] for m, n in slots]
        for (m, n), t in zip(slots, tensors):
            m._parameters[n] = t
        try:
            return loss_fn()
        finally:
            for (m, n), p in zip(slots, saved):
                m._parameters[n] = p

    f.__name__ = f"loss of {type(module).__name__}'s parameters"
    return f, [m._parameters[n].data.copy() for m, n in slots]


def digits(rng, n=4):
    """n blurred random strokes in [0, 1], (n, 1, 28, 28): enough structure for the tasks."""
    y = np.zeros((n, 1, 28, 28))
    for k in range(n):
        r, c = rng.integers(6, 20, 2)
        y[k, 0, r - 4 : r + 5, c - 1 : c + 2] = 1.0
        y[k, 0, r - 1 : r + 2, c - 3 : c + 4] = 0.8
    return y


def tiny(rng, adversarial=True):
    cfg = p2p.Pix2PixConfig(base_channels=2, dropout=0.0, adversarial=adversarial)
    G = p2p.UNetGenerator(2, dropout=0.0, rng=rng).double()
    D = p2p.PatchDiscriminator(2, rng=rng).double()
    return G, D, cfg


# ---------------------------------------------------------------------------- data


def test_make_input_tasks(rng):
    y = digits(rng)
    outline = p2p.make_input("outline", y)
    assert outline.shape == y.shape and set(np.unique(outline)) <= {0.0, 1.0}
    assert np.all(outline[y == 1.0] == 0)                         # the strokes themselves stay empty
    assert np.all(outline <= (p2p.dilate(y) > 0))                 # ... and the line hugs them
    masked = p2p.make_input("inpaint", y, np.random.default_rng(3), inpaint_size=5)
    hidden = masked == 0.5
    assert np.all(hidden.sum(axis=(1, 2, 3)) == 25)               # one 5x5 square per image
    np.testing.assert_array_equal(masked[~hidden], y[~hidden])
    edges = p2p.make_input("edges", y)
    assert set(np.unique(edges)) <= {0.0, 1.0} and edges.sum() > 0
    with pytest.raises(ValueError, match="task must be one of"):
        p2p.make_input("colour", y)
    with pytest.raises(ValueError, match="needs an rng"):
        p2p.make_input("inpaint", y)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        p2p.make_input("outline", y[:, 0])


def test_erode_dilate_by_hand():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0
    assert p2p.dilate(x)[0, 0, 1:4, 1:4].min() == 1.0 and p2p.dilate(x).sum() == 9
    assert p2p.erode(x).sum() == 0                                # a lone pixel erodes away


# ---------------------------------------------------------------------------- the networks


def test_unet_shapes_and_skip_connections(rng):
    G, D, _ = tiny(rng)
    x = Tensor(rng.uniform(-1, 1, (3, 1, 28, 28)))
    y = G(x)
    assert y.shape == (3, 1, 28, 28) and np.all(np.abs(y.data) <= 1)
    assert D(y, x).shape == (3, 1, 7, 7)                          # one logit per patch
    # the skips: the last layer sees e1 directly, so zeroing the bottleneck's weights leaves the
    # output still depending on the input
    G.eval()
    for p in G.bottleneck.parameters():
        p.data[...] = 0
    x2 = Tensor(rng.uniform(-1, 1, (3, 1, 28, 28)))
    assert not np.allclose(G(x).data, G(x2).data)
    with pytest.raises(ValueError, match="judges pairs"):
        D(y, None)


def test_dropout_is_on_at_test_time_unless_switched_off(rng):
    G = p2p.UNetGenerator(2, dropout=0.5, dropout_at_test=True, rng=rng).double().eval()
    x = Tensor(rng.uniform(-1, 1, (2, 1, 28, 28)))
    assert not np.array_equal(G(x).data, G(x).data)               # the paper's noise source
    G.dropout_at_test = False
    np.testing.assert_array_equal(G(x).data, G(x).data)


# ---------------------------------------------------------------------------- gradients of the whole objectives


@pytest.mark.parametrize("adversarial", [True, False])
def test_pix2pix_generator_loss_grad(adversarial, rng):
    G, D, cfg = tiny(rng, adversarial)
    y = digits(rng, 3) * 2 - 1
    x = Tensor(p2p.make_input("outline", (y + 1) / 2) * 2 - 1)
    y = Tensor(y)
    D.requires_grad_(False)
    f, params = as_function_of_params(G, lambda: p2p.generator_objective(D, x, y, G(x), cfg)["loss"])
    assert G.training                                             # batch norm on batch statistics
    gradcheck(f, *params, max_elements=5)
    assert all(p.grad is None for p in D.parameters())


def test_pix2pix_discriminator_loss_grad(rng):
    G, D, cfg = tiny(rng)
    y = Tensor(rng.uniform(-1, 1, (3, 1, 28, 28)))
    x = Tensor(rng.uniform(-1, 1, (3, 1, 28, 28)))
    fake = Tensor(G(x).data)                                      # a constant for D's step
    f, params = as_function_of_params(D, lambda: p2p.discriminator_objective(D, x, y, fake, cfg))
    gradcheck(f, *params, max_elements=6)


def test_generator_objective_is_adv_plus_lambda_l1(rng):
    G, D, cfg = tiny(rng)
    x = Tensor(rng.uniform(-1, 1, (2, 1, 28, 28)))
    y = Tensor(rng.uniform(-1, 1, (2, 1, 28, 28)))
    t = p2p.generator_objective(D, x, y, G(x), cfg)
    assert t["loss"].item() == pytest.approx(t["adv"].item() + 100 * t["l1"].item())
    assert t["l1"].item() == pytest.approx(np.abs(G(x).data - y.data).mean())


# ---------------------------------------------------------------------------- learning


@pytest.mark.parametrize("adversarial", [True, False])
def test_pix2pix_loss_falls(adversarial, rng):
    """40 steps on 16 fixed outline/digit pairs: L1 to the targets must fall well below its start."""
    G = p2p.UNetGenerator(4, dropout=0.0, rng=rng)
    D = p2p.PatchDiscriminator(4, rng=rng)
    cfg = p2p.Pix2PixConfig(base_channels=4, dropout=0.0, adversarial=adversarial)
    opt_g, opt_d = Adam(G.parameters(), lr=2e-3, betas=cfg.betas), Adam(D.parameters(), lr=2e-3, betas=cfg.betas)
    y01 = digits(rng, 16).astype(np.float32)
    x, y = Tensor(p2p.make_input("outline", y01) * 2 - 1), Tensor(y01 * 2 - 1)
    l1 = [p2p.train_step(G, D, opt_g, opt_d, x, y, cfg)["l1"] for _ in range(40)]
    assert np.mean(l1[-5:]) < 0.4 * np.mean(l1[:3]), l1
    out = p2p.translate(G, p2p.make_input("outline", y01))
    assert out.shape == y01.shape and out.min() >= 0 and out.max() <= 1


# ---------------------------------------------------------------------------- evaluation


def test_pix2pix_eval_numbers(tmp_path, capsys, monkeypatch, rng):
    """evaluate() reports the outputs' and the inputs' numbers; the input of the outline task is
    far from its target in L1 (the strokes are missing)."""
    from nanogen.models.pix2pix_recipes import Pix2PixRecipe

    recipe = Pix2PixRecipe({"model": "pix2pix", "task": "outline", "base_channels": 2, "lr": 1e-3,
                            "dataset": "fashion-mnist"}, rng)                  # fashion: no classifier needed
    y = digits(rng, 8).astype(np.float32)
    m = recipe.evaluate((y, np.zeros(8, dtype=np.int64)), rng)
    for k in ("l1", "psnr", "ssim", "input_l1", "input_psnr", "input_ssim"):
        assert np.isfinite(m[k]), k
    assert "accuracy" not in m and m["input_l1"] > 0.05
    json.dumps(m)
