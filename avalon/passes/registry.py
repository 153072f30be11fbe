"""The name registry for passes and named pipelines.

Pipeline text, ``avalon-opt`` flags and ``--list-passes`` all look passes up by name here, so
a pass becomes usable everywhere the moment its class is decorated with :func:`register_pass`.
Installed packages contribute passes through the ``avalon.passes`` entry-point group; those are
loaded lazily, the first time a name is missing.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from avalon.passes.pass_base import Pass

if TYPE_CHECKING:
    from avalon.passes.manager import OpPassManager

P = TypeVar("P", bound=type[Pass])

#: A pipeline builder receives the (empty) OpPassManager to fill.
PipelineBuilder = Callable[["OpPassManager"], None]


class UnknownNameError(LookupError):
    """A pass or pipeline name that nothing registered; the message lists what exists."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0]) if self.args else ""


class RegistrationError(ValueError):
    """A pass or pipeline could not be registered (empty or duplicate name)."""


@dataclass(frozen=True)
class PipelineInfo:
    """A named pipeline: either pipeline text or a builder that fills an OpPassManager."""

    name: str
    description: str
    text: str | None = None
    builder: PipelineBuilder | None = None


_PASSES: dict[str, type[Pass]] = {}
_PIPELINES: dict[str, PipelineInfo] = {}


def _same_definition(a: type, b: type) -> bool:
    # Re-importing a module (or re-loading a plugin file) yields a fresh class object for the
    # same definition; that is a reload, not a name clash.
    return a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__


def register_pass(cls: P) -> P:
    """Register a Pass subclass under ``cls.name``; usable as a class decorator."""
    if not (isinstance(cls, type) and issubclass(cls, Pass)):
        raise RegistrationError(f"register_pass expects a Pass subclass, got {cls!r}")
    name = cls.name
    if not name:
        raise RegistrationError(f"pass class {cls.__qualname__} has no 'name'")
    if name in _PIPELINES:
        raise RegistrationError(f"pass name '{name}' is already used by a named pipeline")
    existing = _PASSES.get(name)
    if existing is not None and existing is not cls and not _same_definition(existing, cls):
        raise RegistrationError(
            f"pass name '{name}' is already registered by "
            f"{existing.__module__}.{existing.__qualname__}")
    _PASSES[name] = cls
    return cls


def register_pipeline(name: str, text_or_builder: str | PipelineBuilder,
                      description: str = "") -> PipelineInfo:
    """Register a named pipeline that expands to pipeline text or runs a builder."""
    if not name:
        raise RegistrationError("a pipeline needs a name")
    if name in _PASSES:
        raise RegistrationError(f"pipeline name '{name}' is already used by a pass")
    if isinstance(text_or_builder, str):
        info = PipelineInfo(name, description, text=text_or_builder)
    elif callable(text_or_builder):
        info = PipelineInfo(name, description, builder=text_or_builder)
    else:
        raise RegistrationError(
            f"pipeline '{name}' needs pipeline text or a builder, got {text_or_builder!r}")
    existing = _PIPELINES.get(name)
    if existing is not None and existing != info:
        same = (existing.text is not None and existing.text == info.text) or (
            existing.builder is not None and info.builder is not None
            and _same_definition(existing.builder, info.builder))  # type: ignore[arg-type]
        if not same:
            raise RegistrationError(f"pipeline name '{name}' is already registered")
    _PIPELINES[name] = info
    return info


def unregister(name: str) -> None:
    """Forget a pass or pipeline (tests and plugin reloads use this)."""
    _PASSES.pop(name, None)
    _PIPELINES.pop(name, None)


def _load_plugins() -> bool:
    from avalon.passes.plugins import load_entry_point_plugins

    return load_entry_point_plugins()


def _unknown(kind: str, name: str, known: list[str]) -> UnknownNameError:
    msg = f"unknown {kind} '{name}'"
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        msg += f" (did you mean '{close[0]}'?)"
    msg += "; registered: " + (", ".join(sorted(known)) or "none")
    return UnknownNameError(msg)


def get_pass(name: str) -> type[Pass]:
    """The pass class registered as ``name``; on a miss, entry-point plugins are loaded first."""
    cls = _PASSES.get(name)
    if cls is None and _load_plugins():
        cls = _PASSES.get(name)
    if cls is None:
        raise _unknown("pass", name, list(_PASSES) + list(_PIPELINES))
    return cls


def get_pipeline(name: str) -> PipelineInfo:
    """The named pipeline ``name``; on a miss, entry-point plugins are loaded first."""
    info = _PIPELINES.get(name)
    if info is None and _load_plugins():
        info = _PIPELINES.get(name)
    if info is None:
        raise _unknown("pipeline", name, list(_PIPELINES))
    return info


def lookup(name: str) -> type[Pass] | PipelineInfo:
    """A pass class or a named pipeline, whichever ``name`` is (used by the pipeline parser)."""
    found: type[Pass] | PipelineInfo | None = _PASSES.get(name) or _PIPELINES.get(name)
    if found is None and _load_plugins():
        found = _PASSES.get(name) or _PIPELINES.get(name)
    if found is None:
        raise _unknown("pass or pipeline", name, list(_PASSES) + list(_PIPELINES))
    return found


def all_passes() -> dict[str, type[Pass]]:
    """A snapshot of every registered pass, by name."""
    return dict(_PASSES)


def all_pipelines() -> dict[str, PipelineInfo]:
    """A snapshot of every registered named pipeline, by name."""
    return dict(_PIPELINES)
