"""avalon-opt in-process: exit codes, stdin/-o, chunks, verify-diagnostics, plugins, crashes,
graphs, and every command shown in the docs (with the output shown under it)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from avalon.passes import registry
from avalon.tools import opt
from avalon.tools.expected_diagnostics import parse_expectations
from avalon.tools.graph import function_graphs, safe_filename
from tests.support.docs import code_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / name for name in ("avalon-opt.md", "ir-dumping.md", "pass-authoring.md")]
EXAMPLE_PLUGIN = ROOT / "examples" / "plugins" / "my_passes.py"
TEST_PLUGIN = ROOT / "tests" / "opt" / "plugins" / "failing_passes.py"

SIMPLE = """func.func @f(%x: i32) -> i32 {
  %c = arith.constant 2 : i32
  %a = arith.muli %x, %c : i32
  %b = arith.muli %x, %c : i32
  %s = arith.addi %a, %b : i32
  return %s : i32
}
"""


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(*argv: str, stdin: str | None = None, monkeypatch=None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = opt.main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def clean_registry():
    saved_p, saved_l = dict(registry._PASSES), dict(registry._PIPELINES)
    yield
    registry._PASSES.clear()
    registry._PASSES.update(saved_p)
    registry._PIPELINES.clear()
    registry._PIPELINES.update(saved_l)


@pytest.fixture
def simple(tmp_path) -> Path:
    path = tmp_path / "simple.mlir"
    path.write_text(SIMPLE)
    return path


# ------------------------------------------------------------------------ basic behaviour


def test_stdin_and_output_file(tmp_path, monkeypatch):
    res = run("-", "--cse", stdin=SIMPLE, monkeypatch=monkeypatch)
    assert res.code == 0 and res.err == ""
    assert res.out.count("arith.muli") == 1
    out_file = tmp_path / "out.mlir"
    res = run("-", "-o", str(out_file), stdin=SIMPLE, monkeypatch=monkeypatch)
    assert res.code == 0 and res.out == ""
    assert out_file.read_text().count("arith.muli") == 2


def test_output_file_is_not_written_on_failure(tmp_path, simple):
    out_file = tmp_path / "out.mlir"
    res = run(str(simple), "--pass-pipeline=nope", "-o", str(out_file))
    assert res.code == 1 and not out_file.exists()


def test_missing_input_and_bad_flags_exit_1(tmp_path):
    res = run(str(tmp_path / "absent.mlir"))
    assert res.code == 1
    assert res.err == f"avalon-opt: error: cannot read input '{tmp_path / 'absent.mlir'}': " \
                      "No such file or directory\n"
    res = run("--no-such-flag")
    assert res.code == 1 and "unrecognized arguments: --no-such-flag" in res.err
    res = run("--timing-display=pie")
    assert res.code == 1 and "invalid choice: 'pie'" in res.err


def test_help_exits_0():
    res = run("--help")
    assert res.code == 0 and "--pass-pipeline" in res.out and "--cse" in res.out


def test_parse_error_is_located_without_traceback(tmp_path):
    path = tmp_path / "bad.mlir"
    path.write_text("func.func @f() {\n  %x = arith.addi : i32\n}\n")
    res = run(str(path))
    assert res.code == 1 and res.out == ""
    assert res.err.startswith(f"{path}:2:")
    assert "Traceback" not in res.err


def test_list_passes_shows_options_and_pipelines():
    registry.register_pipeline("doc-cleanup", "canonicalize,cse", "clean up")
    res = run("--list-passes")
    assert res.code == 0
    lines = res.out.splitlines()
    i = lines.index("  canonicalize  (runs on any op)")
    assert lines[i + 2].startswith("      max-iterations=<int> (default 10)")
    assert "  doc-cleanup" in lines and "      = canonicalize,cse" in lines


def test_pass_flags_keep_command_line_order(simple):
    res = run(str(simple), "--cse", "--canonicalize={max-iterations=2}", "--dce",
              "--dump-pass-pipeline", "-o", "/dev/null")
    assert res.code == 0
    assert res.err == "builtin.module(cse,canonicalize{max-iterations=2},dce)\n"


def test_split_input_file_output_and_line_numbers(tmp_path):
    path = tmp_path / "split.mlir"
    path.write_text("func.func @a() {\n  return\n}\n// -----\n"
                    "func.func @b() {\n  return %x : i32\n}\n// -----\nfunc.func @c() {\n"
                    "  return\n}\n")
    res = run(str(path), "--split-input-file")
    assert res.code == 1
    chunks = res.out.split("// -----\n")
    assert len(chunks) == 3 and "@a" in chunks[0] and chunks[1] == "" and "@c" in chunks[2]
    assert res.err.startswith(f"{path}:6:10: error: use of undeclared SSA value name '%x'")
    # Without splitting, the marker is just a comment.
    assert opt.split_input(path.read_text(), False)[0].first_line == 1


def test_split_input_chunks_keep_first_line():
    chunks = opt.split_input("a\n// -----\nb\nc\n// -----\nd", True)
    assert [(c.text, c.first_line) for c in chunks] == [("a", 1), ("b\nc", 3), ("d", 6)]
    assert chunks[1].padded == "\n\nb\nc"


# ---------------------------------------------------------------------- verify-diagnostics


def test_expectation_targets():
    text = ("// expected-error @+2 {{two below}}\n"
            "x // expected-warning {{same line}}\n"
            "y\n"
            "// expected-note @above {{above}}\n"
            "// expected-remark @below {{below}}\n"
            "// expected-error @below {{skips annotations}}\n"
            "z\n"
            "// expected-error @-7 {{relative up}}\n")
    got = [(e.severity.value, e.message, e.line) for e in parse_expectations(text, 10)]
    assert got == [("error", "two below", 12), ("warning", "same line", 11), ("note", "above", 12),
                   ("remark", "below", 16), ("error", "skips annotations", 16),
                   ("error", "relative up", 10)]


def test_verify_diagnostics_matches_and_mismatches(tmp_path):
    good = tmp_path / "good.mlir"
    good.write_text("func.func @f(%x: i32) -> i64 {\n"
                    "  // expected-error @+1 {{doesn't match function result type}}\n"
                    "  return %x : i32\n}\n")
    res = run(str(good), "--verify-diagnostics")
    assert res.code == 0 and res.err == "" and res.out == ""
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @f(%x: i32) -> i64 {\n"
                   "  // expected-error @+2 {{doesn't match function result type}}\n"
                   "  return %x : i32\n}\n")
    res = run(str(bad), "--verify-diagnostics")
    assert res.code == 1
    assert f"{bad}:3:3: error: unexpected error: 'func.return' op type of return" in res.err
    assert (f"{bad}:2:6: error: expected error \"doesn't match function result type\" was not "
            "produced") in res.err


def test_verify_diagnostics_with_notes(tmp_path):
    path = tmp_path / "notes.mlir"
    path.write_text(
        "func.func @f(%x: i32) -> i32 {\n"
        "  // expected-error @+1 {{operand #0 does not dominate this use}}\n"
        "  %a = arith.addi %b, %x : i32\n"
        "  // expected-note @+1 {{operand defined here}}\n"
        "  %b = arith.addi %x, %x : i32\n"
        "  return %a : i32\n}\n")
    res = run(str(path), "--verify-diagnostics")
    assert res.code == 0, res.err


# -------------------------------------------------------------------------------- plugins


def test_plugin_flag_forms(simple):
    for argv in (["--load-pass-plugin", str(EXAMPLE_PLUGIN)],
                 [f"--load-pass-plugin={EXAMPLE_PLUGIN}"]):
        res = run(str(simple), *argv, "--count-ops", "-o", "/dev/null")
        assert res.code == 0
        assert "remark: 'func.func' op 4 arith ops" in res.err


def test_broken_plugin_is_an_error_not_a_traceback(tmp_path, simple):
    plugin = tmp_path / "broken.py"
    plugin.write_text("import not_a_module_anywhere\n")
    res = run(str(simple), f"--load-pass-plugin={plugin}")
    assert res.code == 1
    assert res.err == (f"avalon-opt: error: pass plugin '{plugin}' raised ModuleNotFoundError "
                       "while loading: No module named 'not_a_module_anywhere'\n")
    res = run(str(simple), f"--load-pass-plugin={plugin}", "--show-traceback")
    assert "Traceback" in res.err


# ------------------------------------------------------------------------ crashes and bugs


def test_crash_writes_a_replayable_reproducer(tmp_path, simple):
    repro = tmp_path / "r.mlir"
    res = run(str(simple), f"--load-pass-plugin={TEST_PLUGIN}", "--test-crash",
              f"--crash-reproducer={repro}")
    assert res.code == 1 and res.out == ""
    assert res.err.splitlines() == [
        "avalon-opt: error: pass 'test-crash' crashed on 'builtin.module' op: "
        "KeyError: 'no such attribute'",
        f"avalon-opt: reproducer written to {repro} "
        f"(replay with: avalon-opt --run-reproducer {repro})"]
    assert repro.read_text().endswith(SIMPLE)
    replay = run("--run-reproducer", str(repro))
    assert replay.code == 1 and "crashed on 'builtin.module' op: KeyError" in replay.err
    assert "reproducer written" not in replay.err  # replaying writes no new reproducer


def test_crash_without_path_uses_a_temporary_file(simple):
    res = run(str(simple), f"--load-pass-plugin={TEST_PLUGIN}", "--test-crash")
    assert res.code == 1
    path = Path(re.search(r"reproducer written to (\S+)", res.err).group(1))
    try:
        assert path.name.startswith("avalon-reproducer-") and path.suffix == ".mlir"
        assert "// configuration: '--pass-pipeline=builtin.module(test-crash)'" in \
            path.read_text()
    finally:
        path.unlink()


def test_run_reproducer_errors(tmp_path):
    res = run("--run-reproducer", str(tmp_path / "none.mlir"))
    assert res.code == 1 and "cannot read reproducer" in res.err
    plain = tmp_path / "plain.mlir"
    plain.write_text("module {}\n")
    res = run(f"--run-reproducer={plain}")
    assert res.code == 1 and "not a reproducer" in res.err


def test_internal_error_is_one_line_unless_traceback_requested(simple, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("printer exploded")

    monkeypatch.setattr(opt, "_print_ir", broken)
    res = run(str(simple))
    assert res.code == 1
    assert res.err == ("avalon-opt: internal error: RuntimeError: printer exploded "
                       "(rerun with --show-traceback)\n")
    res = run(str(simple), "--show-traceback")
    assert res.code == 1 and "Traceback (most recent call last)" in res.err


# --------------------------------------------------------------------------------- graphs


def check_dot(text: str) -> None:
    """A structural check of DOT output: balanced braces, edges between declared nodes."""
    assert text.startswith("digraph ")
    assert text.count("{") == text.count("}")
    declared = set(re.findall(r"^\s*(\w+) \[label=", text, re.M))
    for src, dst in re.findall(r"^\s*(\w+) -> (\w+)", text, re.M):
        assert src in declared and dst in declared, (src, dst)


def test_view_op_graph_regions_become_clusters(tmp_path):
    path = tmp_path / "g.mlir"
    path.write_text(
        "func.func @outer(%x: f32) -> f32 {\n"
        '  %r = "test.region"(%x) ({\n'
        "  ^bb0(%a: f32):\n"
        "    %y = arith.negf %a : f32\n"
        '    "test.yield"(%y, %x) : (f32, f32) -> ()\n'
        "  }) : (f32) -> f32\n"
        "  return %r : f32\n}\n")
    res = run(str(path), "--allow-unregistered-dialect", "--view-op-graph")
    assert res.code == 0
    check_dot(res.out)
    assert re.search(r'subgraph cluster_op\d+ \{\n    label="test.region"', res.out)
    assert 'arg0 : f32' in res.out and 'label="arith.negf\\n: f32"' in res.out
    # The yield uses a value from outside the region: an edge crosses the cluster border.
    assert re.search(r"a0 -> op\d+ \[label=\"1\"\]", res.out)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_dot_output_is_accepted_by_graphviz():
    res = run(str(ROOT / "examples" / "mlp.mlir"), "--view-op-graph")
    proc = subprocess.run(["dot", "-Tsvg"], input=res.out, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_graph_helpers():
    from avalon.ir.parser import parse_module

    module = parse_module(SIMPLE)
    (name, dot), = function_graphs(module)
    assert name == "f"
    check_dot(dot)
    assert safe_filename("a/b c") == "a_b_c" and safe_filename("..") == "graph"
    empty = parse_module("")
    assert function_graphs(empty)[0][0] == "builtin.module"


# ------------------------------------------------------------------------------ the docs


@dataclass
class DocBlock:
    """A bash block of a doc: its ``avalon-opt`` commands (argv, expected exit status) and the
    ``output`` block shown under it, if any."""

    doc: str
    line: int
    commands: list[tuple[list[str], int]]
    expected: str | None


def fenced_blocks(text: str) -> list[tuple[str, str, int]]:
    """(info string, body, line of the opening fence) of every fenced block."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if m:
            start, body = i, []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append((m.group(1), "\n".join(body), start + 1))
        i += 1
    return blocks


def doc_blocks(path: Path) -> list[DocBlock]:
    """The bash blocks of a doc that run ``avalon-opt``."""
    blocks = fenced_blocks(path.read_text())
    found = []
    for k, (info, body, line) in enumerate(blocks):
        if info != "bash":
            continue
        expected = None
        if k + 1 < len(blocks) and blocks[k + 1][0] == "output":
            expected = blocks[k + 1][1] + "\n"
        commands = []
        for command in body.replace("\\\n", " ").splitlines():
            if not command.startswith("avalon-opt"):
                continue
            status = 0
            m = re.search(r"#\s*exits with status (\d+)\s*$", command)
            if m:
                status, command = int(m.group(1)), command[:m.start()]
            commands.append((shlex.split(command)[1:], status))
        assert commands, f"{path.name}:{line}: a bash block without avalon-opt commands"
        found.append(DocBlock(path.name, line, commands, expected))
    return found


def normalize(text: str) -> str:
    """Timing numbers differ between runs, and the list of registered passes grows as passes
    are added; everything else must match exactly."""
    text = re.sub(r"; registered: .*$", "; registered: ...", text, flags=re.M)
    text = re.sub(r"\d+\.\d{4}", "N.NNNN", text)
    text = re.sub(r"\(\s*\d+\.\d%\)", "(NN.N%)", text)
    lines = [line.rstrip() for line in text.rstrip().splitlines()]
    # A list timing report is sorted by time, so its rows come in any order.
    rows = [i for i, line in enumerate(lines) if "(NN.N%)  " in line]
    for i, row in zip(rows, sorted(lines[i] for i in rows)):
        lines[i] = row
    return "\n".join(lines)


def run_doc_block(block: DocBlock, workdir: Path) -> list[str]:
    """Run a block's commands in ``workdir`` (a copy of examples/ and the test plugins), with
    stdout and stderr merged in the order they were written, as a terminal shows them.
    Returns the problems found."""
    merged = io.StringIO()
    problems = []
    with contextlib.chdir(workdir), contextlib.redirect_stdout(merged), \
            contextlib.redirect_stderr(merged):
        for argv, status in block.commands:
            code = opt.main(argv)
            if code != status:
                problems.append(f"{block.doc}:{block.line}: exit status {code}, expected "
                                f"{status}: avalon-opt {' '.join(argv)}")
    if block.expected is not None and normalize(merged.getvalue()) != normalize(block.expected):
        problems.append(f"{block.doc}:{block.line}: output differs:\n{merged.getvalue()}")
    return problems


def make_workdir(tmp: Path) -> Path:
    shutil.copytree(ROOT / "examples", tmp / "examples")
    shutil.copytree(ROOT / "tests" / "opt" / "plugins", tmp / "tests" / "opt" / "plugins")
    return tmp


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_doc_commands_and_outputs(doc: Path, tmp_path: Path):
    """Every ``avalon-opt`` command in the doc runs (in order, sharing files) with the exit
    status and output the doc shows."""
    blocks = doc_blocks(doc)
    assert blocks, f"{doc.name} shows no avalon-opt command"
    workdir = make_workdir(tmp_path)
    problems = [p for block in blocks for p in run_doc_block(block, workdir)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("doc", [d for d in DOCS if code_blocks(d)], ids=lambda d: d.name)
def test_doc_python_blocks(doc: Path, tmp_path: Path, capsys):
    """Python in the docs is either an excerpt of the worked example plugin (tested through
    it) or runs as shown, from the repository root."""
    example = EXAMPLE_PLUGIN.read_text()
    workdir = make_workdir(tmp_path)
    for line, code in code_blocks(doc):
        if code in example:
            continue
        with contextlib.chdir(workdir):
            exec(compile(code, f"{doc.name}:{line}", "exec"), {"__name__": "doc_example"})
    capsys.readouterr()
