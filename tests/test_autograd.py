"""The backward walk: accumulation, reuse, retain_graph, no_grad, deep graphs, anomaly detection,
error messages and the graph printout."""

import numpy as np
import pytest

import nanogen as ng
from nanogen.autograd import Function, unbroadcast


def test_reused_tensor_accumulates():
    x = ng.tensor([3.0], requires_grad=True)
    (x * x + x + x).backward(np.ones(1, dtype=np.float32))
    np.testing.assert_allclose(x.grad, [2 * 3.0 + 2])


def test_backward_twice_accumulates_exactly_twice():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_second_backward_through_freed_graph_is_refused():
    x = ng.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="a second time.*retain_graph=True"):
        y.backward()


def test_saved_arrays_are_released_after_backward():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    node = y._node
    y.sum().backward()
    assert node.ctx.saved == () and node.ctx.released


def test_zero_grad_clears():
    x = ng.ones(3, requires_grad=True)
    x.sum().backward()
    x.zero_grad()
    assert x.grad is None


def test_no_grad_records_nothing_and_enable_grad_restores():
    x = ng.ones(2, requires_grad=True)
    with ng.no_grad():
        y = x * 2
        with ng.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn == "Mul"
    assert ng.is_grad_enabled()


def test_ten_thousand_ops_deep_graph_has_no_recursion_limit():
    x = ng.tensor([1.0], dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**10_000], rtol=1e-9)


def test_non_scalar_backward_needs_grad():
    x = ng.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for a tensor with one element, got shape \(3,\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(2,\), expected \(3,\)"):
        (x * 2).backward(np.ones(2))


def test_backward_without_graph_is_refused():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ng.ones(2).sum().backward()


def test_broadcast_gradient_is_reduced_to_each_input_shape(rng):
    a = ng.tensor(rng.standard_normal((4, 1, 3)).astype(np.float32), requires_grad=True)
    b = ng.tensor(rng.standard_normal((5, 1)).astype(np.float32), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (4, 1, 3) and b.grad.shape == (5, 1)
    np.testing.assert_allclose(a.grad, np.broadcast_to(b.data.sum(), (4, 1, 3)), rtol=1e-5)


def test_unbroadcast_sums_leading_and_size_one_axes():
    g = np.ones((2, 3, 4))
    assert unbroadcast(g, (3, 1)).tolist() == [[8.0]] * 3
    assert unbroadcast(g, ()).item() == 24.0


def test_detect_anomaly_names_the_first_bad_op():
    x = ng.tensor([-1.0, 1.0], requires_grad=True)
    with ng.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(ng.AnomalyError, match=r"Log: forward output of shape \(2,\) holds NaN"):
            x.log()
    with np.errstate(all="ignore"):
        y = x.log()  # outside the context: nan flows silently, as NumPy would
    assert np.isnan(y.data).any()


def test_detect_anomaly_checks_backward_gradients():
    x = ng.tensor([0.0], requires_grad=True)
    y = x.sqrt()  # forward fine (0), backward 1/(2*0) = inf
    with ng.detect_anomaly(), np.errstate(all="ignore"):
        with pytest.raises(ng.AnomalyError, match="Sqrt: backward gradient"):
            y.sum().backward()


def test_retain_grad_keeps_intermediate_gradient():
    x = ng.ones(2, requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, [6.0, 6.0])


def test_graph_text_lists_every_op():
    x = ng.ones(2, 3, requires_grad=True)
    w = ng.ones(4, 3, requires_grad=True)
    text = ng.functional.linear(x, w).relu().sum().graph()
    for name in ("Sum", "ReLU", "Linear", "leaf"):
        assert name in text


def test_custom_function_follows_the_contract():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved
            return (3 * x**2 * grad,)

    ng.gradcheck(Cube.apply, np.array([0.5, -1.5, 2.0]))


def test_constant_inputs_get_no_gradient():
    x = ng.ones(2, requires_grad=True)
    y = x * np.array([2.0, 3.0], dtype=np.float32)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 3.0])


def test_graph_dot_names_every_node_and_edge():
    x = ng.ones(2, 3, requires_grad=True)
    y = (x * 2).sum()
    dot = y.graph("dot")
    assert dot.startswith("digraph") and "Mul" in dot and "Sum" in dot and "leaf" in dot
    assert dot.count("->") == 2  # x -> Mul -> Sum (the scalar 2 is a constant, not a node)
