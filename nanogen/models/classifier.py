"""A small CNN digit classifier: the ruler nanogen measures its generators with.

Read after gan.py. A GAN's losses say nothing about how good its digits are (gan.py), so we judge
samples with a network that knows digits: this classifier, trained by nanogen itself on MNIST
(`nanogen train classifier`: 99.1% test accuracy after its default 5 epochs, about 4 minutes on
two cores). gan_eval.py then uses it
the way FID uses Inception-v3 (Heusel et al. 2017): its penultimate layer as a feature space for
the Frechet distance, and its softmax for the inception score and the class histogram.

    x (N, 1, 28, 28) in [0, 1], standardised with the MNIST mean 0.1307 and std 0.3081
      -Conv(1, 32, 3, pad 1), ReLU, MaxPool 2->  (N, 32, 14, 14)
      -Conv(32, 64, 3, pad 1), ReLU, MaxPool 2-> (N, 64, 7, 7)
      -Dropout(0.25), flatten->                  (N, 3136)
      -Linear(3136, 128), ReLU->                 (N, 128)   = features(x), the penultimate layer
      -Dropout(0.5), Linear(128, 10)->           (N, 10) logits; softmax = predict_proba(x)
Loss: softmax cross-entropy; Adam with the learning rate annealed from lr to 0 along a cosine
over the run (Loshchilov & Hutter 2017, Eq. 5). Measured test accuracy: constant lr 1e-3 after 3
and 4 epochs: 98.9%; cosine over 3 epochs: 98.97%; cosine over 5 epochs (the default): 99.1%.
Dropout (Srivastava et al. 2014) on the flattened maps and on the features keeps the features
from relying on single units.
Failure modes: a classifier is a narrow ruler -- an image it calls "7" with confidence need not
look like a 7 to people (adversarial examples), so FCD and IS reward fooling *this* network;
numbers are only comparable between runs measured with the same classifier weights.
"""

import math
import os
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import no_grad
from ..optim import Adam
from ..tensor import Tensor
from ..train import Recipe
from . import register

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass
class ClassifierConfig:
    channels: tuple = (32, 64)        # output channels of the two conv layers
    hidden_dim: int = 128             # width of the penultimate layer: the feature size D for FCD
    n_classes: int = 10               # K
    dropout: tuple = (0.25, 0.5)      # drop probabilities: after the convs, after the hidden layer

    @classmethod
    def from_config(cls, config):
        """Architecture settings from a run's config dict (the CLI's dests; missing keys: defaults)."""
        fields = {}
        if config.get("channels"):
            fields["channels"] = tuple(config["channels"])
        if config.get("hidden_dim"):
            fields["hidden_dim"] = int(config["hidden_dim"])
        return cls(**fields)


class Classifier(nn.Module):
    """x (N, 1, 28, 28) in [0, 1] -> logits (N, K); features(x) (N, D); predict_proba(x) (N, K)."""

    def __init__(self, config=ClassifierConfig(), rng=None):
        super().__init__()
        self.config = config
        C1, C2 = config.channels
        self.convs = nn.Sequential(
            nn.Conv2d(1, C1, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),      # -> (N, C1, 14, 14)
            nn.Conv2d(C1, C2, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),     # -> (N, C2, 7, 7)
            nn.Dropout(config.dropout[0], rng=rng), nn.Flatten())                    # -> (N, C2*49)
        self.hidden = nn.Sequential(nn.Linear(C2 * 7 * 7, config.hidden_dim, rng=rng), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(config.dropout[1], rng=rng),
                                  nn.Linear(config.hidden_dim, config.n_classes, rng=rng))

    def hidden_features(self, x):
        """The penultimate layer as a Tensor (with graph): (N, 1, 28, 28) -> (N, D)."""
        x = (x - MNIST_MEAN) / MNIST_STD                  # standardise: inputs near mean 0, std 1
        return self.hidden(self.convs(x))

    def forward(self, x):
        return self.head(self.hidden_features(x))         # (N, D) -> (N, K) logits

    def _batched(self, fn, x, batch_size):
        """fn on x in eval mode, batch by batch, no graph; x an ndarray or Tensor (N, 1, 28, 28)."""
        x = np.asarray(getattr(x, "data", x))
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"Classifier: expected images (N, 1, 28, 28) in [0, 1], got shape {x.shape}")
        dtype = self.head[1].weight.dtype
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                out = [fn(Tensor(x[i : i + batch_size].astype(dtype, copy=False))).data
                       for i in range(0, len(x), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(out)

    def features(self, x, batch_size=500):
        """Penultimate-layer features (N, D) of images in [0, 1], eval mode: what FCD compares."""
        return self._batched(self.hidden_features, x, batch_size)

    def predict_proba(self, x, batch_size=500):
        """Softmax probabilities (N, K) of images in [0, 1], eval mode."""
        return self._batched(lambda t: F.softmax(self(t), dim=1), x, batch_size)

    def predict(self, x, batch_size=500):
        """Predicted labels (N,)."""
        return self._batched(self, x, batch_size).argmax(axis=1)


def train_step(model, opt, x, y):
    """One Adam step on softmax cross-entropy. x (N, 1, 28, 28) in [0, 1], y (N,) int labels."""
    opt.zero_grad()
    logits = model(x)                                     # (N, K)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    opt.step()
    y = np.asarray(getattr(y, "data", y))
    return {"loss": loss.item(), "accuracy": float(np.mean(logits.data.argmax(axis=1) == y))}


def cosine_lr(lr, step, total_steps):
    """lr * (1 + cos(pi * step / total_steps)) / 2: from lr at step 0 down to 0 at the end."""
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def load_classifier(path):
    """A trained Classifier (eval mode) from a `nanogen train classifier` checkpoint file or run folder."""
    from ..train import CHECKPOINT, load_checkpoint

    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    state = load_checkpoint(path)
    config = state["meta"].get("config") or {}
    if config.get("model") not in (None, "classifier"):
        raise ValueError(f"{path} is a {config.get('model')!r} run, not a classifier; "
                         "train one with: nanogen train classifier")
    model = Classifier(ClassifierConfig.from_config(config))
    model.load_state_dict(state["modules"]["model"])
    return model.eval()


@register
class ClassifierRecipe(Recipe):
    name = "classifier"
    help = "CNN digit classifier (99.1% test accuracy); the feature extractor of `nanogen eval` for GANs"
    defaults = {"epochs": 5, "batch_size": 128, "lr": 1e-3}

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("--hidden-dim", type=int, default=128, help="penultimate width, the FCD feature size")
        parser.add_argument("--lr-schedule", choices=["cosine", "constant"], default="cosine",
                            help="anneal the learning rate to 0 over the run, or keep it (default %(default)s)")

    def __init__(self, config, rng):
        self.config = config
        self.model = Classifier(ClassifierConfig.from_config(config), rng=rng)
        self.modules = {"model": self.model}
        self.optimizers = {"adam": Adam(self.model.parameters(), lr=config.get("lr", 1e-3))}
        self.steps_per_epoch = None

    def training_arrays(self, x, y):
        self.steps_per_epoch = math.ceil(len(x) / self.config.get("batch_size", 128))
        return x, y

    def train_step(self, batch, rng):
        x, y = batch
        opt = self.optimizers["adam"]
        if self.config.get("lr_schedule", "cosine") == "cosine" and self.steps_per_epoch:
            # the step count lives in Adam's state, which the checkpoint keeps: a resumed run
            # continues the schedule exactly where it stopped
            state = opt.state.get(opt.param_groups[0]["params"][0], {})
            total = self.steps_per_epoch * self.config.get("epochs", self.defaults["epochs"])
            opt.param_groups[0]["lr"] = cosine_lr(self.config.get("lr", 1e-3), state.get("step", 0), total)
        return {**train_step(self.model, opt, x, y), "lr": opt.param_groups[0]["lr"]}

    def held_out(self, data, rng):
        return self.evaluate(data, rng)                  # test_loss, test_accuracy: cheap on 1000 images

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
                                  f"test {self.item_word}; mistakes (true->predicted)")
