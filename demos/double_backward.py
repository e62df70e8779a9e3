# %% [markdown]
# # Gradients of gradients: Hessian-vector products and the gradient penalty
#
# `nanogen.grad(outputs, inputs, create_graph=True)` records the backward pass as a graph of its
# own, so the gradient it returns can be differentiated again (docs/double_backward.md tells how).
# This demo uses that twice:
#
# 1. Hessian-vector products: H v = d/dx (grad f(x) . v), without ever forming H; Newton's method
#    on the Rosenbrock valley from HVPs alone, against gradient descent.
# 2. The gradient penalty of WGAN-GP: a critic on 2-D points trained with
#    (|grad_x f(x_hat)| - 1)^2 at points between two distributions; its gradient norms, measured.
# 3. Checking a second derivative: `gradgradcheck`, and what it says about a wrong one.
#
# Run: `python demos/double_backward.py` (a minute) or `--quick`. Figures: demos/out/double_backward/

# %%
import argparse
import os

import nanogen as ng  # first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np
from matplotlib.figure import Figure

import nanogen.functional as F
from nanogen import nn
from nanogen.optim import Adam
from nanogen.tensor import Tensor

parser = argparse.ArgumentParser(description="Hessian-vector products and the gradient penalty")
parser.add_argument("--quick", action="store_true", help="fewer critic steps (also NANOGEN_QUICK=1)")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "double_backward")
os.makedirs(OUT, exist_ok=True)

# %% [markdown]
# ## 1. Hessian-vector products
# For f(x) = Σ x^3 the gradient is 3x^2 and the Hessian diag(6x), so H v = 6 x v. Two calls:
# the first gradient with create_graph=True (a Tensor with a graph), then the gradient of its dot
# product with v.

# %%
x = Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
v = np.array([1.0, 1.0, 2.0])
(g,) = ng.grad((x * x * x).sum(), x, create_graph=True)
(hv,) = ng.grad((g * v).sum(), x)
print("grad f  =", g.data, "   3x^2 =", 3 * x.data ** 2)
print("H v     =", hv.data, "   6xv  =", 6 * x.data * v)

# %% [markdown]
# Newton's method on Rosenbrock's valley f(a, b) = (1 - a)^2 + 100 (b - a^2)^2: each step solves
# H d = -grad f. The 2x2 Hessian is built from two HVPs (v = e1, e2); in a network one would use
# HVPs inside conjugate gradient instead, never forming H. Gradient descent with the largest
# stable step crawls along the curved valley floor; Newton reaches the minimum (1, 1) in a few steps.

# %%
def rosenbrock(p):
    a, b = p[0], p[1]
    return (1 - a) ** 2.0 + 100 * (b - a * a) ** 2.0


def grad_and_hessian(point):
    p = Tensor(point.copy(), requires_grad=True)
    (g,) = ng.grad(rosenbrock(p), p, create_graph=True)
    H = np.stack([ng.grad((g * e).sum(), p, retain_graph=True)[0].data for e in np.eye(2)])
    return g.data, H


start = np.array([-1.2, 1.0])
newton, gd = [start.copy()], [start.copy()]
for _ in range(8):
    g, H = grad_and_hessian(newton[-1])
    newton.append(newton[-1] - np.linalg.solve(H, g))
for _ in range(2000):
    p = Tensor(gd[-1].copy(), requires_grad=True)
    (g,) = ng.grad(rosenbrock(p), p)
    gd.append(gd[-1] - 1e-3 * g.data)
newton, gd = np.array(newton), np.array(gd)
print(f"Newton after 8 steps: {newton[-1]}, gradient descent after 2000: {gd[-1]}")

A, B = np.meshgrid(np.linspace(-1.6, 1.6, 200), np.linspace(-0.6, 1.6, 200))
Z = (1 - A) ** 2 + 100 * (B - A * A) ** 2
fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
ax = fig.add_subplot()
ax.contour(A, B, np.log1p(Z), levels=25, cmap="Greys", linewidths=0.7)
ax.plot(gd[:, 0], gd[:, 1], ".-", color="C0", markersize=2, label="gradient descent, 2000 steps")
ax.plot(newton[:, 0], newton[:, 1], "o-", color="C3", label="Newton from HVPs, 8 steps")
ax.plot([1], [1], "k*", markersize=12)
ax.legend(loc="lower right")
ax.set_title("Rosenbrock's valley: second derivatives know the curvature")
fig.savefig(os.path.join(OUT, "newton.png"))

# %% [markdown]
# ## 2. The gradient penalty
# Real points from N((2, 0), 0.3^2 I), "generated" ones from N((-2, 0), 0.3^2 I), kept fixed. A
# critic f (an MLP on 2-D points) maximises E f(real) - E f(fake) under the penalty
# lambda (|grad f(x_hat)| - 1)^2 at random interpolates x_hat (Gulrajani et al. 2017, Algorithm 1).
# Without the penalty the critic's slope grows without bound; with it, it settles near 1 on the
# segment between the two clouds, and E f(real) - E f(fake) estimates the Wasserstein distance, 4
# (a little above it: the penalty is soft, so the slopes settle a little above 1).

# %%
rng = np.random.default_rng(0)
real = rng.normal((2.0, 0.0), 0.3, (512, 2))
fake = rng.normal((-2.0, 0.0), 0.3, (512, 2))


def train_critic(gp_weight, steps):
    critic = nn.Sequential(nn.Linear(2, 64, rng=rng), nn.Tanh(), nn.Linear(64, 64, rng=rng), nn.Tanh(),
                           nn.Linear(64, 1, rng=rng)).double()
    opt = Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for _ in range(steps):
        i = rng.integers(0, 512, 64)
        eps = rng.random((64, 1))
        x_hat = Tensor(eps * real[i] + (1 - eps) * fake[i], requires_grad=True)
        (g,) = ng.grad(critic(x_hat).sum(), x_hat, create_graph=True)     # (64, 2), with a graph
        penalty = (((g * g).sum(dim=1) + 1e-12).sqrt() - 1) ** 2.0
        w = critic(Tensor(real[i])).mean() - critic(Tensor(fake[i])).mean()
        loss = -w + gp_weight * penalty.mean()
        opt.zero_grad()
        loss.backward()                                                   # through the recorded backward
        opt.step()
    return critic, w.item()


steps = 300 if QUICK else 1500
results = {lam: train_critic(lam, steps) for lam in (0.0, 10.0)}
for lam, (critic, w) in results.items():
    x_hat = Tensor(np.linspace((-3.0, 0.0), (3.0, 0.0), 61), requires_grad=True)
    (g,) = ng.grad(critic(x_hat).sum(), x_hat)
    norms = np.linalg.norm(g.data, axis=1)
    print(f"lambda {lam:4}: E f(real) - E f(fake) = {w:7.2f};  |grad f| on the segment: "
          f"median {np.median(norms):.2f}, range {norms.min():.2f}..{norms.max():.2f}")

fig = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
A, B = np.meshgrid(np.linspace(-3.5, 3.5, 120), np.linspace(-2, 2, 70))
grid = Tensor(np.stack([A.ravel(), B.ravel()], 1), requires_grad=True)
for k, (lam, (critic, w)) in enumerate(results.items()):
    (g,) = ng.grad(critic(grid).sum(), grid)
    ax = fig.add_subplot(1, 2, k + 1)
    im = ax.contourf(A, B, np.linalg.norm(g.data, axis=1).reshape(A.shape), levels=20, cmap="viridis")
    fig.colorbar(im, ax=ax, label="|grad f(x)|")
    ax.scatter(real[:100, 0], real[:100, 1], s=3, c="w")
    ax.scatter(fake[:100, 0], fake[:100, 1], s=3, c="r")
    ax.set_title(f"lambda = {lam:g}: estimate {w:.2f}")
fig.savefig(os.path.join(OUT, "gradient_penalty.png"))

# %% [markdown]
# ## 3. Checking a second derivative
# `gradgradcheck(fn, *inputs)` is gradcheck applied to fn's recorded gradient. An op whose
# backward_graph has the right value but treats a factor as a constant (a forgotten dependence)
# passes gradcheck and fails gradgradcheck, naming the element:

# %%
class ExpWithDetachedY(ng.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(np.exp(x))
        return ctx.saved[0]

    @staticmethod
    def backward(ctx, grad):
        return (grad * ctx.saved[0],)

    @staticmethod
    def backward_graph(ctx, grad, x, y):
        return (grad * y.data,)         # the bug: y.data is a constant, so d/dx of this is lost


x0 = np.random.default_rng(1).standard_normal(3)
print("gradcheck:", ng.gradcheck(ExpWithDetachedY.apply, x0))
try:
    ng.gradgradcheck(ExpWithDetachedY.apply, x0)
except ng.GradcheckError as e:
    print("gradgradcheck:", str(e)[:160], "...")
print("gradgradcheck of F.exp:", ng.gradgradcheck(F.exp, x0))
print(f"figures in {OUT}")
