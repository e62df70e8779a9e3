"""pixel_shuffle / pixel_unshuffle (nanogen/ops/shape.py): forward against the index formula of
torch.nn.PixelShuffle, backward by finite differences, the layer, errors. The op is one reshape
and one permutation in NumPy (no Numba kernel), so both kernel paths run the very same code; one
gradcheck still runs in a fresh process with NANOGEN_KERNELS=numpy to hold that true."""

import os
import subprocess
import sys

import numpy as np
import pytest

from nanogen import functional as F
from nanogen import nn
from nanogen.gradcheck import gradcheck
from nanogen.tensor import Tensor


def pixel_shuffle_loop(x, r):
    """The definition, one output pixel at a time: y[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w]."""
    N, CRR, H, W = x.shape
    C = CRR // (r * r)
    y = np.empty((N, C, H * r, W * r), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    for i in range(r):
                        for j in range(r):
                            y[n, c, h * r + i, w * r + j] = x[n, c * r * r + i * r + j, h, w]
    return y


@pytest.mark.parametrize("shape, r", [((2, 4, 3, 5), 2), ((1, 9, 2, 2), 3), ((3, 8, 1, 1), 2), ((1, 1, 4, 3), 1)])
def test_pixel_shuffle_forward_matches_definition(shape, r, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    y = F.pixel_shuffle(Tensor(x), r)
    N, CRR, H, W = shape
    assert y.shape == (N, CRR // (r * r), H * r, W * r)          # the docstring's shape formula
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, pixel_shuffle_loop(x, r))


@pytest.mark.parametrize("shape, r", [((2, 4, 3, 5), 2), ((1, 9, 2, 2), 3)])
def test_pixel_unshuffle_inverts_pixel_shuffle(shape, r, rng):
    x = rng.standard_normal(shape)
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(Tensor(x), r), r).data, x)
    up = rng.standard_normal((2, 3, 6, 9))
    np.testing.assert_array_equal(F.pixel_shuffle(F.pixel_unshuffle(Tensor(up), 3), 3).data, up)


def test_pixel_shuffle_first_block_by_hand():
    """The 2x2 block at the top left is channels 0, 1 (first row) and 2, 3 (second row)."""
    x = np.arange(8.0).reshape(1, 8, 1, 1)                        # C = 2 after the shuffle
    y = F.pixel_shuffle(Tensor(x), 2).data
    np.testing.assert_array_equal(y[0, 0], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(y[0, 1], [[4, 5], [6, 7]])


@pytest.mark.parametrize("shape, r", [((2, 8, 3, 2), 2), ((1, 9, 2, 3), 3)])
def test_pixel_shuffle_grad(shape, r, rng):
    x = rng.standard_normal(shape)
    weight = rng.standard_normal((shape[0], shape[1] // (r * r), shape[2] * r, shape[3] * r))
    gradcheck(lambda x: F.pixel_shuffle(x, r) * Tensor(weight), x)    # a weighted sum: every position counts


def test_pixel_unshuffle_grad(rng):
    gradcheck(lambda x: F.pixel_unshuffle(x, 2) ** 2, rng.standard_normal((2, 1, 4, 6)))


def test_pixel_shuffle_grad_on_the_numpy_kernel_path():
    code = ("import numpy as np; from nanogen import functional as F; from nanogen.gradcheck import gradcheck; "
            "import nanogen.kernels as K; assert not K.USE_NUMBA, 'numpy path expected'; "
            "x = np.random.default_rng(1).standard_normal((2, 8, 3, 2)); "
            "gradcheck(lambda x: F.pixel_shuffle(x, 2) ** 2, x); print('ok')")
    env = {**os.environ, "NANOGEN_KERNELS": "numpy"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_pixel_shuffle_layer_and_errors(rng):
    layer = nn.PixelShuffle(2)
    assert layer(Tensor(rng.standard_normal((1, 4, 2, 2)))).shape == (1, 1, 4, 4)
    assert "upscale_factor=2" in repr(layer)
    with pytest.raises(ValueError, match="divisible by upscale_factor"):
        F.pixel_shuffle(Tensor(np.zeros((1, 3, 2, 2))), 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.pixel_shuffle(Tensor(np.zeros((4, 2, 2))), 2)
    with pytest.raises(ValueError, match="positive integer"):
        F.pixel_shuffle(Tensor(np.zeros((1, 4, 2, 2))), 0)
    with pytest.raises(ValueError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(Tensor(np.zeros((1, 1, 3, 4))), 2)
