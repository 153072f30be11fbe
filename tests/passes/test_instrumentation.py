"""Instrumentation: IR dumps around passes, change detection, tree dumps, timing, statistics."""

from __future__ import annotations

import io
import itertools

import pytest

from avalon.ir.attributes import StringAttr
from avalon.ir.core import Block, Operation
from avalon.ir.dialects.builtin import module
from avalon.ir.types import IntegerType
from avalon.passes import Pass, PassManager, PassPipelineError
from avalon.passes.instrumentation import (
    IRPrinter,
    IRPrintingOptions,
    PassTiming,
    fingerprint,
    pass_display_name,
    statistics_report,
)

I32 = IntegerType(32)


def make_func(name: str) -> Operation:
    f = Operation.create("test.func", regions=1, attributes={"sym_name": StringAttr(name)})
    body = f.regions[0].add_block(Block())
    c = Operation.create("test.c", result_types=[I32])
    body.append(c)
    body.append(Operation.create("test.use", [c.results[0]]))
    return f


def make_module(*names: str):
    return module([make_func(n) for n in names])


class NoOpPass(Pass):
    name = "noop"
    op_name = "test.func"

    def run(self, op: Operation) -> None:
        self.count("seen").add(1)


class TagPass(Pass):
    """Marks each function with an attribute: a change the printer must notice."""

    name = "tag"
    op_name = "test.func"

    def run(self, op: Operation) -> None:
        op.set_attr("tagged", StringAttr("yes"))
        self.count("tagged", "functions tagged").add(1)


class FailPass(Pass):
    name = "fail"
    op_name = "test.func"

    def run(self, op: Operation) -> None:
        op.set_attr("half", StringAttr("done"))
        raise self.fail("gave up", op)


def run_printing(pm: PassManager, m, **flags) -> str:
    out = io.StringIO()
    pm.enable_ir_printing(stream=out, **flags)
    pm.run(m)
    return out.getvalue()


def headers(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("// -----//")]


# ------------------------------------------------------------------------------ fingerprint


def test_fingerprint_changes_with_attributes_and_structure():
    f = make_func("a")
    before = fingerprint(f)
    assert fingerprint(f) == before
    f.set_attr("x", StringAttr("1"))
    after_attr = fingerprint(f)
    assert after_attr != before
    f.regions[0].blocks[0].last_op.erase()
    assert fingerprint(f) != after_attr


def test_display_name_drops_pass_suffix():
    assert pass_display_name(TagPass()) == "Tag"
    assert pass_display_name(NoOpPass()) == "NoOp"


# --------------------------------------------------------------------------------- timing


def fake_clock():
    counter = itertools.count()
    return lambda: float(next(counter))


def test_timing_tree_and_list_reports():
    pm = PassManager()
    pm.add(NoOpPass()).add(TagPass())
    timing = PassTiming(clock=fake_clock())
    pm.add_instrumentation(timing)
    with timing.phase("Parser"):
        m = make_module("a", "b")
    pm.run(m)
    tree = timing.report("tree")
    rows = [line.strip() for line in tree.splitlines() if "%)" in line]
    names = [row.split(")", 1)[1].strip() for row in rows]
    assert names == ["Parser", "'test.func' Pipeline", "NoOp (noop)", "(verify)",
                     "Tag (tag)", "(verify)", "Total"]
    assert "Execution time report" in tree and "Total Execution Time:" in tree
    listing = timing.report("list")
    list_names = [line.split(")", 1)[1].strip() for line in listing.splitlines() if "%)" in line]
    assert set(list_names) == {"Parser", "NoOp (noop)", "Tag (tag)", "Verifier", "Total"}
    assert list_names[-1] == "Total"
    # The pipeline node covers both functions: two runs of each pass were timed.
    pipeline = next(iter(timing.root.children.values().__iter__()))
    assert pipeline.name == "Parser" and pipeline.count == 1
    nested = list(timing.root.children.values())[1]
    assert nested.count == 2 and all(c.count == 2 for c in nested.children.values())
    with pytest.raises(ValueError, match="list' or 'tree"):
        timing.report("pie")


def test_real_clock_timing_adds_up():
    pm = PassManager()
    pm.add(TagPass())
    timing = pm.enable_timing()
    pm.run(make_module("a"))
    assert timing.total > 0
    assert timing.total == pytest.approx(sum(n.elapsed for n in timing.root.children.values()))


# ----------------------------------------------------------------------------- statistics


def test_statistics_report_by_pipeline_and_merged():
    pm = PassManager()
    pm.add(TagPass())
    pm.nest("test.func").add(TagPass()).add(NoOpPass())
    pm.run(make_module("a", "b", "c"))
    text = statistics_report(pm)
    assert "Pass statistics report" in text
    lines = text.splitlines()[3:]
    assert lines == [
        "'test.func' Pipeline", "  Tag (tag)", "    (S) 3 tagged - functions tagged",
        "'test.func' Pipeline", "  Tag (tag)", "    (S) 3 tagged - functions tagged",
        "  NoOp (noop)", "    (S) 3 seen"]
    merged = statistics_report(pm, "list").splitlines()[3:]
    assert merged == ["Tag (tag)", "  (S) 6 tagged - functions tagged", "NoOp (noop)",
                      "  (S) 3 seen"]
    with pytest.raises(ValueError, match="pipeline' or 'list"):
        statistics_report(pm, "table")


# ------------------------------------------------------------------------------- IR dumps


def test_print_before_and_after_selected_passes():
    pm = PassManager()
    pm.add(TagPass()).add(NoOpPass())
    text = run_printing(pm, make_module("a"), before=["tag"], after=["noop"])
    assert headers(text) == ["// -----// IR Dump Before Tag (tag) //----- //",
                             "// -----// IR Dump After NoOp (noop) //----- //"]
    before, after = text.split("// -----// IR Dump After")
    assert "tagged" not in before and 'tagged = "yes"' in after
    assert before.splitlines()[1].startswith('"test.func"()')  # op scope: just the function


def test_print_all_covers_every_pass_run_on_every_op():
    pm = PassManager()
    pm.add(TagPass()).add(NoOpPass())
    text = run_printing(pm, make_module("a", "b"), before_all=True, after_all=True)
    assert len(headers(text)) == 8
    assert text.count('sym_name = "b"') == 4


def test_print_after_change_skips_passes_that_changed_nothing():
    pm = PassManager()
    pm.add(NoOpPass()).add(TagPass()).add(NoOpPass()).add(TagPass())
    text = run_printing(pm, make_module("a"), after_change=True)
    # The second Tag sets the same attribute value again: no change, no dump.
    assert headers(text) == ["// -----// IR Dump After Tag (tag) //----- //"]


def test_print_after_change_restricted_to_named_passes():
    pm = PassManager()
    pm.add(TagPass()).add(NoOpPass())
    assert run_printing(pm, make_module("a"), after=["noop"], after_change=True) == ""


def test_print_after_failure_shows_the_ir_the_failing_pass_left():
    pm = PassManager()
    pm.add(TagPass()).add(FailPass())
    out = io.StringIO()
    pm.enable_ir_printing(stream=out, after_failure=True)
    with pytest.raises(PassPipelineError):
        pm.run(make_module("a"))
    text = out.getvalue()
    assert headers(text) == ["// -----// IR Dump After Fail Failed (fail) //----- //"]
    assert 'half = "done"' in text


def test_module_scope_prints_the_root_and_names_the_op():
    pm = PassManager()
    pm.add(TagPass())
    text = run_printing(pm, make_module("a"), after_all=True, module_scope=True)
    assert headers(text) == [
        "// -----// IR Dump After Tag (tag) ('test.func' operation: @a) //----- //"]
    assert text.splitlines()[1] == "module {"


def test_tree_dir_writes_one_file_per_dump(tmp_path):
    pm = PassManager()
    pm.add(TagPass()).add(NoOpPass())
    m = make_module("a", "b")
    options = IRPrintingOptions(after_all=True, tree_dir=tmp_path)
    printer = pm.enable_ir_printing(options)
    assert isinstance(printer, IRPrinter)
    pm.run(m)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.mlir"))
    assert files == [
        "builtin_module_no-symbol-name/test_func_a/0_0_tag.mlir",
        "builtin_module_no-symbol-name/test_func_a/0_1_noop.mlir",
        "builtin_module_no-symbol-name/test_func_b/0_0_tag.mlir",
        "builtin_module_no-symbol-name/test_func_b/0_1_noop.mlir",
    ]
    first = (tmp_path / files[0]).read_text()
    assert first.startswith("// -----// IR Dump After Tag (tag) //----- //\n")
    assert 'tagged = "yes"' in first
    assert printer.files_written[0] == tmp_path / files[0]


def test_printing_options_enabled_flag():
    assert not IRPrintingOptions().enabled
    assert IRPrintingOptions(after=["cse"]).enabled
    assert IRPrintingOptions(after_failure=True).enabled
