"""Property-based tests (Hypothesis): random shapes and broadcast patterns for the elementwise
ops and reductions. Broadcasting in backward is the classic engine bug, so the cases are
generated, not hand-picked."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nanogen as ng
from nanogen import gradcheck

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def broadcast_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(0.5, 1.5, s) * rng.choice([-1, 1], s) for s in shapes.input_shapes)
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)


@SETTINGS
@given(pair=broadcast_pair(), op=st.sampled_from(["add", "sub", "mul", "div"]))
def test_binary_ops_broadcast_forward_and_backward(pair, op):
    a, b = pair
    fn = getattr(ng, op)
    ref = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op](a, b)
    np.testing.assert_allclose(fn(ng.tensor(a), ng.tensor(b)).data, ref)
    gradcheck(fn, a, b, name=op, check_repeat=False, check_zero_grad=False)


@st.composite
def array_and_dims(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    dims = draw(st.one_of(st.none(), st.integers(0, len(shape) - 1),
                          st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True)
                          .map(tuple)))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    return x, dims


@SETTINGS
@given(case=array_and_dims(), op=st.sampled_from(["sum", "mean", "logsumexp", "amax"]), keepdim=st.booleans())
def test_reductions_over_random_dims(case, op, keepdim):
    x, dims = case
    fn = {"sum": lambda t: ng.sum(t, dims, keepdim), "mean": lambda t: ng.mean(t, dims, keepdim),
          "logsumexp": lambda t: ng.logsumexp(t, dims, keepdim), "amax": lambda t: ng.amax(t, dims, keepdim)}[op]
    axis = dims
    ref = {"sum": np.sum, "mean": np.mean, "amax": np.max,
           "logsumexp": lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))}[op](
        x, axis=axis, keepdims=keepdim)
    out = fn(ng.tensor(x))
    assert out.shape == np.shape(ref)
    np.testing.assert_allclose(out.data, ref, rtol=1e-10)
    gradcheck(fn, x, name=op, check_repeat=False, check_zero_grad=False)
