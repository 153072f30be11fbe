"""CPU backend tests: every test process compiles into its own throwaway cache directory."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("AVALON_CACHE_DIR", "AVALON_DEBUG_DIR")}
    os.environ["AVALON_CACHE_DIR"] = str(tmp_path_factory.mktemp("avalon-cache"))
    os.environ.pop("AVALON_DEBUG_DIR", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
