"""``Embedding``: a lookup table of learned vectors indexed by integers."""

from __future__ import annotations

from typing import Any

import numpy as np

from avalon.nn import functional as F
from avalon.nn import init
from avalon.nn.module import Module


class Embedding(Module):
    """``weight [num_embeddings, embedding_dim]`` ~ N(0, 1); ``padding_idx``'s row starts at
    zero and receives no gradient, as in PyTorch."""

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None, *, rng: np.random.Generator | None = None,
                 dtype: Any = np.float32) -> None:
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError("padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = padding_idx
        self.weight = init.normal_(np.empty((num_embeddings, embedding_dim), dtype), rng=rng)
        if padding_idx is not None:
            self.weight[padding_idx] = 0

    def __call__(self, indices: Any) -> Any:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
