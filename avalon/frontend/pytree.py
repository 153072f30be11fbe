"""Pytrees: plain Python structures holding arrays, flattened to leaves and a structure.

Models are just objects: a model's parameters are the arrays reachable through its attributes,
lists, tuples and dicts. ``flatten`` turns any such structure into a list of array leaves and a
hashable :class:`TreeDef`; ``unflatten`` rebuilds a structure of the same shape with new leaves
(gradients of a model come back as a model-shaped object). Everything that is not an array —
Python numbers, strings, None, functions — is *static*: it is part of the TreeDef (and hence of
the jit cache key) rather than a leaf.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

#: Types treated as array leaves in addition to numpy arrays (the tracer registers itself).
LEAF_TYPES: list[type] = [np.ndarray, np.generic]


def register_leaf_type(t: type) -> None:
    """Treat instances of ``t`` as leaves (used for tracer values and device arrays)."""
    if t not in LEAF_TYPES:
        LEAF_TYPES.append(t)


def is_leaf(x: Any) -> bool:
    """Whether ``x`` is an array leaf (object-dtype numpy arrays are not)."""
    if isinstance(x, np.ndarray | np.generic):
        return x.dtype != object
    return isinstance(x, tuple(LEAF_TYPES))


_LEAF = "leaf"
_STATIC = "static"
_TUPLE = "tuple"
_LIST = "list"
_DICT = "dict"
_NAMEDTUPLE = "namedtuple"
_OBJECT = "object"


def _static_key(x: Any) -> Any:
    """A hashable stand-in for a static value (the value itself when hashable)."""
    try:
        hash(x)
    except TypeError:
        return ("unhashable", type(x).__qualname__, id(x))
    return x


@dataclasses.dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree minus its array leaves; hashable and comparable."""

    kind: str
    node_type: Any = None
    keys: tuple = ()
    children: tuple[TreeDef, ...] = ()
    static: Any = None

    @property
    def num_leaves(self) -> int:
        if self.kind == _LEAF:
            return 1
        return sum(c.num_leaves for c in self.children)

    def __str__(self) -> str:
        if self.kind == _LEAF:
            return "*"
        if self.kind == _STATIC:
            return repr(self.static)
        inner = ", ".join(
            f"{k}={c}" if self.kind in (_DICT, _OBJECT) else str(c)
            for k, c in zip(self.keys or [None] * len(self.children), self.children,
                            strict=True)
        )
        name = getattr(self.node_type, "__name__", self.kind)
        return f"{name}({inner})"


def _object_fields(obj: Any) -> list[tuple[str, Any]] | None:
    """Attributes of a plain object (dataclass fields or instance ``__dict__``)."""
    if isinstance(obj, type) or _is_function_like(obj):
        return None
    if dataclasses.is_dataclass(obj):
        return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    d = getattr(obj, "__dict__", None)
    return list(d.items()) if isinstance(d, dict) else None


def _is_function_like(obj: Any) -> bool:
    import types

    return isinstance(obj, types.FunctionType | types.MethodType | types.BuiltinFunctionType
                      | types.ModuleType)


def flatten(tree: Any, *, path: str = "") -> tuple[list[Any], TreeDef]:
    """Leaves (in a deterministic order) and the structure of ``tree``."""
    leaves: list[Any] = []
    treedef = _flatten(tree, leaves, set(), path or "argument")
    return leaves, treedef


def _flatten(x: Any, leaves: list[Any], active: set[int], path: str) -> TreeDef:
    if is_leaf(x):
        leaves.append(x)
        return TreeDef(_LEAF)
    if x is None or isinstance(x, bool | int | float | complex | str | bytes | type) or (
        _is_function_like(x)
    ):
        return TreeDef(_STATIC, static=_static_key(x))
    if id(x) in active:
        raise ValueError(f"{path} contains a reference cycle; pytrees must be trees")
    active.add(id(x))
    try:
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            children = tuple(_flatten(v, leaves, active, f"{path}.{k}")
                             for k, v in zip(x._fields, x, strict=True))
            return TreeDef(_NAMEDTUPLE, type(x), tuple(x._fields), children)
        if isinstance(x, tuple | list):
            children = tuple(_flatten(v, leaves, active, f"{path}[{i}]") for i, v in enumerate(x))
            return TreeDef(_TUPLE if isinstance(x, tuple) else _LIST, type(x), (), children)
        if isinstance(x, dict):
            keys = tuple(x.keys())
            children = tuple(_flatten(x[k], leaves, active, f"{path}[{k!r}]") for k in keys)
            return TreeDef(_DICT, type(x), keys, children)
        fields = _object_fields(x)
        if fields is not None:
            keys = tuple(k for k, _ in fields)
            children = tuple(_flatten(v, leaves, active, f"{path}.{k}") for k, v in fields)
            return TreeDef(_OBJECT, type(x), keys, children)
        return TreeDef(_STATIC, static=_static_key(x))
    finally:
        active.discard(id(x))


def unflatten(treedef: TreeDef, leaves: list[Any] | tuple[Any, ...],
              template: Any = None) -> Any:
    """Rebuild a structure shaped like ``treedef`` from ``leaves``.

    Plain objects are recreated without calling ``__init__`` (attributes copied from the
    structure); ``template``, when given, supplies the static values that were not hashable.
    """
    it = iter(leaves)
    out = _unflatten(treedef, it, template)
    rest = list(it)
    if rest:
        raise ValueError(f"unflatten got {len(rest)} leaves more than the structure holds")
    return out


def _unflatten(td: TreeDef, it: Any, template: Any) -> Any:
    if td.kind == _LEAF:
        try:
            return next(it)
        except StopIteration:
            raise ValueError("unflatten ran out of leaves") from None
    if td.kind == _STATIC:
        if isinstance(td.static, tuple) and td.static[:1] == ("unhashable",):
            return template
        return td.static
    if td.kind in (_TUPLE, _LIST):
        tmpl = list(template) if isinstance(template, tuple | list) else [None] * len(td.children)
        items = [_unflatten(c, it, t) for c, t in zip(td.children, tmpl, strict=False)]
        if td.kind == _LIST:
            return td.node_type(items) if td.node_type is not list else items
        return tuple(items) if td.node_type is tuple else td.node_type(items)
    if td.kind == _NAMEDTUPLE:
        tmpl = template if isinstance(template, tuple) else [None] * len(td.children)
        return td.node_type(*[_unflatten(c, it, t)
                              for c, t in zip(td.children, tmpl, strict=False)])
    if td.kind == _DICT:
        tmpl = template if isinstance(template, dict) else {}
        d = {k: _unflatten(c, it, tmpl.get(k)) for k, c in zip(td.keys, td.children,
                                                                  strict=True)}
        return td.node_type(d) if td.node_type is not dict else d
    # plain object
    obj = object.__new__(td.node_type)
    for k, c in zip(td.keys, td.children, strict=True):
        sub = getattr(template, k, None) if template is not None else None
        object.__setattr__(obj, k, _unflatten(c, it, sub))
    return obj


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` to corresponding leaves of ``tree`` and ``rest`` (same structure)."""
    leaves, td = flatten(tree)
    others = []
    for r in rest:
        rl, rtd = flatten(r)
        if rtd != td:
            raise ValueError(f"tree_map: structures differ: {td} vs {rtd}")
        others.append(rl)
    return unflatten(td, [fn(*xs) for xs in zip(leaves, *others, strict=True)], tree)


def tree_leaves(tree: Any) -> list[Any]:
    return flatten(tree)[0]


def assign_leaves(tree: Any, new_leaves: list[Any]) -> None:
    """Write ``new_leaves`` into the array leaves of ``tree`` in place (``a[...] = new``).

    Used by optimizers: the model object keeps its identity and its arrays their buffers.
    """
    leaves, _ = flatten(tree)
    if len(leaves) != len(new_leaves):
        raise ValueError(f"assign_leaves: {len(new_leaves)} values for {len(leaves)} leaves")
    for old, new in zip(leaves, new_leaves, strict=True):
        if not isinstance(old, np.ndarray):
            raise TypeError("assign_leaves needs numpy array leaves to update in place")
        old[...] = new
