"""matmul (all the NumPy rank cases, with batch broadcasting) and linear."""

import numpy as np
import pytest

import nanogen as ng
import nanogen.functional as F
from nanogen import gradcheck

SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
          ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 1)), ((1, 1), (1, 1))]


@pytest.mark.parametrize("sa, sb", SHAPES)
def test_matmul_forward_and_grad(sa, sb, rng):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = ng.tensor(a, dtype=np.float64) @ ng.tensor(b, dtype=np.float64)
    np.testing.assert_allclose(out.data, a @ b, rtol=1e-12)
    gradcheck(lambda x, y: x @ y, a, b)


def test_matmul_inner_dim_error():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: \(2, 3\) @ \(4, 5\) \(3 != 4\)"):
        ng.ones(2, 3) @ ng.ones(4, 5)


@pytest.mark.parametrize("outputs", [3, 1])  # 1: a discriminator's logit (dL/dx is an outer product)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("xshape", [(5, 4), (1, 4), (2, 3, 4)])
def test_linear_forward_and_grad(with_bias, xshape, outputs, rng):
    x, w, b = rng.standard_normal(xshape), rng.standard_normal((outputs, 4)), rng.standard_normal(outputs)
    bias = b if with_bias else None
    ref = x @ w.T + (b if with_bias else 0)
    out = F.linear(ng.tensor(x, dtype=np.float64), ng.tensor(w, dtype=np.float64),
                   ng.tensor(bias, dtype=np.float64) if with_bias else None)
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)
    gradcheck(lambda x, w, b: F.linear(x, w, b), x, w, bias)


def test_linear_errors():
    with pytest.raises(ValueError, match=r"linear: expected x of shape \(\.\.\., 4\), got shape \(2, 3\)"):
        F.linear(ng.ones(2, 3), ng.ones(5, 4))
    with pytest.raises(TypeError, match="linear: x is float64 but weight is float32"):
        F.linear(ng.ones(2, 4, dtype=np.float64), ng.ones(5, 4))
