"""A small CNN digit classifier: the ruler nanogen measures its generators with.

Read after gan.py. A GAN's losses say nothing about how good its digits are (gan.py), so we judge
samples with a network that knows digits: this classifier, trained by nanogen itself on MNIST
(`nanogen train classifier`: about 99% test accuracy after its default 5 epochs, a few minutes on
two cores; docs/results.md has the measured numbers). gan_eval.py then uses it the way FID uses
Inception-v3 (Heusel et al. 2017): its penultimate layer as a feature space for the Frechet
distance, and its softmax for the inception score and the class histogram.

    x (N, 1, 28, 28) in [0, 1], standardised with the MNIST mean 0.1307 and std 0.3081
      -Conv(1, 32, 3, pad 1), ReLU, MaxPool 2->  (N, 32, 14, 14)
      -Conv(32, 64, 3, pad 1), ReLU, MaxPool 2-> (N, 64, 7, 7)
      -Dropout(0.25), flatten->                  (N, 3136)
      -Linear(3136, 128), ReLU->                 (N, 128)   = features(x), the penultimate layer
      -Dropout(0.5), Linear(128, 10)->           (N, 10) logits; softmax = predict_proba(x)
Loss: softmax cross-entropy; Adam with the learning rate annealed from lr to 0 along a cosine
over the run (Loshchilov & Hutter 2017, Eq. 5), which measured better than a constant rate
(docs/results.md).
Dropout (Srivastava et al. 2014) on the flattened maps and on the features keeps the features
from relying on single units.
Failure modes: a classifier is a narrow ruler -- an image it calls "7" with confidence need not
look like a 7 to people (adversarial examples), so FCD and IS reward fooling *this* network;
numbers are only comparable between runs measured with the same classifier weights.
"""

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import no_grad
from ..settings import setting
from ..tensor import Tensor, as_array

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass
class ClassifierConfig:
    """The network's sizes; fields made with setting(default, help) are `nanogen train classifier` flags."""

    channels: tuple = setting((32, 64), "output channels of the two conv layers", is_positive=True, nargs=2)
    hidden_dim: int = setting(128, "width of the penultimate layer: the feature size D for FCD", is_positive=True)
    n_classes: int = 10               # K
    dropout: tuple = (0.25, 0.5)      # drop probabilities: after the convs, after the hidden layer


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
        x = as_array(x)
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
    y = as_array(y)
    return {"loss": loss.item(), "accuracy": float(np.mean(logits.data.argmax(axis=1) == y))}
