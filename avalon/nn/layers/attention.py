"""``MultiheadAttention`` with PyTorch's parameters, masks and returned weights."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from avalon.nn import functional as F
from avalon.nn import init
from avalon.nn.layers.dropout import new_seed, next_seed
from avalon.nn.layers.linear import Linear
from avalon.nn.module import Module


def _additive(mask: Any, dtype: Any) -> Any:
    """A mask as numbers to add to attention scores: True (masked) becomes -inf."""
    if mask.dtype == np.bool_:
        return np.where(mask, -math.inf, 0.0).astype(dtype)
    return mask.astype(dtype)


class MultiheadAttention(Module):
    """Scaled dot-product attention over ``num_heads`` heads of size embed_dim/num_heads.

    ``in_proj_weight [3E, E]`` stacks the query, key and value projections (xavier-uniform,
    biases zero) and ``out_proj`` is a ``Linear(E, E)``, as in PyTorch. Calling
    ``mha(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True)`` returns ``(output, weights)``: weights averaged over heads
    (or per head), ``None`` when ``need_weights`` is False. Boolean masks mark positions that
    may *not* be attended (True); float masks are added to the scores. ``attn_mask`` is
    ``[L, S]`` or ``[N·heads, L, S]``, ``key_padding_mask`` is ``[N, S]``.
    """

    state_attrs: ClassVar[tuple[str, ...]] = ("seed",)
    rng_attrs: ClassVar[tuple[str, ...]] = ("seed",)

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, *, rng: np.random.Generator | None = None,
                 dtype: Any = np.float32) -> None:
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        self.embed_dim = int(embed_dim)
        self.num_heads = int(num_heads)
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.training = True
        self.in_proj_weight = init.xavier_uniform_(np.empty((3 * embed_dim, embed_dim), dtype),
                                                   rng=rng)
        self.in_proj_bias = np.zeros(3 * embed_dim, dtype) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias, rng=rng, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)
        self.seed = new_seed(rng)

    def _project(self, x: Any, part: int) -> Any:
        """Rows ``part`` of the packed projection, split into heads: ``[N, heads, T, d]``."""
        e = self.embed_dim
        w = self.in_proj_weight[part * e:(part + 1) * e]
        b = None if self.in_proj_bias is None else self.in_proj_bias[part * e:(part + 1) * e]
        y = F.linear(x, w, b)
        n, t = x.shape[0], x.shape[1]
        return y.reshape(n, t, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def __call__(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
                 need_weights: bool = True, attn_mask: Any = None,
                 average_attn_weights: bool = True) -> tuple[Any, Any]:
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query[None], key[None], value[None]
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask[None]
        elif not self.batch_first:
            query, key, value = (np.swapaxes(t, 0, 1) for t in (query, key, value))
        if query.shape[-1] != self.embed_dim:
            raise ValueError(f"expected {self.embed_dim} query features, got "
                             f"{query.shape[-1]}")
        n, tgt, src = query.shape[0], query.shape[1], key.shape[1]
        q = self._project(query, 0) * (1.0 / math.sqrt(self.head_dim))
        k = self._project(key, 1)
        v = self._project(value, 2)
        scores = q @ k.transpose(0, 1, 3, 2)  # [N, heads, L, S]
        if attn_mask is not None:
            mask = _additive(attn_mask, scores.dtype)
            if mask.ndim == 3:
                mask = mask.reshape(n, self.num_heads, tgt, src)
            scores = scores + mask
        if key_padding_mask is not None:
            scores = scores + _additive(key_padding_mask, scores.dtype).reshape(n, 1, 1, src)
        attn = F.softmax(scores, axis=-1)
        if self.training and self.dropout > 0:
            attn = F.dropout(attn, self.dropout, True, next_seed(self))
        out = (attn @ v).transpose(0, 2, 1, 3).reshape(n, tgt, self.embed_dim)
        out = self.out_proj(out)
        weights = None
        if need_weights:
            weights = attn.mean(axis=1) if average_attn_weights else attn
            if unbatched:
                weights = weights[0]
        if unbatched:
            out = out[0]
        elif not self.batch_first:
            out = np.swapaxes(out, 0, 1)
        return out, weights

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")
