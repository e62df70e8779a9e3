"""Elementwise, optimizer and resampling kernels: each Numba kernel equals its NumPy twin.

The optimizer updates are also held to PyTorch's formulas written out below as scalar loops
(always), and to torch.optim's own trajectories when torch is installed.
"""

import math

import numpy as np
import pytest

from nanogen.kernels import elementwise as E
from nanogen.kernels import optim as O
from nanogen.kernels import resample as R

DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)


# ------------------------------------------------------------------------------- elementwise

EW_SHAPES = [(3, 5), (2, 3, 4, 5), (1,), (64, 33)]
ACTIVATIONS = [
    ("relu_backward", ()),
    ("leaky_relu_backward", (0.2,)),
    ("elu_backward", (1.5,)),
    ("sigmoid_backward", ()),
    ("tanh_backward", ()),
]


@pytest.mark.parametrize("name, extra", ACTIVATIONS)
@pytest.mark.parametrize("shape", EW_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_backward_matches_reference(name, extra, shape, dtype, rng):
    grad = rng.standard_normal(shape).astype(dtype)
    saved = rng.standard_normal(shape).astype(dtype)  # the saved x or y; both signs on purpose
    if name in ("sigmoid_backward",):
        saved = rng.random(shape).astype(dtype)  # an output of sigmoid lies in (0, 1)
    expected = getattr(E, name + "_reference")(grad, saved, *extra)
    got = getattr(E, name + "_numba")(grad, saved, *extra)
    assert got.shape == shape and got.dtype == expected.dtype == dtype
    np.testing.assert_allclose(got, expected, **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slope", [0.2, 0.0, 1.0, -0.5, 1.5])
@pytest.mark.parametrize("shape", [(1,), (3, 5), (2, 3, 7, 5)])
def test_leaky_relu_forward_matches_reference(shape, slope, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[0] = 0.0
    want = E.leaky_relu_forward_reference(x, slope)
    got = E.leaky_relu_forward_numba(x, slope)
    assert got.dtype == dtype and got.shape == shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(E.leaky_relu_forward_numba(x.T, slope), E.leaky_relu_forward_reference(x.T, slope))


@pytest.mark.parametrize("T", [2, 3])
def test_activations_cut_over_threads_give_the_same_numbers(T, monkeypatch, rng):
    """Big arrays are cut into one piece per thread (_over_threads): with every array counted as
    big, 2 or 3 threads give exactly the one-thread result, odd sizes and all."""
    from nanogen import threads

    grad = rng.standard_normal((7, 13)).astype(np.float32)
    saved = rng.random((7, 13)).astype(np.float32) - np.float32(0.5)
    one = {name: getattr(E, name + "_numba")(grad, saved, *extra) for name, extra in ACTIVATIONS}
    one["leaky_relu_forward"] = E.leaky_relu_forward_numba(saved, 0.2)
    monkeypatch.setattr(E, "PARALLEL_MIN", 1)
    monkeypatch.setattr(threads, "get_num_threads", lambda: T)
    ran = []
    real = threads.run_in_threads
    monkeypatch.setattr(threads, "run_in_threads", lambda fn, shares: ran.append(len(shares)) or real(fn, shares))
    for name, extra in ACTIVATIONS:
        np.testing.assert_array_equal(getattr(E, name + "_numba")(grad, saved, *extra), one[name], err_msg=name)
    np.testing.assert_array_equal(E.leaky_relu_forward_numba(saved, 0.2), one["leaky_relu_forward"])
    assert ran == [T] * (len(ACTIVATIONS) + 1)  # every kernel did run in pieces


def test_activation_backward_takes_non_contiguous_arrays(rng):
    grad = rng.standard_normal((6, 4)).T  # (4, 6), not contiguous
    y = rng.standard_normal((6, 4)).T
    np.testing.assert_array_equal(E.relu_backward_numba(grad, y), E.relu_backward_reference(grad, y))
    np.testing.assert_allclose(E.tanh_backward_numba(grad, y), E.tanh_backward_reference(grad, y), rtol=1e-14)


def test_activation_backward_known_values():
    grad = np.array([2.0, 2.0, 2.0])
    y = np.array([-0.5, 0.0, 0.5])
    np.testing.assert_allclose(E.relu_backward_numba(grad, y), [0.0, 0.0, 2.0])
    np.testing.assert_allclose(E.leaky_relu_backward_numba(grad, y, 0.1), [0.2, 0.2, 2.0])
    np.testing.assert_allclose(E.elu_backward_numba(grad, y, 1.0), [1.0, 2.0, 2.0])  # y + alpha = 0.5, 1
    np.testing.assert_allclose(E.sigmoid_backward_numba(grad, y), [-1.5, 0.0, 0.5])
    np.testing.assert_allclose(E.tanh_backward_numba(grad, y), [1.5, 2.0, 1.5])


@pytest.mark.parametrize("shape", EW_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
def test_dropout_forward_matches_reference(shape, dtype, p, rng):
    x = rng.standard_normal(shape).astype(dtype)
    u = rng.random(shape, dtype=dtype)
    y_ref, mask_ref = E.dropout_forward_reference(x, u, p)
    y, mask = E.dropout_forward_numba(x, u, p)
    assert y.dtype == mask.dtype == dtype and y.shape == mask.shape == shape
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert set(np.unique(mask)) <= {0, dtype(1 / (1 - p))}


def test_dropout_forward_compares_u_with_p_in_x_dtype():
    # float32(0.1) > 0.1: a u equal to it must be kept by both paths
    p = 0.1
    u = np.array([np.float32(p), np.nextafter(np.float32(p), np.float32(0))], dtype=np.float32)
    x = np.ones(2, dtype=np.float32)
    for forward in (E.dropout_forward_numba, E.dropout_forward_reference):
        _, mask = forward(x, u, p)
        assert mask[0] > 0 and mask[1] == 0


# ------------------------------------------------------------------------------- optimizers

# 37 runs on one thread, 9000 (> PARALLEL_MIN) in the prange loop
OPT_SIZES = [(37,), (90, 100)]
SGD_CASES = [  # momentum, dampening, weight_decay, nesterov
    (0.0, 0.0, 0.0, False),
    (0.0, 0.0, 0.1, False),
    (0.9, 0.0, 0.0, False),
    (0.9, 0.2, 0.01, False),
    (0.8, 0.0, 0.05, True),
]
ADAM_CASES = [  # weight_decay, decoupled
    (0.0, False),
    (0.1, False),
    (0.0, True),
    (0.05, True),
]


def sgd_loop(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step):
    """torch.optim.SGD's algorithm from its documentation, one scalar at a time, in float64."""
    for i in range(p.size):
        gi = float(g.flat[i]) + weight_decay * float(p.flat[i])
        if momentum != 0:
            b = gi if first_step else momentum * float(buf.flat[i]) + (1 - dampening) * gi
            buf.flat[i] = b
            gi = gi + momentum * b if nesterov else b
        p.flat[i] = float(p.flat[i]) - lr * gi


def adam_loop(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay, decoupled):
    """torch.optim.Adam / AdamW's algorithm from their documentation, one scalar at a time."""
    for i in range(p.size):
        gi, pi = float(g.flat[i]), float(p.flat[i])
        if decoupled:
            pi = pi * (1 - lr * weight_decay)
        else:
            gi = gi + weight_decay * pi
        mi = beta1 * float(m.flat[i]) + (1 - beta1) * gi
        vi = beta2 * float(v.flat[i]) + (1 - beta2) * gi * gi
        m_hat = mi / (1 - beta1**t)
        v_hat = vi / (1 - beta2**t)
        m.flat[i], v.flat[i] = mi, vi
        p.flat[i] = pi - lr * m_hat / (math.sqrt(v_hat) + eps)


def run_sgd(step, p0, grads, buf_needed, case, lr=0.05):
    momentum, dampening, weight_decay, nesterov = case
    p = p0.copy()
    buf = np.zeros_like(p) if buf_needed else None
    for t, g in enumerate(grads):
        step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, t == 0)
    return p, buf


def run_adam(step, p0, grads, case, lr=0.01, betas=(0.9, 0.999), eps=1e-8):
    weight_decay, decoupled = case
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        step(p, g, m, v, t, lr, betas[0], betas[1], eps, weight_decay, decoupled)
    return p, m, v


@pytest.mark.parametrize("case", SGD_CASES)
@pytest.mark.parametrize("shape", OPT_SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_step_matches_reference(case, shape, dtype, rng):
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(4)]
    expected = run_sgd(O.sgd_step_reference_, p0, grads, case[0] != 0, case)
    got = run_sgd(O.sgd_step_numba_, p0, grads, case[0] != 0, case)
    for a, b in zip(got, expected):
        if b is not None:
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, **tol(dtype))
    assert not np.array_equal(got[0], p0)


@pytest.mark.parametrize("case", SGD_CASES)
def test_sgd_step_matches_written_out_formulas(case, rng):
    p0 = rng.standard_normal(7)
    grads = [rng.standard_normal(7) for _ in range(4)]
    expected = run_sgd(sgd_loop, p0, grads, True, case)
    for step in (O.sgd_step_numba_, O.sgd_step_reference_):
        got = run_sgd(step, p0, grads, case[0] != 0, case)
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("case", ADAM_CASES)
@pytest.mark.parametrize("shape", OPT_SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_step_matches_reference(case, shape, dtype, rng):
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(5)]
    expected = run_adam(O.adam_step_reference_, p0, grads, case)
    got = run_adam(O.adam_step_numba_, p0, grads, case)
    for a, b in zip(got, expected):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **tol(dtype))


@pytest.mark.parametrize("case", ADAM_CASES)
def test_adam_step_matches_written_out_formulas(case, rng):
    p0 = rng.standard_normal(7)
    grads = [rng.standard_normal(7) * 10 ** rng.uniform(-3, 1) for _ in range(5)]
    expected = run_adam(adam_loop, p0, grads, case)
    for step in (O.adam_step_numba_, O.adam_step_reference_):
        got = run_adam(step, p0, grads, case)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_adam_first_step_moves_each_coordinate_by_lr(rng):
    # t = 1: m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps) = lr * sign(g)
    p = rng.standard_normal(20)
    g = rng.standard_normal(20)
    p0 = p.copy()
    O.adam_step_numba_(p, g, np.zeros(20), np.zeros(20), 1, 0.01, 0.9, 0.999, 1e-8, 0.0, False)
    np.testing.assert_allclose(p0 - p, 0.01 * np.sign(g), rtol=1e-6)


def test_optim_kernels_refuse_non_contiguous_state(rng):
    p = rng.standard_normal((4, 6)).T  # a transposed view: an in-place update through reshape would be lost
    g = rng.standard_normal((6, 4))
    with pytest.raises(ValueError, match="adam_step_: p must be C-contiguous"):
        O.adam_step_numba_(p, g, np.zeros((6, 4)), np.zeros((6, 4)), 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False)
    with pytest.raises(ValueError, match=r"sgd_step_: buf has shape \(3,\), expected \(6, 4\)"):
        O.sgd_step_numba_(np.zeros((6, 4)), g, np.zeros(3), 0.1, 0.9, 0.0, 0.0, False, True)
    with pytest.raises(ValueError, match="step is the 1-based step count"):
        O.adam_step_numba_(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), 0, 0.1, 0.9, 0.999, 1e-8, 0.0, False)


@pytest.mark.parametrize("case", SGD_CASES)
def test_sgd_step_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    momentum, dampening, weight_decay, nesterov = case
    p0 = rng.standard_normal((90, 100)).astype(np.float32)
    grads = [rng.standard_normal(p0.shape).astype(np.float32) for _ in range(5)]
    pt = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = torch.optim.SGD([pt], lr=0.05, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                          nesterov=nesterov)
    for g in grads:
        pt.grad = torch.from_numpy(g.copy())
        opt.step()
    got, _ = run_sgd(O.sgd_step_numba_, p0, grads, momentum != 0, case)
    np.testing.assert_allclose(got, pt.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ADAM_CASES)
def test_adam_step_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    weight_decay, decoupled = case
    p0 = rng.standard_normal((90, 100)).astype(np.float32)
    grads = [rng.standard_normal(p0.shape).astype(np.float32) for _ in range(5)]
    pt = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = (torch.optim.AdamW if decoupled else torch.optim.Adam)([pt], lr=0.01, weight_decay=weight_decay)
    for g in grads:
        pt.grad = torch.from_numpy(g.copy())
        opt.step()
    got, m, v = run_adam(O.adam_step_numba_, p0, grads, case)
    np.testing.assert_allclose(got, pt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m, opt.state[pt]["exp_avg"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v, opt.state[pt]["exp_avg_sq"].numpy(), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------- resampling

RESAMPLE_CASES = [((2, 3, 5, 7), (2, 2)), ((1, 1, 4, 3), (3, 3)), ((2, 2, 6, 5), (2, 3)), ((1, 2, 3, 3), (1, 1))]


@pytest.mark.parametrize("shape, scale", RESAMPLE_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_upsample_nearest_matches_reference(shape, scale, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    y = R.upsample_nearest_forward_numba(x, *scale)
    assert y.shape == (shape[0], shape[1], shape[2] * scale[0], shape[3] * scale[1]) and y.dtype == dtype
    np.testing.assert_array_equal(y, R.upsample_nearest_forward_reference(x, *scale))
    grad = rng.standard_normal(y.shape).astype(dtype)
    dx = R.upsample_nearest_backward_numba(grad, *scale)
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, R.upsample_nearest_backward_reference(grad, *scale), **tol(dtype))


@pytest.mark.parametrize("shape, scale", RESAMPLE_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_upsample_bilinear_matches_reference(shape, scale, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    OH, OW = shape[2] * scale[0], shape[3] * scale[1]
    y_ref = R.upsample_bilinear_forward_reference(x, OH, OW)
    y = R.upsample_bilinear_forward_numba(x, OH, OW)
    assert y.shape == y_ref.shape == (*shape[:2], OH, OW) and y.dtype == y_ref.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tol(dtype))
    grad = rng.standard_normal(y.shape).astype(dtype)
    dx_ref = R.upsample_bilinear_backward_reference(grad, *shape[2:])
    dx = R.upsample_bilinear_backward_numba(grad, *shape[2:])
    assert dx.shape == shape and dx.dtype == dx_ref.dtype == dtype
    np.testing.assert_allclose(dx, dx_ref, **tol(dtype))
    # the backward is the adjoint of the (linear) forward
    np.testing.assert_allclose(np.vdot(grad, y_ref), np.vdot(dx_ref, x), rtol=1e-4 if dtype == np.float32 else 1e-12)


def test_upsample_bilinear_known_values():
    # align_corners=False, 2x: output centres fall at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped)
    x = np.array([[[[0.0, 1.0]]]])
    for forward in (R.upsample_bilinear_forward_numba, R.upsample_bilinear_forward_reference):
        np.testing.assert_allclose(forward(x, 1, 4)[0, 0, 0], [0.0, 0.25, 0.75, 1.0])


def test_upsample_nearest_backward_sums_blocks():
    grad = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(R.upsample_nearest_backward_numba(grad, 2, 2)[0, 0], [[10, 18], [42, 50]])
