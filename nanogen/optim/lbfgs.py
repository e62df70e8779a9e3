"""L-BFGS: a quasi-Newton method that builds a curvature model from its last few steps.

Read after sgd.py and adam.py. Where those step along the gradient, L-BFGS (Nocedal & Wright 2006,
Algorithm 7.4, the two-loop recursion; Liu & Nocedal 1989) estimates the inverse Hessian from the
last `history` pairs s = x_{k+1} - x_k, y = g_{k+1} - g_k and steps along -H g, with a
backtracking (Armijo) line search. It is the optimiser Gatys et al. used for style transfer
(models/style.py), where it usually needs far fewer iterations than Adam. It works on one flat
float64 vector and a function returning the loss and its gradient, not on parameter groups: a
full-batch method for a deterministic objective, not a stochastic one.
"""

import numpy as np


def lbfgs(fun, x0, steps, history=10, callback=None):
    """Minimise fun(x) -> (loss, gradient, info) over a flat float64 vector with L-BFGS (Nocedal &
    Wright 2006, Algorithm 7.4, the two-loop recursion) and a backtracking (Armijo) line search.

    The optimiser Gatys et al. used: it builds a curvature model from the last `history` steps and
    usually needs far fewer iterations than Adam. callback(it, loss, info) runs at the start of
    each iteration, as style_step reports the image it is about to update. Unconstrained: the
    caller clips the image afterwards. Returns the last point.
    """
    x = x0.copy()
    f, g, info = fun(x)
    s_list, y_list = [], []
    for it in range(steps):
        if callback is not None:
            callback(it, f, info)
        q = g.copy()  # two-loop recursion: d = -H g, H the inverse-Hessian estimate
        alphas = []
        for s, y in zip(reversed(s_list), reversed(y_list)):
            a = (s @ q) / (y @ s)
            alphas.append(a)
            q -= a * y
        if s_list:
            q *= (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1])  # H0 = γ I, γ = s·y / y·y
        else:
            q *= 1e-2 / max(np.abs(g).mean(), 1e-30)  # first step: about 0.01 per pixel
        for (s, y), a in zip(zip(s_list, y_list), reversed(alphas)):
            b = (y @ q) / (y @ s)
            q += (a - b) * s
        d = -q
        slope = g @ d
        if slope >= 0:  # not a descent direction (the curvature model broke down): restart
            s_list, y_list = [], []
            d = -g * (1e-2 / max(np.abs(g).mean(), 1e-30))
            slope = g @ d
        t = 1.0
        for _ in range(20):  # backtrack until the Armijo condition f(x + t d) <= f + c t g·d holds
            f_new, g_new, info_new = fun(x + t * d)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break  # no decrease along d: as converged as float precision allows
        s, y = t * d, g_new - g
        x, f, g, info = x + s, f_new, g_new, info_new
        if y @ s > 1e-10:  # keep only pairs with positive curvature, so H stays positive definite
            s_list.append(s)
            y_list.append(y)
            if len(s_list) > history:
                s_list.pop(0)
                y_list.pop(0)
    return x
