"""Pass manager: nesting on op names, verification after each pass, failures and crashes."""

from __future__ import annotations

import pytest

from avalon.ir.attributes import StringAttr
from avalon.ir.core import Block, Operation
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects.builtin import module
from avalon.ir.location import FileLineColLoc
from avalon.ir.types import IntegerType
from avalon.passes import (
    OpPassManager,
    Pass,
    PassCrashError,
    PassManager,
    PassPipelineError,
)
from avalon.passes.instrumentation import PassInstrumentation
from avalon.passes.manager import reproducer_flags

I32 = IntegerType(32)


def make_func(name: str, nested: bool = False) -> Operation:
    """``test.func @name { %c = test.c; test.use %c }`` (unregistered, so SSA-checked)."""
    f = Operation.create("test.func", regions=1, attributes={"sym_name": StringAttr(name)},
                         location=FileLineColLoc("in.mlir", 3, 1))
    body = f.regions[0].add_block(Block())
    c = Operation.create("test.c", result_types=[I32], location=FileLineColLoc("in.mlir", 4, 3))
    body.append(c)
    body.append(Operation.create("test.use", [c.results[0]],
                                 location=FileLineColLoc("in.mlir", 5, 3)))
    if nested:
        body.append(make_func(name + "_inner"))
    return f


def names_of(op: Operation) -> str:
    return op.attributes["sym_name"].value


class Record(Pass):
    """Appends the symbol of each op it runs on to a shared log."""

    name = "record"
    op_name = "test.func"
    log: list[str] = []

    def run(self, op: Operation) -> None:
        self.log.append(names_of(op))
        self.count("visited", "ops visited").add(1)


class RecordAny(Pass):
    name = "record-any"
    log: list[str] = []

    def run(self, op: Operation) -> None:
        self.log.append(op.name)


class Swap(Pass):
    """Moves the use before its definition: invalid IR the verifier must reject."""

    name = "swap"
    op_name = "test.func"

    def run(self, op: Operation) -> None:
        first = op.regions[0].blocks[0].first_op
        first.move_after(first.next_op)


class Fail(Pass):
    name = "fail"
    op_name = "test.func"

    def run(self, op: Operation) -> None:
        raise self.fail("cannot handle this function", op)


class Crash(Pass):
    name = "crash"

    def run(self, op: Operation) -> None:
        raise ZeroDivisionError("boom")


@pytest.fixture(autouse=True)
def clear_logs():
    Record.log.clear()
    RecordAny.log.clear()


def test_nested_manager_runs_on_each_directly_nested_op_in_order():
    m = module([make_func("a", nested=True), make_func("b")])
    pm = PassManager()
    fpm = pm.nest("test.func")
    fpm.add(Record()).add(Record())
    pm.run(m)
    # The whole nested list runs on one op before the next; the inner func is not visited.
    assert Record.log == ["a", "a", "b", "b"]


def test_pass_anchored_elsewhere_is_nested_implicitly_and_printed():
    pm = PassManager()
    pm.add(Record()).add(Record()).add(RecordAny()).add(Record())
    assert pm.pipeline_text() == (
        "builtin.module(test.func(record,record),record-any,test.func(record))")
    assert str(pm) == pm.pipeline_text()
    explicit = PassManager()
    explicit.nest("test.func").add(Record())
    explicit.add(Record())  # does not join an explicitly nested manager
    assert str(explicit) == "builtin.module(test.func(record),test.func(record))"


def test_op_agnostic_pass_runs_on_the_anchor_op():
    m = module([make_func("a")])
    pm = PassManager()
    pm.add(RecordAny())
    pm.nest("test.func").add(RecordAny())
    pm.run(m)
    assert RecordAny.log == ["builtin.module", "test.func"]


def test_any_anchor_matches_isolated_ops_and_filters_op_specific_passes():
    m = module([make_func("a")])
    inner = module([make_func("x")], name="inner")
    m.body.append(inner)
    pm = PassManager()
    anyp = pm.nest("any")
    anyp.add(RecordAny())
    anyp.add(Record())  # only runs where the op is a test.func (never: funcs are not isolated)
    pm.run(m)
    assert RecordAny.log == ["builtin.module"]
    assert Record.log == []


def test_wrong_root_op_is_an_error():
    f = make_func("a")
    with pytest.raises(DiagnosticError, match=r"can't run 'builtin\.module' pass manager"):
        PassManager().run(f)
    pm = PassManager("test.func")
    pm.add(Record())
    pm.run(f)
    assert Record.log == ["a"]


def test_verify_each_reports_the_pass_that_broke_the_ir():
    m = module([make_func("a")])
    pm = PassManager()
    pm.add(Swap())
    with pytest.raises(PassPipelineError) as info:
        pm.run(m)
    err = info.value
    assert err.kind == "verify" and err.pass_name == "swap"
    assert "does not dominate" in err.diagnostic.message
    assert "IR failed to verify after pass 'swap'" in str(err)
    assert err.diagnostic.location.file_line_col().filename == "in.mlir"


def test_verify_each_can_be_turned_off():
    m = module([make_func("a")])
    pm = PassManager(verify_each=False)
    pm.add(Swap()).add(Record())
    pm.run(m)  # no verification, so the broken IR flows on
    assert Record.log == ["a"]


def test_pass_failure_stops_the_pipeline_with_a_located_error():
    m = module([make_func("a"), make_func("b")])
    pm = PassManager()
    pm.add(Fail()).add(Record())
    with pytest.raises(PassPipelineError) as info:
        pm.run(m)
    err = info.value
    assert err.kind == "pass" and err.pass_name == "fail" and names_of(err.op) == "a"
    rendered = str(err)
    assert rendered.startswith("in.mlir:3:1: error: cannot handle this function")
    assert "pass 'fail' failed on 'test.func' op" in rendered
    assert Record.log == []


def test_crash_becomes_pass_crash_error_with_reproducer(tmp_path):
    m = module([make_func("a")])
    pm = PassManager()
    pm.add(Record()).add(Crash())
    path = tmp_path / "repro.mlir"
    pm.enable_crash_reproducer(path, ["--allow-unregistered-dialect"], source_text="IR TEXT\n")
    with pytest.raises(PassCrashError) as info:
        pm.run(m)
    crash = info.value
    assert crash.pass_name == "crash" and isinstance(crash.exc, ZeroDivisionError)
    assert crash.summary() == (
        "pass 'crash' crashed on 'builtin.module' op: ZeroDivisionError: boom")
    assert crash.reproducer_path == path
    text = path.read_text()
    assert text.endswith("IR TEXT\n")
    assert reproducer_flags(text) == [
        "--pass-pipeline=builtin.module(test.func(record),crash)",
        "--allow-unregistered-dialect"]


def test_reproducer_flags_rejects_other_files():
    with pytest.raises(ValueError, match="configuration"):
        reproducer_flags("module {}\n")


def test_instrumentation_hooks_nest_like_brackets():
    events: list[str] = []

    class Trace(PassInstrumentation):
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def run_before_pipeline(self, pm, op):
            events.append(f"{self.tag}+pm:{pm.op_name}")

        def run_after_pipeline(self, pm, op):
            events.append(f"{self.tag}-pm:{pm.op_name}")

        def run_before_pass(self, p, op):
            events.append(f"{self.tag}+{p.name}")

        def run_after_pass(self, p, op):
            events.append(f"{self.tag}-{p.name}")

        def run_before_verifier(self, p, op):
            events.append(f"{self.tag}+verify")

        def run_after_verifier(self, p, op):
            events.append(f"{self.tag}-verify")

    m = module([make_func("a")])
    pm = PassManager()
    pm.add(Record())
    pm.add_instrumentation(Trace("1"))
    pm.add_instrumentation(Trace("2"))
    pm.run(m)
    assert events == [
        "1+pm:builtin.module", "2+pm:builtin.module", "1+pm:test.func", "2+pm:test.func",
        "1+record", "2+record", "1+verify", "2+verify", "2-verify", "1-verify",
        "2-record", "1-record", "2-pm:test.func", "1-pm:test.func",
        "2-pm:builtin.module", "1-pm:builtin.module"]


def test_failed_hook_sees_the_error():
    seen: list[tuple[str, type]] = []

    class OnFail(PassInstrumentation):
        def run_after_pass_failed(self, p, op, error):
            seen.append((p.name, type(error)))

    pm = PassManager()
    pm.add(Fail())
    pm.add_instrumentation(OnFail())
    with pytest.raises(PassPipelineError):
        pm.run(module([make_func("a")]))
    assert seen == [("fail", PassPipelineError)]


def test_all_passes_and_len():
    pm = PassManager()
    pm.add(RecordAny())
    nested = pm.nest("test.func")
    nested.add(Record())
    assert isinstance(nested, OpPassManager) and len(pm) == 2
    assert [p.name for p in pm.all_passes()] == ["record-any", "record"]
    with pytest.raises(TypeError):
        pm.add("cse")  # type: ignore[arg-type]


def test_statistics_accumulate_across_ops():
    pm = PassManager()
    rec = Record()
    pm.add(rec)
    pm.run(module([make_func("a"), make_func("b"), make_func("c")]))
    assert rec.statistics["visited"].value == 3
    report = pm.statistics_report()
    assert "'test.func' Pipeline" in report and "(S) 3 visited - ops visited" in report
