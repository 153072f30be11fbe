"""The greedy and single-walk pattern drivers, on IR built with small test ops."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avalon.ir.attributes import IntegerAttr, StringAttr
from avalon.ir.builder import Builder, InsertionPoint
from avalon.ir.core import Block, Operation, Value
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import arith
from avalon.ir.dialects.builtin import module
from avalon.ir.location import FileLineColLoc
from avalon.ir.opdef import (
    AnyAttr,
    Attr,
    Op,
    Operand,
    OptAttr,
    Result,
    SingleRegion,
    VarOperand,
    register_dialect,
)
from avalon.ir.patterns import PatternRewriter, RewriteListener, RewritePattern, op_pattern
from avalon.ir.traits import (
    Commutative,
    ConstantLike,
    IsolatedFromAbove,
    MemoryEffect,
    MemoryEffects,
    NoTerminator,
    Pure,
    RecursiveMemoryEffects,
)
from avalon.ir.types import i32
from avalon.ir.verifier import verify
from avalon.passes.rewrite import (
    FrozenPatternSet,
    GreedyRewriteDriver,
    apply_patterns_greedily,
    apply_patterns_once_walk,
    is_trivially_dead,
)

TRW = register_dialect("trw", "ops for the rewrite-driver tests")
NOMAT = register_dialect("trwnm", "a dialect that cannot materialise constants")


def _const_of(v: Value) -> int | None:
    op = getattr(v, "op", None)
    if op is not None and op.has_trait(ConstantLike):
        return op.attributes["value"].value
    return None


class Const(Op):
    name = "trw.constant"
    traits = (Pure, ConstantLike)
    value = Attr(AnyAttr)
    result = Result()

    @classmethod
    def infer_result_types(cls, operands, attributes):
        return [attributes["value"].type]


class Add(Op):
    name = "trw.add"
    traits = (Pure, Commutative)
    lhs = Operand()
    rhs = Operand()
    result = Result()

    def fold(self, operands):
        a, b = operands
        if isinstance(a, IntegerAttr) and isinstance(b, IntegerAttr):
            return [IntegerAttr(a.value + b.value, a.type)]
        if isinstance(b, IntegerAttr) and b.value == 0:
            return [self.lhs]
        return None


class Neg(Op):
    name = "trw.neg"
    traits = (Pure,)
    operand = Operand()
    result = Result()

    def fold(self, operands):
        (a,) = operands
        return [IntegerAttr(-a.value, a.type)] if isinstance(a, IntegerAttr) else None


class Countdown(Op):
    """Folds in place: each fold decrements ``n`` until it reaches zero."""

    name = "trw.countdown"
    traits = (Pure,)
    operand = Operand()
    n = Attr(AnyAttr)
    result = Result()

    def fold(self, operands):
        n = self.attributes["n"].value
        if n == 0:
            return None
        self.attributes["n"] = IntegerAttr(n - 1, i32)
        return [self.results[0]]


class Five(Op):
    """Always folds to 5."""

    name = "trw.five"
    traits = (Pure,)
    result = Result()

    def fold(self, operands):
        return [IntegerAttr(5, i32)]


class Store(Op):
    name = "trw.store"
    traits = (MemoryEffects(MemoryEffect.WRITE),)
    value = Operand()


class Sink(Op):
    """Unknown effects: keeps its operands alive."""

    name = "trw.sink"
    values = VarOperand()


class Flip(Op):
    name = "trw.flip"
    traits = (Pure,)
    operand = Operand()
    result = Result()
    tag = OptAttr(AnyAttr)


class Flop(Op):
    name = "trw.flop"
    traits = (Pure,)
    operand = Operand()
    result = Result()


class Func(Op):
    name = "trw.func"
    traits = (IsolatedFromAbove, NoTerminator)
    body_region = SingleRegion()


class Scope(Op):
    name = "trw.scope"
    traits = (RecursiveMemoryEffects, NoTerminator)
    body_region = SingleRegion()


class NoMatAdd(Op):
    name = "trwnm.add"
    traits = (Pure,)
    lhs = Operand()
    rhs = Operand()
    result = Result()

    def fold(self, operands):
        a, b = operands
        if isinstance(a, IntegerAttr) and isinstance(b, IntegerAttr):
            return [IntegerAttr(a.value + b.value, a.type)]
        return None


class BadFold(Op):
    name = "trw.badfold"
    traits = (Pure,)
    operand = Operand()
    result = Result()

    def fold(self, operands):
        return [self.operand, self.operand]


class StrFold(Op):
    """Folds to an attribute no dialect can turn into a constant."""

    name = "trwnm.strfold"
    traits = (Pure,)
    operand = Operand()
    result = Result()

    def fold(self, operands):
        return [StringAttr("nope")]


def _materialize(builder, attr, type_, location):
    if not isinstance(attr, IntegerAttr) or attr.type != type_:
        return None
    return builder.create(Const, value=attr, location=location)


TRW.materialize_constant = _materialize


# --------------------------------------------------------------------------------- helpers
LOC = FileLineColLoc("rewrite.mlir", 3, 7)


def make_func(nargs: int = 1) -> tuple[Operation, Operation, Builder, list[Value]]:
    """module { trw.func { ^bb0(args...): } } and a builder at the end of the body."""
    fn = Func.build(location=LOC)
    block = Block([i32] * nargs)
    fn.regions[0].add_block(block)
    m = module([fn])
    return m, fn, Builder.at_end(block), list(block.args)


def c(b: Builder, v: int) -> Value:
    return b.create(Const, value=IntegerAttr(v, i32)).result


def names(root: Operation) -> list[str]:
    return [op.name for op in root.walk_ops() if op is not root]


def constants(root: Operation) -> list[int]:
    return [op.attributes["value"].value for op in root.walk_ops() if op.name == "trw.constant"]


class MakeFlop(RewritePattern):
    root = "trw.flip"

    def match_and_rewrite(self, op, rewriter):
        rewriter.replace_op(op, rewriter.create(Flop, op.operands[0], result_types=[i32]))
        return True


class MakeFlip(RewritePattern):
    root = "trw.flop"

    def match_and_rewrite(self, op, rewriter):
        rewriter.replace_op(op, rewriter.create(Flip, op.operands[0], result_types=[i32]))
        return True


@op_pattern("trw.neg")
def neg_neg(op: Operation, rewriter: PatternRewriter) -> bool:
    inner = getattr(op.operands[0], "op", None)
    if inner is None or inner.name != "trw.neg":
        return False
    rewriter.replace_op(op, [inner.operands[0]])
    return True


# ---------------------------------------------------------------------------------- folding
def test_fold_chain_to_one_hoisted_constant():
    m, fn, b, _ = make_func(0)
    one, two = c(b, 1), c(b, 2)
    a = b.create(Add, one, two, result_types=[i32]).result
    s = b.create(Add, a, two, result_types=[i32]).result
    b.create(Sink, values=[s])
    assert apply_patterns_greedily(m, []) is True
    assert names(fn) == ["trw.constant", "trw.sink"]
    assert constants(fn) == [5]
    sink = fn.body.last_op
    assert _const_of(sink.operands[0]) == 5
    assert apply_patterns_greedily(m, []) is False


def test_fold_to_existing_value_and_stats():
    m, fn, b, (x,) = make_func(1)
    s = b.create(Add, x, c(b, 0), result_types=[i32]).result
    b.create(Sink, values=[s])
    driver = GreedyRewriteDriver(m, [])
    assert driver.run()
    assert names(fn) == ["trw.sink"]
    assert fn.body.last_op.operands[0] is x
    assert driver.stats.folded == 1
    assert driver.stats.erased == 1  # the zero constant became dead


def test_in_place_fold_runs_to_fixed_point():
    m, _fn, b, (x,) = make_func(1)
    cd = b.create(Countdown, x, n=IntegerAttr(3, i32), result_types=[i32])
    b.create(Sink, values=[cd.result])
    driver = GreedyRewriteDriver(m, [])
    assert driver.run()
    assert cd.attributes["n"].value == 0
    assert driver.stats.folded == 3


def test_fold_disabled_keeps_foldable_ops():
    m, fn, b, _ = make_func(0)
    s = b.create(Add, c(b, 1), c(b, 2), result_types=[i32]).result
    b.create(Sink, values=[s])
    assert apply_patterns_greedily(m, [], fold=False) is False
    assert names(fn).count("trw.add") == 1


def test_materialisation_falls_back_to_arith():
    m, fn, b, _ = make_func(0)
    s = b.create(NoMatAdd, c(b, 20), c(b, 22), result_types=[i32]).result
    b.create(Sink, values=[s])
    assert apply_patterns_greedily(m, [])
    sink = fn.body.last_op
    producer = sink.operands[0].op
    assert isinstance(producer, arith.ConstantOp)
    assert producer.attributes["value"] == IntegerAttr(42, i32)
    assert producer.parent is fn.body and fn.body.first_op is producer


def test_unmaterialisable_fold_result_leaves_ir_alone():
    m, fn, b, (x,) = make_func(1)
    r = b.create(StrFold, x, result_types=[i32]).result
    b.create(Sink, values=[r])
    assert apply_patterns_greedily(m, []) is False
    assert names(fn) == ["trwnm.strfold", "trw.sink"]


def test_folder_returning_wrong_arity_is_a_located_error():
    m, _fn, b, (x,) = make_func(1)
    op = b.create(BadFold, x, result_types=[i32], location=FileLineColLoc("f.mlir", 9, 2))
    b.create(Sink, values=[op.result])
    with pytest.raises(DiagnosticError) as info:
        apply_patterns_greedily(m, [])
    assert "folder returned 2 results" in str(info.value)
    assert "f.mlir:9:2" in str(info.value)


def test_equal_constants_are_uniqued_and_hoisted():
    m, fn, b, (x,) = make_func(1)
    first = b.create(Add, x, c(b, 7), result_types=[i32]).result
    scope = b.create(Scope)
    inner = Builder.at_end(scope.regions[0].add_block(Block()))
    second = inner.create(Add, first, c(inner, 7), result_types=[i32]).result
    inner.create(Sink, values=[second])
    assert apply_patterns_greedily(m, [])
    assert constants(fn) == [7]
    const = fn.body.first_op
    assert const.name == "trw.constant"
    adds = [op for op in fn.walk_ops() if op.name == "trw.add"]
    assert all(a.operands[1] is const.result for a in adds)


def test_constants_are_not_hoisted_out_of_isolated_regions():
    m, fn, b, _ = make_func(0)
    s = b.create(Add, c(b, 1), c(b, 1), result_types=[i32]).result
    b.create(Sink, values=[s])
    apply_patterns_greedily(m, [])
    assert [op.name for op in m.body.ops] == ["trw.func"]
    assert constants(fn) == [2]


def test_constants_created_by_folding_keep_creation_order():
    m, fn, b, _ = make_func(0)
    x = b.create(Add, c(b, 1), c(b, 2), result_types=[i32]).result
    y = b.create(Add, c(b, 10), c(b, 20), result_types=[i32]).result
    b.create(Sink, values=[x, y])
    apply_patterns_greedily(m, [])
    assert constants(fn) == [3, 30]


# -------------------------------------------------------------------------------- dead ops
def test_dead_ops_are_erased_but_not_effects():
    m, fn, b, (x,) = make_func(1)
    b.create(Add, x, x, result_types=[i32])
    b.create(Store, x)
    b.create(Sink, values=[])
    assert apply_patterns_greedily(m, [])
    assert names(fn) == ["trw.store", "trw.sink"]


def test_erase_dead_disabled():
    m, fn, b, (x,) = make_func(1)
    b.create(Add, x, x, result_types=[i32])
    assert apply_patterns_greedily(m, [], erase_dead=False) is False
    assert names(fn) == ["trw.add"]


def test_is_trivially_dead():
    _m, fn, b, (x,) = make_func(1)
    add = b.create(Add, x, x, result_types=[i32])
    store = b.create(Store, x)
    used = b.create(Add, x, x, result_types=[i32])
    b.create(Sink, values=[used.result])
    assert is_trivially_dead(add)
    assert not is_trivially_dead(store)
    assert not is_trivially_dead(used)
    assert not is_trivially_dead(fn)


# -------------------------------------------------------------------------------- patterns
def test_pattern_rewrites_to_fixed_point():
    m, fn, b, (x,) = make_func(1)
    v = x
    for _ in range(4):
        v = b.create(Neg, v, result_types=[i32]).result
    b.create(Sink, values=[v])
    assert apply_patterns_greedily(m, [neg_neg])
    assert names(fn) == ["trw.sink"]
    assert fn.body.last_op.operands[0] is x


def test_higher_benefit_pattern_wins_and_generic_patterns_apply():
    seen: list[str] = []

    class Low(RewritePattern):
        root = "trw.flip"
        benefit = 1

        def match_and_rewrite(self, op, rewriter):
            seen.append("low")
            return False

    class High(RewritePattern):
        root = "trw.flip"
        benefit = 5

        def match_and_rewrite(self, op, rewriter):
            if op.attributes.get("tag") is not None:
                return False
            seen.append("high")
            rewriter.modify_op_in_place(op, lambda: op.set_attr("tag", StringAttr("high")))
            return True

    class Any(RewritePattern):
        benefit = 3

        def match_and_rewrite(self, op, rewriter):
            if op.name == "trw.sink":
                seen.append("any-on-sink")
            return False

    m, _fn, b, (x,) = make_func(1)
    f = b.create(Flip, x, result_types=[i32])
    b.create(Sink, values=[f.result])
    assert apply_patterns_greedily(m, [Low(), Any(), High()])
    assert f.attributes["tag"] == StringAttr("high")
    assert seen[0] == "high"
    assert "any-on-sink" in seen
    assert "low" in seen  # tried after the tag was set and High declined


def test_frozen_pattern_set_orders_by_benefit():
    class A(RewritePattern):
        root = "x.a"
        benefit = 2

    class B(RewritePattern):
        benefit = 3

    class C(RewritePattern):
        root = "x.a"
        benefit = 1

    pset = FrozenPatternSet([A(), B, C()])
    assert [type(p).__name__ for p in pset.for_op("x.a")] == ["B", "A", "C"]
    assert [type(p).__name__ for p in pset.for_op("x.other")] == ["B"]
    assert len(pset) == 3
    assert FrozenPatternSet.of(pset) is pset


def test_listener_sees_changes():
    events: list[tuple[str, str]] = []

    class Recorder(RewriteListener):
        def notify_op_inserted(self, op):
            events.append(("inserted", op.name))

        def notify_op_erased(self, op):
            events.append(("erased", op.name))

    m, _fn, b, (x,) = make_func(1)
    f = b.create(Flip, x, result_types=[i32])
    b.create(Sink, values=[f.result])
    apply_patterns_greedily(m, [MakeFlop()], listener=Recorder())
    assert ("inserted", "trw.flop") in events
    assert ("erased", "trw.flip") in events


def test_bottom_up_traversal_gives_the_same_result():
    for top_down in (True, False):
        m, fn, b, _ = make_func(0)
        s = b.create(Add, c(b, 1), c(b, 2), result_types=[i32]).result
        t = b.create(Neg, b.create(Neg, s, result_types=[i32]).result, result_types=[i32])
        b.create(Sink, values=[t.result])
        apply_patterns_greedily(m, [neg_neg], top_down=top_down)
        assert names(fn) == ["trw.constant", "trw.sink"]
        assert constants(fn) == [3]


# ---------------------------------------------------------------------------- convergence
def test_patterns_undoing_each_other_raise_a_located_diagnostic():
    m, _fn, b, (x,) = make_func(1)
    f = b.create(Flip, x, result_types=[i32])
    b.create(Sink, values=[f.result])
    m.location = FileLineColLoc("loop.mlir", 1, 1)
    with pytest.raises(DiagnosticError) as info:
        apply_patterns_greedily(m, [MakeFlop(), MakeFlip()], max_iterations=3)
    text = str(info.value)
    assert "greedy pattern application did not converge after 3 iterations" in text
    assert text.startswith("loop.mlir:1:1: error:")
    assert "MakeFl" in text  # the note names the pattern still firing


def test_max_rewrites_stops_quietly():
    m, fn, b, (x,) = make_func(1)
    f = b.create(Flip, x, result_types=[i32])
    b.create(Sink, values=[f.result])
    driver = GreedyRewriteDriver(m, [MakeFlop(), MakeFlip()], max_rewrites=5)
    assert driver.run() is True
    assert driver.stats.rewrites == 5
    assert names(fn)[0] == "trw.flop"  # five swaps from flip


def test_max_iterations_must_be_positive():
    m, _, _, _ = make_func(0)
    with pytest.raises(ValueError):
        apply_patterns_greedily(m, [], max_iterations=0)


# ------------------------------------------------------------------------------ walk driver
def test_walk_driver_tries_each_op_once():
    m, fn, b, (x,) = make_func(1)
    f1 = b.create(Flip, x, result_types=[i32])
    f2 = b.create(Flip, f1.result, result_types=[i32])
    b.create(Sink, values=[f2.result])
    assert apply_patterns_once_walk(m, [MakeFlop(), MakeFlip()]) is True
    assert names(fn) == ["trw.flop", "trw.flop", "trw.sink"]
    assert apply_patterns_once_walk(m, [neg_neg]) is False


def test_walk_driver_does_not_fold_or_erase():
    m, fn, b, _ = make_func(0)
    b.create(Add, c(b, 1), c(b, 2), result_types=[i32])
    assert apply_patterns_once_walk(m, []) is False
    assert names(fn).count("trw.add") == 1


# ------------------------------------------------------------------------------ properties
def _evaluate(fn: Operation, args: list[int]) -> list[int]:
    env: dict[Value, int] = dict(zip(fn.body.args, args))
    out: list[int] = []
    for op in fn.body.ops:
        if op.name == "trw.constant":
            env[op.result] = op.attributes["value"].value
        elif op.name == "trw.add":
            env[op.result] = env[op.operands[0]] + env[op.operands[1]]
        elif op.name == "trw.neg":
            env[op.result] = -env[op.operands[0]]
        elif op.name == "trw.sink":
            out.extend(env[v] for v in op.operands)
    return out


@st.composite
def _programs(draw):
    steps = draw(st.lists(st.tuples(st.sampled_from(["c", "add", "neg"]),
                                    st.integers(0, 100), st.integers(0, 100),
                                    st.integers(-5, 5)), min_size=1, max_size=12))
    return steps


@settings(max_examples=40, deadline=None)
@given(_programs(), st.lists(st.integers(-50, 50), min_size=2, max_size=2))
def test_greedy_driver_preserves_meaning(steps, args):
    m, fn, b, params = make_func(2)
    values: list[Value] = list(params)
    for kind, i, j, k in steps:
        if kind == "c":
            values.append(c(b, k))
        elif kind == "add":
            values.append(b.create(Add, values[i % len(values)], values[j % len(values)],
                                   result_types=[i32]).result)
        else:
            values.append(b.create(Neg, values[i % len(values)], result_types=[i32]).result)
    b.create(Sink, values=values[-3:])
    before = _evaluate(fn, args)
    apply_patterns_greedily(m, [neg_neg])
    assert _evaluate(fn, args) == before
    # Everything foldable was folded: no add or neg has only constant operands.
    for op in fn.body.ops:
        if op.name in ("trw.add", "trw.neg"):
            assert any(_const_of(v) is None for v in op.operands)
    assert len(set(constants(fn))) == len(constants(fn))


# ------------------------------------------------------------------------ scope and safety
def test_non_isolated_root_leaves_outside_ops_alone():
    _, fn, b, (x,) = make_func(1)
    outside = b.create(Add, x, x, result_types=[i32])
    scope = b.create(Scope)
    inner = Builder.at_end(scope.regions[0].add_block(Block()))
    inner.create(Neg, outside.result, result_types=[i32])  # dead: erased
    assert apply_patterns_greedily(scope, []) is True
    assert list(scope.regions[0].blocks[0].ops) == []
    assert outside.parent is fn.body  # now dead too, but outside the driver's root


def test_constant_prefix_is_repaired_when_a_pattern_inserts_before_it():
    class InsertAtEntry(RewritePattern):
        """Rewrites flip(v) to ``five() + v``, both placed at the very start of the body,
        ahead of the constants the folder hoisted there."""

        root = "trw.flip"

        def match_and_rewrite(self, op, rewriter):
            entry = op.parent_op.regions[0].blocks[0]
            with rewriter.at(InsertionPoint.at_start(entry)):
                five = rewriter.create(Five, result_types=[i32])
            with rewriter.at(InsertionPoint.after_op(five)):
                new = rewriter.create(Add, five.result, op.operands[0], result_types=[i32])
            rewriter.replace_op(op, new)
            return True

    m, fn, b, (x,) = make_func(1)
    five = b.create(Add, c(b, 2), c(b, 3), result_types=[i32]).result  # folds to a hoisted 5
    f = b.create(Flip, x, result_types=[i32])
    b.create(Sink, values=[five, f.result])
    apply_patterns_greedily(m, [InsertAtEntry()])
    verify(m)  # the add inserted at the top must not use a 5 defined below it
    assert constants(fn) == [5]
    assert fn.body.first_op.name == "trw.constant"
