# %% [markdown]
# # Mode collapse, made visible: a GAN on 8 points of a ring
#
# The data: a mixture of 8 Gaussians on a circle of radius 2, each with std 0.02
# (nanogen.data.toy "ring8", as in Metz et al. 2017, Sec. 3.1). A generator that has learned the
# distribution puts its samples on all 8 modes; a collapsed one puts them on one or two. Because
# every mode has a known centre we can count: a sample is *high-quality* when it lands within
# 3 std of some centre (Srivastava et al. 2017, VEEGAN, Sec. 5.1); a mode is *reached* when at
# least one high-quality sample is near it, and *well covered* when at least 1% of all samples are.
#
# Two configurations of the same small GAN (nanogen/models/gan_toy.py), trained side by side:
# - COLLAPSING: G's learning rate is 8x D's. G jumps onto whatever point the current D likes
#   most; D learns to reject it; G jumps to the next mode. The samples hop around the ring.
# - COVERING: equal learning rates that decay to 5% of their start, so the late steps refine
#   the modes instead of hopping between them.
#
# Run: `python demos/mode_collapse.py` (about a minute on two cores) or `--quick`.
# Figures: demos/out/mode_collapse/

# %%
import argparse
import os
import time
from dataclasses import replace

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np
from matplotlib.figure import Figure

from nanogen import plot
from nanogen.data import toy
from nanogen.models import gan_toy

parser = argparse.ArgumentParser(description="mode collapse on the 2-D ring of 8 Gaussians")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
parser.add_argument("--seed", type=int, default=0)
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "mode_collapse")
os.makedirs(OUT, exist_ok=True)
STEPS = 1000 if QUICK else 1600
SNAPSHOTS = [0, 250, 500, 750, 1000] if QUICK else [0, 200, 400, 800, 1200, 1600]
configs = {"collapsing": replace(gan_toy.COLLAPSING, steps=STEPS),
           "covering": replace(gan_toy.COVERING, steps=STEPS)}
for name, c in configs.items():
    print(f"{name:>10}: lr_g {c.lr_g:g}, lr_d {c.lr_d:g}, final lr x{c.final_lr_fraction:g}, batch {c.batch_size}, "
          f"Z {c.latent_dim}, {c.steps} steps")

# %% [markdown]
# ## Train both, keeping snapshots of 1000 samples from a fixed noise batch

# %%
DENSE = list(range(0, STEPS + 1, STEPS // 20))           # for the modes-over-time curve below
results = {}
for name, cfg in configs.items():
    r = gan_toy.train_toy_gan(cfg, np.random.default_rng(args.seed), snapshot_steps=set(SNAPSHOTS) | set(DENSE))
    results[name] = r
    print(f"\n{name}: {r['steps']} steps in {r['seconds']:.1f} s")
    print("   step  modes reached  well covered  high-quality samples")
    for step, points in r["snapshots"]:
        if step in SNAPSHOTS:
            cov = gan_toy.coverage(points, cfg.dataset)
            print(f"  {step:5d}  {cov['modes']:>5d} of {cov['n_modes']}  {cov['modes_1pct']:>7d}      "
                  f"{cov['high_quality']:>8.1%}")

# %% [markdown]
# ## Side by side: the generated points over the true modes
# Red crosses are the 8 centres, grey points real samples. Top row: collapsing -- the blue cloud
# is one blob that moves from mode to mode. Bottom row: covering -- the samples spread over the
# ring first, then gather on all 8 centres.

# %%
centres = toy.mode_centres("ring8")
real = toy.sample("ring8", 500, np.random.default_rng(1))
limits = ((-2.6, 2.6), (-2.6, 2.6))
n = len(SNAPSHOTS)
fig = Figure(figsize=(2.6 * n, 5.6), dpi=100, layout="constrained")
axes = fig.subplots(2, n, squeeze=False)
for row, name in enumerate(configs):
    shown = [(step, p) for step, p in results[name]["snapshots"] if step in SNAPSHOTS]
    for ax, (step, points) in zip(axes[row], shown):
        cov = gan_toy.coverage(points, "ring8")
        plot.toy_points(points, centres, ax=ax, real=real, limits=limits,
                        title=f"{name}, step {step}\n{cov['modes']}/8 modes, {cov['high_quality']:.0%} good")
fig.suptitle("mode collapse (top) vs coverage (bottom) on the ring of 8 Gaussians")
print("wrote", plot.save_figure(fig, os.path.join(OUT, "side_by_side.png")))
for name in configs:
    snaps = [(step, p) for step, p in results[name]["snapshots"] if step in SNAPSHOTS]
    plot.toy_progression([p for _, p in snaps], [s for s, _ in snaps], centres=centres, real=real,
                         path=os.path.join(OUT, f"{name}.png"), title=f"{name} configuration")

# %% [markdown]
# ## Counting modes over training
# Collapse is not a state but a dynamic: the collapsing GAN reaches one or two modes at any
# moment, just not the same ones. A loss value cannot tell you that; counting modes (here) and
# digit classes (gan_eval.py, for MNIST) can.

# %%
curves = {name: [gan_toy.coverage(p, "ring8")["modes"] for step, p in r["snapshots"] if step in DENSE]
          for name, r in results.items()}
fig = Figure(figsize=(6, 3.4), dpi=100, layout="constrained")
ax = fig.add_subplot()
for name, counts in curves.items():
    ax.plot(DENSE[: len(counts)], counts, marker="o", label=name)
ax.set_xlabel("step")
ax.set_ylabel("modes reached (of 8)")
ax.set_ylim(-0.3, 8.3)
ax.grid(alpha=0.3)
ax.legend()
print("wrote", plot.save_figure(fig, os.path.join(OUT, "modes_over_time.png")))
for name, counts in curves.items():
    print(f"{name:>10}: modes reached, every {DENSE[1]} steps: {counts}")

# %% [markdown]
# ## The harder grid: 25 modes
# The same covering configuration on the 5 x 5 grid (nanogen.data.toy "grid25", Lin et al. 2018,
# PacGAN, Sec. 5). More modes, closer together: expect fewer of them covered.

# %%
if not QUICK:
    t0 = time.perf_counter()
    r = gan_toy.train_toy_gan(replace(configs["covering"], dataset="grid25", steps=2 * STEPS),
                              np.random.default_rng(args.seed), snapshot_steps=[STEPS // 2, STEPS, 2 * STEPS])
    for step, points in r["snapshots"]:
        cov = gan_toy.coverage(points, "grid25")
        print(f"grid25 step {step}: {cov['modes']} of 25 modes reached ({cov['modes_1pct']} well covered), "
              f"{cov['high_quality']:.0%} high-quality")
    plot.toy_progression([p for _, p in r["snapshots"]], [s for s, _ in r["snapshots"]],
                         centres=toy.mode_centres("grid25"), real=toy.sample("grid25", 1000, np.random.default_rng(2)),
                         path=os.path.join(OUT, "grid25.png"), title="covering configuration on grid25")
    print(f"grid25: {time.perf_counter() - t0:.0f} s")
print(f"figures in {OUT}")
