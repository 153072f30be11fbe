"""``avalon-opt``: parse textual IR, run a pass pipeline, print the result.

The driver for compiler users and for the ``tests/opt`` cases. User errors (bad IR, unknown
passes, failing passes) print located diagnostics on stderr and exit with status 1, never a
traceback. A pass that *crashes* (an unexpected Python exception) gets a one-line report and a
reproducer file that ``avalon-opt --run-reproducer FILE`` replays.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import avalon.ir.dialects  # noqa: F401  (registers every dialect)
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, capture_diagnostics
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.passes import registry
from avalon.passes.instrumentation import IRPrintingOptions, PassTiming
from avalon.passes.manager import (
    PassCrashError,
    PassManager,
    PassPipelineError,
    reproducer_flags,
)
from avalon.passes.pipeline import PipelineParseError, parse_pipeline
from avalon.passes.plugins import PluginError, load_entry_point_plugins, load_pass_plugin
from avalon.tools import expected_diagnostics
from avalon.tools.graph import function_graphs, safe_filename

PROG = "avalon-opt"
SPLIT_MARKER = "// -----"


class UsageError(Exception):
    """A bad command line: reported as ``avalon-opt: error: ...`` with exit status 1."""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit with status 2
        raise UsageError(message)


class _PassFlag(argparse.Action):
    """``--<pass-name>[=OPTIONS]``: append the pass to the pipeline, keeping flag order.

    The ``=OPTIONS`` form is taken out of argv by :func:`_extract_pass_flags` before argparse
    runs (an optional argparse value would swallow a following input file name); this action
    documents the flags in ``--help``.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, pass_name: str = "",
                 **kwargs: Any) -> None:
        self.pass_name = pass_name
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        items = list(getattr(namespace, self.dest) or [])
        items.append((self.pass_name, values or ""))
        setattr(namespace, self.dest, items)


def _help(text: str) -> str:
    return text.replace("%", "%%")


def build_arg_parser() -> argparse.ArgumentParser:
    """The command line; every registered pass and named pipeline also gets a flag."""
    p = _ArgumentParser(prog=PROG, allow_abbrev=False,
                        description="Run pass pipelines over Avalon IR (MLIR syntax).")
    p.add_argument("input", nargs="?", default="-", help="input file ('-' for stdin)")
    p.add_argument("-o", dest="output", default="-", metavar="FILE",
                   help="output file ('-' for stdout)")
    p.add_argument("--pass-pipeline", metavar="TEXT",
                   help="pipeline, e.g. 'builtin.module(func.func(canonicalize,cse))'")
    p.add_argument("--list-passes", action="store_true",
                   help="list passes (with options) and named pipelines, then exit")
    p.add_argument("--dump-pass-pipeline", action="store_true",
                   help="print the pipeline in canonical text on stderr")
    p.add_argument("--split-input-file", action="store_true",
                   help="process each '// -----' chunk of the input separately")
    p.add_argument("--verify-diagnostics", action="store_true",
                   help="check diagnostics against '// expected-error @+1 {{...}}' comments")
    p.add_argument("--allow-unregistered-dialect", action="store_true",
                   help="accept ops of unknown dialects")
    p.add_argument("--no-verify-each", action="store_true",
                   help="do not verify the IR after each pass")
    p.add_argument("--load-pass-plugin", action="append", default=[], metavar="FILE",
                   help="load passes from a Python file (repeatable)")
    p.add_argument("--show-traceback", action="store_true",
                   help="print Python tracebacks of crashes")
    p.add_argument("--crash-reproducer", metavar="FILE",
                   help="where to write the reproducer if a pass crashes (default: a temp file)")
    p.add_argument("--run-reproducer", metavar="FILE",
                   help="replay a crash reproducer with its recorded configuration")
    p.add_argument("--replaying-reproducer", action="store_true", help=argparse.SUPPRESS)

    out = p.add_argument_group("printing")
    out.add_argument("--print-op-generic", action="store_true",
                     help="print ops in generic form")
    out.add_argument("--print-debuginfo", action="store_true", help="print locations")
    out.add_argument("--elide-elementsattrs-if-larger", type=int, metavar="N",
                     help="print dense constants with more than N elements as a placeholder")

    ir = p.add_argument_group("IR dumps around passes (on stderr)")
    ir.add_argument("--print-ir-before", metavar="PASSES", default="",
                    help="comma-separated pass names to print the IR before")
    ir.add_argument("--print-ir-after", metavar="PASSES", default="",
                    help="comma-separated pass names to print the IR after")
    ir.add_argument("--print-ir-before-all", action="store_true",
                    help="print the IR before every pass")
    ir.add_argument("--print-ir-after-all", action="store_true",
                    help="print the IR after every pass")
    ir.add_argument("--print-ir-after-change", action="store_true",
                    help="print after a pass only if it changed the IR")
    ir.add_argument("--print-ir-after-failure", action="store_true",
                    help="print the IR after a pass fails")
    ir.add_argument("--print-ir-module-scope", action="store_true",
                    help="print the whole module, not just the op the pass ran on")
    ir.add_argument("--print-ir-tree-dir", metavar="DIR",
                    help="write each dump to a file under DIR instead of stderr")

    rep = p.add_argument_group("reports (on stderr)")
    rep.add_argument("--timing", action="store_true", help="report wall time per pass")
    rep.add_argument("--timing-display", choices=("list", "tree"), default="list",
                     help="list: per pass, slowest first; tree: by pipeline nesting")
    rep.add_argument("--pass-statistics", action="store_true",
                     help="report the passes' statistics counters")
    rep.add_argument("--pass-statistics-display", choices=("pipeline", "list"),
                     default="pipeline",
                     help="pipeline: by nesting; list: merged per pass name")

    graph = p.add_argument_group("graphs")
    graph.add_argument("--view-op-graph", action="store_true",
                       help="output Graphviz DOT of each function instead of the IR")
    graph.add_argument("--view-op-graph-dir", metavar="DIR",
                       help="write one DOT file per function to DIR (the IR is still output)")

    taken = {s for action in p._actions for s in action.option_strings}
    passes = p.add_argument_group("passes (appended to the pipeline in flag order)")
    entries: list[tuple[str, str]] = [(n, c.description()) for n, c in
                                      sorted(registry.all_passes().items())]
    entries += [(n, i.description) for n, i in sorted(registry.all_pipelines().items())]
    for name, desc in entries:
        if f"--{name}" in taken:
            continue
        passes.add_argument(f"--{name}", action=_PassFlag, pass_name=name, dest="pass_flags",
                            nargs=0, help=_help(desc + " (options: --NAME='k=v ...')"))
    p.set_defaults(pass_flags=None)
    return p


# ----------------------------------------------------------------------------------- listing


def list_passes() -> str:
    """The ``--list-passes`` text: each pass with its anchor and options, then pipelines."""
    lines = ["Passes:"]
    for name, cls in sorted(registry.all_passes().items()):
        anchor = cls.op_name or "any op"
        lines.append(f"  {name}  (runs on {anchor})")
        if cls.description():
            lines.append(f"      {cls.description()}")
        for oname, opt in cls.option_specs().items():
            kind = f"list of {opt.type.__name__}" if isinstance(opt.default, list) else \
                opt.type.__name__
            default = opt.format(opt.default)
            tail = f": {opt.help}" if opt.help else ""
            lines.append(f"      {oname}=<{kind}> (default {default}){tail}")
    pipelines = registry.all_pipelines()
    lines.append("")
    lines.append("Named pipelines:")
    if not pipelines:
        lines.append("  (none)")
    for name, info in sorted(pipelines.items()):
        lines.append(f"  {name}")
        if info.description:
            lines.append(f"      {info.description}")
        if info.text is not None:
            lines.append(f"      = {info.text}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ chunks


@dataclass
class Chunk:
    """One piece of the input; ``first_line`` keeps diagnostics on the file's line numbers."""

    text: str
    first_line: int

    @property
    def padded(self) -> str:
        return "\n" * (self.first_line - 1) + self.text


def split_input(text: str, split: bool) -> list[Chunk]:
    """The input as chunks separated by ``// -----`` lines (one chunk without splitting)."""
    if not split:
        return [Chunk(text, 1)]
    chunks, current, start = [], [], 1
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.strip().startswith(SPLIT_MARKER) and set(line.strip()[2:].strip()) == {"-"}:
            chunks.append(Chunk("\n".join(current), start))
            current, start = [], lineno + 1
        else:
            current.append(line)
    chunks.append(Chunk("\n".join(current), start))
    return chunks


# ------------------------------------------------------------------------------------ driver


@dataclass
class Session:
    """Everything one invocation needs while processing its chunks."""

    args: argparse.Namespace
    pm: PassManager
    filename: str
    stderr: TextIO
    timing: PassTiming | None = None
    failed: bool = False
    graph_index: int = 0

    def report(self, text: str) -> None:
        self.stderr.write(text.rstrip("\n") + "\n")


def _reproducer_extra_flags(args: argparse.Namespace) -> list[str]:
    flags = [f"--load-pass-plugin={Path(p).resolve()}" for p in args.load_pass_plugin]
    if args.allow_unregistered_dialect:
        flags.append("--allow-unregistered-dialect")
    if args.no_verify_each:
        flags.append("--no-verify-each")
    return flags


def _print_ir(op: Any, args: argparse.Namespace) -> str:
    text = print_op(op, generic=args.print_op_generic, debuginfo=args.print_debuginfo,
                    elide_elements_larger_than=args.elide_elementsattrs_if_larger)
    return text if text.endswith("\n") else text + "\n"


def _graphs(module: Any, s: Session, n_chunks: int) -> str:
    graphs = function_graphs(module)
    if s.args.view_op_graph_dir is None:
        return "".join(dot for _, dot in graphs)
    out_dir = Path(s.args.view_op_graph_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"split{s.graph_index}_" if n_chunks > 1 else ""
    for name, dot in graphs:
        (out_dir / f"{prefix}{safe_filename(name)}.dot").write_text(dot)
    return ""


def _process_chunk(chunk: Chunk, s: Session, n_chunks: int) -> str:
    """Parse, run and print one chunk; returns its output text ('' if it failed)."""
    verify_mode = s.args.verify_diagnostics
    errors: list[Diagnostic] = []
    # Outside --verify-diagnostics, warnings and remarks go straight to stderr as emitted.
    with capture_diagnostics() if verify_mode else contextlib.nullcontext([]) as emitted:
        output = _run_chunk(chunk, s, n_chunks, errors)
    if verify_mode:
        expectations = expected_diagnostics.parse_expectations(chunk.text, chunk.first_line)
        problems = expected_diagnostics.check([*emitted, *errors], expectations, s.filename)
        for problem in problems:
            s.report(problem.render())
        if problems:
            s.failed = True
        return output if not errors else ""
    if errors:
        s.failed = True
    return output


def _phase(s: Session, name: str) -> contextlib.AbstractContextManager[Any]:
    return s.timing.phase(name) if s.timing is not None else contextlib.nullcontext()


def _run_chunk(chunk: Chunk, s: Session, n_chunks: int, errors: list[Diagnostic]) -> str:
    args = s.args
    verify_mode = args.verify_diagnostics
    try:
        with _phase(s, "Parser"):
            module = parse_module(chunk.padded, s.filename,
                                  allow_unregistered=args.allow_unregistered_dialect)
        # A replayed reproducer that crashes again needs no new reproducer file.
        if args.crash_reproducer or not args.replaying_reproducer:
            s.pm.enable_crash_reproducer(args.crash_reproducer, _reproducer_extra_flags(args),
                                         source_text=chunk.text)
        s.pm.run(module)
    except PassPipelineError as err:
        errors.append(err.diagnostic)
        if not verify_mode:
            s.report(str(err))
        return ""
    except DiagnosticError as err:
        errors.append(err.diagnostic)
        if not verify_mode:
            s.report(err.diagnostic.render())
        return ""
    except PassCrashError as crash:
        s.failed = True
        if args.show_traceback:
            s.stderr.write("".join(traceback.format_exception(crash.exc)))
        s.report(f"{PROG}: error: {crash.summary()}")
        if crash.reproducer_path is not None:
            s.report(f"{PROG}: reproducer written to {crash.reproducer_path} "
                     f"(replay with: {PROG} --run-reproducer {crash.reproducer_path})")
        return ""
    if args.view_op_graph or args.view_op_graph_dir:
        s.graph_index += 1
        graphs = _graphs(module, s, n_chunks)
        if args.view_op_graph_dir is None:
            return graphs
    with _phase(s, "Output"):
        return _print_ir(module, args)


def _build_pipeline(args: argparse.Namespace) -> PassManager:
    if args.pass_pipeline is not None and args.pass_flags:
        raise UsageError("use either --pass-pipeline or individual pass flags, not both")
    if args.pass_pipeline is not None:
        pm = parse_pipeline(args.pass_pipeline)
    else:
        parts = []
        for name, options in args.pass_flags or []:
            opts = options.strip()
            if opts.startswith("{") and opts.endswith("}"):
                opts = opts[1:-1]
            parts.append(f"{name}{{{opts}}}" if opts else name)
        pm = parse_pipeline(",".join(parts))
    pm.verify_each = not args.no_verify_each
    return pm


def _ir_printing(args: argparse.Namespace) -> IRPrintingOptions:
    def names(text: str) -> set[str]:
        return {n.strip() for n in text.split(",") if n.strip()}

    return IRPrintingOptions(
        before=names(args.print_ir_before), after=names(args.print_ir_after),
        before_all=args.print_ir_before_all, after_all=args.print_ir_after_all,
        after_change=args.print_ir_after_change, after_failure=args.print_ir_after_failure,
        module_scope=args.print_ir_module_scope,
        tree_dir=Path(args.print_ir_tree_dir) if args.print_ir_tree_dir else None,
        generic=args.print_op_generic, debuginfo=args.print_debuginfo,
        elide_elements_larger_than=args.elide_elementsattrs_if_larger)


def _check_pass_names(names: set[str], pm: PassManager, flag: str) -> None:
    known = {p.name for p in pm.all_passes()}
    for name in sorted(names - known):
        try:
            registry.get_pass(name)
        except registry.UnknownNameError as err:
            raise UsageError(f"{flag}: {err}") from None


def _expand_reproducer(argv: list[str]) -> list[str]:
    """Replace ``--run-reproducer FILE`` by the file's recorded flags and the file itself."""
    for i, arg in enumerate(argv):
        if arg == "--run-reproducer" or arg.startswith("--run-reproducer="):
            if "=" in arg:
                path, rest = arg.split("=", 1)[1], argv[:i] + argv[i + 1:]
            elif i + 1 < len(argv):
                path, rest = argv[i + 1], argv[:i] + argv[i + 2:]
            else:
                raise UsageError("--run-reproducer needs a file")
            try:
                text = Path(path).read_text()
            except OSError as err:
                raise UsageError(f"cannot read reproducer '{path}': {err.strerror}") from None
            try:
                flags = reproducer_flags(text)
            except ValueError as err:
                raise UsageError(f"{path}: {err}") from None
            return [*flags, path, *rest, "--replaying-reproducer"]
    return argv


def _preload_plugins(argv: list[str]) -> None:
    """Load ``--load-pass-plugin`` files before building the parser, so their passes get
    flags and their names resolve in pipelines."""
    for i, arg in enumerate(argv):
        path = None
        if arg.startswith("--load-pass-plugin="):
            path = arg.split("=", 1)[1]
        elif arg == "--load-pass-plugin" and i + 1 < len(argv):
            path = argv[i + 1]
        if path is not None:
            load_pass_plugin(path)


def _extract_pass_flags(argv: list[str], parser: argparse.ArgumentParser
                        ) -> tuple[list[str], list[tuple[str, str]]]:
    """Split ``--<pass>`` / ``--<pass>=OPTIONS`` flags (in order) from the other arguments."""
    builtin = {s for action in parser._actions for s in action.option_strings
               if not isinstance(action, _PassFlag)}
    names = set(registry.all_passes()) | set(registry.all_pipelines())
    rest, flags = [], []
    for i, arg in enumerate(argv):
        if arg == "--":
            rest.extend(argv[i:])
            break
        name, _, options = arg[2:].partition("=")
        if arg.startswith("--") and f"--{name}" not in builtin and name in names:
            flags.append((name, options))
        else:
            rest.append(arg)
    return rest, flags


def _read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read input '{path}': {reason}") from None


def _run(argv: list[str], stdout: TextIO, stderr: TextIO) -> int:
    argv = _expand_reproducer(argv)
    _preload_plugins(argv)
    load_entry_point_plugins()
    parser = build_arg_parser()
    argv, pass_flags = _extract_pass_flags(argv, parser)
    args = parser.parse_args(argv)
    args.pass_flags = pass_flags
    if args.list_passes:
        stdout.write(list_passes())
        return 0
    pm = _build_pipeline(args)
    if args.dump_pass_pipeline:
        stderr.write(pm.pipeline_text() + "\n")
    printing = _ir_printing(args)
    _check_pass_names(set(printing.before), pm, "--print-ir-before")
    _check_pass_names(set(printing.after), pm, "--print-ir-after")
    if printing.enabled:
        pm.enable_ir_printing(printing, stream=stderr)
    session = Session(args, pm, "<stdin>" if args.input == "-" else args.input, stderr)
    if args.timing:
        session.timing = pm.enable_timing()
    text = _read_input(args.input)
    chunks = split_input(text, args.split_input_file)
    outputs = [_process_chunk(chunk, session, len(chunks)) for chunk in chunks]
    result = (SPLIT_MARKER + "\n").join(outputs)
    if args.output == "-":
        stdout.write(result)
        stdout.flush()  # the IR before any report on stderr, also in a terminal
    elif not session.failed:
        Path(args.output).write_text(result)
    if args.pass_statistics:
        stderr.write(pm.statistics_report(args.pass_statistics_display))
    if session.timing is not None:
        stderr.write(session.timing.report(args.timing_display))
    return 1 if session.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``avalon-opt`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout, stderr = sys.stdout, sys.stderr
    show_traceback = "--show-traceback" in argv
    try:
        return _run(argv, stdout, stderr)
    except UsageError as err:
        stderr.write(f"{PROG}: error: {err}\n")
    except (PipelineParseError, DiagnosticError) as err:
        stderr.write(str(err).rstrip("\n") + "\n")
    except PluginError as err:
        stderr.write(f"{PROG}: error: {err}\n")
        if show_traceback and err.__cause__ is not None:
            stderr.write("".join(traceback.format_exception(err.__cause__)))
    except registry.RegistrationError as err:
        stderr.write(f"{PROG}: error: {err}\n")
    except BrokenPipeError:
        return 1
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    except Exception as err:  # a bug in Avalon itself, outside any pass
        if show_traceback:
            stderr.write(traceback.format_exc())
        stderr.write(f"{PROG}: internal error: {type(err).__name__}: {err}"
                     + ("" if show_traceback else " (rerun with --show-traceback)") + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
