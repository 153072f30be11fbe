"""Devices: the CPU is usable, GPU requests fail early with a reason."""

import numpy as np
import pytest

from avalon import devices
from avalon.devices import Device, DeviceError, as_device, best_available_device, cpu, gpu


def test_cpu_and_best_available():
    assert cpu() == Device("cpu") and str(cpu()) == "cpu"
    assert best_available_device() == cpu()
    assert as_device(None) == cpu() and as_device("CPU") == cpu()


@pytest.mark.parametrize("present", [True, False])
def test_gpu_raises_with_a_reason(monkeypatch, present):
    monkeypatch.setattr(devices, "_gpu_present", lambda: present)
    with pytest.raises(DeviceError, match="gpu\\(1\\) is not available") as info:
        gpu(1)
    seen = "an NVIDIA GPU is visible" if present else "no NVIDIA GPU is visible"
    assert seen in str(info.value) and "avalon.cpu()" in str(info.value)
    with pytest.raises(DeviceError):
        as_device("cuda:0")
    with pytest.raises(DeviceError):
        as_device(Device("gpu", 2))


def test_bad_device_names():
    with pytest.raises(ValueError, match="unknown device"):
        as_device("tpu")
    with pytest.raises(ValueError, match="bad device index"):
        as_device("gpu:x")
    with pytest.raises(ValueError, match="non-negative integer"):
        gpu(-1)


def test_to_device_keeps_models_and_arrays():
    class M:
        def __init__(self):
            self.w = np.ones(3, np.float32)

    m = M()
    assert devices.to_device(cpu(), m) is m
    a = np.zeros(2)
    assert devices.to_device("cpu", a) is a
    out = devices.to_device(cpu(), [1.0, 2.0])
    assert isinstance(out, np.ndarray) and out.tolist() == [1.0, 2.0]
    scalar = devices.to_device(cpu(), np.float32(3))
    assert isinstance(scalar, np.ndarray) and scalar.shape == ()
    mixed = devices.to_device(cpu(), {"a": np.float32(1), "b": np.zeros(1)})
    assert isinstance(mixed["a"], np.ndarray) and mixed["b"] is not None
    with pytest.raises(DeviceError):
        devices.to_device("gpu", m)
