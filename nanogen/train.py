"""The training loop every model shares: progress bar, metrics log, figures, checkpoints, resume.

Read after nn/, optim and data/. A model brings a `Recipe` (what one training step does, which
modules and optimizers it has, which pictures to draw); `fit` runs it:

    RUN/config.json      the run's configuration (model name, hyperparameters, seed)
    RUN/metrics.csv      one row per logged step: epoch, step and every number train_step returned
    RUN/checkpoint.npz   model(s), optimizer(s), random-generator states, position in the data;
                         written atomically at the end of every epoch (and on Ctrl-C)
    RUN/*.png            what the recipe draws at the end of each epoch, and the loss curves

Resuming is exact: the data order of epoch k depends only on (seed, k), and every random
generator's state is in the checkpoint, so 2 epochs in one go equal 1 epoch + resume + 1 epoch,
bit for bit. A NaN or Inf loss stops the run, names the step and leaves the last good
checkpoint untouched.
"""

import csv
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time

import numpy as np

from . import random as _random
from . import serialize, settings
from .optim import Adam

CHECKPOINT = "checkpoint.npz"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; the message names the step and the last good checkpoint."""


class Recipe:
    """What a model brings to the loop. Subclasses set `name`, `help`, `defaults` (the training
    flags: epochs, batch_size, lr), and for the model's own settings `config_class` (its Config
    dataclass), `variant` (the values this recipe sets differently) and `flags` (the fields a user
    may change, each with its one default in the Config: nanogen.settings). They implement:

    __init__(config, rng)     build modules and optimizers from the config dict (model_config(config));
                              the default: one network from `build_model(Config, rng=rng)`, one Adam
    modules                   dict name -> nn.Module (saved in checkpoints)
    optimizers                dict name -> optimizer (saved in checkpoints)
    training_arrays(x, y)     the arrays to batch (default: images and labels as they are)
    train_step(batch, rng)    one update on a batch (tuple of Tensors); returns {name: float}
    on_epoch_end(run_dir, epoch, data)   draw the epoch's pictures into run_dir (optional)
    evaluate(data, rng)       test-set metrics as {name: float} (optional)
    sample(n, rng)            n images (n, C, H, W) in [0, 1] (optional)
    """

    name = "recipe"
    help = ""
    defaults = {"epochs": 10, "batch_size": 128, "lr": 1e-3}   # the training flags; a recipe overrides some
    config_class = None     # the model's Config dataclass
    build_model = None      # Config -> the network (the default __init__ trains one model with Adam)
    variant = {}            # Config values of this recipe that differ from the dataclass defaults
    flags = ()              # Config fields that become `nanogen train NAME` flags
    image_flags = False     # True: the model takes --image-size S and --channels 1|3 (convolutional models)

    @classmethod
    def add_arguments(cls, parser):
        """Model-specific command-line flags (argparse), beyond the common ones: one per name in
        `flags`, built from the Config. A recipe adds flags of its own (not the model's) here."""
        if cls.image_flags:
            parser.add_argument("--image-size", type=settings.positive(int, "--image-size"), default=28,
                                help="train on S x S images: the data is resized to it (default 28)")
            parser.add_argument("--channels", dest="image_channels", type=int, choices=(1, 3), default=1,
                                help="1 = grayscale, 3 = colour (RGB): the data is converted to it (default 1)")
        if cls.config_class is not None:
            settings.add_flags(parser, cls.config_class, cls.flags, cls.variant)

    @staticmethod
    def image_shape(config):
        """(C, H, W) of the run's images: --channels and --image-size, else MNIST's (1, 28, 28)."""
        S = config.get("image_size") or 28
        return (config.get("image_channels") or 1, S, S)

    def model_config(self, config):
        """The model's Config from a run's config dict (parsed flags, or a checkpoint's config);
        a Config with an image_shape field gets the run's (image_shape(config))."""
        defaults = {f.name: self.variant.get(f.name, f.default) for f in dataclasses.fields(self.config_class)}
        fixed = {}
        if "image_shape" in defaults:
            fixed["image_shape"] = self.image_shape(config)
        if defaults.get("n_classes") and config.get("data_classes"):   # a conditional model: as many labels
            fixed["n_classes"] = config["data_classes"]                  # as the data has (a folder's classes)
        return settings.build(self.config_class, config, self.flags, self.variant, **fixed)

    def __init__(self, config, rng):
        """The common case: one network, `model`, built from the Config, trained by one Adam."""
        self.config = config
        self.model = type(self).build_model(self.model_config(config), rng=rng)
        self.modules = {"model": self.model}
        self.optimizers = {"adam": Adam(self.model.parameters(), lr=config.get("lr", self.defaults["lr"]))}

    modules = {}
    optimizers = {}

    drop_last = False  # True for models with batch norm, which dislike a last batch of 1

    def training_arrays(self, x, y):
        """The arrays the DataLoader batches: images (N, 1, 28, 28) in [0, 1] and labels (N,).
        Override to rescale (a GAN wants [-1, 1]) or to drop the labels."""
        return x, y

    def train_step(self, batch, rng):
        raise NotImplementedError(f"{type(self).__name__}.train_step")

    def on_epoch_end(self, run_dir, epoch, data):
        pass

    def evaluate(self, data, rng):
        return {}

    def sample(self, n, rng):
        raise ValueError(f"the {self.name} model does not generate new images; "
                         "train a generative model (vae, gan, ...) to sample")


# ---------------------------------------------------------------------------- checkpoints


def save_checkpoint(path, recipe, meta):
    """Write modules, optimizers and `meta` (JSON-able) to `path` atomically (nanogen.serialize)."""
    serialize.save({
        "modules": {k: m.state_dict() for k, m in recipe.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in recipe.optimizers.items()},
        "meta": meta,
    }, path)


def load_checkpoint(path):
    """Read a checkpoint written by save_checkpoint: {"modules", "optimizers", "meta"}."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}; train first (nanogen train MODEL --out DIR)")
    state = serialize.load(path)
    if not isinstance(state, dict) or not {"modules", "optimizers", "meta"} <= set(state):
        raise serialize.CheckpointError(f"{path} is a nanogen file but not a training checkpoint "
                                        "(it lacks modules/optimizers/meta)")
    return state


def restore(recipe, state):
    """Load saved modules and optimizers into a freshly built recipe (shapes are checked by
    Module.load_state_dict, which names the tensor and both shapes on a mismatch)."""
    for k, m in recipe.modules.items():
        if k not in state["modules"]:
            raise ValueError(f"checkpoint has no module {k!r} (it has {sorted(state['modules'])})")
        m.load_state_dict(state["modules"][k])
    for k, o in recipe.optimizers.items():
        if k in state["optimizers"]:
            o.load_state_dict(state["optimizers"][k])


# ---------------------------------------------------------------------------- progress


class Progress:
    """A tqdm bar on a terminal; plain lines (about ten per epoch) otherwise, e.g. in CI logs."""

    def __init__(self, total, desc, initial=0, stream=None):
        self.stream = stream or sys.stderr
        self.total, self.desc, self.n = total, desc, initial
        self.bar = None
        self.t0 = time.perf_counter()
        self.next_line = initial + max(1, total // 10)
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, file=self.stream, dynamic_ncols=True)

    def update(self, metrics):
        self.n += 1
        text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif self.n >= self.next_line or self.n == self.total:
            rate = (time.perf_counter() - self.t0) / max(1, self.n)
            print(f"{self.desc} {self.n}/{self.total} ({rate * 1e3:.0f} ms/step)  {text}", file=self.stream, flush=True)
            self.next_line = self.n + max(1, self.total // 10)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------- the loop


def _append_rows(path, rows):
    if not rows:
        return
    keys = list(rows[0])
    exists = os.path.exists(path)
    if exists:
        with open(path, newline="") as f:
            header = next(csv.reader(f), None)
        if header:
            keys = header + [k for k in keys if k not in header]
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        if not exists:
            w.writeheader()
        w.writerows(rows)


def fit(recipe, loader, epochs, run_dir, rng, config=None, data=None, resume=False, log_every=10, quiet=False):
    """Train `recipe` for `epochs` epochs over `loader`, writing everything into `run_dir`.

    rng: the numpy Generator the recipe draws its noise from (saved and restored with the run).
    data: passed to on_epoch_end for pictures (e.g. a few test images).
    resume: continue from run_dir/checkpoint.npz exactly where it stopped.
    Returns the metrics of the last logged step.
    """
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"fit: epochs must be a positive integer, got {epochs!r}")
    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = os.path.join(run_dir, CHECKPOINT)
    metrics_path = os.path.join(run_dir, "metrics.csv")
    step, start_epoch = 0, 0
    if resume:
        state = load_checkpoint(ckpt_path)
        restore(recipe, state)
        meta = state["meta"]
        step, start_epoch = meta["step"], meta["epoch"]
        rng.bit_generator.state = meta["rng"]
        _random.set_state(meta["global_rng"])
        loader.load_state_dict(meta["loader"])
        if not quiet:
            print(f"resuming {recipe.name} from {ckpt_path}: epoch {start_epoch + 1}, step {step}", file=sys.stderr)
    elif config is not None:
        with serialize.atomic_write(os.path.join(run_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        if os.path.exists(metrics_path):
            os.remove(metrics_path)  # a fresh run starts a fresh log

    def snapshot():
        """Everything that must be restored to continue exactly after the last completed step."""
        return {"step": step, "rng": rng.bit_generator.state, "global_rng": _random.get_state(),
                "loader": loader.state_dict()}

    def checkpoint(epoch, snap):
        save_checkpoint(ckpt_path, recipe, {"epoch": epoch, "config": config, **snap})

    # Ctrl-C asks the loop to stop after the step in progress, so the checkpoint never holds a
    # half-applied update; a second Ctrl-C stops at once.
    stop = {"requested": False}

    def on_sigint(signum, frame):
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        print("\nstopping after this step (Ctrl-C again to stop at once) ...", file=sys.stderr)

    in_main = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    last = {}
    for module in recipe.modules.values():
        module.train()
    try:
        for epoch in range(start_epoch, epochs):
            pending = []
            done_in_epoch = loader.state_dict()["batch"] if resume and epoch == start_epoch else 0
            bar = None if quiet else Progress(len(loader), f"{recipe.name} epoch {epoch + 1}/{epochs}",
                                               initial=done_in_epoch)
            snap = snapshot()
            try:
                for batch in loader:
                    metrics = recipe.train_step(batch, rng)
                    step += 1
                    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
                    if bad:
                        _append_rows(metrics_path, pending)
                        where = f"{ckpt_path} (end of epoch {epoch})" if os.path.exists(ckpt_path) else "none yet"
                        raise TrainingDiverged(
                            f"{recipe.name}: {', '.join(bad)} became {metrics[bad[0]]} at epoch {epoch + 1}, "
                            f"step {step}; stopped without saving. Last good checkpoint: {where}. "
                            "Try a lower --lr.")
                    snap = snapshot()
                    last = {"epoch": epoch + 1, "step": step, **metrics}
                    if step % log_every == 0:
                        pending.append(last)
                    if bar is not None:
                        bar.update(metrics)
                    if stop["requested"]:
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                _append_rows(metrics_path, pending)
                checkpoint(epoch, snap)  # mid-epoch: resumes right after the last completed step
                print(f"\ninterrupted: checkpoint written to {ckpt_path}; continue with --resume", file=sys.stderr)
                raise
            finally:
                if bar is not None:
                    bar.close()
            if last and (not pending or pending[-1] is not last):
                pending.append(last)
            _append_rows(metrics_path, pending)
            checkpoint(epoch + 1, snapshot())
            for module in recipe.modules.values():
                module.eval()
            recipe.on_epoch_end(run_dir, epoch + 1, data)
            _loss_curves(metrics_path, run_dir)
            for module in recipe.modules.values():
                module.train()
            resume = False
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous_handler)
    return last


def _loss_curves(metrics_path, run_dir):
    if not os.path.exists(metrics_path):
        return
    from . import plot

    plot.loss_curves(metrics_path, path=os.path.join(run_dir, "loss_curves.png"))
