"""Runs the ``// RUN:`` lines of every ``tests/opt/**/*.mlir`` case, lit-style.

Substitutions: ``%s`` (the case file), ``%S`` (its directory), ``%t`` (a fresh temporary path
for the case), ``%root`` (the repository root), ``%%`` (a literal ``%``). A line ending in ``\\``
continues on the next ``// RUN:`` line. Each line runs in bash with ``pipefail``; ``not CMD``
succeeds only when CMD fails. ``avalon-opt`` and ``filecheck`` are the ones installed next to
the running Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "opt"
BIN = Path(sys.executable).parent
PRELUDE = "set -o pipefail\nnot() { ! \"$@\"; }\n"


def run_lines(path: Path) -> list[str]:
    """The RUN commands of a case, continuation lines joined."""
    commands, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped.startswith("// RUN:"):
            continue
        body = stripped[len("// RUN:"):].strip()
        if body.endswith("\\"):
            pending += body[:-1] + " "
            continue
        commands.append(pending + body)
        pending = ""
    if pending:
        commands.append(pending)
    return commands


def substitute(command: str, path: Path, tmp: Path) -> str:
    marker = "\0"
    command = command.replace("%%", marker)
    for key, value in (("%root", str(ROOT)), ("%s", str(path)), ("%S", str(path.parent)),
                       ("%t", str(tmp))):
        command = command.replace(key, value)
    return command.replace(marker, "%")


def cases() -> list[Path]:
    return sorted(CASES.rglob("*.mlir"))


def test_every_case_has_run_lines():
    found = cases()
    assert found, "no tests/opt cases found"
    for path in found:
        assert run_lines(path), f"{path} has no // RUN: line"


def test_substitutions(tmp_path):
    cmd = substitute("avalon-opt %s -o %t.out 100%% %S", Path("/a/b.mlir"), tmp_path / "t")
    assert cmd == f"avalon-opt /a/b.mlir -o {tmp_path}/t.out 100% /a"


@pytest.mark.parametrize("path", cases(), ids=lambda p: str(p.relative_to(CASES)))
def test_opt_case(path: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONWARNINGS", None)
    for command in run_lines(path):
        script = PRELUDE + substitute(command, path, tmp_path / "t")
        proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, (
            f"RUN line failed (exit {proc.returncode}): {command}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
