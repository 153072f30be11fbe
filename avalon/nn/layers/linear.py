"""``Linear``: an affine map with PyTorch's weight layout and default initialisation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from avalon.nn import functional as F
from avalon.nn import init
from avalon.nn.module import Module


class Linear(Module):
    """y = x @ weight.T + bias, ``weight [out_features, in_features]``.

    Weights start as kaiming_uniform_(a=√5) and the bias as U(±1/√in_features), PyTorch's
    defaults, so both libraries train alike from the same seeds' distributions.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng: np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = init.kaiming_uniform_(np.empty((out_features, in_features), dtype),
                                            a=math.sqrt(5), rng=rng)
        bound = init.uniform_bound(in_features)
        self.bias = init.uniform_(np.empty(out_features, dtype), -bound, bound, rng) \
            if bias else None

    def __call__(self, x: Any) -> Any:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
