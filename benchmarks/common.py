"""Timing helpers shared by the benchmarks: interleaved repeats and medians.

These machines are noisy (speed can halve for seconds at a time), so every benchmark runs the
competitors in turn, round after round, and reports the median of each: a slow spell then hits
both sides alike instead of one.
"""

import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def try_torch(threads=None):
    """torch if installed (the optional `bench` extra), with its thread count set; else None."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads or os.cpu_count() or 1)
    return torch


def interleaved(fns, rounds=7, repeat=5, warmup=2):
    """Time each callable in `fns` (name -> fn): `rounds` rounds, each running every fn `repeat`
    times in turn; returns name -> median seconds per call."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(repeat):
                fn()
            samples[name].append((time.perf_counter() - t0) / repeat)
    return {name: statistics.median(s) for name, s in samples.items()}


def table(rows, header):
    """Print rows (lists of str) as a Markdown table."""
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def machine_line():
    import platform

    import numpy as np

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}"
