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
