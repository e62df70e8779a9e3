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


# ---------------------------------------------------------------------------- whole models


class TinyNet(ng.nn.Module):
    """Linear -> tanh -> Linear; `wrong=True` squares the hidden layer through WrongSquare."""

    def __init__(self, rng, wrong=False):
        super().__init__()
        self.fc1, self.fc2 = ng.nn.Linear(3, 4, rng=rng), ng.nn.Linear(4, 2, rng=rng)
        self.wrong = wrong

    def forward(self, x):
        h = ng.functional.tanh(self.fc1(x))
        if self.wrong:
            h = WrongSquare.apply(h)
        return self.fc2(h)


def test_gradcheck_module_checks_every_parameter_and_the_input(rng):
    model = TinyNet(rng).double()
    params = list(model.parameters())
    x = rng.standard_normal((5, 3))
    assert ng.gradcheck_module(model, lambda m, x: (m(x) ** 2).mean(), x)
    assert list(model.parameters()) == params and all(type(p) is ng.nn.Parameter for p in params)   # put back
    assert ng.gradcheck_module(model, lambda m: (m(ng.Tensor(x)) ** 2).mean(), directional=True)
    assert ng.gradcheck_module(model, lambda m, x: m(x).sum(), x, check_inputs=False, max_elements=3)


def test_gradcheck_module_names_the_parameter_that_fails(rng):
    model = TinyNet(rng, wrong=True).double()
    x = rng.standard_normal((5, 3))
    with pytest.raises(GradcheckError, match=r"TinyNet loss, parameter fc1\.(weight|bias) at index"):
        ng.gradcheck_module(model, lambda m, x: m(x).sum(), x, check_inputs=False)
    with pytest.raises(GradcheckError, match="directional"):
        ng.gradcheck_module(model, lambda m, x: m(x).sum(), x, directional=True)


def test_gradcheck_module_refuses_float32_and_empty_models(rng):
    with pytest.raises(TypeError, match=r"parameter 'fc1.weight' is float32; call model.double\(\)"):
        ng.gradcheck_module(TinyNet(rng), lambda m, x: m(x).sum(), rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match="no parameters"):
        ng.gradcheck_module(ng.nn.ReLU(), lambda m, x: m(x).sum(), rng.standard_normal((2, 3)))
