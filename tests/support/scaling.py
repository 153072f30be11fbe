"""Complexity checks that do not depend on the machine's speed.

A wall-clock limit flakes on a loaded CI machine; the *ratio* of the time for a 4x larger
input tells linear (about 4x) from quadratic (about 16x) work on any machine.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best of ``repeat`` runs with the cyclic GC paused (its pauses grow with the number of
    live objects and would make linear work look superlinear)."""
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return best


def assert_roughly_linear(make: Callable[[int], Callable[[], object]], small: int,
                          factor: int = 4, limit: float = 10.0) -> None:
    """``make(n)`` builds an input of size ``n`` and returns the work to time on it.

    The work at ``factor * small`` must take less than ``limit`` times the work at ``small``
    (quadratic growth would give ``factor**2``).
    """
    t_small = best_time(make(small))
    t_large = best_time(make(small * factor))
    ratio = t_large / max(t_small, 1e-6)
    assert ratio < limit, (f"work grew {ratio:.1f}x for a {factor}x larger input "
                           f"({t_small:.4f}s -> {t_large:.4f}s): not linear")
