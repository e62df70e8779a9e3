"""Elementwise ops: forward against NumPy, backward against finite differences (float64),
broadcasting, 0-d and size-1 shapes, scalars on either side, dtype rules."""

import numpy as np
import pytest

import nanogen as ng
from nanogen import gradcheck

# (name, nanogen function, NumPy reference); inputs drawn so every function is smooth there
BINARY = [
    ("add", ng.add, np.add),
    ("sub", ng.sub, np.subtract),
    ("mul", ng.mul, np.multiply),
    ("div", ng.div, np.divide),
    ("maximum", ng.maximum, np.maximum),
    ("minimum", ng.minimum, np.minimum),
]
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((1,), (5,)), ((2, 3), ())]


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


@pytest.mark.parametrize("name, fn, ref", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("sa, sb", SHAPES)
def test_binary_forward_matches_numpy(name, fn, ref, sa, sb, rng):
    a, b = _positive(rng, sa), _positive(rng, sb)
    np.testing.assert_allclose(fn(ng.tensor(a, dtype=np.float64), ng.tensor(b, dtype=np.float64)).data, ref(a, b))


@pytest.mark.parametrize("name, fn, ref", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("sa, sb", SHAPES)
def test_binary_grad(name, fn, ref, sa, sb, rng):
    a, b = _positive(rng, sa), _positive(rng, sb)
    gradcheck(fn, a, b, name=name)


def test_pow_grad_both_inputs(rng):
    gradcheck(lambda a, b: a**b, _positive(rng, (3, 4)), rng.standard_normal(4))
    gradcheck(lambda a: a**3, rng.standard_normal((2, 3)))
    gradcheck(lambda a: 2.0**a, rng.standard_normal((2, 3)))


@pytest.mark.parametrize("op", ["radd", "rsub", "rmul", "rdiv"])
def test_reflected_scalar_operators(op, rng):
    x = _positive(rng, (2, 3))
    fns = {"radd": lambda t: 2.5 + t, "rsub": lambda t: 2.5 - t, "rmul": lambda t: 2.5 * t, "rdiv": lambda t: 2.5 / t}
    refs = {"radd": 2.5 + x, "rsub": 2.5 - x, "rmul": 2.5 * x, "rdiv": 2.5 / x}
    np.testing.assert_allclose(fns[op](ng.tensor(x, dtype=np.float64)).data, refs[op])
    gradcheck(fns[op], x, name=op)


def test_ndarray_on_the_left_calls_tensor_operator(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    t = ng.tensor(a, requires_grad=True)
    y = a * t  # ndarray.__mul__ must defer to Tensor.__rmul__
    assert isinstance(y, ng.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(t.grad, a)


UNARY = [
    ("neg", ng.neg, np.negative, lambda r, s: r.standard_normal(s)),
    ("exp", ng.exp, np.exp, lambda r, s: r.standard_normal(s)),
    ("log", ng.log, np.log, _positive),
    ("sqrt", ng.sqrt, np.sqrt, _positive),
    ("abs", ng.abs, np.abs, lambda r, s: r.uniform(0.2, 1, s) * r.choice([-1, 1], s)),
    ("clamp", lambda x: ng.clamp(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5),
     lambda r, s: r.uniform(0.6, 1, s) * r.choice([-1, 1], s) * r.choice([0.1, 1.0], s)),
]


@pytest.mark.parametrize("name, fn, ref, draw", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", [(3, 4), (), (1,), (2, 1, 3)])
def test_unary_forward_and_grad(name, fn, ref, draw, shape, rng):
    x = np.asarray(draw(rng, shape), dtype=np.float64)
    np.testing.assert_allclose(fn(ng.tensor(x, dtype=np.float64)).data, ref(x))
    gradcheck(fn, x, name=name)


def test_where_grad_and_forward(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    cond = rng.random((3, 4)) > 0.5
    np.testing.assert_allclose(ng.where(cond, ng.tensor(a, dtype=np.float64), b).data, np.where(cond, a, b))
    gradcheck(lambda a, b: ng.where(cond, a, b), a, b)


def test_maximum_ties_share_gradient():
    a = ng.tensor([1.0, 2.0], requires_grad=True)
    b = ng.tensor([1.0, 3.0], requires_grad=True)
    ng.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 0.0])
    np.testing.assert_array_equal(b.grad, [0.5, 1.0])


def test_dtype_is_kept_and_mixing_float_dtypes_is_refused():
    x32 = ng.ones(2, 3)
    assert (x32 * 2.5).dtype == np.float32
    assert (x32 + np.ones(3)).dtype == np.float32  # a raw array is a constant in the tensor's dtype
    assert (ng.ones(2, dtype=np.float64) * 2).dtype == np.float64
    with pytest.raises(TypeError, match="add: operands have dtypes float32 and float64"):
        x32 + ng.ones(3, dtype=np.float64)


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        ng.ones(2, 3) * ng.ones(4)


def test_cast_is_differentiable(rng):
    x = ng.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    y = x.double() * 2
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, 2.0)


@pytest.mark.parametrize("op", [lambda t: 0.5 * t, lambda t: t + 1, lambda t: 1.0 - t, lambda t: t / 3.0,
                                lambda t: t * np.float64(2.0)])
def test_python_numbers_keep_the_tensor_dtype_even_for_0d(op):
    """NumPy 1.26 promotes a float32 0-d array with a Python float to float64 (NumPy 2 does not):
    a scalar loss times a weight must stay float32 on both."""
    for shape in [(), (3,)]:
        t = ng.tensor(np.ones(shape, dtype=np.float32), requires_grad=True)
        y = op(t)
        assert y.dtype == np.float32
        y.sum().backward()
        assert t.grad.dtype == np.float32
