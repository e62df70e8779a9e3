"""Tensor basics: construction, dtype rules, properties, creation functions, repr."""

import numpy as np
import pytest

import nanogen as ng


def test_floats_default_to_float32_and_float64_is_kept():
    assert ng.tensor([1.0, 2.0]).dtype == np.float32
    assert ng.tensor(np.zeros(3)).dtype == np.float64  # an explicit float64 array stays float64
    assert ng.tensor([1, 2]).dtype.kind == "i"
    assert ng.tensor(np.float64(2.0)).dtype == np.float64
    assert ng.tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_properties_and_conversions(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    t = ng.tensor(a)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.T.shape == (3, 2)
    np.testing.assert_array_equal(t.numpy(), a)
    assert t.double().dtype == np.float64 and t.double().float().dtype == np.float32
    assert ng.tensor([[3.5]]).item() == 3.5
    with pytest.raises(ValueError, match="only a one-element tensor"):
        t.item()


def test_tensor_copies_but_Tensor_wraps():
    a = np.zeros(3, dtype=np.float32)
    copied, wrapped = ng.tensor(a), ng.Tensor(a)
    a[0] = 1
    assert copied.data[0] == 0 and wrapped.data[0] == 1


def test_detach_cuts_the_graph():
    x = ng.ones(2, requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.grad_fn is None


def test_creation_functions():
    assert ng.zeros(2, 3).shape == (2, 3) and ng.zeros((2, 3)).data.sum() == 0
    assert ng.ones(4).data.sum() == 4 and ng.full((2, 2), 7.0).data.max() == 7
    assert ng.zeros_like(ng.ones(2, 5)).shape == (2, 5) and ng.ones_like(ng.zeros(3)).data.sum() == 3
    assert ng.arange(5).data.tolist() == [0, 1, 2, 3, 4] and ng.arange(0.0, 1.0, 0.5).dtype == np.float32
    np.testing.assert_array_equal(ng.eye(3).data, np.eye(3))
    assert ng.randn(2, 3).dtype == np.float32 and ng.rand(2, dtype=np.float64).dtype == np.float64


def test_manual_seed_and_explicit_generator_are_reproducible():
    ng.manual_seed(7)
    a = ng.randn(5).data
    ng.manual_seed(7)
    np.testing.assert_array_equal(ng.randn(5).data, a)
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(ng.rand(4, rng=r1).data, ng.rand(4, rng=r2).data)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        ng.randn(2, rng=3)


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        ng.tensor([1, 2], requires_grad=True)


def test_repr_shows_shape_dtype_and_op():
    x = ng.ones(2, 3, requires_grad=True)
    r = repr(x * 2)
    assert "shape=(2, 3)" in r and "float32" in r and "grad_fn=Mul" in r
    assert "requires_grad=True" in repr(x)


def test_comparisons_give_masks_without_grad():
    x = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == bool and not m.requires_grad
    assert m.data.tolist() == [False, True, True]
    assert (x == x).data.all()
