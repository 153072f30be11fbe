"""``Dropout`` with an explicit, advancing seed.

Compiled functions are pure, so the randomness is an input: each layer holds ``seed``, an
int64 scalar array (a pytree leaf, hence a runtime argument of compiled code, never baked
in). Every training-mode call draws its mask from ``seed`` and then advances it by one with
:func:`avalon.nn.module.update_state`: eager models get a fresh mask per call; inside
``jit``/``grad`` the advance lands on the traced copy, and a compiled training step carries it
out with :func:`avalon.nn.module.get_state` like BatchNorm's statistics. Seeds are drawn
from :mod:`avalon.nn.init`'s generator, so ``init.manual_seed`` makes runs repeatable.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from avalon.frontend.ops import seed_array
from avalon.nn import functional as F
from avalon.nn import init
from avalon.nn.module import Module, update_state


def new_seed(rng: np.random.Generator | None = None, seed: int | None = None) -> np.ndarray:
    """A fresh seed array: ``seed`` if given, else drawn from ``rng`` or init's generator."""
    if seed is None:
        seed = int((rng or init.default_generator()).integers(2**62))
    return seed_array(seed)


def next_seed(owner: Any, name: str = "seed") -> Any:
    """``owner.<name>`` for this call, advancing the stored seed for the next one."""
    seed = getattr(owner, name)
    if isinstance(seed, np.ndarray):
        seed = seed.copy()  # the stored array is advanced in place below
    update_state(owner, name, seed + 1)
    return seed


class Dropout(Module):
    """Zero elements with probability ``p`` in training mode, scaling the rest by 1/(1-p)."""

    state_attrs: ClassVar[tuple[str, ...]] = ("seed",)
    rng_attrs: ClassVar[tuple[str, ...]] = ("seed",)

    def __init__(self, p: float = 0.5, *, seed: int | None = None,
                 rng: np.random.Generator | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)
        self.training = True
        self.seed = new_seed(rng, seed)

    def __call__(self, x: Any) -> Any:
        if not self.training or self.p == 0.0:
            return x
        return F.dropout(x, self.p, True, next_seed(self))

    def extra_repr(self) -> str:
        return f"p={self.p}"
