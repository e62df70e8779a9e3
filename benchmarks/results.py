"""Measure the trained models and write their rows of docs/results.md.

    python benchmarks/results.py --list                 # what can be measured
    python benchmarks/results.py ae vae --threads 1     # train, time, eval, rewrite those rows

Each entry of RUNS is one block of docs/results.md, kept between `<!-- results:NAME -->` and
`<!-- /results:NAME -->`: a table of its runs (the command, the wall-clock minutes, the numbers
`nanogen eval RUN --json` printed, the run's figure) and the protocol under it (machine, load
average, threads, date, the command that wrote the block). A run trains into runs/results/<folder>
(scratch, never committed), then is evaluated; only the blocks named on the command line are
rewritten, every other line of the page stays as it was. A block that is not on the page yet is
added at its end. A few entries are not trainings but commands a reading-order step times (a test
chapter, a demo); they are timed the same way and their metric is read from what they print.

The minutes are wall clock on a machine other jobs may share: the load average at the start of
each run is in the protocol so that a reader can tell a quiet measurement from a busy one.
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

from common import machine_line, worker_env

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
PAGE = os.path.join(PROJECT, "docs", "results.md")
SCRATCH = os.path.join("runs", "results")


@dataclass
class Run:
    """One row: `nanogen train MODEL FLAGS`, then `nanogen eval` (or, with `command`, any command)."""

    model: str                                  # the recipe name, or a label for a plain command
    flags: tuple = ()
    metric: callable = None                     # eval's JSON (or the command's stdout) -> the metric cell
    figure: str = "--"                          # a figure of the run folder worth opening
    note: str = ""                              # said after the command (e.g. why fewer epochs)
    command: tuple = ()                         # a plain command instead of train + eval
    folder: str = ""                            # runs/results/<folder> (default: the model's name)
    gan: bool = False                           # eval needs the standard classifier (trained beforehand)


def shares(m, k):
    return f"{100 * m[f'class_share_{k}']:.1f}%"


def ae_metric(m):
    extra = "".join(f", {k} {m[k]:.4f}" for k in ("test_denoising_mse", "mean_code_activation") if k in m)
    return f"test BCE **{m['test_bce_per_image']:.2f}** nats per image ({m['test_bce_per_pixel']:.4f} per pixel), " \
           f"MSE per pixel {m['test_mse']:.5f}{extra}"


def vae_metric(m):
    return (f"test -ELBO **{m['test_neg_elbo']:.2f}** = recon {m['test_recon']:.2f} + KL {m['test_kl']:.2f} nats; "
            f"{m['active_units']} active units; IWAE (k = {m['iw_samples']}, first {m['iw_subset']} test digits) "
            f"{m['iwae_nll']:.2f} +- {m['iwae_nll_stderr']:.2f} (their ELBO {m['neg_elbo_on_iw_subset']:.2f})")


def gan_metric(m):
    return (f"FCD **{m['fcd']:.1f}** (test halves {m['fcd_test_halves']:.1f}), inception score "
            f"{m['inception_score']:.2f}, the digit 1 in {shares(m, 1)} of the samples, "
            f"{m['classes_covered']} of 10 digits with >= 5%, shares {100 * m['class_min_share']:.1f}-"
            f"{100 * m['class_max_share']:.1f}%"
            + (f"; the requested digit read back in **{100 * m['label_accuracy']:.1f}%**, FCD within class "
               f"{m['fcd_within_class_mean']:.1f} (floor {m['fcd_within_class_floor']:.1f})" if "label_accuracy" in m
               else ""))


def printed(pattern):
    """A metric for a plain command: the lines of its stdout that match `pattern`, joined by '; '."""
    return lambda out: "; ".join(" ".join(line.split()) for line in out.splitlines() if re.search(pattern, line))


AE_FIGS = "reconstructions.png, latent.png, interpolation.png"
RUNS = {
    "ae": [Run("ae", (), ae_metric, AE_FIGS)],
    "stacked-ae": [Run("stacked-ae", (), ae_metric, AE_FIGS),
                   Run("stacked-ae", ("--epochs", "3"), ae_metric, AE_FIGS, folder="stacked-ae-3")],
    "sparse-ae": [Run("sparse-ae", (), ae_metric, "filters.png"),
                  Run("sparse-ae", ("--epochs", "3"), ae_metric, "filters.png", folder="sparse-ae-3")],
    "denoising-ae": [Run("denoising-ae", (), ae_metric, "denoising.png"),
                     Run("denoising-ae", ("--noise", "mask", "--noise-level", "0.3", "--epochs", "3"), ae_metric,
                         "denoising.png", folder="denoising-ae-3")],
    "vae": [Run("vae", ("--epochs", "10"), vae_metric, "samples.png")],
    "conv-vae": [Run("conv-vae", ("--epochs", "1", "--iw-samples", "100"), vae_metric, "samples.png",
                     note="IWAE with k = 100 to keep the evaluation short", folder="conv-vae-1"),
                 Run("conv-vae", (), vae_metric, "samples.png")],
    "beta-vae": [Run("beta-vae", ("--beta", "4", "--latent-dim", "2", "--epochs", "10"), vae_metric,
                     "manifold.png")],
    "cvae": [Run("cvae", ("--epochs", "10"), vae_metric, "digits.png")],
    "gan": [Run("gan", ("--epochs", "20", "--label-smoothing", "0.9"), gan_metric, "progression.png", gan=True)],
    "gan-dropout": [Run("gan", ("--epochs", "10", "--d-dropout", "0.3"), gan_metric, "progression.png",
                        folder="gan-dropout", gan=True),
                    Run("gan", ("--epochs", "10", "--d-dropout", "0"), gan_metric, "progression.png",
                        folder="gan-nodrop", gan=True)],
    "dcgan-ttur": [Run("dcgan", ("--epochs", "1"), gan_metric, "gan_diagnostics.png", folder="dcgan-1", gan=True),
                   Run("dcgan", ("--epochs", "1", "--lr-d", "0.0004", "--lr-g", "0.0001"), gan_metric,
                       "gan_diagnostics.png", folder="dcgan-ttur", gan=True)],
    "cgan": [Run("cgan", ("--epochs", "3"), gan_metric, "progression.png", gan=True)],
    "stylegan": [Run("stylegan", ("--epochs", "1"), gan_metric, "style_mixing.png, noise.png", gan=True)],
    "chapter-ops": [Run("pytest -m chapter_ops", command=("-m", "pytest", "-q", "-m", "chapter_ops"),
                        metric=printed(r"\d+ passed"))],
    "double-backward": [Run("demos/double_backward.py", command=("demos/double_backward.py",),
                            metric=printed(r"^lambda"), figure="demos/out/double_backward/gradient_penalty.png")],
    "style": [Run("nanogen style", command=("-m", "nanogen", "style", "--quiet", "--out",
                                            f"{SCRATCH}/style/result.png"),
                  metric=lambda out: "no number (the defaults: 200 Adam steps at 128 pixels): look at the panel",
                  figure=f"{SCRATCH}/style/result_panel.png")],
    "style-demos": [Run("demos/style_transfer.py", command=("demos/style_transfer.py",),
                        metric=printed(r"Adam steps in|^ *(adam|lbfgs):"),
                        figure="demos/out/style_transfer/adam_vs_lbfgs.png"),
                    Run("demos/texture.py", command=("demos/texture.py",), metric=printed(r"iterations:|: [\d.]+ s$"),
                        figure="demos/out/texture")],
    "anomaly": [Run("demos/anomaly.py", command=("demos/anomaly.py",), metric=printed(r"AUROC"),
                    figure="demos/out/anomaly/roc.png")],
    "own-images": [Run("demos/own_images.py", command=("demos/own_images.py",),
                       metric=lambda out: printed(r"training images")(out) + "; no number: judge the samples by eye",
                       figure="demos/out/own_images/dcgan_samples.png")],
}


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def shown(run):
    """The command as a reader types it."""
    if run.command:
        return "python " + " ".join(run.command)
    return " ".join(["nanogen train", run.model, *run.flags])


def timed(argv, env, log):
    """Run `python argv...` (stdout captured, stderr appended to `log`); (stdout, minutes)."""
    t0 = time.perf_counter()
    with open(log, "a") as err:
        out = subprocess.run([sys.executable, *argv], env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=err,
                             text=True, check=True).stdout
    return out, (time.perf_counter() - t0) / 60


def measure(run, env, log):
    """Run one row; (row cells, load average at its start)."""
    load = os.getloadavg()[0]
    if run.command:
        out, minutes = timed(run.command, env, log)
        figure = f"`{run.figure}`" if run.figure != "--" else "--"
        return [f"`{shown(run)}`", fmt(minutes), run.metric(out), figure], load
    folder = os.path.join(SCRATCH, run.folder or run.model)
    train = ["-m", "nanogen", "train", run.model, *run.flags, "--out", folder, "--overwrite", "--quiet"]
    _, minutes = timed(train, env, log)
    out, eval_minutes = timed(["-m", "nanogen", "eval", folder, "--json"], env, log)
    metric = run.metric(json.loads(out.strip().splitlines()[-1]))
    figure = ", ".join(f"`{os.path.join(folder, f.strip())}`" for f in run.figure.split(","))
    with open(os.path.join(PROJECT, folder, "config.json")) as f:
        epochs = json.load(f)["epochs"]
    notes = [f"{epochs} epoch{'s' if epochs > 1 else ''}"] + ([run.note] if run.note else [])
    command = f"`{shown(run)}` then `nanogen eval` ({'; '.join(notes)})"
    return [command, f"{fmt(minutes)} (+{fmt(eval_minutes)} eval)", metric, figure], load


def fmt(minutes):
    return f"{minutes:.1f}" if minutes >= 1 else f"{minutes:.2f}"


def ensure_classifier(env, log):
    """Train nanogen's standard classifier first, if missing, so that no eval's minutes include it."""
    code = "from nanogen.models.gan_eval import find_classifier; print(find_classifier())"
    out, minutes = timed(["-c", code], env, log)
    return out.strip().splitlines()[-1], minutes


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------


def block(name, rows, protocol):
    """The Markdown between the markers of `name`: a table of rows, then the protocol paragraph."""
    lines = [f"<!-- results:{name} -->",
             "| command | minutes (wall) | metric | figure (run folder, not committed) |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in rows]   # |x| in a cell
    return "\n".join(lines + ["", protocol, f"<!-- /results:{name} -->"])


def replace_block(text, name, new):
    """`text` with the block of `name` replaced by `new` (appended at the end when missing)."""
    pattern = re.compile(rf"<!-- results:{re.escape(name)} -->.*?<!-- /results:{re.escape(name)} -->", re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: new, text, count=1)
    return text.rstrip("\n") + f"\n\n## {name}\n\n{new}\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help="entries of RUNS to measure (see --list)")
    p.add_argument("--list", action="store_true", help="print the entries and their commands")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS / Numba / nanogen threads (default: all cores)")
    p.add_argument("--log", default=os.path.join(SCRATCH, "results.log"), help="stderr of every run goes here")
    args = p.parse_args()
    if args.list or not args.names:
        for name, runs in RUNS.items():
            print(f"{name:16} " + "; ".join(shown(r) for r in runs))
        return
    unknown = [n for n in args.names if n not in RUNS]
    if unknown:
        sys.exit(f"unknown entries {unknown}; known: {', '.join(RUNS)}")
    os.makedirs(os.path.join(PROJECT, SCRATCH), exist_ok=True)
    log = os.path.join(PROJECT, args.log)
    env = worker_env(args.threads)
    env["PYTHONPATH"] = PROJECT + os.pathsep + env.get("PYTHONPATH", "")
    classifier = None
    for name in args.names:
        if any(r.gan for r in RUNS[name]) and classifier is None:
            classifier, minutes = ensure_classifier(env, log)
            print(f"classifier: {classifier} ({minutes:.1f} min to find or train)", flush=True)
        rows, loads = [], []
        for run in RUNS[name]:
            print(f"{name}: {shown(run)}", flush=True)
            cells, load = measure(run, env, log)
            rows.append(cells)
            loads.append(f"{load:.1f}")
            print("  " + " | ".join(cells), flush=True)
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        scored = any(r.gan for r in RUNS[name])
        protocol = (f"Protocol: `python benchmarks/results.py {name} --threads {args.threads}` on {date}; "
                    f"{machine_line()}; load average (1 min) at the start of each run: {', '.join(loads)}; "
                    f"{args.threads} thread(s) for BLAS, Numba and nanogen; seed 0; minutes are wall clock"
                    + (f"; FCD by the classifier `{classifier.replace(os.path.expanduser('~'), '~')}`" if scored
                       else "") + ".")
        with open(PAGE) as f:
            text = f.read()
        with open(PAGE, "w") as f:
            f.write(replace_block(text, name, block(name, rows, protocol)))
        print(f"{name}: docs/results.md updated", flush=True)


if __name__ == "__main__":
    main()
