"""Pass managers: nested lists of passes anchored on op names, and the loop that runs them.

An :class:`OpPassManager` is anchored on an op name. Its passes run, in order, on the op it is
run on; a nested manager (``pm.nest("func.func")``) runs its whole list on every op of that name
directly nested in that op, one op after another. A pass whose ``op_name`` differs from the
manager's anchor is nested implicitly, so ``PassManager().add(FuncPass())`` means
``builtin.module(func.func(func-pass))``. The anchor ``any`` matches every directly nested op
that is isolated from above; op-specific passes inside it run only on ops of their name.

:class:`PassManager` is the top level: it owns the instrumentations, verifies the IR after every
pass (``verify_each``), and turns failures into one located :class:`PassPipelineError`, or a
:class:`PassCrashError` when a pass raises an unexpected Python exception.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from avalon.ir.core import Operation
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity
from avalon.ir.traits import IsolatedFromAbove
from avalon.ir.verifier import verify
from avalon.passes.instrumentation import (
    IRPrinter,
    IRPrintingOptions,
    PassInstrumentation,
    PassTiming,
    statistics_report,
)
from avalon.passes.pass_base import Pass

ANY_OP = "any"


def _op_matches(anchor: str, op: Operation) -> bool:
    if anchor == ANY_OP:
        return op.has_trait(IsolatedFromAbove)
    return op.name == anchor


def _nested_ops(op: Operation, anchor: str) -> list[Operation]:
    """Ops directly nested in ``op``'s regions that a manager anchored on ``anchor`` runs on.

    Collected before running so passes may erase or add sibling ops safely.
    """
    found = []
    for region in op.regions:
        for block in region.blocks:
            for child in block.ops:
                if _op_matches(anchor, child):
                    found.append(child)
    return found


class OpPassManager:
    """An ordered list of passes and nested managers, anchored on an op name."""

    def __init__(self, op_name: str = "builtin.module") -> None:
        self.op_name = op_name
        self.passes: list[Pass | OpPassManager] = []
        #: Created by adding a pass anchored elsewhere; later such passes join it.
        self.implicit = False

    # -- building
    def add(self, pass_: Pass | OpPassManager) -> OpPassManager:
        """Append a pass (nesting it implicitly if it is anchored elsewhere); returns self."""
        if isinstance(pass_, OpPassManager):
            self.passes.append(pass_)
            return self
        if not isinstance(pass_, Pass):
            raise TypeError(f"expected a Pass instance, got {pass_!r}")
        anchor = pass_.op_name
        if anchor is None or anchor == self.op_name or self.op_name == ANY_OP:
            self.passes.append(pass_)
            return self
        last = self.passes[-1] if self.passes else None
        if isinstance(last, OpPassManager) and last.op_name == anchor and last.implicit:
            last.add(pass_)
        else:
            nested = self.nest(anchor)
            nested.implicit = True
            nested.add(pass_)
        return self

    def nest(self, op_name: str) -> OpPassManager:
        """A new manager for the ops named ``op_name`` directly inside this anchor."""
        child = OpPassManager(op_name)
        self.passes.append(child)
        return child

    def __iter__(self) -> Iterator[Pass | OpPassManager]:
        return iter(self.passes)

    def __len__(self) -> int:
        return len(self.passes)

    def all_passes(self) -> Iterator[Pass]:
        """Every pass instance, depth first, in pipeline order."""
        for item in self.passes:
            if isinstance(item, OpPassManager):
                yield from item.all_passes()
            else:
                yield item

    # -- text
    def pipeline_text(self) -> str:
        """Canonical pipeline text, e.g. ``builtin.module(func.func(cse),canonicalize)``."""
        from avalon.passes.pipeline import format_pass

        inner = ",".join(
            item.pipeline_text() if isinstance(item, OpPassManager) else format_pass(item)
            for item in self.passes)
        return f"{self.op_name}({inner})"

    def __str__(self) -> str:
        return self.pipeline_text()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pipeline_text()}>"

    # -- running
    def _run_on(self, op: Operation, executor: _Executor) -> None:
        for item in self.passes:
            if isinstance(item, OpPassManager):
                for child in _nested_ops(op, item.op_name):
                    executor.run_pipeline(item, child)
            elif self.op_name == ANY_OP and item.op_name not in (None, op.name):
                continue
            else:
                executor.run_pass(item, op)


class PassPipelineError(DiagnosticError):
    """A pass failed (or left invalid IR); carries the pass and the op it ran on.

    ``diagnostic`` is the original located error; rendering adds a note naming the pass.
    """

    def __init__(self, diagnostic: Diagnostic, pass_: Pass, op: Operation,
                 kind: str = "pass") -> None:
        super().__init__(diagnostic)
        self.pass_ = pass_
        self.op = op
        self.kind = kind

    @property
    def pass_name(self) -> str:
        return self.pass_.name

    def context(self) -> str:
        if self.kind == "verify":
            return f"IR failed to verify after pass '{self.pass_name}' on '{self.op.name}' op"
        return f"pass '{self.pass_name}' failed on '{self.op.name}' op"

    def __str__(self) -> str:
        note = Diagnostic(Severity.NOTE, self.context(), self.op.location)
        return self.diagnostic.render() + "\n" + note.render(show_source=False)


class PassCrashError(Exception):
    """A pass raised an unexpected Python exception: a bug in the pass, not in the input."""

    def __init__(self, pass_: Pass, op: Operation, exc: BaseException) -> None:
        self.pass_ = pass_
        self.op = op
        self.exc = exc
        self.reproducer_path: Path | None = None
        super().__init__(self.summary())

    @property
    def pass_name(self) -> str:
        return self.pass_.name

    def summary(self) -> str:
        return (f"pass '{self.pass_.name}' crashed on '{self.op.name}' op: "
                f"{type(self.exc).__name__}: {self.exc}")


@dataclass
class CrashReproducer:
    """Where to write a reproducer when a pass crashes, and what to put in its header.

    ``source_text`` is the IR to embed (the CLI passes its input); when None the op is
    printed at the start of each run, which costs a full print, so it is opt-in.
    """

    path: Path | None
    extra_flags: list[str] = field(default_factory=list)
    source_text: str | None = None


REPRODUCER_CONFIG_PREFIX = "// configuration: "


def format_reproducer(ir_text: str, pipeline: str, extra_flags: Sequence[str] = (),
                      reason: str = "") -> str:
    """A reproducer file: a ``// configuration:`` header (avalon-opt flags) and the IR."""
    flags = [f"--pass-pipeline={pipeline}", *extra_flags]
    lines = []
    if reason:
        lines.append(f"// avalon-opt crash reproducer: {reason}")
    lines.append(REPRODUCER_CONFIG_PREFIX + " ".join(shlex.quote(f) for f in flags))
    body = ir_text if ir_text.endswith("\n") else ir_text + "\n"
    return "\n".join(lines) + "\n" + body


def reproducer_flags(text: str) -> list[str]:
    """The avalon-opt flags recorded in a reproducer's ``// configuration:`` line."""
    for line in text.splitlines():
        if line.startswith(REPRODUCER_CONFIG_PREFIX):
            return shlex.split(line[len(REPRODUCER_CONFIG_PREFIX):])
    raise ValueError("not a reproducer: no '// configuration:' line")


class _Executor:
    """One run of a top-level manager: dispatches hooks and verification."""

    def __init__(self, pm: PassManager) -> None:
        self.instrumentations = pm.instrumentations
        self.verify_each = pm.verify_each

    def run_pipeline(self, pm: OpPassManager, op: Operation) -> None:
        for inst in self.instrumentations:
            inst.run_before_pipeline(pm, op)
        try:
            pm._run_on(op, self)
        finally:
            for inst in reversed(self.instrumentations):
                inst.run_after_pipeline(pm, op)

    def run_pass(self, pass_: Pass, op: Operation) -> None:
        for inst in self.instrumentations:
            inst.run_before_pass(pass_, op)
        try:
            pass_.run(op)
        except DiagnosticError as err:
            failure = PassPipelineError(err.diagnostic, pass_, op, "pass")
            self._failed(pass_, op, failure)
            raise failure from err
        except Exception as exc:
            crash = PassCrashError(pass_, op, exc)
            self._failed(pass_, op, crash)
            raise crash from exc
        if self.verify_each:
            self._verify(pass_, op)
        for inst in reversed(self.instrumentations):
            inst.run_after_pass(pass_, op)

    def _verify(self, pass_: Pass, op: Operation) -> None:
        for inst in self.instrumentations:
            inst.run_before_verifier(pass_, op)
        try:
            verify(op)
        except DiagnosticError as err:
            failure = PassPipelineError(err.diagnostic, pass_, op, "verify")
            for inst in reversed(self.instrumentations):
                inst.run_after_verifier(pass_, op)
            self._failed(pass_, op, failure)
            raise failure from err
        for inst in reversed(self.instrumentations):
            inst.run_after_verifier(pass_, op)

    def _failed(self, pass_: Pass, op: Operation, error: Exception) -> None:
        for inst in reversed(self.instrumentations):
            inst.run_after_pass_failed(pass_, op, error)


class PassManager(OpPassManager):
    """The top-level manager: instrumentation, verification and failure reporting."""

    def __init__(self, op_name: str = "builtin.module", *, verify_each: bool = True) -> None:
        super().__init__(op_name)
        self.verify_each = verify_each
        self.instrumentations: list[PassInstrumentation] = []
        self.crash_reproducer: CrashReproducer | None = None

    @classmethod
    def parse(cls, text: str, **kwargs: object) -> PassManager:
        """Build a manager from pipeline text (see :func:`avalon.passes.parse_pipeline`)."""
        from avalon.passes.pipeline import parse_pipeline

        pm = parse_pipeline(text)
        for key, value in kwargs.items():
            setattr(pm, key, value)
        return pm

    def add_instrumentation(self, inst: PassInstrumentation) -> PassInstrumentation:
        self.instrumentations.append(inst)
        return inst

    def enable_ir_printing(self, options: IRPrintingOptions | None = None,
                           stream: TextIO | None = None, **flags: Any) -> IRPrinter:
        """Dump IR around passes; ``flags`` are IRPrintingOptions fields (after_all=True)."""
        printer = IRPrinter(options or IRPrintingOptions(**flags), stream)
        self.add_instrumentation(printer)
        return printer

    def enable_timing(self) -> PassTiming:
        """Measure wall time per pass; read ``.report("list" | "tree")`` after running."""
        timing = PassTiming()
        self.add_instrumentation(timing)
        return timing

    def statistics_report(self, display: str = "pipeline") -> str:
        """The passes' named counters, formatted like ``--pass-statistics``."""
        return statistics_report(self, display)

    def enable_crash_reproducer(self, path: str | Path | None = None,
                                extra_flags: Sequence[str] = (),
                                source_text: str | None = None) -> CrashReproducer:
        """On a pass crash, write a reproducer runnable with ``avalon-opt --run-reproducer``.

        Without ``path`` a fresh temporary ``avalon-reproducer-*.mlir`` file is used.
        """
        self.crash_reproducer = CrashReproducer(
            Path(path) if path is not None else None, list(extra_flags), source_text)
        return self.crash_reproducer

    def run(self, op: Operation) -> None:
        """Run the pipeline on ``op``; raises PassPipelineError or PassCrashError on failure."""
        if not _op_matches(self.op_name, op) and not (
                self.op_name == ANY_OP and op.parent is None):
            raise DiagnosticError(Diagnostic(
                Severity.ERROR,
                f"can't run '{self.op_name}' pass manager on '{op.name}' op", op.location))
        snapshot = None
        repro = self.crash_reproducer
        if repro is not None and repro.source_text is None:
            from avalon.ir.printer import print_op

            snapshot = print_op(op, debuginfo=True)
        executor = _Executor(self)
        try:
            executor.run_pipeline(self, op)
        except PassCrashError as crash:
            if repro is not None:
                text = repro.source_text if repro.source_text is not None else snapshot
                path = repro.path
                if path is None:
                    fd, name = tempfile.mkstemp(prefix="avalon-reproducer-", suffix=".mlir")
                    os.close(fd)
                    path = Path(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(format_reproducer(
                    text or "", self.pipeline_text(), repro.extra_flags, crash.summary()))
                crash.reproducer_path = path
            raise
