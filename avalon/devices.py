"""Devices: where a model's arrays live and where compiled code runs.

Today every array is a host numpy array and code runs on the CPU, so :func:`cpu` is the only
device that can be used. :func:`gpu` exists so that code written for a GPU fails early with a
message that says why (no GPU backend in this build, or no GPU on this machine) instead of
deep inside a compiled call.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from avalon.frontend.pytree import flatten, unflatten


class DeviceError(RuntimeError):
    """A device was requested that this build or this machine cannot provide."""


@dataclass(frozen=True)
class Device:
    """A device by kind (``"cpu"`` or ``"gpu"``) and index."""

    kind: str
    index: int = 0

    def __str__(self) -> str:
        return self.kind if self.kind == "cpu" else f"{self.kind}:{self.index}"


CPU = Device("cpu")


def cpu() -> Device:
    """The host CPU (arrays are numpy arrays in host memory)."""
    return CPU


def _gpu_present() -> bool:
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/gpus")


def gpu(i: int = 0) -> Device:
    """GPU number ``i``; raises :class:`DeviceError` because no GPU backend can run models yet.

    The message also says whether an NVIDIA GPU is visible, so the user knows whether a future
    build would help on this machine.
    """
    if not isinstance(i, int) or i < 0:
        raise ValueError(f"the GPU index must be a non-negative integer, got {i!r}")
    seen = ("an NVIDIA GPU is visible on this machine" if _gpu_present()
            else "no NVIDIA GPU is visible on this machine either")
    if importlib.util.find_spec("avalon.backends.gpu") is None:
        raise DeviceError(f"gpu({i}) is not available: this build of Avalon has no GPU backend "
                          f"yet ({seen}); use avalon.cpu() or avalon.best_available_device()")
    raise DeviceError(f"gpu({i}) is not available: models cannot be placed on the GPU backend "
                      f"yet ({seen}); use avalon.cpu()")


def best_available_device() -> Device:
    """The fastest device that can run models: the CPU until a GPU backend can."""
    return CPU


def as_device(device: Device | str | None) -> Device:
    """A :class:`Device` from a device, ``None`` (the best available) or a name such as
    ``"cpu"``, ``"gpu"``, ``"gpu:1"`` or ``"cuda:0"``."""
    if device is None:
        return best_available_device()
    if isinstance(device, Device):
        if device.kind != "cpu":
            return gpu(device.index)
        return device
    if isinstance(device, str):
        kind, _, index = device.strip().lower().partition(":")
        if kind == "cpu" and not index:
            return CPU
        if kind in ("gpu", "cuda"):
            if index and not index.isdigit():
                raise ValueError(f"bad device index in {device!r}")
            return gpu(int(index) if index else 0)
    raise ValueError(f"unknown device {device!r}; use avalon.cpu(), avalon.gpu(i) or a name "
                     "such as 'cpu' or 'gpu:0'")


def to_device(device: Device | str | None, obj: Any) -> Any:
    """``obj`` (an array or any pytree, e.g. a model) with its arrays on ``device``.

    On the CPU numpy arrays already are where they need to be: a model is returned as the same
    object (so in-place updates and optimizer state stay attached to it) and other array-likes
    (lists, scalars) become numpy arrays.
    """
    as_device(device)
    if isinstance(obj, np.ndarray):
        return obj
    leaves, td = flatten(obj)
    if td.kind == "leaf" or (not leaves and isinstance(obj, list | tuple)):
        return np.asarray(obj)
    if all(isinstance(leaf, np.ndarray) for leaf in leaves):
        return obj
    return unflatten(td, [np.asarray(leaf) for leaf in leaves], obj)
