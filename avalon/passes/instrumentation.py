"""Hooks around pass execution: IR printing, timing and statistics reports.

A :class:`PassInstrumentation` observes a pass manager run. The pass manager calls the
``before`` hooks in registration order and the ``after`` hooks in reverse order, so
instrumentations nest like brackets. Three ship here:

* :class:`IRPrinter` dumps IR before/after chosen passes (to a stream or a directory tree),
  optionally only when the IR changed or a pass failed, at op or module scope;
* :class:`PassTiming` measures wall time per pass and reports it as a list or a tree;
* :func:`statistics_report` formats the named counters passes keep (``self.count(...)``).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from avalon.ir.attributes import StringAttr
from avalon.ir.core import Operation

_RULE = "===" + "-" * 73 + "==="


class PassInstrumentation:
    """Observer of a pass manager run; override the hooks you need."""

    def run_before_pipeline(self, pm: Any, op: Operation) -> None:
        """A (nested) pass manager starts on ``op``."""

    def run_after_pipeline(self, pm: Any, op: Operation) -> None:
        """A (nested) pass manager finished on ``op`` (also after a failure)."""

    def run_before_pass(self, pass_: Any, op: Operation) -> None:
        """``pass_`` is about to run on ``op``."""

    def run_after_pass(self, pass_: Any, op: Operation) -> None:
        """``pass_`` succeeded on ``op`` (and the IR verified, if verification is on)."""

    def run_after_pass_failed(self, pass_: Any, op: Operation, error: Exception) -> None:
        """``pass_`` failed, left invalid IR, or crashed on ``op``."""

    def run_before_verifier(self, pass_: Any, op: Operation) -> None:
        """The verifier is about to check ``op`` after ``pass_``."""

    def run_after_verifier(self, pass_: Any, op: Operation) -> None:
        """The verifier finished checking ``op`` (whatever the outcome)."""


def pass_display_name(pass_: Any) -> str:
    """The class name a report shows (``CSEPass`` -> ``CSE``), next to the pipeline name."""
    name = type(pass_).__name__
    if name.endswith("Pass") and len(name) > 4:
        name = name[:-4]
    return name


def pass_label(pass_: Any) -> str:
    """``CSE (cse)``: what timing and statistics reports call a pass."""
    return f"{pass_display_name(pass_)} ({pass_.name})"


def _symbol_name(op: Operation) -> str | None:
    sym = op.attributes.get("sym_name")
    return sym.value if isinstance(sym, StringAttr) else None


def _root(op: Operation) -> Operation:
    while op.parent_op is not None:
        op = op.parent_op
    return op


def fingerprint(op: Operation) -> int | str:
    """A value that changes whenever ``op`` or anything nested in it changes.

    Structural hashing (identity of ops, values and blocks plus names, attributes, types and
    locations) is much cheaper than printing; printing is the fallback for unhashable data.
    """
    try:
        parts: list[Any] = []
        for nested in op.walk_ops():
            parts.append((id(nested), nested.name, tuple(nested.attributes.items()),
                          tuple(id(v) for v in nested._operands),
                          tuple(id(r) for r in nested.results),
                          tuple(r.type for r in nested.results),
                          nested.location, tuple(id(b) for b in nested.successors)))
            for region in nested.regions:
                for block in region.blocks:
                    parts.append((id(block), tuple((id(a), a.type) for a in block.args)))
        return hash(tuple(parts))
    except TypeError:
        from avalon.ir.printer import print_op

        return print_op(op, generic=True, debuginfo=True)


# --------------------------------------------------------------------------------- IR printing


@dataclass
class IRPrintingOptions:
    """Which dumps to make and how to print them (the ``--print-ir-*`` flags)."""

    before: Collection[str] = ()
    after: Collection[str] = ()
    before_all: bool = False
    after_all: bool = False
    after_change: bool = False
    after_failure: bool = False
    module_scope: bool = False
    tree_dir: Path | None = None
    generic: bool = False
    debuginfo: bool = False
    elide_elements_larger_than: int | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.before or self.after or self.before_all or self.after_all
                    or self.after_change or self.after_failure)


class IRPrinter(PassInstrumentation):
    """Dumps IR around passes with MLIR-style ``// -----// IR Dump After ...`` headers."""

    def __init__(self, options: IRPrintingOptions, stream: TextIO | None = None) -> None:
        self.options = options
        self.stream = stream
        self._fingerprints: dict[tuple[int, int], int | str] = {}
        self._tree_counters: dict[Operation, int] = {}
        self.files_written: list[Path] = []

    # -- selection
    def _before(self, pass_: Any) -> bool:
        return self.options.before_all or pass_.name in self.options.before

    def _after(self, pass_: Any) -> bool:
        o = self.options
        if o.after_all or pass_.name in o.after:
            return True
        # --print-ir-after-change alone means "after every pass that changed something".
        return o.after_change and not o.after and not o.after_failure

    def _after_success(self, pass_: Any) -> bool:
        o = self.options
        if o.after_failure and not (o.after_all or o.after):
            return False  # only failures were asked for
        return self._after(pass_)

    # -- hooks
    def run_before_pass(self, pass_: Any, op: Operation) -> None:
        if self._before(pass_):
            self._dump("Before", pass_, op)
        if self.options.after_change and self._after_success(pass_):
            self._fingerprints[(id(pass_), id(op))] = fingerprint(op)

    def run_after_pass(self, pass_: Any, op: Operation) -> None:
        if not self._after_success(pass_):
            return
        if self.options.after_change:
            before = self._fingerprints.pop((id(pass_), id(op)), None)
            if before is not None and before == fingerprint(op):
                return
        self._dump("After", pass_, op)

    def run_after_pass_failed(self, pass_: Any, op: Operation, error: Exception) -> None:
        self._fingerprints.pop((id(pass_), id(op)), None)
        if self.options.after_failure or self._after(pass_):
            self._dump("After", pass_, op, failed=True)

    # -- output
    def header(self, when: str, pass_: Any, op: Operation, failed: bool = False) -> str:
        title = f"IR Dump {when} {pass_display_name(pass_)}{' Failed' if failed else ''}"
        title += f" ({pass_.name})"
        if self.options.module_scope:
            sym = _symbol_name(op)
            title += f" ('{op.name}' operation{': @' + sym if sym else ''})"
        return f"// -----// {title} //----- //"

    def _dump(self, when: str, pass_: Any, op: Operation, failed: bool = False) -> None:
        from avalon.ir.printer import print_op

        target = _root(op) if self.options.module_scope else op
        try:
            text = print_op(target, generic=self.options.generic,
                            debuginfo=self.options.debuginfo,
                            elide_elements_larger_than=self.options.elide_elements_larger_than)
        except Exception as err:  # a failed pass may leave IR the printer cannot handle
            text = f"// <IR could not be printed: {type(err).__name__}: {err}>"
            if not self.options.generic:
                with contextlib.suppress(Exception):
                    text = print_op(target, generic=True)
        chunk = self.header(when, pass_, op, failed) + "\n" + text.rstrip("\n") + "\n\n"
        if self.options.tree_dir is not None:
            self._write_tree_file(pass_, op, chunk, when)
        else:
            stream = self.stream if self.stream is not None else sys.stderr
            stream.write(chunk)

    def tree_path(self, pass_: Any, op: Operation) -> Path:
        """``DIR/builtin_module_no-symbol-name/func_func_f/0_1_cse.mlir`` for a dump of ``op``.

        One directory per op on the path from the root to ``op``; the file name numbers the
        dumps of each op on that path, so files sort in execution order.
        """
        chain = [op, *op.ancestors()][::-1]
        self._tree_counters[op] = self._tree_counters.get(op, -1) + 1
        dirs = [f"{o.name.replace('.', '_')}_{_symbol_name(o) or 'no-symbol-name'}"
                for o in chain]
        counters = "_".join(str(self._tree_counters.get(o, 0)) for o in chain)
        assert self.options.tree_dir is not None
        return self.options.tree_dir.joinpath(*dirs, f"{counters}_{pass_.name}.mlir")

    def _write_tree_file(self, pass_: Any, op: Operation, chunk: str, when: str) -> None:
        path = self.tree_path(pass_, op)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(chunk)
        self.files_written.append(path)


# ------------------------------------------------------------------------------------- timing


@dataclass
class TimingNode:
    """One row of the timing tree: accumulated wall time of a pass, pipeline or phase."""

    name: str
    elapsed: float = 0.0
    count: int = 0
    children: dict[Any, TimingNode] = field(default_factory=dict)

    def child(self, key: Any, name: str) -> TimingNode:
        node = self.children.get(key)
        if node is None:
            node = self.children[key] = TimingNode(name)
        return node

    def walk(self, depth: int = 0) -> Iterator[tuple[int, TimingNode]]:
        for node in self.children.values():
            yield depth, node
            yield from node.walk(depth + 1)


class PassTiming(PassInstrumentation):
    """Wall time per pass (and per verifier run), reported like ``mlir-opt -mlir-timing``."""

    def __init__(self, clock: Any = time.perf_counter) -> None:
        self.clock = clock
        self.root = TimingNode("Total")
        self._stack: list[tuple[TimingNode, float]] = []
        self._depth = 0

    def _current(self) -> TimingNode:
        return self._stack[-1][0] if self._stack else self.root

    def _push(self, node: TimingNode) -> None:
        self._stack.append((node, self.clock()))

    def _pop(self) -> None:
        node, start = self._stack.pop()
        node.elapsed += self.clock() - start
        node.count += 1

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase outside the pass manager (the CLI's ``Parser`` and ``Output``)."""
        self._push(self._current().child(("phase", name), name))
        try:
            yield
        finally:
            self._pop()

    def run_before_pipeline(self, pm: Any, op: Operation) -> None:
        self._depth += 1
        if self._depth > 1:  # the top-level manager's passes sit at the root, as in MLIR
            self._push(self._current().child(("pm", pm), f"'{pm.op_name}' Pipeline"))

    def run_after_pipeline(self, pm: Any, op: Operation) -> None:
        if self._depth > 1:
            self._pop()
        self._depth -= 1

    def run_before_pass(self, pass_: Any, op: Operation) -> None:
        self._push(self._current().child(("pass", pass_), pass_label(pass_)))

    def run_after_pass(self, pass_: Any, op: Operation) -> None:
        self._pop()

    def run_after_pass_failed(self, pass_: Any, op: Operation, error: Exception) -> None:
        if self._stack and self._stack[-1][0].name == "(verify)":
            self._pop()
        self._pop()

    def run_before_verifier(self, pass_: Any, op: Operation) -> None:
        self._push(self._current().child(("verify",), "(verify)"))

    def run_after_verifier(self, pass_: Any, op: Operation) -> None:
        self._pop()

    # -- reports
    @property
    def total(self) -> float:
        return sum(node.elapsed for node in self.root.children.values())

    def _rows(self, display: str) -> list[tuple[str, float]]:
        if display == "tree":
            return [("  " * depth + node.name, node.elapsed) for depth, node in self.root.walk()]
        if display != "list":
            raise ValueError(f"timing display must be 'list' or 'tree', not '{display}'")
        flat: dict[str, float] = {}
        for _, node in self.root.walk():
            if node.name.endswith(" Pipeline"):
                continue
            # A pass's own time excludes its verifier runs, which are reported separately.
            own = node.elapsed - sum(c.elapsed for c in node.children.values()
                                     if c.name == "(verify)")
            key = "Verifier" if node.name == "(verify)" else node.name
            flat[key] = flat.get(key, 0.0) + own
        return sorted(flat.items(), key=lambda kv: -kv[1])

    def report(self, display: str = "list") -> str:
        """The execution time table; ``display`` is ``list`` (by pass, slowest first) or
        ``tree`` (the pipeline's nesting)."""
        total = self.total
        lines = [_RULE, "... Execution time report ...".center(79).rstrip(), _RULE,
                 f"  Total Execution Time: {total:.4f} seconds", "",
                 "  ----Wall Time----  ----Name----"]
        for name, elapsed in self._rows(display):
            pct = 100.0 * elapsed / total if total > 0 else 0.0
            lines.append(f"  {elapsed:8.4f} ({pct:5.1f}%)  {name}")
        lines.append(f"  {total:8.4f} (100.0%)  Total")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- statistics


def _stat_lines(pass_: Any, indent: str) -> list[str]:
    stats = list(pass_.statistics.values())
    width = max((len(str(s.value)) for s in stats), default=1)
    lines = [f"{indent}{pass_label(pass_)}"]
    for s in stats:
        desc = f" - {s.description}" if s.description else ""
        lines.append(f"{indent}  (S) {s.value:>{width}} {s.name}{desc}")
    return lines


def statistics_report(pm: Any, display: str = "pipeline") -> str:
    """The named counters of every pass in ``pm``: by pipeline nesting, or merged per pass."""
    lines = [_RULE, "... Pass statistics report ...".center(79).rstrip(), _RULE]
    if display == "pipeline":
        def visit(manager: Any, indent: str) -> None:
            for item in manager.passes:
                if hasattr(item, "passes"):
                    lines.append(f"{indent}'{item.op_name}' Pipeline")
                    visit(item, indent + "  ")
                else:
                    lines.extend(_stat_lines(item, indent))
        visit(pm, "")
    elif display == "list":
        merged: dict[str, tuple[Any, dict[str, list[Any]]]] = {}
        for p in pm.all_passes():
            entry = merged.setdefault(p.name, (p, {}))
            for s in p.statistics.values():
                slot = entry[1].setdefault(s.name, [0, s.description])
                slot[0] += s.value
        for _, (p, stats) in merged.items():
            width = max((len(str(v[0])) for v in stats.values()), default=1)
            lines.append(pass_label(p))
            for sname, (value, desc) in stats.items():
                tail = f" - {desc}" if desc else ""
                lines.append(f"  (S) {value:>{width}} {sname}{tail}")
    else:
        raise ValueError(f"statistics display must be 'pipeline' or 'list', not '{display}'")
    return "\n".join(lines) + "\n"
