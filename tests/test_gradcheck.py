"""Test the tester: gradcheck must pass correct ops and fail wrong ones, with a useful message."""

import numpy as np
import pytest

import nanogen as ng
from nanogen import GradcheckError, directional_gradcheck, gradcheck
from nanogen.autograd import Function


class WrongSquare(Function):
    """y = x^2 with a deliberately wrong backward (3x instead of 2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (3 * x * grad,)


class WrongShape(Function):
    @staticmethod
    def forward(ctx, x):
        return x.sum(keepdims=True)

    @staticmethod
    def backward(ctx, grad):
        return (np.ones(3),)  # wrong: input has shape (2, 3); unbroadcast cannot fix (3,) -> (2, 3)


def test_wrong_backward_fails_with_index_and_values(rng):
    with pytest.raises(GradcheckError, match=r"gradcheck failed for .*input 0 at index \(\d, \d\): analytic .* numeric"):
        gradcheck(WrongSquare.apply, rng.standard_normal((2, 3)))


def test_correct_graph_that_reuses_a_tensor_passes(rng):
    x = rng.standard_normal((2, 3))
    gradcheck(lambda t: t * t, x)
    gradcheck(lambda t: t + t, x)
    gradcheck(lambda t: (t * t).sum() * t, x)


def test_float32_inputs_are_refused():
    with pytest.raises(TypeError, match="finite differences need float64"):
        gradcheck(lambda t: t * 2, np.ones(3, dtype=np.float32))


def test_wrong_gradient_shape_is_reported():
    with pytest.raises(RuntimeError, match=r"WrongShape.backward returned a gradient of shape \(3,\) for an input of shape \(2, 3\)"):
        gradcheck(WrongShape.apply, np.ones((2, 3)))


def test_subset_of_elements_still_catches_bugs(rng):
    with pytest.raises(GradcheckError, match="of 5 checked elements disagree"):
        gradcheck(WrongSquare.apply, rng.standard_normal((10, 10)), max_elements=5)


def test_directional_gradcheck_passes_and_fails(rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    directional_gradcheck(lambda x, w: ng.functional.linear(x, w).tanh(), x, w)
    with pytest.raises(GradcheckError, match="directional gradcheck failed"):
        directional_gradcheck(lambda x: WrongSquare.apply(x), x)


def test_inputs_that_do_not_reach_the_output_have_zero_gradient(rng):
    gradcheck(lambda a, b: a * 2, rng.standard_normal(3), rng.standard_normal(3))
