"""Tests of models/style.py and style_cli.py: the Gram matrix, the three losses (forward against
NumPy, backward against finite differences), the feature networks (random, VGG-19 from an .npz,
a model's convolutional trunk), the optimisation loop, image loading and `nanogen style` errors."""

import argparse
import os

import numpy as np
import pytest

from nanogen import nn
from nanogen.gradcheck import GradcheckError, directional_gradcheck, gradcheck
from nanogen.models import style as S
from nanogen.models import style_features as SF
from nanogen.style_cli import add_style_parser, cmd_style, fit_size, load_feature_net, load_image, resize
from nanogen.tensor import Tensor


def smooth_image(rng, H, W, C=3, dtype=np.float32):
    """A random image with structure at several scales: noise at 1/4 size, enlarged, plus fine noise."""
    coarse = resize(rng.random((1, C, max(2, H // 4), max(2, W // 4))), (H, W))
    return np.clip(0.8 * coarse + 0.2 * rng.random((1, C, H, W)), 0, 1).astype(dtype)


# ---------------------------------------------------------------------------- Gram matrix


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 1, 1), (1, 4, 7, 3)])
def test_gram_forward_matches_numpy(shape, rng):
    x = rng.standard_normal(shape)
    N, C, H, W = shape
    expected = np.einsum("nchw,ndhw->ncd", x, x) / (C * H * W)
    g = S.gram_matrix(x)
    assert g.shape == (N, C, C)
    np.testing.assert_allclose(g.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 1, 1), (1, 4, 3, 2)])
def test_gram_grad(shape, rng):
    gradcheck(S.gram_matrix, rng.standard_normal(shape))


def test_gram_is_independent_of_image_size(rng):
    # G averages over positions: a feature map tiled 2 x 3 times has the same Gram matrix
    x = rng.standard_normal((1, 4, 5, 6))
    np.testing.assert_allclose(S.gram_matrix(np.tile(x, (1, 1, 2, 3))).data, S.gram_matrix(x).data, rtol=1e-12)


def test_gram_keeps_dtype(rng):
    assert S.gram_matrix(rng.standard_normal((1, 2, 3, 3)).astype(np.float32)).dtype == np.float32


def test_gram_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"gram_matrix: features must be \(N, C, H, W\).*x\[None\]"):
        S.gram_matrix(np.zeros((3, 4, 4)))


def test_gradcheck_catches_a_wrong_gram_backward(rng):
    class WrongGram(S.Gram):
        @staticmethod
        def backward(ctx, grad):  # forgets grad^T: right only for symmetric upstream gradients
            (f,) = ctx.saved
            N, C, H, W = ctx.shape
            return ((grad @ f) / (C * H * W)).reshape(N, C, H, W)

    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda x: WrongGram.apply(x), rng.standard_normal((1, 3, 2, 2)))


# ---------------------------------------------------------------------------- the losses


def test_tv_forward_matches_formula(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    expected = np.mean(np.diff(x, axis=2) ** 2) + np.mean(np.diff(x, axis=3) ** 2)
    np.testing.assert_allclose(float(S.tv_loss(x).data), expected, rtol=1e-12)
    assert float(S.tv_loss(np.full((1, 3, 4, 4), 0.7)).data) == 0.0  # a flat image has no variation


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 2, 2), (1, 2, 3, 7)])
def test_tv_grad(shape, rng):
    gradcheck(S.tv_loss, rng.standard_normal(shape))


def test_tv_rejects_single_row():
    with pytest.raises(ValueError, match="tv_loss: .*H, W >= 2"):
        S.tv_loss(np.zeros((1, 3, 1, 5)))


def test_content_loss_grad(rng):
    target = {"a": rng.standard_normal((1, 3, 4, 5)), "b": rng.standard_normal((1, 2, 2, 3))}
    gradcheck(lambda fa, fb: S.content_loss({"a": fa, "b": fb}, target),
              rng.standard_normal((1, 3, 4, 5)), rng.standard_normal((1, 2, 2, 3)))


def test_content_loss_value_and_shape_error(rng):
    f, t = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((1, 2, 3, 3))
    np.testing.assert_allclose(float(S.content_loss({"a": Tensor(f)}, {"a": t}).data), np.mean((f - t) ** 2))
    with pytest.raises(ValueError, match="content_loss: layer 'a'.*content image's size"):
        S.content_loss({"a": Tensor(f)}, {"a": t[:, :, :2]})


def test_style_loss_grad(rng):
    grams = {"a": S.gram_matrix(rng.standard_normal((1, 3, 5, 4))).data,
             "b": S.gram_matrix(rng.standard_normal((1, 2, 3, 3))).data}
    weights = {"a": 0.7, "b": 2.0}
    gradcheck(lambda fa, fb: S.style_loss({"a": fa, "b": fb}, grams, weights),
              rng.standard_normal((1, 3, 4, 5)), rng.standard_normal((1, 2, 2, 3)))


def test_style_loss_is_weighted_sum_and_zero_at_target(rng):
    fa, fb = rng.standard_normal((1, 3, 4, 5)), rng.standard_normal((1, 2, 2, 3))
    ga, gb = S.gram_matrix(fa).data, S.gram_matrix(fb).data
    assert float(S.style_loss({"a": Tensor(fa), "b": Tensor(fb)}, {"a": ga, "b": gb}, {"a": 1.0, "b": 1.0}).data) == 0
    other = {"a": ga + 0.1, "b": gb - 0.2}
    value = float(S.style_loss({"a": Tensor(fa), "b": Tensor(fb)}, other, {"a": 0.5, "b": 3.0}).data)
    np.testing.assert_allclose(value, 0.5 * 9 * 0.01 + 3.0 * 4 * 0.04)


def test_objective_grad_wrt_image(rng):
    # the whole loss, through the random network, differentiated w.r.t. the pixels (float64)
    net = SF.random_features(seed=1).double()
    content, style = smooth_image(rng, 16, 16, dtype=np.float64), smooth_image(rng, 16, 16, dtype=np.float64)
    targets = S.style_targets(net, content, style, net.content_layers, net.style_layers)
    weights = {k: 1.0 / len(net.style_layers) for k in net.style_layers}
    x = smooth_image(rng, 16, 16, dtype=np.float64)
    directional_gradcheck(lambda x: S.objective(net, x, targets, 1.0, 10.0, 0.5, weights)["loss"], x)


# ---------------------------------------------------------------------------- feature networks


def test_random_features_shapes_and_seed(rng):
    net = SF.random_features(seed=0)
    x = rng.random((1, 3, 32, 24)).astype(np.float32)
    f = net(x, ["relu1", "relu2", "relu3", "relu4"])
    assert f["relu1"].shape == (1, 96, 32, 24)  # the bank: 3 x 32 filters, sizes kept
    assert f["relu2"].shape == (1, 64, 16, 12)
    assert f["relu3"].shape == (1, 128, 8, 6)
    assert f["relu4"].shape == (1, 128, 4, 3)
    assert f["relu1"].dtype == np.float32
    same, other = SF.random_features(seed=0), SF.random_features(seed=1)
    for (k, a), b, c in zip(net.state_dict().items(), same.state_dict().values(), other.state_dict().values()):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c), k
    assert all(not p.requires_grad for p in net.parameters())  # frozen: backward fills only the image's grad


def test_feature_net_errors(rng):
    net = SF.random_features()
    with pytest.raises(ValueError, match="unknown layer.*'relu9'.*relu1"):
        net(rng.random((1, 3, 16, 16)).astype(np.float32), ["relu9"])
    with pytest.raises(ValueError, match=r"image must be \(N, C, H, W\)"):
        net(rng.random((3, 16, 16)).astype(np.float32), ["relu1"])


def test_grey_image_on_colour_network_and_back(rng):
    net = SF.random_features()
    grey = rng.random((1, 1, 16, 16)).astype(np.float32)
    a = net(grey, ["relu1"])["relu1"].data
    b = net(np.repeat(grey, 3, axis=1), ["relu1"])["relu1"].data
    np.testing.assert_allclose(a, b, rtol=1e-6)


def _fake_vgg_npz(path, rng, n_convs=3, wrong=None):
    """The first n_convs convolutions of VGG-19 under torchvision's key names, plus a head to ignore."""
    shapes = [(64, 3), (64, 64), (128, 64), (128, 128)][:n_convs]
    indices = [0, 2, 5, 7][:n_convs]
    arrays = {}
    for i, (f, c) in zip(indices, shapes):
        arrays[f"features.{i}.weight"] = (rng.standard_normal((f, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(np.float32)
        arrays[f"features.{i}.bias"] = np.zeros(f, np.float32)
    arrays["classifier.0.weight"] = np.zeros((4, 3), np.float32)
    if wrong:
        arrays[wrong] = np.zeros((5, 5, 3, 3), np.float32)
    np.savez(path, **arrays)
    return arrays


def test_vgg19_loader_on_a_fake_npz(tmp_path, rng):
    arrays = _fake_vgg_npz(tmp_path / "vgg.npz", rng)
    net = load_feature_net(f"vgg:{tmp_path / 'vgg.npz'}")
    assert net.names == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1"]
    state = net.state_dict()
    for key in ("features.0.weight", "features.2.weight", "features.5.weight", "features.5.bias"):
        np.testing.assert_array_equal(state[key], arrays[key])
    assert net.style_layers == ("relu1_1", "relu2_1") and net.content_layers == ("relu2_1",)
    f = net(rng.random((1, 3, 12, 10)).astype(np.float32), ["relu1_1", "relu2_1"])
    assert f["relu1_1"].shape == (1, 64, 12, 10) and f["relu2_1"].shape == (1, 128, 6, 5)


def test_vgg19_loader_errors(tmp_path, rng):
    _fake_vgg_npz(tmp_path / "bad.npz", rng, n_convs=2, wrong="features.5.weight")
    with pytest.raises(ValueError, match=r"features.5.weight has shape \(5, 5, 3, 3\), expected \(128, 64, 3, 3\)"):
        load_feature_net(f"vgg:{tmp_path / 'bad.npz'}")
    with pytest.raises(ValueError, match="no features.0.weight"):
        SF.vgg19_features({"classifier.0.weight": np.zeros((2, 2))})
    with pytest.raises(FileNotFoundError, match="no VGG-19 weights file"):
        load_feature_net(f"vgg:{tmp_path / 'missing.npz'}")
    assert SF.vgg19_layer_names()[34:37] == ["conv5_4", "relu5_4", "pool5"]  # torchvision's features.34/35/36


def test_sequential_features_from_a_classifier_trunk(rng):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, padding=1, rng=rng), nn.ReLU(), nn.Flatten(),
                          nn.Linear(6 * 7 * 7, 10, rng=rng))
    net = SF.sequential_features(model)
    assert net.names == ["conv1", "relu1", "pool1", "conv2", "relu2"]
    assert net.style_layers == ("relu1", "relu2") and net.content_layers == ("relu1", "relu2")
    digit = rng.random((1, 1, 14, 14)).astype(np.float32)
    assert net(digit, ["relu2"])["relu2"].shape == (1, 6, 7, 7)
    with pytest.raises(ValueError, match="no nn.Sequential starting with a Conv2d"):
        SF.sequential_features(nn.Sequential(nn.Flatten(), nn.Linear(4, 2, rng=rng)))


def test_classifier_run_as_feature_network(tmp_path, rng):
    # a `nanogen train classifier` run folder (untrained weights: the plumbing is what is tested)
    from nanogen.models.classifier_recipes import ClassifierRecipe
    from nanogen.train import save_checkpoint

    recipe = ClassifierRecipe({"model": "classifier", "lr": 1e-3}, rng)
    save_checkpoint(str(tmp_path / "checkpoint.npz"), recipe, {"config": {"model": "classifier"}})
    net = load_feature_net(f"classifier:{tmp_path}")
    assert net.names[:5] == ["conv1", "relu1", "pool1", "conv2", "relu2"] and net.in_channels == 1
    np.testing.assert_array_equal(net.features[0].weight.data, recipe.model.convs[0].weight.data)
    thin, bold = smooth_image(rng, 28, 28, C=1), smooth_image(rng, 28, 28, C=1)
    history, callback = _parts_recorder()
    result = S.stylize(net, thin, bold, S.StyleConfig(steps=15, style_weight=net.style_weight), callback=callback)
    assert result.shape == (1, 1, 28, 28)
    # measured: 15 Adam steps 0.272 -> 0.054 (5.0x)
    assert history[-1]["loss"] < history[0]["loss"] / 2.5


def test_unknown_feature_network():
    with pytest.raises(ValueError, match="unknown feature network 'alexnet'.*random, classifier"):
        load_feature_net("alexnet")


# ---------------------------------------------------------------------------- the loop


def _parts_recorder():
    history = []
    return history, (lambda step, parts: history.append(parts))


@pytest.mark.parametrize("optimizer, steps", [("adam", 12), ("lbfgs", 6)])
def test_stylize_loss_falls(optimizer, steps, rng):
    net = SF.random_features(seed=0)
    content, style = smooth_image(rng, 24, 20), smooth_image(rng, 20, 24)
    history, callback = _parts_recorder()
    cfg = S.StyleConfig(steps=steps, style_weight=30.0, lr=0.02, optimizer=optimizer)
    result = S.stylize(net, content, style, cfg, callback=callback)
    assert result.shape == content.shape and result.dtype == np.float32  # keeps the content image's size
    assert result.min() >= 0 and result.max() <= 1
    assert len(history) == steps
    # history[0] is the content image's loss (all style, content 0); measured on this image:
    # adam 12 steps 0.172 -> 0.055 (3.1x), lbfgs 6 iterations 0.172 -> 0.053 (3.2x); the total cannot
    # fall to 0, the content term grows as the style term falls
    assert history[-1]["loss"] < history[0]["loss"] / 2
    assert set(history[-1]) == {"loss", "content", "style", "tv"}


def test_texture_synthesis_from_noise(rng):
    net = SF.random_features(seed=0)
    style = smooth_image(rng, 20, 20)
    history, callback = _parts_recorder()
    cfg = S.StyleConfig(steps=20, style_weight=1.0, tv_weight=0.0)
    result = S.synthesize_texture(net, style, size=(16, 24), config=cfg, callback=callback)
    assert result.shape == (1, 3, 16, 24)
    assert set(history[0]) == {"loss", "style"}  # no content term
    # measured: 20 Adam steps from noise, 0.0103 -> 0.0015 (6.7x)
    assert history[-1]["style"] < history[0]["style"] / 3.5


def test_stylize_errors(rng):
    net = SF.random_features()
    content, style = smooth_image(rng, 16, 16), smooth_image(rng, 16, 16)
    with pytest.raises(ValueError, match="content image is 4x4, smaller than the 8 pixels"):
        S.stylize(net, content[:, :, :4, :4], style, S.StyleConfig(steps=1))
    with pytest.raises(ValueError, match="style image is 5x16"):
        S.stylize(net, content, style[:, :, :5], S.StyleConfig(steps=1))
    with pytest.raises(ValueError, match=r"content must be one image \(1, C, H, W\)"):
        S.stylize(net, content[0], style, S.StyleConfig(steps=1))
    with pytest.raises(ValueError, match="init must be 'content' or 'noise'"):
        S.stylize(net, content, style, S.StyleConfig(steps=1, init="zeros"))
    with pytest.raises(ValueError, match="2 style layer weights for 4 style layers"):
        S.stylize(net, content, style, S.StyleConfig(steps=1, style_layer_weights=(1, 2)))


# ---------------------------------------------------------------------------- images and resizing


def test_resize_area_and_bilinear(rng):
    x = rng.random((2, 3, 8, 6))
    np.testing.assert_allclose(resize(x, (4, 3)), x.reshape(2, 3, 4, 2, 3, 2).mean(axis=(3, 5)), rtol=1e-12)
    np.testing.assert_allclose(resize(x, (8, 6)), x, rtol=1e-12)  # same size: unchanged
    np.testing.assert_allclose(resize(np.full((1, 5, 7), 0.3), (11, 3)), 0.3, rtol=1e-12)  # rows sum to 1
    np.testing.assert_allclose(resize(np.array([[0.0, 1.0]]), (1, 4)), [[0, 0.25, 0.75, 1]])  # half-pixel centres
    assert resize(x.astype(np.float32), (5, 7)).dtype == np.float32
    with pytest.raises(ValueError, match="resize: size must be positive"):
        resize(x, (0, 3))


def test_load_sample_images():
    hopper = load_image("grace_hopper")
    assert hopper.shape == (1, 3, 600, 512) and hopper.dtype == np.float32  # a JPEG: Pillow works
    assert 0 <= hopper.min() and hopper.max() <= 1 and hopper.max() > 0.9
    terrain = load_image("terrain")
    assert terrain.shape == (1, 3, 344, 403)
    assert fit_size(hopper, 64).shape == (1, 3, 64, 55)  # the longer side becomes 64


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file 'nope.png'.*grace_hopper"):
        load_image("nope.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read .*broken.png"):
        load_image(str(tmp_path / "broken.png"))
    with pytest.raises(ValueError, match="mnist:INDEX"):
        load_image("mnist:seven")


# ---------------------------------------------------------------------------- the command


def _parse(argv):
    parser = argparse.ArgumentParser(prog="nanogen")
    add_style_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["style"] + argv)


def test_cli_writes_result_and_panel(tmp_path, capsys):
    import matplotlib.image as mpimg

    out = tmp_path / "r.png"
    assert cmd_style(_parse(["--size", "24", "--steps", "2", "--quiet", "--out", str(out)])) == 0
    assert out.exists() and (tmp_path / "r_panel.png").exists()
    assert mpimg.imread(out).shape[:2] == (24, 20)  # grace_hopper is 600 x 512: 24 x round(20.48), the content's size
    assert capsys.readouterr().out.strip() == str(out)


def test_cli_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _parse(["--size", "0"])
    assert "--size must be a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse(["--tv-weight", "-1"])
    with pytest.raises(ValueError, match="smaller than the 8 pixels"):
        cmd_style(_parse(["--size", "6", "--steps", "1", "--quiet", "--out", str(tmp_path / "r.png")]))
    with pytest.raises(FileNotFoundError, match="no image file"):
        cmd_style(_parse(["--content", str(tmp_path / "missing.jpg"), "--quiet"]))
    with pytest.raises(ValueError, match="unknown feature network"):
        cmd_style(_parse(["--features", "vgg19", "--quiet"]))
    with pytest.raises(FileNotFoundError, match="no classifier checkpoint"):
        cmd_style(_parse(["--features", f"classifier:{tmp_path}", "--quiet"]))
    assert not os.path.exists(tmp_path / "r.png")  # nothing written when the arguments are wrong
