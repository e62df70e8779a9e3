"""`nanogen train acgan`: the auxiliary-classifier GAN of acgan.py as a Recipe.

Read acgan.py first. Everything but the step is gan_recipes.py's GANRecipe: the optimizers, the fixed
noise batch and its progression figure (one column per digit, as cgan), the diagnostics and
`nanogen eval` (FCD, inception score, class coverage, label_accuracy, and the per-class FCDs).
Flags: gan's (--loss, --label-smoothing, --lr-g, --lr-d, --beta1, --spectral-norm, --n-eval,
--classifier), --aux-weight (λ) and --fake-class-loss. Extra diagnostics per step: loss_d_class, loss_g_class and
the accuracy of D's class head on the real (d_class_acc_real) and fake (d_class_acc_fake) batch;
`nanogen eval` adds d_test_accuracy, D's class head as a digit classifier on the test images.
"""

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from . import register
from .acgan import ACGANConfig, ACGANDiscriminator, train_step
from .dcgan import DCGANGenerator
from .gan import d_output_probability
from .gan_recipes import GANRecipe


@register
class ACGAN(GANRecipe):
    name = "acgan"
    help = "auxiliary-classifier GAN: D also names the digit (Odena et al. 2017)"
    defaults = {**GANRecipe.defaults, "epochs": 5}
    config_class = ACGANConfig
    flags = GANRecipe.flags + ("base_channels", "aux_weight", "fake_class_loss")
    conditional = True
    n_fixed = 80            # 8 rows of the digits 0..9
    grid_cols = 10

    def build(self, cfg, rng):
        G = DCGANGenerator(cfg.latent_dim, cfg.base_channels, n_classes=cfg.n_classes, rng=rng)
        D = ACGANDiscriminator(cfg.base_channels, n_classes=cfg.n_classes, spectral_norm=cfg.spectral_norm, rng=rng)
        return G, D

    def train_step(self, batch, rng):
        x, y = batch
        z = Tensor(rng.standard_normal((x.shape[0], self.cfg.latent_dim), dtype=np.float32))
        return train_step(self.G, self.D, self.optimizers["generator"], self.optimizers["discriminator"],
                          x, y.data, z, self.cfg)

    def held_out(self, data, rng):
        """D's source head on held-out real images (test_d_real, as for the other GANs; D is not
        shown their labels) and its class head's accuracy on them (test_d_class_acc)."""
        x, y = data
        source, classes = self.D(Tensor(x * np.float32(2) - np.float32(1)))     # [0, 1] -> [-1, 1]
        return {"test_d_real": d_output_probability(source, self.cfg.loss),
                "test_d_class_acc": float(np.mean(classes.data.argmax(axis=1) == y))}

    def evaluate(self, data, rng):
        out = super().evaluate(data, rng)
        x, y = data
        out["d_test_accuracy"] = float(np.mean(self.classify(x) == y))
        return out

    def classify(self, images, batch_size=500):
        """D's class head as a classifier: images (N, 1, 28, 28) in [0, 1] -> predicted labels (N,)."""
        was_training = self.D.training
        self.D.eval()
        try:
            with no_grad():
                preds = [self.D(Tensor(2 * images[i : i + batch_size].astype(np.float32) - 1))[1].data.argmax(axis=1)
                         for i in range(0, len(images), batch_size)]
        finally:
            self.D.train(was_training)
        return np.concatenate(preds)
