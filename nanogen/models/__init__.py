"""The lectures in code: each model file tells one idea top to bottom; a `*_recipes.py` beside it
registers Recipes (nanogen/train.py) so `nanogen train NAME` can run it.

Reading order: autoencoder.py -> vae.py -> gan.py -> dcgan.py -> classifier.py -> style.py.

A new model, in two files (copy vae.py + vae_recipes.py):
  <model>.py          the lecture: docstring with the idea, the math and the reference; a Config
                      dataclass whose user-facing fields are `setting(default, help)` (nanogen.settings:
                      the one default of each setting); the modules; the loss as small functions named
                      after the math; `train_step(model, opt, x, ...)`. No argparse, plots or files.
  <model>_recipes.py  `@register class MyRecipe(Recipe)` with name, help, `defaults` (epochs, batch
                      size, lr), `config_class`, `variant` (Config values that differ for this recipe)
                      and `flags` (Config fields to expose: the CLI builds them); `train_step`,
                      `on_epoch_end` (figures), `evaluate`, `sample`. Recipe-only flags (eval sizes,
                      data options) go in a `add_arguments` classmethod that calls super() first.
Then add "<model>_recipes" to _MODEL_MODULES below, and the tests: a whole-loss gradcheck on a
tiny float64 instance and a learning test of seconds.
"""

REGISTRY = {}


def register(recipe_cls):
    """Class decorator: make a Recipe available as `nanogen train <recipe_cls.name>`."""
    if recipe_cls.name in REGISTRY:
        raise ValueError(f"model name {recipe_cls.name!r} is registered twice")
    REGISTRY[recipe_cls.name] = recipe_cls
    return recipe_cls


def load_all():
    """Import every model file so each registers its Recipe (the CLI calls this; importing
    nanogen itself does not pay for the models)."""
    import importlib

    for name in _MODEL_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return REGISTRY


# in reading order; each module registers its recipes on import
_MODEL_MODULES = ["autoencoder_recipes", "vae_recipes", "gan_recipes", "classifier_recipes"]
