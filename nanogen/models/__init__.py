"""The lectures in code: each model file tells one idea top to bottom, then registers a Recipe
(nanogen/train.py) so `nanogen train NAME` can run it.

Reading order: autoencoder.py -> vae.py -> gan.py -> classifier.py -> style.py.
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
_MODEL_MODULES = ["autoencoder", "vae_recipes", "gan", "dcgan", "classifier", "acgan_recipes", "progan_recipes"]
