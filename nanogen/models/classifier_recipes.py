"""`nanogen train classifier`: classifier.py's CNN as a Recipe, and reading a trained one back.

Read classifier.py first: this file wires it into the training loop (nanogen/train.py) with a
cosine learning-rate schedule (optim.CosineAnnealingLR, one step per batch), draws the test
digits it gets wrong, and loads a trained classifier from its run folder for gan_eval.py and
`nanogen style --features classifier:RUN`. Measured results: docs/results.md.
"""

import math
import os

import numpy as np

from .. import settings
from ..optim import CosineAnnealingLR
from ..train import CHECKPOINT, Recipe, load_checkpoint
from . import register
from .classifier import Classifier, ClassifierConfig, train_step


@register
class ClassifierRecipe(Recipe):
    name = "classifier"
    help = "CNN digit classifier (about 99% test accuracy); the feature extractor of `nanogen eval` for GANs"
    defaults = {**Recipe.defaults, "epochs": 5}
    config_class, build_model = ClassifierConfig, Classifier
    flags = ("channels", "hidden_dim")

    @classmethod
    def add_arguments(cls, parser):
        super().add_arguments(parser)
        parser.add_argument("--lr-schedule", choices=["cosine", "constant"], default="cosine",
                            help="anneal the learning rate to 0 over the run, or keep it (default %(default)s)")

    schedule = None         # optim.CosineAnnealingLR once training_arrays knows the run's length

    def training_arrays(self, x, y):
        if self.config.get("lr_schedule", "cosine") == "cosine":
            steps_per_epoch = math.ceil(len(x) / self.config.get("batch_size", self.defaults["batch_size"]))
            total = steps_per_epoch * self.config.get("epochs", self.defaults["epochs"])
            self.schedule = CosineAnnealingLR(self.optimizers["adam"], T_max=total)   # lr -> 0 over the run
        return x, y

    def train_step(self, batch, rng):
        x, y = batch
        opt = self.optimizers["adam"]
        if self.schedule is not None:
            # the count of updates lives in Adam's state, which the checkpoint keeps: a resumed run
            # continues the schedule exactly where it stopped
            step = opt.state.get(opt.param_groups[0]["params"][0], {}).get("step", 0)
            self.schedule.last_epoch = step - 1
            self.schedule.step()                              # lr of this update: the cosine at `step`
        return {**train_step(self.model, opt, x, y), "lr": opt.param_groups[0]["lr"]}

    def evaluate(self, data, rng):
        x, y = data
        p = self.model.predict_proba(x)                  # (N, K)
        nll = -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))
        return {"test_accuracy": float(np.mean(p.argmax(axis=1) == y)), "test_loss": float(nll.mean())}

    def on_epoch_end(self, run_dir, epoch, data):
        from .. import plot

        x, y = data
        pred = self.model.predict(x)
        wrong = np.flatnonzero(pred != y)[:40]
        if len(wrong):
            plot.image_grid(x[wrong], nrow=10, labels=[f"{y[i]}->{pred[i]}" for i in wrong],
                            path=os.path.join(run_dir, "mistakes.png"),
                            title=f"classifier, epoch {epoch}: {np.mean(pred == y):.2%} right on {len(y)} "
                                  "test digits; mistakes (true->predicted)")


def load_classifier(path):
    """A trained Classifier (eval mode) from a `nanogen train classifier` checkpoint file or run folder."""
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    state = load_checkpoint(path)
    config = state["meta"].get("config") or {}
    if config.get("model") not in (None, "classifier"):
        raise ValueError(f"{path} is a {config.get('model')!r} run, not a classifier; "
                         "train one with: nanogen train classifier")
    model = Classifier(settings.build(ClassifierConfig, config, ClassifierRecipe.flags))
    model.load_state_dict(state["modules"]["model"])
    return model.eval()
