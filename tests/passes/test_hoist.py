"""The ``hoist`` pass: loop-invariant code leaves its loops, results stay the same, and ops
whose motion could change behaviour (loads of written buffers, traps, zero-trip loops) stay."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import avalon.passes.hoist  # noqa: F401  (registers the pass)
from avalon.backends.interpreter import run
from avalon.ir.core import BlockArgument, Operation
from avalon.ir.dialects.loop import ForOp, ParallelOp
from avalon.passes.manager import PassManager
from tests.passes.translation import as_module, check_doc_example, draw_inputs, validate

HOIST = "hoist"


def loop_depth(op: Operation) -> int:
    return sum(1 for a in op.ancestors() if isinstance(a, ForOp | ParallelOp))


def depth_of(m, name: str) -> list[int]:
    """Loop depth of every op named ``name``, in program order."""
    return [loop_depth(op) for op in m.walk_ops() if op.name == name]


def load_depths(m) -> dict[str, int]:
    """Loop depth of the loads of each buffer: ``arg<n>`` for function arguments,
    ``alloc<k>`` for the k-th allocation."""
    allocs = [op for op in m.walk_ops() if op.name == "memory.alloc"]
    out = {}
    for op in m.walk_ops():
        if op.name == "memory.load":
            v = op.operands[0]
            key = (f"arg{v.index}" if isinstance(v, BlockArgument)
                   else f"alloc{allocs.index(v.op)}")
            out[key] = loop_depth(op)
    return out


# --------------------------------------------------------------- invariant arithmetic

NESTED = """
func.func @f(%a: memref<4x5xf32>, %s: f32) -> memref<4x5xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %out = memory.alloc() : memref<4x5xf32>
  loop.for %i = %c0 to %c4 step %c1 {
    loop.for %j = %c0 to %c5 step %c1 {
      %two = arith.constant 2.0 : f32
      %k = arith.mulf %s, %two : f32
      %ii = arith.index_cast %i : index to i64
      %fi = arith.sitofp %ii : i64 to f32
      %row = arith.addf %fi, %k : f32
      %x = memory.load %a[%i, %j] : memref<4x5xf32>
      %y = arith.addf %x, %row : f32
      memory.store %y, %out[%i, %j] : memref<4x5xf32>
    }
  }
  return %out : memref<4x5xf32>
}
"""


@given(data=st.data())
def test_invariant_ops_climb_to_the_outermost_loop_they_can(data):
    m = as_module(NESTED)
    after = validate(m, HOIST, draw_inputs(data, m))
    assert depth_of(after, "arith.mulf") == [0]
    assert depth_of(after, "arith.constant")[-1] == 0
    assert depth_of(after, "arith.index_cast") == [1]
    assert depth_of(after, "arith.sitofp") == [1]
    assert depth_of(after, "arith.addf") == [1, 2]
    assert depth_of(after, "memory.load") == [2]


def test_statistic_counts_every_move():
    m = as_module(NESTED)
    pm = PassManager.parse("builtin.module(hoist)")
    pm.run(m)
    (p,) = list(pm.all_passes())
    # two, k: out of both loops (2 moves each); ii, fi, row: out of the inner loop.
    assert p.statistics["num-hoisted"].value == 7


PARALLEL = """
func.func @f(%a: memref<4x5xf32>, %s: f32) -> memref<4x5xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %out = memory.alloc() : memref<4x5xf32>
  loop.parallel (%i, %j) = (%c0, %c0) to (%c4, %c5) step (%c1, %c1) {
    %k = arith.mulf %s, %s : f32
    %v = memory.load %a[%c1, %c1] : memref<4x5xf32>
    %x = memory.load %a[%i, %j] : memref<4x5xf32>
    %y = arith.addf %x, %k : f32
    %z = arith.addf %y, %v : f32
    memory.store %z, %out[%i, %j] : memref<4x5xf32>
  }
  return %out : memref<4x5xf32>
}
"""


@given(data=st.data())
def test_parallel_loops_hoist_arithmetic_and_loads_of_unwritten_buffers(data):
    m = as_module(PARALLEL)
    after = validate(m, HOIST, draw_inputs(data, m))
    assert depth_of(after, "arith.mulf") == [0]
    assert depth_of(after, "memory.load") == [0, 1]


# ------------------------------------------------------------------------- loads

LOADS = """
func.func @f(%a: memref<4xf32>, %b: memref<4xf32>, %n: index) -> (memref<4xf32>, f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  %tab = memory.alloc() : memref<4xf32>
  memory.copy %a, %tab : memref<4xf32> to memref<4xf32>
  %acc = memory.alloc() : memref<4xf32>
  memory.fill %zero, %acc : memref<4xf32>
  %r = loop.for %i = %c0 to {bound} step %c1 iter_args(%s = %zero) -> (f32) {
    %t = memory.load %tab[%c1] : memref<4xf32>
    %w = memory.load %acc[%c0] : memref<4xf32>
    %x = memory.load %b[%c0] : memref<4xf32>
    %u = arith.addf %t, %w : f32
    %v = arith.addf %u, %x : f32
    memory.store %v, %acc[%c0] : memref<4xf32>
    %s2 = arith.addf %s, %v : f32
    loop.yield %s2 : f32
  }
  return %acc, %r : memref<4xf32>, f32
}
"""


@given(data=st.data())
def test_loads_move_only_when_nothing_in_the_loop_writes_their_buffer(data):
    m = as_module(LOADS.replace("{bound}", "%c4"))
    after = validate(m, HOIST, draw_inputs(data, m))
    # %tab and %b are never written in the loop (%acc is a fresh allocation, so it cannot
    # alias the argument %b); %acc is written, so its load stays.
    assert load_depths(after) == {"alloc0": 0, "alloc1": 1, "arg1": 0}


@given(data=st.data())
def test_loads_stay_in_a_loop_that_may_not_run(data):
    m = as_module(LOADS.replace("{bound}", "%n"))
    after = validate(m, HOIST, draw_inputs(data, m))
    assert depth_of(after, "memory.load") == [1, 1, 1]


def test_loads_stay_in_a_loop_that_never_runs():
    m = as_module(LOADS.replace("{bound}", "%c0"))
    a, b = np.ones(4, np.float32), np.ones(4, np.float32)
    after = validate(m, HOIST, [a, b, 0])
    assert depth_of(after, "memory.load") == [1, 1, 1]


ARGUMENTS_MAY_ALIAS = """
func.func @f(%a: memref<4xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  loop.for %i = %c0 to %c4 step %c1 {
    %x = memory.load %a[%c0] : memref<4xf32>
    %y = memory.load %a[%i] : memref<4xf32>
    %z = arith.addf %x, %y : f32
    memory.store %z, %out[%i] : memref<4xf32>
  }
  return
}
"""


def test_a_load_from_an_argument_stays_when_another_argument_is_written():
    m = as_module(ARGUMENTS_MAY_ALIAS)
    a = np.arange(1, 5, dtype=np.float32)
    after = validate(m, HOIST, [a, np.zeros(4, np.float32)])
    assert depth_of(after, "memory.load") == [1, 1]
    # Called with one array for both arguments, the first load sees the loop's stores.
    for program in (m, after):
        same = np.arange(1, 5, dtype=np.float32)
        run(program, "f", same, same)
        np.testing.assert_array_equal(same, [2, 4, 5, 6])


def test_noalias_args_lets_loads_of_read_only_arguments_move():
    m = as_module(ARGUMENTS_MAY_ALIAS)
    a = np.arange(1, 5, dtype=np.float32)
    after = validate(m, "hoist{noalias-args=true}", [a, np.zeros(4, np.float32)])
    assert depth_of(after, "memory.load") == [0, 1]


UNKNOWN_EFFECTS = """
func.func private @g(%m: memref<4xf32>)

func.func @f(%a: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %buf = memory.alloc() : memref<4xf32>
  memory.copy %a, %buf : memref<4xf32> to memref<4xf32>
  %zero = arith.constant 0.0 : f32
  %r = loop.for %i = %c0 to %c4 step %c1 iter_args(%s = %zero) -> (f32) {
    %x = memory.load %buf[%c0] : memref<4xf32>
    %c = arith.cmpf olt, %x, %zero : f32
    loop.if %c {
      func.call @g(%a) : (memref<4xf32>) -> ()
    }
    %s2 = arith.addf %s, %x : f32
    loop.yield %s2 : f32
  }
  return %r : f32
}
"""


def test_an_op_with_unknown_effects_in_the_loop_blocks_load_motion():
    m = as_module(UNKNOWN_EFFECTS)
    after = validate(m, HOIST, [np.ones(4, np.float32)])
    assert depth_of(after, "memory.load") == [1]


FREED_IN_LOOP = """
func.func @f(%a: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %zero = arith.constant 0.0 : f32
  %r = loop.for %i = %c0 to %c2 step %c1 iter_args(%s = %zero) -> (f32) {
    %buf = memory.alloc() : memref<4xf32>
    memory.copy %a, %buf : memref<4xf32> to memref<4xf32>
    %v = memory.subview %a[1] [2] [1] : memref<4xf32> to memref<2xf32, strided<[1], offset: 1>>
    %x = memory.load %v[%c0] : memref<2xf32, strided<[1], offset: 1>>
    %y = memory.load %buf[%i] : memref<4xf32>
    memory.dealloc %buf : memref<4xf32>
    %t = arith.addf %x, %y : f32
    %s2 = arith.addf %s, %t : f32
    loop.yield %s2 : f32
  }
  return %r : f32
}
"""


def test_views_and_loads_of_buffers_the_loop_does_not_free_move():
    m = as_module(FREED_IN_LOOP)
    after = validate(m, HOIST, [np.arange(4, dtype=np.float32)])
    # The subview and load of %a move out: the loop frees only its own fresh buffer.
    assert depth_of(after, "memory.subview") == [0]
    assert depth_of(after, "memory.load") == [0, 1]
    assert depth_of(after, "memory.alloc") == [1]


FREES_ARGUMENT = """
func.func @f(%n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %one = arith.constant 1.0 : f32
  %a = memory.alloc() : memref<4xf32>
  memory.fill %one, %a : memref<4xf32>
  %x = loop.for %i = %c0 to %c1 step %c1 iter_args(%s = %one) -> (f32) {
    %v = memory.subview %a[1] [2] [1] : memref<4xf32> to memref<2xf32, strided<[1], offset: 1>>
    %y = memory.load %v[%c0] : memref<2xf32, strided<[1], offset: 1>>
    memory.dealloc %a : memref<4xf32>
    loop.yield %y : f32
  }
  return %x : f32
}
"""


def test_a_view_of_a_buffer_freed_in_the_loop_stays():
    m = as_module(FREES_ARGUMENT)
    after = validate(m, HOIST, [0])
    assert depth_of(after, "memory.subview") == [1]


# ---------------------------------------------------------------------------- traps

DIVISIONS = """
func.func @f(%x: i32, %d: i32, %n: index) -> i32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %two = arith.constant 2 : i32
  %zero = arith.constant 0 : i32
  %r = loop.for %i = %c0 to %n step %c1 iter_args(%s = %zero) -> (i32) {
    %q = arith.divsi %x, %d : i32
    %h = arith.divsi %x, %two : i32
    %t = arith.addi %q, %h : i32
    %s2 = arith.addi %s, %t : i32
    loop.yield %s2 : i32
  }
  return %r : i32
}
"""


def test_a_division_that_may_trap_stays_in_a_loop_that_may_not_run():
    m = as_module(DIVISIONS)
    # With %n = 0 the loop never divides by %d = 0; hoisting the division would trap.
    after = validate(m, HOIST, [np.int32(7), np.int32(0), 0])
    depths = {isinstance(op.operands[1], BlockArgument): loop_depth(op)
              for op in after.walk_ops() if op.name == "arith.divsi"}
    assert depths == {True: 1, False: 0}  # by the argument %d: stays; by 2: hoisted
    assert depth_of(after, "arith.addi") == [1, 1]
    validate(m, HOIST, [np.int32(7), np.int32(3), 3])


# --------------------------------------------------------------------- random loops


@st.composite
def loop_programs(draw):
    """A two-level loop nest whose inner body combines loop indices, scalar arguments,
    constants and loads into a value stored per iteration. Bounds may be dynamic (so loops may
    not run); the result buffer is a local allocation or an argument (which may alias the
    input); a scratch table may be written inside the loop."""
    outer = draw(st.sampled_from(["%c3", "%n"]))
    inner = draw(st.sampled_from(["%c4", "%m"]))
    local_out = draw(st.booleans())
    write_tab = draw(st.booleans())
    lines = []
    names = ["%s", "%fi", "%fj"]

    def new(expr: str) -> str:
        name = f"%v{len(lines)}"
        lines.append(f"      {name} = {expr}")
        names.append(name)
        return name

    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["const", "binary", "binary", "load"]))
        if kind == "const":
            new(f"arith.constant {draw(st.integers(-3, 3))}.5 : f32")
        elif kind == "binary":
            op = draw(st.sampled_from(["addf", "mulf", "subf", "maximumf"]))
            x, y = draw(st.sampled_from(names)), draw(st.sampled_from(names))
            new(f"arith.{op} {x}, {y} : f32")
        else:
            where = draw(st.sampled_from(["%a[%i, %j]", "%a[%i, %c1]", "%a[%c2, %c0]",
                                          "%tab[%i]", "%tab[%c0]"]))
            t = "memref<3xf32>" if where.startswith("%tab") else "memref<3x4xf32>"
            new(f"memory.load {where} : {t}")
    last = names[-1]
    if write_tab:
        lines.append(f"      memory.store {last}, %tab[%i] : memref<3xf32>")
    lines.append(f"      memory.store {last}, %res[%i, %j] : memref<3x4xf32>")
    res = ("    %res = memory.alloc() : memref<3x4xf32>\n" if local_out
           else "    %res = memory.subview %out[0, 0] [3, 4] [1, 1] : memref<3x4xf32> to "
                "memref<3x4xf32>\n")
    body = "\n".join(lines)
    return f"""
func.func @f(%a: memref<3x4xf32>, %out: memref<3x4xf32>, %s: f32, %n: index, %m: index) {{
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %zero = arith.constant 0.0 : f32
    %tab = memory.alloc() : memref<3xf32>
    memory.fill %s, %tab : memref<3xf32>
    memory.fill %zero, %out : memref<3x4xf32>
{res}    loop.for %i = %c0 to {outer} step %c1 {{
      %ii = arith.index_cast %i : index to i64
      %fi = arith.sitofp %ii : i64 to f32
      loop.for %j = %c0 to {inner} step %c1 {{
      %jj = arith.index_cast %j : index to i64
      %fj = arith.sitofp %jj : i64 to f32
{body}
      }}
    }}
    {"memory.copy %res, %out : memref<3x4xf32> to memref<3x4xf32>" if local_out else ""}
    return
}}
"""


def _invariant_arith_left(m) -> list[Operation]:
    """Arithmetic ops still inside a loop although all their operands come from outside."""
    left = []
    for loop in m.walk_ops():
        if not isinstance(loop, ForOp | ParallelOp):
            continue
        for op in loop.body.ops:
            if op.dialect_name != "arith":
                continue
            inside = [v for v in op.operands
                      if loop.is_ancestor(getattr(v, "op", None) or v.block.parent_op)]
            if not inside:
                left.append(op)
    return left


@given(text=loop_programs(), data=st.data())
def test_random_loop_nests_keep_their_results(text, data):
    m = as_module(text)
    inputs = draw_inputs(data, m)
    after = validate(m, HOIST, inputs)
    assert _invariant_arith_left(after) == []


def test_the_documented_example_is_current():
    check_doc_example("hoist")
