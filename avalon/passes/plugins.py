"""Loading user passes: a Python file given on the command line, or installed entry points.

A plugin file is ordinary Python. Its Pass subclasses register themselves when decorated with
``register_pass``; any other Pass subclass *defined in that file* with a non-empty ``name`` is
registered after import, so a file of plain classes works too.

Installed packages declare ``[project.entry-points."avalon.passes"]``; each entry point names a
module (importing it registers its passes) or a callable (called with no arguments). They are
loaded at most once, lazily, when a name lookup misses or the CLI lists passes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from avalon.passes import registry
from avalon.passes.pass_base import Pass

ENTRY_POINT_GROUP = "avalon.passes"


class PluginError(Exception):
    """A plugin file or entry point could not be loaded."""


_entry_points_loaded = False


def _module_name_for(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"avalon_plugin_{stem}_{digest}"


def _register_defined_passes(module: ModuleType) -> list[str]:
    names = []
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if obj is Pass or not issubclass(obj, Pass) or obj.__module__ != module.__name__:
            continue
        if not obj.name:
            continue
        try:
            registry.register_pass(obj)
        except registry.RegistrationError as err:
            raise PluginError(f"{module.__file__}: {err}") from err
        names.append(obj.name)
    return sorted(names)


def load_pass_plugin(path: str | Path) -> list[str]:
    """Import a user's Python file and register its passes; returns their names."""
    file = Path(path).resolve()
    if not file.is_file():
        raise PluginError(f"pass plugin '{path}' does not exist")
    mod_name = _module_name_for(file)
    spec = importlib.util.spec_from_file_location(mod_name, file)
    if spec is None or spec.loader is None:
        raise PluginError(f"pass plugin '{path}' is not a Python file")
    module = importlib.util.module_from_spec(spec)
    # Registered in sys.modules before exec so dataclasses / pickling inside the plugin work.
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except registry.RegistrationError as err:
        sys.modules.pop(mod_name, None)
        raise PluginError(f"pass plugin '{path}': {err}") from err
    except SyntaxError as err:
        sys.modules.pop(mod_name, None)
        raise PluginError(
            f"pass plugin '{path}':{err.lineno}:{err.offset}: syntax error: {err.msg}") from err
    except Exception as err:
        sys.modules.pop(mod_name, None)
        raise PluginError(
            f"pass plugin '{path}' raised {type(err).__name__} while loading: {err}") from err
    return _register_defined_passes(module)


def load_entry_point_plugins(*, force: bool = False) -> bool:
    """Load the ``avalon.passes`` entry points once; True if this call loaded them.

    A broken entry point is reported as a warning rather than an error so that one bad
    installed package cannot make every pipeline lookup fail.
    """
    global _entry_points_loaded
    if _entry_points_loaded and not force:
        return False
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            if callable(target) and not isinstance(target, ModuleType):
                target()
        except Exception as err:
            warnings.warn(f"avalon.passes entry point '{ep.name}' ({ep.value}) failed to "
                          f"load: {type(err).__name__}: {err}", RuntimeWarning, stacklevel=2)
    return True
