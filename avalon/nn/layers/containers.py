"""Structural layers: ``Sequential`` (a callable list of layers), ``ModuleList`` and
``ModuleDict`` (PyTorch's names for a list and a dict of layers), ``Flatten``, ``Identity``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from avalon.nn import functional as F
from avalon.nn.module import Module


class Sequential(Module):
    """Calls its layers in order. Indexable and sized like a list; its layers are named
    ``0``, ``1``, ... in state dicts, as in PyTorch."""

    transparent_attrs: ClassVar[tuple[str, ...]] = ("layers",)

    def __init__(self, *layers: Any) -> None:
        self.layers = list(layers)

    def __call__(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __setitem__(self, index: int, layer: Any) -> None:
        self.layers[index] = layer

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.layers)

    def append(self, layer: Any) -> Sequential:
        self.layers.append(layer)
        return self

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): " + repr(m).replace("\n", "\n  ")
                        for i, m in enumerate(self.layers))
        return f"Sequential({inner}\n)" if inner else "Sequential()"


class Flatten(Module):
    """Merges dims ``start_dim..end_dim``; the default keeps the batch axis."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def __call__(self, x: Any) -> Any:
        return F.flatten(x, self.start_dim, self.end_dim)


class Identity(Module):
    def __call__(self, x: Any) -> Any:
        return x


class ModuleList(list):
    """A list of layers. Any Python list works the same way (its items are named ``0``,
    ``1``, ... in state dicts); this name only spares PyTorch code an edit."""


class ModuleDict(dict):
    """A dict of layers, named by key in state dicts; a plain dict works the same way."""
