"""Walking plain model objects: parameters, forward-updated state, training flags.

Models are plain objects; nothing here requires a base class. A model's arrays are found the
way :mod:`avalon.frontend.pytree` finds them (instance attributes, lists, tuples, dicts), and
named with PyTorch's dotted paths (``conv1.weight``, ``blocks.0.bias``) so that state dicts of
equivalent PyTorch models load directly.

Two class-level declarations give arrays a role (a user's class may declare them too):

* ``state_attrs``: arrays the forward pass *updates* rather than gradients (BatchNorm's
  running statistics, dropout seeds). They are not parameters: :func:`named_parameters`
  leaves them out and :func:`trainable_flags` marks them ``False``.
* ``rng_attrs`` (a subset of ``state_attrs``): random seeds. PyTorch has no such arrays, so
  :func:`load_state_dict` does not require them.

Forward passes update state with :func:`update_state`. Traced code (``jit``/``grad``) runs on
a *copy* of the model whose arrays are tracers, so updates made while tracing land on that
copy: a compiled step makes them visible by returning ``get_state(model)`` (e.g. as the aux
output of ``value_and_grad(..., has_aux=True)``) and calling :func:`set_state` afterwards.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from avalon.frontend.pytree import is_leaf
from avalon.frontend.tracer import Tracer


@dataclasses.dataclass(frozen=True)
class LeafInfo:
    """One array of a model: where it lives and what role it has."""

    path: str
    owner: Any
    key: Any
    value: Any
    is_state: bool
    is_rng: bool

    @property
    def is_parameter(self) -> bool:
        dt = self.value.dtype if isinstance(self.value, Tracer) else np.asarray(self.value).dtype
        return not self.is_state and dt.kind == "f"


_FUNCTION_TYPES = (types.FunctionType, types.MethodType, types.BuiltinFunctionType,
                   types.ModuleType, functools.partial)


def _fields(obj: Any) -> list[tuple[str, Any]] | None:
    """Attributes of a plain object, as the pytree sees them (None for functions, types)."""
    if isinstance(obj, (type, *_FUNCTION_TYPES)):
        return None
    if dataclasses.is_dataclass(obj):
        return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    d = getattr(obj, "__dict__", None)
    return list(d.items()) if isinstance(d, dict) else None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def walk(model: Any) -> Iterator[LeafInfo]:
    """Every array of ``model`` in :func:`avalon.frontend.pytree.flatten`'s order."""
    yield from _walk(model, "", None, None, False, False, set())


def _walk(x: Any, path: str, owner: Any, key: Any, is_state: bool, is_rng: bool,
          active: set[int]) -> Iterator[LeafInfo]:
    if is_leaf(x):
        yield LeafInfo(path, owner, key, x, is_state, is_rng)
        return
    if x is None or isinstance(x, bool | int | float | complex | str | bytes | type):
        return
    if id(x) in active:
        return
    active.add(id(x))
    try:
        if isinstance(x, tuple | list):
            for i, v in enumerate(x):
                yield from _walk(v, _join(path, str(i)), x, i, is_state, is_rng, active)
            return
        if isinstance(x, dict):
            for k, v in x.items():
                yield from _walk(v, _join(path, str(k)), x, k, is_state, is_rng, active)
            return
        fields = _fields(x)
        if fields is None:
            return
        cls = type(x)
        state = set(getattr(cls, "state_attrs", ()))
        rng = set(getattr(cls, "rng_attrs", ()))
        transparent = set(getattr(cls, "transparent_attrs", ()))
        for name, v in fields:
            sub = path if name in transparent else _join(path, name)
            yield from _walk(v, sub, x, name, name in state, name in rng, active)
    finally:
        active.discard(id(x))


def named_parameters(model: Any) -> list[tuple[str, Any]]:
    """``(path, array)`` for every trainable array: float leaves that are not state."""
    return [(leaf.path, leaf.value) for leaf in walk(model) if leaf.is_parameter]


def parameters(model: Any) -> list[Any]:
    """The trainable arrays of ``model``."""
    return [v for _, v in named_parameters(model)]


def trainable_flags(model: Any) -> list[bool]:
    """For each leaf of ``pytree.flatten(model)``, whether an optimizer should update it."""
    return [leaf.is_parameter for leaf in walk(model)]


def get_state(model: Any) -> dict[str, Any]:
    """The forward-updated arrays of ``model`` (running statistics, seeds) by path."""
    return {leaf.path: leaf.value for leaf in walk(model) if leaf.is_state}


def set_state(model: Any, state: dict[str, Any]) -> None:
    """Write state returned by :func:`get_state` (possibly from a compiled step) back."""
    leaves = {leaf.path: leaf for leaf in walk(model) if leaf.is_state}
    unknown = set(state) - set(leaves)
    if unknown:
        raise KeyError(f"set_state: no state arrays named {sorted(unknown)}")
    for path, value in state.items():
        leaf = leaves[path]
        _store(leaf.owner, leaf.key, value)


def state_dict(model: Any) -> dict[str, Any]:
    """Every array of ``model`` by PyTorch-style path (parameters and state)."""
    return {leaf.path: leaf.value for leaf in walk(model)}


def load_state_dict(model: Any, state: dict[str, Any], strict: bool = True) -> None:
    """Copy arrays into ``model`` in place (e.g. ``torch_module.state_dict()`` as numpy).

    With ``strict``, unknown names and missing arrays are errors; seeds (``rng_attrs``) may
    be missing since PyTorch models have none.
    """
    leaves = {leaf.path: leaf for leaf in walk(model)}
    if strict:
        unknown = sorted(set(state) - set(leaves))
        missing = sorted(p for p, leaf in leaves.items() if p not in state and not leaf.is_rng)
        if unknown or missing:
            raise KeyError(f"load_state_dict: unexpected {unknown}, missing {missing}")
    for path, value in state.items():
        leaf = leaves.get(path)
        if leaf is None:
            continue
        arr = np.asarray(value)
        old = np.asarray(leaf.value)
        if arr.shape != old.shape:
            raise ValueError(f"load_state_dict: {path} has shape {old.shape} in the model, "
                             f"{arr.shape} in the state dict")
        _store(leaf.owner, leaf.key, arr.astype(old.dtype))


def set_training(model: Any, mode: bool = True) -> Any:
    """Set ``training`` on every object of ``model`` that has that attribute; returns it."""
    for obj in _objects(model, set()):
        d = getattr(obj, "__dict__", None)
        if isinstance(d, dict) and isinstance(d.get("training"), bool):
            obj.training = bool(mode)
    return model


def _objects(x: Any, seen: set[int]) -> Iterator[Any]:
    if is_leaf(x) or x is None or isinstance(x, bool | int | float | str | bytes | type):
        return
    if id(x) in seen:
        return
    seen.add(id(x))
    if isinstance(x, tuple | list):
        for v in x:
            yield from _objects(v, seen)
        return
    if isinstance(x, dict):
        for v in x.values():
            yield from _objects(v, seen)
        return
    fields = _fields(x)
    if fields is None:
        return
    yield x
    for _, v in fields:
        yield from _objects(v, seen)


_warned: set[type] = set()


def update_state(owner: Any, name: str, value: Any) -> bool:
    """Store a forward pass's new ``owner.<name>``: in place eagerly, rebound when traced.

    An eager model keeps its array buffers (optimizers and checkpoints may hold them). A traced
    copy of a model (its arrays are tracers) gets the new tracer. A real model captured by a
    traced function cannot hold a traced value: the update is dropped with a warning and
    False returned.
    """
    current = getattr(owner, name)
    if isinstance(value, Tracer) and not isinstance(current, Tracer):
        if type(owner) not in _warned:
            _warned.add(type(owner))
            warnings.warn(
                f"{type(owner).__name__}.{name} was not updated: the model is captured by a "
                "traced function instead of being passed to it as an argument",
                RuntimeWarning, stacklevel=3)
        return False
    _store(owner, name, value)
    return True


def _store(owner: Any, key: Any, value: Any) -> None:
    current = owner[key] if isinstance(owner, list | dict) else getattr(owner, key)
    if (isinstance(current, np.ndarray) and not isinstance(value, Tracer)
            and current.flags.writeable and np.shape(value) == current.shape):
        current[...] = value
    elif isinstance(owner, list | dict):
        owner[key] = value
    elif isinstance(owner, tuple):
        raise TypeError("cannot store state inside a tuple; use a list")
    else:
        setattr(owner, key, value)


def apply(model: Any, fn: Callable[[Any], None]) -> Any:
    """Call ``fn`` on every object of ``model``, parents before their children."""
    for obj in _objects(model, set()):
        fn(obj)
    return model


class Module:
    """Optional base class with PyTorch's conveniences; plain classes work just as well."""

    state_attrs: ClassVar[tuple[str, ...]] = ()
    rng_attrs: ClassVar[tuple[str, ...]] = ()

    def train(self, mode: bool = True) -> Any:
        return set_training(self, mode)

    def eval(self) -> Any:
        return set_training(self, False)

    def parameters(self) -> list[Any]:
        return parameters(self)

    def named_parameters(self) -> list[tuple[str, Any]]:
        return named_parameters(self)

    def state_dict(self) -> dict[str, Any]:
        return state_dict(self)

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        load_state_dict(self, state, strict)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = [(k, v) for k, v in vars(self).items() if isinstance(v, Module)]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [f"  ({k}): " + repr(v).replace("\n", "\n  ") for k, v in children]
        return head + "\n" + "\n".join(lines) + "\n)"
