"""Memory: a training loop must not grow. Each step's graph, with its saved activations, has to
be freed once backward has run (the engine drops ctx.saved and nothing else keeps the nodes)."""

import os

import numpy as np
import pytest

import nanogen as ng
import nanogen.functional as F


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux /proc for the resident set size")
def test_mlp_training_memory_stays_flat(rng):
    sizes = [784, 400, 20, 400, 784]
    ws = [ng.Tensor(rng.standard_normal((o, i)).astype(np.float32) * 0.05, requires_grad=True)
          for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [ng.zeros(o, requires_grad=True) for o in sizes[1:]]
    x = ng.Tensor(rng.random((128, 784), dtype=np.float32))

    def step():
        h = x
        for k, (w, b) in enumerate(zip(ws, bs)):
            h = F.linear(h, w, b)
            h = F.relu(h) if k < 3 else h
        loss = F.binary_cross_entropy_with_logits(h, x, reduction="sum")
        loss.backward()
        with ng.no_grad():
            for p in ws + bs:
                p.data -= 1e-5 * p.grad
                p.grad = None

    for _ in range(50):  # warm up: allocator pools settle
        step()
    before = _rss_mb()
    for _ in range(300):
        step()
    growth = _rss_mb() - before
    # one step's activations are ~3 MB; a leak of one graph per step would add ~900 MB
    assert growth < 30, f"resident memory grew by {growth:.1f} MB over 300 steps"


def test_keep_freed_memory_stops_page_faults():
    """After keep_freed_memory, freeing and re-allocating a 16 MB array reuses the same pages."""
    import resource
    import sys

    import numpy as np

    from nanogen.memory import keep_freed_memory

    if not sys.platform.startswith("linux"):
        assert keep_freed_memory() is False
        return
    assert keep_freed_memory() is True
    for _ in range(2):
        np.ones(4 << 20, np.float32)  # 16 MB, freed at once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        np.ones(4 << 20, np.float32)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 500  # 5 fresh buffers would be 20,000
