"""Tests for nanogen/optim/: update rules against their published formulas (and torch.optim when
installed), parameter groups, saving and resuming, LR schedules, gradient clipping, errors."""

import math

import numpy as np
import pytest

import nanogen as ng
from nanogen import optim, serialize
from nanogen.optim import adam as adam_module
from nanogen.optim import sgd as sgd_module


def param(values, dtype=np.float64):
    return ng.Tensor(np.array(values, dtype=dtype), requires_grad=True)


@pytest.fixture(params=["numba", "numpy"])
def kernels(request, monkeypatch):
    """Run a test with the fused kernels the optimizers call, then with their NumPy twins."""
    if request.param == "numpy":
        monkeypatch.setattr(sgd_module, "sgd_step_", sgd_module.sgd_step_reference_)
        monkeypatch.setattr(adam_module, "adam_step_", adam_module.adam_step_reference_)
    return request.param


def run(opt, params, grads):
    """Feed a list of per-step gradient lists to opt; return the parameter values after each step."""
    history = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
        history.append([p.data.copy() for p in params])
    return history


# ---------------------------------------------------------------------------- Adam and AdamW


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_follows_kingma_ba_algorithm_1(weight_decay, rng, kernels):
    lr, beta1, beta2, eps = 0.05, 0.8, 0.95, 1e-6
    theta0 = rng.standard_normal(7)
    grads = [rng.standard_normal(7) for _ in range(6)]
    p = param(theta0)
    opt = optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)

    theta, m, v = theta0.copy(), np.zeros(7), np.zeros(7)  # Algorithm 1: m_0 = 0, v_0 = 0
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * theta  # L2 decay enters the gradient (PyTorch's Adam)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)

        p.grad = grads[t - 1].copy()
        opt.step()
        np.testing.assert_allclose(p.data, theta, rtol=1e-12, atol=1e-14, err_msg=f"step {t}")
    state = opt.state[p]
    assert state["step"] == len(grads)
    np.testing.assert_allclose(state["exp_avg"], m, rtol=1e-12)
    np.testing.assert_allclose(state["exp_avg_sq"], v, rtol=1e-12)


def test_adamw_decays_weights_decoupled(rng, kernels):
    lr, beta1, beta2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.3
    theta0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    p = param(theta0)
    opt = optim.AdamW([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)

    theta, m, v = theta0.copy(), np.zeros((3, 4)), np.zeros((3, 4))
    for t, g in enumerate(grads, start=1):
        theta = theta - lr * wd * theta  # Loshchilov & Hutter 2019, Alg. 2 line 12, scaled by lr
        m = beta1 * m + (1 - beta1) * g  # g itself: the decay never enters the moments
        v = beta2 * v + (1 - beta2) * g**2
        theta = theta - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    run(opt, [p], [[g] for g in grads])
    np.testing.assert_allclose(p.data, theta, rtol=1e-12, atol=1e-14)
    assert optim.AdamW([param([1.0])]).defaults["weight_decay"] == 1e-2


def test_adamw_and_adam_differ_only_with_weight_decay(rng):
    grads = [[rng.standard_normal(5)] for _ in range(3)]
    ends = {}
    for cls, wd in [(optim.Adam, 0.0), (optim.AdamW, 0.0), (optim.Adam, 0.1), (optim.AdamW, 0.1)]:
        p = param(np.linspace(-1, 1, 5))
        ends[cls.__name__, wd] = run(cls([p], lr=0.1, weight_decay=wd), [p], grads)[-1][0]
    np.testing.assert_array_equal(ends["Adam", 0.0], ends["AdamW", 0.0])
    assert np.abs(ends["Adam", 0.1] - ends["AdamW", 0.1]).max() > 1e-4


# ---------------------------------------------------------------------------- SGD


@pytest.mark.parametrize("momentum, dampening, nesterov, weight_decay", [
    (0.0, 0.0, False, 0.0),
    (0.0, 0.0, False, 0.05),
    (0.9, 0.0, False, 0.0),
    (0.9, 0.3, False, 0.01),
    (0.8, 0.0, True, 0.0),
    (0.8, 0.0, True, 0.1),
])
def test_sgd_matches_formulas(momentum, dampening, nesterov, weight_decay, rng, kernels):
    lr = 0.1
    theta0 = rng.standard_normal((2, 3))
    grads = [rng.standard_normal((2, 3)) for _ in range(5)]
    p = param(theta0)
    opt = optim.SGD([p], lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                    weight_decay=weight_decay)

    theta, b = theta0.copy(), None
    for t, g in enumerate(grads, start=1):
        d = g + weight_decay * theta
        if momentum:
            b = d if t == 1 else momentum * b + (1 - dampening) * d
            d = d + momentum * b if nesterov else b
        theta = theta - lr * d

        p.grad = g.copy()
        opt.step()
        np.testing.assert_allclose(p.data, theta, rtol=1e-12, atol=1e-14, err_msg=f"step {t}")
    assert ("momentum_buffer" in opt.state[p]) == (momentum != 0)


# ---------------------------------------------------------------------------- common behaviour


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda ps: optim.Adam(ps, weight_decay=0.1),
    lambda ps: optim.AdamW(ps),
])
def test_step_keeps_dtype_and_leaves_grad_untouched(make, rng, kernels):
    p = param(rng.standard_normal((4, 3)), dtype=np.float32)
    g = rng.standard_normal((4, 3)).astype(np.float32)
    p.grad = g
    kept = g.copy()
    opt = make([p])
    opt.step()
    opt.step()
    assert p.grad is g
    np.testing.assert_array_equal(g, kept)  # the gradient array was only read
    assert p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1),
])
def test_step_updates_a_non_contiguous_parameter_in_place(make, rng, kernels):
    init = rng.standard_normal((4, 3))
    grads = [[rng.standard_normal((3, 4))] for _ in range(3)]
    contiguous = param(init.T.copy())
    transposed = ng.Tensor(init.copy().T, requires_grad=True)  # a view in Fortran order
    array = transposed.data
    expected = run(make([contiguous]), [contiguous], grads)[-1][0]
    run(make([transposed]), [transposed], grads)
    assert transposed.data is array  # updated in place, not replaced
    np.testing.assert_allclose(array, expected, rtol=1e-12)


def test_trains_a_module_through_its_parameters(rng):
    from nanogen import nn

    model = nn.Linear(3, 2, dtype=np.float64, rng=rng)
    x = rng.standard_normal((16, 3))
    y = x @ rng.standard_normal((3, 2)) + 0.5 + 0.01 * rng.standard_normal((16, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = ((model(ng.Tensor(x)) - ng.Tensor(y)) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    best = np.linalg.lstsq(np.c_[x, np.ones(16)], y, rcond=None)[1].sum() / y.size
    assert losses[-1] - best < 1e-3 < losses[0], (losses[0], losses[-1], best)  # near the least-squares fit
    assert len(opt.state) == 2


def test_step_skips_params_without_grad_and_zero_grad_clears(rng):
    a, b = param([1.0, 2.0]), param([3.0])
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.array([1.0, -1.0])
    opt.step()
    np.testing.assert_array_equal(b.data, [3.0])
    assert b not in opt.state and opt.state[a]["step"] == 1
    np.testing.assert_allclose(a.data, [0.9, 2.1])  # Adam's first step moves each coordinate by lr
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    a.grad = np.ones(2)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, [0.0, 0.0])


def test_step_runs_closure_and_returns_its_loss():
    x = param([3.0])
    opt = optim.SGD([x], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_allclose(x.data, [3.0 - 0.25 * 6.0])


def test_param_groups_have_their_own_hyperparameters(rng):
    a, b, c = param(np.zeros(2)), param(np.zeros(3)), param(np.zeros(1))
    opt = optim.SGD([{"params": [a], "lr": 0.5}, {"params": [b, c]}], lr=0.01, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.01]
    assert opt.param_groups[1]["momentum"] == 0.0
    opt.add_param_group({"params": param(np.zeros(2)), "lr": 2.0})
    d = opt.param_groups[2]["params"][0]
    for p in (a, b, c, d):
        p.grad = np.ones(p.shape)
    opt.step()
    np.testing.assert_allclose(a.data, -0.5)
    np.testing.assert_allclose(b.data, -0.01)
    np.testing.assert_allclose(c.data, -0.01)
    np.testing.assert_allclose(d.data, -2.0)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: optim.Adam([{"params": ps[:1], "lr": 0.02}, {"params": ps[1:]}], lr=0.01, weight_decay=1e-3),
    lambda ps: optim.AdamW(ps, lr=0.01),
])
def test_state_dict_round_trip_continues_identically(make, rng, tmp_path, kernels):
    init = [rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    grads = [[rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
             for _ in range(5)]
    straight = [ng.Tensor(x.copy(), requires_grad=True) for x in init]
    expected = run(make(straight), straight, grads)[-1]

    first = [ng.Tensor(x.copy(), requires_grad=True) for x in init]
    opt = make(first)
    run(opt, first, grads[:3])
    serialize.save({"optim": opt.state_dict(), "params": [p.data for p in first]}, tmp_path / "ckpt.npz")
    del opt, first

    saved = serialize.load(tmp_path / "ckpt.npz")
    resumed = [ng.Tensor(a, requires_grad=True) for a in saved["params"]]
    fresh = make(resumed)
    fresh.load_state_dict(saved["optim"])
    got = run(fresh, resumed, grads[3:])[-1]
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


def test_state_dict_is_a_snapshot_and_load_checks_before_changing(rng):
    p = param(rng.standard_normal(3))
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones(3)
    opt.step()
    saved = opt.state_dict()
    assert saved["state"][0]["step"] == 1 and saved["param_groups"][0]["params"] == [0]
    m = saved["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"], m)  # not aliased to the live state

    other = optim.Adam([param(np.zeros(4))], lr=0.5)
    with pytest.raises(ValueError, match=r"exp_avg.*shape \(3,\).*\(4,\)"):
        other.load_state_dict(saved)
    assert other.state == {} and other.param_groups[0]["lr"] == 0.5  # untouched
    two = optim.Adam([{"params": [param([1.0])]}, {"params": [param([1.0])]}])
    with pytest.raises(ValueError, match="saved state has 1 parameter groups, this optimizer has 2"):
        two.load_state_dict(saved)
    loaded = optim.Adam([param(np.zeros(3))], lr=0.5)
    loaded.load_state_dict(saved)
    assert loaded.param_groups[0]["lr"] == 0.1 and loaded.param_groups[0]["betas"] == (0.9, 0.999)


# ---------------------------------------------------------------------------- against torch.optim


def test_trajectories_match_torch(rng):
    torch = pytest.importorskip("torch")
    cases = [
        (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.01)),
        (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        (optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
        (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.2)),
    ]
    for ours_cls, torch_cls, kwargs in cases:
        for dtype, rtol in [(np.float64, 1e-12), (np.float32, 1e-5)]:
            init = rng.standard_normal((3, 5)).astype(dtype)
            ours = ng.Tensor(init.copy(), requires_grad=True)
            theirs = torch.tensor(init.copy(), requires_grad=True)
            opt, topt = ours_cls([ours], **kwargs), torch_cls([theirs], foreach=False, **kwargs)
            for _ in range(10):
                g = rng.standard_normal((3, 5)).astype(dtype)
                ours.grad, theirs.grad = g, torch.from_numpy(g.copy())
                opt.step()
                topt.step()
            np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=rtol, atol=rtol,
                                       err_msg=f"{ours_cls.__name__} {kwargs} {dtype.__name__}")


def test_schedules_match_torch():
    torch = pytest.importorskip("torch")
    cases = [(optim.StepLR, torch.optim.lr_scheduler.StepLR, dict(step_size=3, gamma=0.5)),
             (optim.ExponentialLR, torch.optim.lr_scheduler.ExponentialLR, dict(gamma=0.9)),
             (optim.CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR, dict(T_max=4, eta_min=0.01))]
    for ours_cls, torch_cls, kwargs in cases:
        opt = optim.SGD([param([0.0])], lr=0.3)
        topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
        sched, tsched = ours_cls(opt, **kwargs), torch_cls(topt, **kwargs)
        for _ in range(11):
            np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
            opt.step()
            topt.step()
            sched.step()
            tsched.step()


# ---------------------------------------------------------------------------- it actually optimizes


@pytest.mark.parametrize("make, n_steps", [
    (lambda ps: optim.SGD(ps, lr=0.1), 300),
    (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True), 200),
    (lambda ps: optim.Adam(ps, lr=0.05), 400),
    (lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.0), 400),
])
def test_optimizer_minimises_a_quadratic(make, n_steps, rng):
    # f(x) = 1/2 x^T A x - b^T x, A symmetric positive definite: minimum -1/2 b^T A^-1 b at x = A^-1 b
    q = rng.standard_normal((5, 5))
    a = q @ q.T / 5 + np.eye(5)
    b = rng.standard_normal((5, 1))
    best = -0.5 * (b.T @ np.linalg.solve(a, b)).item()
    x = param(np.zeros((5, 1)))
    opt = make([x])
    for _ in range(n_steps):
        opt.zero_grad()
        loss = 0.5 * (x * (ng.Tensor(a) @ x)).sum() - (ng.Tensor(b) * x).sum()
        loss.backward()
        opt.step()
    assert loss.item() - best < 1e-4, f"loss {loss.item():.6f}, minimum {best:.6f}"


# ---------------------------------------------------------------------------- LR schedules


def test_schedules_follow_closed_forms():
    opt = optim.SGD([{"params": [param([0.0])], "lr": 0.4}, {"params": [param([0.0])]}], lr=0.1)
    step = optim.StepLR(opt, step_size=3, gamma=0.5)
    for e in range(10):
        expected = [0.4 * 0.5 ** (e // 3), 0.1 * 0.5 ** (e // 3)]
        assert step.get_last_lr() == pytest.approx(expected, rel=1e-12)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(expected, rel=1e-12)
        step.step()

    opt = optim.Adam([param([0.0])], lr=0.2)
    exp = optim.ExponentialLR(opt, gamma=0.7)
    for e in range(8):
        assert exp.get_last_lr() == pytest.approx([0.2 * 0.7**e], rel=1e-12)
        exp.step()

    opt = optim.SGD([param([0.0])], lr=1.0)
    cos = optim.CosineAnnealingLR(opt, T_max=5, eta_min=0.1)
    lrs = [cos.get_last_lr()[0]] + [(cos.step(), cos.get_last_lr()[0])[1] for _ in range(10)]
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(11)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert lrs[0] == pytest.approx(1.0) and lrs[5] == pytest.approx(0.1) and lrs[10] == pytest.approx(1.0)


def test_schedule_state_dict_round_trip(tmp_path):
    opt = optim.SGD([param([0.0])], lr=1.0)
    sched = optim.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    serialize.save(sched.state_dict(), tmp_path / "sched.npz")
    other_opt = optim.SGD([param([0.0])], lr=1.0)
    other = optim.CosineAnnealingLR(other_opt, T_max=3)
    other.load_state_dict(serialize.load(tmp_path / "sched.npz"))
    assert other.last_epoch == 4 and other.T_max == 10 and other.get_last_lr() == sched.get_last_lr()
    sched.step()
    other.step()
    assert other_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    with pytest.raises(ValueError, match="missing keys"):
        optim.StepLR(optim.SGD([param([0.0])], lr=1.0), step_size=2).load_state_dict(sched.state_dict())


# ---------------------------------------------------------------------------- gradient clipping


def test_clip_grad_norm_scales_jointly_without_touching_the_old_arrays(rng):
    a, b = param(np.zeros((2, 3))), param(np.zeros(4))
    ga, gb = rng.standard_normal((2, 3)) * 5, rng.standard_normal(4) * 5
    a.grad, b.grad = ga, gb
    kept = ga.copy()
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert total == pytest.approx(np.sqrt((ga**2).sum() + (gb**2).sum()), rel=1e-12)
    scale = 1.0 / (total + 1e-6)
    np.testing.assert_allclose(a.grad, ga * scale, rtol=1e-12)
    np.testing.assert_allclose(b.grad, gb * scale, rtol=1e-12)
    assert np.sqrt((a.grad**2).sum() + (b.grad**2).sum()) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_array_equal(ga, kept)  # replaced, not scaled in place


def test_clip_grad_norm_other_norms_and_no_op(rng):
    a, b, unused = param(np.zeros(3)), param(np.zeros(2)), param(np.zeros(2))
    a.grad, b.grad = np.array([3.0, -4.0, 1.0]), np.array([-6.0, 2.0])
    assert optim.clip_grad_norm_([a, b, unused], 100.0, norm_type=1) == pytest.approx(16.0)
    assert optim.clip_grad_norm_([a, b], 100.0, norm_type=float("inf")) == pytest.approx(6.0)
    g = a.grad
    optim.clip_grad_norm_([a, b], 100.0)
    assert a.grad is g  # below max_norm: nothing changes
    optim.clip_grad_norm_(a, 1.0, norm_type="inf")  # a single Tensor works too
    np.testing.assert_allclose(a.grad, np.array([3.0, -4.0, 1.0]) / (4.0 + 1e-6))
    assert optim.clip_grad_norm_([unused], 1.0) == 0.0
    f32 = param(np.zeros(3), dtype=np.float32)
    f32.grad = np.full(3, 10.0, dtype=np.float32)
    optim.clip_grad_norm_(f32, 1.0)
    assert f32.grad.dtype == np.float32


def test_clip_grad_norm_nonfinite():
    a = param(np.zeros(2))
    a.grad = np.array([np.inf, 1.0])
    with pytest.raises(FloatingPointError, match="norm"):
        optim.clip_grad_norm_(a, 1.0, error_if_nonfinite=True)
    a.grad = np.array([np.nan, 1.0])
    assert math.isnan(optim.clip_grad_norm_(a, 1.0))
    assert np.isnan(a.grad).all()  # NaN spreads, as in PyTorch, rather than hiding


def test_clip_grad_value_(rng):
    a = param(np.zeros(5), dtype=np.float32)
    g = np.array([-3.0, -0.5, 0.0, 0.7, 9.0], dtype=np.float32)
    a.grad = g
    optim.clip_grad_value_([a], 1.0)
    np.testing.assert_array_equal(a.grad, np.array([-1.0, -0.5, 0.0, 0.7, 1.0], dtype=np.float32))
    assert a.grad.dtype == np.float32
    assert g[0] == -3.0  # the old array is untouched


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make, message", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "lr must be >= 0"),
    (lambda ps: optim.Adam(ps, lr=float("nan")), "lr must be >= 0"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5), "momentum must be >= 0"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum needs momentum > 0"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "weight_decay must be >= 0"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\)"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\)"),
    (lambda ps: optim.AdamW(ps, betas=(0.9,)), "pair"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "eps must be >= 0"),
    (lambda ps: optim.Adam([{"params": ps, "lr": -1.0}]), "lr must be >= 0"),
    (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda ps: optim.SGD(iter(()), lr=0.1), "empty parameter list"),
    (lambda ps: optim.SGD([{"params": ps}, {"params": ps}], lr=0.1), "already in another parameter group"),
    (lambda ps: optim.SGD(ps + ps, lr=0.1), "appears twice"),
    (lambda ps: optim.SGD([ps[0] * 2], lr=0.1), "leaf"),
])
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make([param([1.0, 2.0])])


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=0.1), "single Tensor"),
    (lambda p: optim.SGD({p}, lr=0.1), "set"),
    (lambda p: optim.SGD([np.zeros(2)], lr=0.1), "must be Tensors, got ndarray"),
    (lambda p: optim.SGD([("w", p)], lr=0.1), "named_parameters"),
    (lambda p: optim.SGD([ng.Tensor(np.arange(3))], lr=0.1), "floating point"),
    (lambda p: optim.StepLR(object(), 2), "expected an Optimizer"),
    (lambda p: optim.clip_grad_norm_([np.zeros(2)], 1.0), "must be Tensors"),
])
def test_bad_types_raise_type_error(make, message):
    with pytest.raises(TypeError, match=message):
        make(param([1.0, 2.0]))


def test_bad_schedule_and_clip_arguments():
    opt = optim.SGD([param([1.0])], lr=0.1)
    for make, message in [(lambda: optim.StepLR(opt, 0), "step_size must be a positive int"),
                          (lambda: optim.StepLR(opt, 2.5), "step_size must be a positive int"),
                          (lambda: optim.ExponentialLR(opt, gamma=0.0), "gamma must be > 0"),
                          (lambda: optim.CosineAnnealingLR(opt, T_max=0), "T_max must be a positive int"),
                          (lambda: optim.CosineAnnealingLR(opt, T_max=3, eta_min=-1), "eta_min"),
                          (lambda: optim.clip_grad_norm_(opt.param_groups[0]["params"], -1.0), "max_norm"),
                          (lambda: optim.clip_grad_norm_(opt.param_groups[0]["params"], 1.0, 0), "norm_type"),
                          (lambda: optim.clip_grad_value_(opt.param_groups[0]["params"], -1.0), "clip_value")]:
        with pytest.raises(ValueError, match=message):
            make()


def test_step_rejects_a_grad_of_the_wrong_shape_or_dtype():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"shape \(2,\).*grad of shape \(3,\)"):
        opt.step()
    p.grad = np.ones(2, dtype=np.float32)
    with pytest.raises(ValueError, match="dtype float32"):
        opt.step()
    np.testing.assert_array_equal(p.data, [1.0, 2.0])


# ---------------------------------------------------------------------------- L-BFGS


def test_lbfgs_minimises_the_rosenbrock_function():
    """f(a, b) = (1 - a)^2 + 100 (b - a^2)^2: a curved valley where plain gradient descent crawls;
    L-BFGS's curvature model reaches the minimum (1, 1) in a few dozen iterations."""
    def fun(x):
        a, b = x
        f = (1 - a) ** 2 + 100 * (b - a * a) ** 2
        g = np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
        return f, g, {"f": f}

    seen = []
    x = optim.lbfgs(fun, np.array([-1.2, 1.0]), steps=100, callback=lambda it, f, info: seen.append((it, f)))
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-4)
    assert seen[0] == (0, pytest.approx(24.2)) and seen[-1][1] < 1e-6     # called once per iteration, from the start
    assert [it for it, _ in seen] == list(range(len(seen)))
