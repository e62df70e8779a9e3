"""Tests for the layers in nanogen/nn/: forward against NumPy (and PyTorch with the same weights
when torch is importable), output shapes against the PyTorch formulas, parameter layouts, modes,
and the error messages that name the fix.

Layers whose ops live in ops/conv.py, ops/pool.py and ops/norm.py skip (with the reason) while
those op files are missing; every other test runs without torch.
"""

import math

import numpy as np
import pytest

import nanogen as ng
from nanogen import nn
from nanogen.gradcheck import gradcheck
from nanogen.nn import functional_call
from nanogen.kernels.conv import conv_output_size, conv_transpose_output_size
from nanogen.kernels.pool import pool_output_size


def conv2d_output_size(H, W, k, s, p, d):
    return conv_output_size(H, k[0], s[0], p[0], d[0]), conv_output_size(W, k[1], s[1], p[1], d[1])


def conv_transpose2d_output_size(H, W, k, s, p, op, d):
    return (conv_transpose_output_size(H, k[0], s[0], p[0], op[0], d[0]),
            conv_transpose_output_size(W, k[1], s[1], p[1], op[1], d[1]))


def pool2d_output_size(H, W, k, s, p):
    return pool_output_size(H, W, k[0], k[1], s[0], s[1], p[0], p[1])


def needs(op_module):
    """Skip (naming the missing file) until the op module a layer calls exists."""
    return pytest.importorskip(f"nanogen.ops.{op_module}", reason=f"nanogen/ops/{op_module}.py not written yet")


def torch_or_skip():
    return pytest.importorskip("torch")


def run_torch(tmod, module, x):
    """Copy our weights into the torch module (strict: same keys, shapes) and run it on x."""
    torch = torch_or_skip()
    tmod.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in module.state_dict().items()})
    with torch.no_grad():
        return tmod(torch.from_numpy(x)).numpy()


# ---------------------------------------------------------------------------- NumPy references


def conv2d_np(x, w, b, stride, padding, dilation, groups):
    """Direct loops: y[n, f, i, j] = b[f] + Σ_{c,u,v} x_pad[n, g*Cg + c, i*S + u*D, j*S + v*D] w[f, c, u, v]."""
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    OH, OW = conv2d_output_size(H, W, (KH, KW), stride, padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    y = np.zeros((N, F, OH, OW))
    for f in range(F):
        g = f // (F // groups)
        xs = xp[:, g * Cg : (g + 1) * Cg]
        for i in range(OH):
            for j in range(OW):
                patch = xs[:, :, i * SH : i * SH + DH * (KH - 1) + 1 : DH, j * SW : j * SW + DW * (KW - 1) + 1 : DW]
                y[:, f, i, j] = (patch * w[f]).sum(axis=(1, 2, 3))
    return y + (0 if b is None else b[None, :, None, None])


def conv_transpose2d_np(x, w, b, stride, padding, output_padding, dilation, groups):
    """Scatter: each x[n, c, i, j] adds x * w[c, fo] into the output window at (i*S, j*S), then crop padding."""
    (SH, SW), (PH, PW), (OPH, OPW), (DH, DW) = stride, padding, output_padding, dilation
    N, C, H, W = x.shape
    _, Fg, KH, KW = w.shape
    Cg = C // groups
    full = np.zeros((N, Fg * groups, (H - 1) * SH + DH * (KH - 1) + 1 + OPH, (W - 1) * SW + DW * (KW - 1) + 1 + OPW))
    for c in range(C):
        g = c // Cg
        for i in range(H):
            for j in range(W):
                full[:, g * Fg : (g + 1) * Fg, i * SH : i * SH + DH * (KH - 1) + 1 : DH,
                     j * SW : j * SW + DW * (KW - 1) + 1 : DW] += x[:, c, i, j][:, None, None, None] * w[c]
    OH, OW = conv_transpose2d_output_size(H, W, (KH, KW), stride, padding, output_padding, dilation)
    y = full[:, :, PH : PH + OH, PW : PW + OW]
    return y + (0 if b is None else b[None, :, None, None])


def pool2d_np(x, k, s, p, reduce):
    N, C, H, W = x.shape
    OH, OW = pool2d_output_size(H, W, (k, k), (s, s), (p, p))
    fill = -np.inf if reduce is np.max else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    y = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            y[:, :, i, j] = reduce(xp[:, :, i * s : i * s + k, j * s : j * s + k], axis=(2, 3))
    return y


# ---------------------------------------------------------------------------- Linear, Identity


def test_linear_forward_matches_numpy_and_layout(rng):
    m = nn.Linear(5, 3, rng=rng)
    assert m.weight.shape == (3, 5) and m.bias.shape == (3,) and m.weight.dtype == np.float32
    x = rng.standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(m(ng.Tensor(x)).data, x @ m.weight.data.T + m.bias.data, rtol=1e-6)
    x3 = rng.standard_normal((2, 4, 5)).astype(np.float32)  # leading batch dims, as PyTorch
    assert m(ng.Tensor(x3)).shape == (2, 4, 3)
    nb = nn.Linear(5, 3, bias=False, rng=rng)
    assert nb.bias is None and [n for n, _ in nb.named_parameters()] == ["weight"]
    np.testing.assert_allclose(nb(ng.Tensor(x)).data, x @ nb.weight.data.T, rtol=1e-6)


def test_linear_float64_and_gradients(rng):
    m = nn.Linear(4, 3, dtype=np.float64, rng=rng)
    assert m.weight.dtype == np.float64 and m.bias.dtype == np.float64
    x = rng.standard_normal((5, 4))
    gradcheck(lambda x, w, b: functional_call(m, {"weight": w, "bias": b}, x), x, m.weight.data.copy(),
              m.bias.data.copy())


def test_linear_input_errors_name_the_fix(rng):
    m = nn.Linear(784, 400, rng=rng)
    with pytest.raises(ValueError, match=r"linear: expected x of shape \(\.\.\., 784\), got shape \(2, 28, 28\); "
                                         r"flatten it first with x\.reshape\(2, -1\) or nn\.Flatten\(\)"):
        m(ng.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"expected x of shape \(\.\.\., 784\), got shape \(2, 100\)$"):
        m(ng.zeros(2, 100))
    with pytest.raises(TypeError, match="linear: x is float64 but weight is float32"):
        m(ng.zeros(2, 784, dtype=np.float64))
    with pytest.raises(TypeError, match="linear: expected a Tensor, got list"):
        m([[0.0] * 784])
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        nn.Linear(0, 3)
    with pytest.raises(TypeError, match="float32 or np.float64"):
        nn.Linear(2, 3, dtype=np.int32)


def test_identity_returns_its_input():
    x = ng.randn(2, 3)
    assert nn.Identity(54, unused="ok")(x) is x


# ---------------------------------------------------------------------------- Embedding


def test_embedding_looks_up_rows_and_accumulates_repeated_ids(rng):
    emb = nn.Embedding(6, 3, rng=rng)
    assert emb.weight.shape == (6, 3)
    idx = np.array([[1, 4, 1], [0, 5, 1]])
    y = emb(ng.Tensor(idx))
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y.data, emb.weight.data[idx])
    y.sum().backward()
    counts = np.bincount(idx.ravel(), minlength=6)
    np.testing.assert_array_equal(emb.weight.grad, np.repeat(counts[:, None], 3, axis=1))
    np.testing.assert_array_equal(emb([2, 3]).data, emb.weight.data[[2, 3]])  # lists and arrays work too


def test_embedding_errors():
    emb = nn.Embedding(4, 2)
    with pytest.raises(TypeError, match=r"indices must be integers, got dtype float32; convert them with \.long\(\)"):
        emb(ng.tensor([1.0, 2.0]))
    with pytest.raises(IndexError, match=r"index 4 is out of range .* \[0, 3\]"):
        emb(np.array([0, 4]))
    with pytest.raises(IndexError, match="index -1"):
        emb(np.array([-1]))


# ---------------------------------------------------------------------------- activations


ACTIVATIONS = [
    (lambda: nn.ReLU(), lambda x: np.maximum(x, 0)),
    (lambda: nn.LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    (lambda: nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (lambda: nn.ELU(), lambda x: np.where(x > 0, x, np.expm1(x))),
    (lambda: nn.ELU(alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (lambda: nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (lambda: nn.Tanh(), np.tanh),
    (lambda: nn.Softplus(), lambda x: np.log1p(np.exp(x))),
    (lambda: nn.Softplus(beta=2.0), lambda x: np.log1p(np.exp(2 * x)) / 2),
]


@pytest.mark.parametrize("make, reference", ACTIVATIONS)
def test_activation_forward_matches_numpy(make, reference, rng):
    x = 3 * rng.standard_normal((4, 7))
    np.testing.assert_allclose(make()(ng.Tensor(x)).data, reference(x), rtol=1e-12, atol=1e-12)


def test_activation_reprs_like_pytorch():
    assert [repr(m) for m in (nn.ReLU(), nn.LeakyReLU(0.2), nn.ELU(), nn.Sigmoid(), nn.Tanh(), nn.Softplus())] == [
        "ReLU()", "LeakyReLU(negative_slope=0.2)", "ELU(alpha=1.0)", "Sigmoid()", "Tanh()",
        "Softplus(beta=1.0, threshold=20.0)"]


# ---------------------------------------------------------------------------- Flatten, Unflatten


def test_flatten_and_unflatten_shapes(rng):
    x = ng.randn(2, 3, 4, 5, rng=rng)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    y = nn.Unflatten(1, (3, 4, 5))(nn.Flatten()(x))
    np.testing.assert_array_equal(y.data, x.data)
    assert nn.Unflatten(-1, (2, -1))(ng.zeros(3, 8)).shape == (3, 2, 4)
    with pytest.raises(ValueError, match=r"size 60 .* cannot be split into \(7, 8\)"):
        nn.Unflatten(1, (7, 8))(ng.zeros(2, 60))
    with pytest.raises(ValueError, match="dim 3 is out of range"):
        nn.Flatten(3)(ng.zeros(2, 3))


def test_flatten_unflatten_match_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    for ours, theirs in [(nn.Flatten(), torch.nn.Flatten()), (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
                         (nn.Unflatten(1, (3, 1)), torch.nn.Unflatten(1, (3, 1)))]:
        np.testing.assert_array_equal(ours(ng.Tensor(x)).data, run_torch(theirs, ours, x))
        assert repr(ours) == repr(theirs)


# ---------------------------------------------------------------------------- Conv2d


CONV_CASES = [  # (C, F, kernel, stride, padding, dilation, groups, (H, W))
    (1, 2, 3, 1, 0, 1, 1, (5, 6)),
    (3, 4, 3, 2, 1, 1, 1, (7, 6)),
    (2, 3, (3, 2), (2, 1), (1, 0), 1, 1, (6, 5)),
    (4, 6, 3, 1, 2, 2, 2, (5, 5)),
    (2, 2, 1, 3, 0, 1, 2, (7, 7)),
]


@pytest.mark.parametrize("C, F, k, s, p, d, g, hw", CONV_CASES)
def test_conv2d_forward_matches_numpy_and_shape_formula(C, F, k, s, p, d, g, hw, rng):
    needs("conv")
    m = nn.Conv2d(C, F, k, stride=s, padding=p, dilation=d, groups=g, dtype=np.float64, rng=rng)
    KH, KW = m.kernel_size
    assert m.weight.shape == (F, C // g, KH, KW) and m.bias.shape == (F,)
    x = rng.standard_normal((2, C) + hw)
    y = m(ng.Tensor(x))
    OH, OW = conv2d_output_size(*hw, m.kernel_size, m.stride, m.padding, m.dilation)
    SH, PH, DH = m.stride[0], m.padding[0], m.dilation[0]
    assert y.shape == (2, F, OH, OW) and OH == (hw[0] + 2 * PH - DH * (KH - 1) - 1) // SH + 1
    expected = conv2d_np(x, m.weight.data, m.bias.data, m.stride, m.padding, m.dilation, g)
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("C, F, k, s, p, d, g, hw", CONV_CASES[:3])
def test_conv2d_matches_torch(C, F, k, s, p, d, g, hw, rng):
    needs("conv")
    torch = torch_or_skip()
    m = nn.Conv2d(C, F, k, stride=s, padding=p, dilation=d, groups=g, rng=rng)
    t = torch.nn.Conv2d(C, F, k, stride=s, padding=p, dilation=d, groups=g)
    x = rng.standard_normal((2, C) + hw).astype(np.float32)
    np.testing.assert_allclose(m(ng.Tensor(x)).data, run_torch(t, m, x), rtol=1e-4, atol=1e-5)
    assert repr(m) == repr(t)


def test_conv2d_without_bias_and_its_gradient(rng):
    needs("conv")
    m = nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False, dtype=np.float64, rng=rng)
    assert m.bias is None and "bias=False" in repr(m)
    x = rng.standard_normal((1, 2, 5, 4))
    np.testing.assert_allclose(m(ng.Tensor(x)).data, conv2d_np(x, m.weight.data, None, (2, 2), (1, 1), (1, 1), 1),
                               rtol=1e-10, atol=1e-12)
    gradcheck(lambda x, w: functional_call(m, {"weight": w}, x), x, m.weight.data.copy())


def test_conv2d_errors_name_the_fix(rng):
    m = nn.Conv2d(1, 4, 3, rng=rng)
    with pytest.raises(ValueError, match=r"conv2d: x must be \(N, C, H, W\), got shape \(1, 28, 28\); "
                                         r"add a batch axis with x\[None\]"):
        m(ng.zeros(1, 28, 28))
    with pytest.raises(ValueError, match=r"x\[None, None\]"):
        m(ng.zeros(28, 28))
    with pytest.raises(ValueError, match=r"conv2d: x has 3 channels \(shape \(2, 3, 8, 8\)\) but weight expects 1"):
        m(ng.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="larger than the padded input"):
        m(ng.zeros(1, 1, 2, 8))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode='zeros'"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        nn.Conv2d(3, 4, 0)


# ---------------------------------------------------------------------------- ConvTranspose2d


CONVT_CASES = [  # (C, F, kernel, stride, padding, output_padding, dilation, groups, (H, W))
    (2, 3, 4, 2, 1, 0, 1, 1, (3, 4)),  # the DCGAN block: doubles H and W
    (1, 2, 3, 2, 1, 1, 1, 1, (4, 3)),
    (3, 2, (3, 2), (1, 2), (0, 1), 0, 1, 1, (3, 3)),
    (4, 2, 3, 1, 1, 0, 2, 2, (4, 4)),
]


@pytest.mark.parametrize("C, F, k, s, p, op, d, g, hw", CONVT_CASES)
def test_conv_transpose2d_forward_matches_numpy_and_shape_formula(C, F, k, s, p, op, d, g, hw, rng):
    needs("conv")
    m = nn.ConvTranspose2d(C, F, k, stride=s, padding=p, output_padding=op, dilation=d, groups=g,
                           dtype=np.float64, rng=rng)
    KH, KW = m.kernel_size
    assert m.weight.shape == (C, F // g, KH, KW) and m.bias.shape == (F,)
    x = rng.standard_normal((2, C) + hw)
    y = m(ng.Tensor(x))
    OH, OW = conv_transpose2d_output_size(*hw, m.kernel_size, m.stride, m.padding, m.output_padding, m.dilation)
    assert y.shape == (2, F, OH, OW)
    assert OH == (hw[0] - 1) * m.stride[0] - 2 * m.padding[0] + m.dilation[0] * (KH - 1) + m.output_padding[0] + 1
    expected = conv_transpose2d_np(x, m.weight.data, m.bias.data, m.stride, m.padding, m.output_padding,
                                   m.dilation, g)
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)


def test_conv_transpose2d_doubles_the_image_size(rng):
    needs("conv")
    assert nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, rng=rng)(ng.zeros(2, 8, 7, 7)).shape == (2, 4, 14, 14)


@pytest.mark.parametrize("C, F, k, s, p, op, d, g, hw", CONVT_CASES[:2])
def test_conv_transpose2d_matches_torch(C, F, k, s, p, op, d, g, hw, rng):
    needs("conv")
    torch = torch_or_skip()
    m = nn.ConvTranspose2d(C, F, k, stride=s, padding=p, output_padding=op, dilation=d, groups=g, rng=rng)
    t = torch.nn.ConvTranspose2d(C, F, k, stride=s, padding=p, output_padding=op, dilation=d, groups=g)
    x = rng.standard_normal((2, C) + hw).astype(np.float32)
    np.testing.assert_allclose(m(ng.Tensor(x)).data, run_torch(t, m, x), rtol=1e-4, atol=1e-5)
    assert repr(m) == repr(t)


def test_conv_transpose2d_errors(rng):
    with pytest.raises(ValueError, match="output_padding .* must be smaller than either the stride"):
        nn.ConvTranspose2d(2, 2, 3, stride=1, output_padding=1)
    m = nn.ConvTranspose2d(2, 3, 4, 2, 1, rng=rng)
    with pytest.raises(ValueError, match=r"add a batch axis with x\[None\]"):
        m(ng.zeros(2, 5, 5))
    with pytest.raises(ValueError, match="conv_transpose2d: x has 3 channels .* but weight expects 2"):
        m(ng.zeros(1, 3, 5, 5))


# ---------------------------------------------------------------------------- pooling, upsampling


POOL_CASES = [(2, None, 0, (6, 6)), (3, 2, 1, (7, 6)), (2, 1, 1, (5, 4)), (3, 3, 0, (8, 7))]


@pytest.mark.parametrize("k, s, p, hw", POOL_CASES)
@pytest.mark.parametrize("layer, reduce", [(nn.MaxPool2d, np.max), (nn.AvgPool2d, np.mean)])
def test_pool_forward_matches_numpy_and_shape_formula(layer, reduce, k, s, p, hw, rng):
    needs("pool")
    m = layer(k, stride=s, padding=p)
    x = rng.standard_normal((2, 3) + hw)
    y = m(ng.Tensor(x))
    stride = k if s is None else s
    OH, OW = pool2d_output_size(*hw, (k, k), (stride, stride), (p, p))
    assert y.shape == (2, 3, OH, OW) and OH == (hw[0] + 2 * p - k) // stride + 1
    np.testing.assert_allclose(y.data, pool2d_np(x, k, stride, p, reduce), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k, s, p, hw", POOL_CASES[:2])
def test_pools_match_torch(k, s, p, hw, rng):
    needs("pool")
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3) + hw).astype(np.float32)
    for ours, theirs in [(nn.MaxPool2d(k, s, p), torch.nn.MaxPool2d(k, s, p)),
                         (nn.AvgPool2d(k, s, p), torch.nn.AvgPool2d(k, s, p))]:
        np.testing.assert_allclose(ours(ng.Tensor(x)).data, run_torch(theirs, ours, x), rtol=1e-5, atol=1e-6)
        assert repr(ours) == repr(theirs)


def test_pool_errors_and_unsupported_options():
    with pytest.raises(ValueError, match=r"max_pool2d: x must be \(N, C, H, W\).*x\[None\]"):
        nn.MaxPool2d(2)(ng.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="at most half the kernel size"):
        nn.AvgPool2d(2, padding=2)
    with pytest.raises(ValueError, match="ceil_mode=True is not supported"):
        nn.MaxPool2d(2, ceil_mode=True)
    with pytest.raises(ValueError, match="count_include_pad=False is not supported"):
        nn.AvgPool2d(2, count_include_pad=False)
    with pytest.raises(ValueError, match="smaller than the window"):
        nn.MaxPool2d(3)(ng.zeros(1, 1, 2, 2))
    assert nn.MaxPool2d(2).stride == 2 and nn.MaxPool2d(3, 1).stride == 1


@pytest.mark.parametrize("scale", [1, 2, 3, (2, 3)])
def test_upsample_nearest_repeats_pixels(scale, rng):
    needs("pool")
    SH, SW = scale if isinstance(scale, tuple) else (scale, scale)
    x = rng.standard_normal((2, 3, 4, 5))
    y = nn.Upsample(scale_factor=scale)(ng.Tensor(x))
    assert y.shape == (2, 3, 4 * SH, 5 * SW)
    np.testing.assert_array_equal(y.data, x.repeat(SH, axis=2).repeat(SW, axis=3))
    by_size = nn.Upsample(size=(4 * SH, 5 * SW))(ng.Tensor(x))
    np.testing.assert_array_equal(by_size.data, y.data)


def test_upsample_bilinear_keeps_constants_and_matches_torch(rng):
    needs("pool")
    up = nn.Upsample(scale_factor=2, mode="bilinear")
    np.testing.assert_allclose(up(ng.full((1, 1, 3, 3), 0.5)).data, 0.5, rtol=1e-6)
    torch = torch_or_skip()
    x = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
    theirs = torch.nn.Upsample(scale_factor=2, mode="bilinear")
    np.testing.assert_allclose(up(ng.Tensor(x)).data, run_torch(theirs, up, x), rtol=1e-5, atol=1e-6)


def test_upsample_matches_torch(rng):
    needs("pool")
    torch = torch_or_skip()
    x = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
    for ours, theirs in [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
                         (nn.Upsample(scale_factor=(1, 3)), torch.nn.Upsample(scale_factor=(1, 3))),
                         (nn.Upsample(size=(6, 8)), torch.nn.Upsample(size=(6, 8)))]:
        np.testing.assert_array_equal(ours(ng.Tensor(x)).data, run_torch(theirs, ours, x))
        assert repr(ours) == repr(theirs)
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"


def test_upsample_argument_errors():
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()
    with pytest.raises(ValueError, match="whole number >= 1"):
        nn.Upsample(scale_factor=1.5)
    with pytest.raises(ValueError, match="mode must be 'nearest' or 'bilinear'"):
        nn.Upsample(scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="whole multiple"):
        nn.Upsample(size=(5, 8))(ng.zeros(1, 1, 2, 4))


@pytest.mark.parametrize("output_size, hw", [(1, (5, 4)), ((2, 3), (4, 6)), (2, (4, 4))])
def test_adaptive_avg_pool_matches_numpy(output_size, hw, rng):
    needs("pool")
    x = rng.standard_normal((2, 3) + hw)
    OH, OW = (output_size, output_size) if isinstance(output_size, int) else output_size
    y = nn.AdaptiveAvgPool2d(output_size)(ng.Tensor(x))
    assert y.shape == (2, 3, OH, OW)
    # sizes that divide evenly: plain non-overlapping block means
    expected = x.reshape(2, 3, OH, hw[0] // OH, OW, hw[1] // OW).mean(axis=(3, 5))
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)


def test_adaptive_avg_pool_matches_torch(rng):
    needs("pool")
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 7, 5)).astype(np.float32)  # uneven: overlapping windows
    ours, theirs = nn.AdaptiveAvgPool2d((3, 2)), torch.nn.AdaptiveAvgPool2d((3, 2))
    np.testing.assert_allclose(ours(ng.Tensor(x)).data, run_torch(theirs, ours, x), rtol=1e-5, atol=1e-6)
    assert repr(ours) == repr(theirs)


# ---------------------------------------------------------------------------- BatchNorm


def test_batchnorm_parameters_and_buffers_like_pytorch():
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    np.testing.assert_array_equal(bn.weight.data, 1)
    np.testing.assert_array_equal(bn.running_var.data, 1)
    assert bn.num_batches_tracked.data.shape == () and bn.num_batches_tracked.dtype == np.int64
    plain = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert plain.state_dict() == {} and plain.weight is None and plain.running_mean is None
    assert repr(plain) == "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=False)"


@pytest.mark.parametrize("layer, shape, axes", [(nn.BatchNorm1d, (6, 3), (0,)), (nn.BatchNorm1d, (4, 3, 5), (0, 2)),
                                                (nn.BatchNorm2d, (4, 3, 5, 2), (0, 2, 3))])
def test_batchnorm_train_and_eval_match_numpy(layer, shape, axes, rng):
    needs("norm")
    bn = layer(3, momentum=0.3, dtype=np.float64)
    bn.weight.data[...] = rng.standard_normal(3)
    bn.bias.data[...] = rng.standard_normal(3)
    x = 2 + 3 * rng.standard_normal(shape)
    keep = [1 if i in axes else n for i, n in enumerate(shape)]

    def expected(mean, var):
        return ((x - mean.reshape(keep)) / np.sqrt(var.reshape(keep) + 1e-5) * bn.weight.data.reshape(keep)
                + bn.bias.data.reshape(keep))

    mean, var = x.mean(axis=axes), x.var(axis=axes)
    np.testing.assert_allclose(bn(ng.Tensor(x)).data, expected(mean, var), rtol=1e-9, atol=1e-10)
    m = x.size // 3
    np.testing.assert_allclose(bn.running_mean.data, 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, 0.7 + 0.3 * var * m / (m - 1), rtol=1e-12)  # unbiased
    assert int(bn.num_batches_tracked.data) == 1
    bn.eval()
    rm, rv = bn.running_mean.data.copy(), bn.running_var.data.copy()
    np.testing.assert_allclose(bn(ng.Tensor(x)).data, expected(rm, rv), rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(bn.running_mean.data, rm)  # eval does not move the statistics
    assert int(bn.num_batches_tracked.data) == 1


def test_batchnorm_momentum_none_is_a_cumulative_average(rng):
    needs("norm")
    bn = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [rng.standard_normal((5, 2)) + i for i in range(3)]
    for b in batches:
        bn(ng.Tensor(b))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
    assert int(bn.num_batches_tracked.data) == 3


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval(rng):
    needs("norm")
    bn = nn.BatchNorm1d(3, track_running_stats=False, affine=False, dtype=np.float64).eval()
    x = rng.standard_normal((5, 3))
    np.testing.assert_allclose(bn(ng.Tensor(x)).data, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-9)


def test_batchnorm_sequence_matches_torch(rng):
    needs("norm")
    torch = torch_or_skip()
    bn, t = nn.BatchNorm2d(3, momentum=0.2), torch.nn.BatchNorm2d(3, momentum=0.2)
    bn.weight.data[...] = rng.standard_normal(3)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in bn.state_dict().items()})
    for _ in range(3):
        x = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
        with torch.no_grad():
            expected = t(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(bn(ng.Tensor(x)).data, expected, rtol=1e-4, atol=1e-5)
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[k], v.numpy(), rtol=1e-5, atol=1e-6)
    bn.eval(), t.eval()
    x = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)
    with torch.no_grad():
        expected = t(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(bn(ng.Tensor(x)).data, expected, rtol=1e-4, atol=1e-5)
    assert repr(bn) == repr(t)


def test_batchnorm_gradient(rng):
    needs("norm")
    bn = nn.BatchNorm2d(2, dtype=np.float64)
    x = rng.standard_normal((3, 2, 2, 2))
    gradcheck(lambda x, w, b: functional_call(bn, {"weight": w, "bias": b}, x), x,
              rng.standard_normal(2), rng.standard_normal(2))


def test_batchnorm_input_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input \(N, C, H, W\).*x\[None\]"):
        nn.BatchNorm2d(3)(ng.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="for images .* use BatchNorm2d"):
        nn.BatchNorm1d(3)(ng.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"x has 4 channels in dim 1 but weight has shape \(3,\)"):
        nn.BatchNorm1d(3)(ng.zeros(2, 4))
    with pytest.raises(ValueError, match="more than one value per channel"):
        nn.BatchNorm1d(3)(ng.zeros(1, 3))
    with pytest.raises(ValueError, match="momentum must be in"):
        nn.BatchNorm1d(3, momentum=1.5)


# ---------------------------------------------------------------------------- LayerNorm


@pytest.mark.parametrize("normalized_shape, shape", [(5, (3, 5)), ((4, 5), (2, 3, 4, 5)), ([6], (6,))])
def test_layernorm_matches_numpy(normalized_shape, shape, rng):
    needs("norm")
    ln = nn.LayerNorm(normalized_shape, dtype=np.float64)
    ns = ln.normalized_shape
    assert ln.weight.shape == ns and ln.bias.shape == ns
    ln.weight.data[...] = rng.standard_normal(ns)
    ln.bias.data[...] = rng.standard_normal(ns)
    x = rng.standard_normal(shape)
    axes = tuple(range(len(shape) - len(ns), len(shape)))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * ln.weight.data + ln.bias.data
    np.testing.assert_allclose(ln(ng.Tensor(x)).data, expected, rtol=1e-9, atol=1e-10)
    ln.eval()  # no running statistics: eval gives the same numbers
    np.testing.assert_allclose(ln(ng.Tensor(x)).data, expected, rtol=1e-9, atol=1e-10)


def test_layernorm_matches_torch(rng):
    needs("norm")
    torch = torch_or_skip()
    ln, t = nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))
    ln.weight.data[...] = rng.standard_normal((3, 4))
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(ln(ng.Tensor(x)).data, run_torch(t, ln, x), rtol=1e-4, atol=1e-5)
    assert repr(ln) == repr(t)
    assert repr(nn.LayerNorm(4, elementwise_affine=False)) == repr(torch.nn.LayerNorm(4, elementwise_affine=False))


def test_layernorm_gradient(rng):
    needs("norm")
    ln = nn.LayerNorm(4, dtype=np.float64)
    gradcheck(lambda x, w, b: functional_call(ln, {"weight": w, "bias": b}, x), rng.standard_normal((3, 4)),
              rng.standard_normal(4), rng.standard_normal(4))


def test_layernorm_errors():
    with pytest.raises(ValueError, match=r"layer_norm: expected x of shape \(\.\.\., 4, 5\).*got shape \(2, 5, 4\)"):
        nn.LayerNorm((4, 5))(ng.zeros(2, 5, 4))
    assert nn.LayerNorm(3, elementwise_affine=False).state_dict() == {}


# ---------------------------------------------------------------------------- Dropout


def test_dropout_train_zeroes_and_rescales_eval_is_identity(rng):
    needs("norm")
    drop = nn.Dropout(0.25, rng=rng)
    x = ng.ones(200, 500)
    y = drop(x).data
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01  # 100,000 draws: std of the mean is 0.0014
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)  # inverted dropout: E[y] = x
    assert not np.array_equal(drop(x).data, y)  # a fresh mask each call
    drop.eval()
    np.testing.assert_array_equal(drop(x).data, x.data)
    assert nn.Dropout(0.0, rng=rng)(x).data.min() == 1.0


def test_dropout_same_seed_same_mask():
    needs("norm")
    x = ng.ones(4, 6)
    a = nn.Dropout(0.5, rng=np.random.default_rng(3))(x).data
    b = nn.Dropout(0.5, rng=np.random.default_rng(3))(x).data
    np.testing.assert_array_equal(a, b)


def test_dropout_arguments():
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\), got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="would drop everything"):
        nn.Dropout(1.0)
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    model.eval()
    assert not model[1].training  # eval() reaches the dropout inside a model


# ---------------------------------------------------------------------------- a small CNN end to end


def test_small_cnn_shapes_and_gradients(rng):
    needs("conv"), needs("pool"), needs("norm")
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=rng), nn.BatchNorm2d(2), nn.LeakyReLU(0.2), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * 3 * 3, 4, rng=rng), nn.ELU(), nn.Linear(4, 2 * 3 * 3, rng=rng),
        nn.Unflatten(1, (2, 3, 3)), nn.Upsample(scale_factor=2), nn.ConvTranspose2d(2, 1, 3, padding=1, rng=rng),
        nn.Sigmoid(),
    ).double()
    x = rng.standard_normal((2, 1, 6, 6))
    assert model(ng.Tensor(x)).shape == (2, 1, 6, 6)
    names = [n for n, _ in model.named_parameters()]
    weights = [p.data.copy() for p in model.parameters()]
    model.eval()  # running statistics fixed: the function is deterministic
    from nanogen.gradcheck import directional_gradcheck

    assert directional_gradcheck(lambda x, *ws: functional_call(model, dict(zip(names, ws)), x), x, *weights)
    assert math.isfinite(float(model(ng.Tensor(x)).sum().item()))
