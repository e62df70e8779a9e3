"""Random numbers: one global numpy Generator, seeded by `manual_seed`, or your own.

Every function in nanogen that draws random numbers (randn, rand, init, dropout, noise in the
models) takes an optional `rng: numpy.random.Generator`. Pass one for full control; leave it out
and nanogen uses the global generator below, which `manual_seed(s)` resets. Tests always pass
their own generator, so they never depend on the order in which other tests ran.
"""

import numpy as np

_global_rng = np.random.default_rng()


def manual_seed(seed):
    """Reset nanogen's global generator: the same seed gives the same numbers, as torch.manual_seed."""
    global _global_rng
    _global_rng = np.random.default_rng(seed)
    return _global_rng


def default_rng(rng=None):
    """`rng` if one is given, else nanogen's global generator."""
    if rng is None:
        return _global_rng
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
                        "make one with numpy.random.default_rng(seed)")
    return rng


def get_state():
    """The global generator's state, a JSON-friendly dict (saved in checkpoints for exact resume)."""
    return _global_rng.bit_generator.state


def set_state(state):
    """Restore a state returned by get_state()."""
    _global_rng.bit_generator.state = state
