"""Shared test configuration: hypothesis profiles (``ci`` is bounded and deadline-free)."""

import os

from hypothesis import HealthCheck, settings

# Jitted code runs in the reference interpreter unless a test asks for native code
# (``backend="cpu"``): compiling every small traced function with LLVM would dominate the
# suite's time, and the native path has dedicated tests (tests/frontend/test_jit_native.py,
# tests/passes/test_cpu_pipeline.py, tests/backends/cpu, tests/nn/test_native_models.py).
os.environ.setdefault("AVALON_BACKEND", "interpreter")

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
