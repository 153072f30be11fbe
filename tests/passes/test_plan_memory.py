"""The ``plan-memory`` pass: allocations leave loops, buffers with disjoint lifetimes share
memory, every local buffer is freed after its last use, and escaping buffers are untouched.

The interpreter checks bounds and use-after-free on every access, so a wrong lifetime or a
too small shared buffer fails translation validation, not just a structural assertion.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import avalon.passes.plan_memory  # noqa: F401  (registers the pass)
from avalon.ir.core import Operation
from avalon.ir.dialects.loop import ForOp, IfOp, ParallelOp
from avalon.passes.manager import PassManager
from tests.passes.translation import (
    as_module,
    check_doc_example,
    count_ops,
    draw_inputs,
    validate,
)

PLAN = "func.func(plan-memory)"


def loop_depth(op: Operation) -> int:
    return sum(1 for a in op.ancestors() if isinstance(a, ForOp | ParallelOp | IfOp))


def allocs(m) -> list[Operation]:
    return [op for op in m.walk_ops() if op.name == "memory.alloc"]


def allocated_elements(m) -> int:
    return sum(op.results[0].type.num_elements for op in allocs(m))


def statistics(text: str) -> dict[str, int]:
    m = as_module(text)
    pm = PassManager.parse(f"builtin.module({PLAN})")
    pm.run(m)
    (p,) = list(pm.all_passes())
    return {k: s.value for k, s in p.statistics.items()}


STAGES = """
func.func @f(%x: memref<4x8xf32>, %out: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %a = memory.alloc() : memref<4x8xf32>
  loop.for %i = %c0 to %c4 step %c1 {
    loop.for %j = %c0 to %c8 step %c1 {
      %v = memory.load %x[%i, %j] : memref<4x8xf32>
      %w = arith.addf %v, %v : f32
      memory.store %w, %a[%i, %j] : memref<4x8xf32>
    }
  }
  %b = memory.alloc() : memref<8x4xf32>
  %t = memory.transpose %a [1, 0] : memref<4x8xf32> to memref<8x4xf32, strided<[1, 8]>>
  memory.copy %t, %b : memref<8x4xf32, strided<[1, 8]>> to memref<8x4xf32>
  %c = memory.alloc() : memref<4x8xf32>
  loop.for %i = %c0 to %c4 step %c1 {
    %tmp = memory.alloc() : memref<8xf32>
    loop.for %j = %c0 to %c8 step %c1 {
      %v = memory.load %b[%j, %i] : memref<8x4xf32>
      memory.store %v, %tmp[%j] : memref<8xf32>
    }
    loop.for %j = %c0 to %c8 step %c1 {
      %v = memory.load %tmp[%j] : memref<8xf32>
      %w = arith.mulf %v, %v : f32
      memory.store %w, %c[%i, %j] : memref<4x8xf32>
    }
    memory.dealloc %tmp : memref<8xf32>
  }
  memory.copy %c, %out : memref<4x8xf32> to memref<4x8xf32>
  memory.dealloc %a : memref<4x8xf32>
  memory.dealloc %b : memref<8x4xf32>
  memory.dealloc %c : memref<4x8xf32>
  return
}
"""


@given(data=st.data())
def test_allocations_leave_loops_and_dead_buffers_are_reused(data):
    m = as_module(STAGES)
    after = validate(m, PLAN, draw_inputs(data, m))
    assert all(loop_depth(op) == 0 for op in allocs(after))
    # %a dies at the transpose copy; %c (same size) takes its memory.
    assert len(allocs(after)) == 3
    assert allocated_elements(after) < allocated_elements(m)
    assert count_ops(after, "memory.dealloc") == 3
    assert all(loop_depth(op) == 0 for op in after.walk_ops() if op.name == "memory.dealloc")


def test_statistics():
    assert statistics(STAGES) == {"num-reused": 1, "num-hoisted-allocs": 1,
                                  "num-removed-allocs": 0, "num-deallocs": 3}


def _freed_right_after_last_use(m) -> bool:
    """Each dealloc directly follows (other deallocs aside) an op using its buffer or a
    view of it."""
    for d in (op for op in m.walk_ops() if op.name == "memory.dealloc"):
        prev = d.prev_op
        while prev.name == "memory.dealloc":
            prev = prev.prev_op
        buffer = d.operands[0]
        values = {buffer}
        for op in m.walk_ops():
            if op.name in ("memory.subview", "memory.reshape", "memory.transpose") and (
                    op.operands[0] in values):
                values.add(op.results[0])
        if not any(v in values for inner in prev.walk_ops() for v in inner.operands):
            return False
    return True


def test_deallocations_follow_the_last_use():
    after = validate(as_module(STAGES), PLAN, [np.ones((4, 8), np.float32),
                                               np.zeros((4, 8), np.float32)])
    assert _freed_right_after_last_use(after)


SIZES = """
func.func @f(%x: memref<6xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c6 = arith.constant 6 : index
  %big = memory.alloc() {alignment = 32 : i64} : memref<2x3xf32>
  %bf = memory.reshape %big : memref<2x3xf32> to memref<6xf32>
  memory.copy %x, %bf : memref<6xf32> to memref<6xf32>
  %v = memory.load %big[%c1, %c2] : memref<2x3xf32>
  %small = memory.alloc() : memref<2xf32>
  memory.store %v, %small[%c0] : memref<2xf32>
  memory.store %v, %small[%c1] : memref<2xf32>
  %w = memory.load %small[%c1] : memref<2xf32>
  %ints = memory.alloc() : memref<6xi32>
  %one = arith.constant 1 : i32
  memory.fill %one, %ints : memref<6xi32>
  %i = memory.load %ints[%c2] : memref<6xi32>
  %f = arith.sitofp %i : i32 to f32
  %r = arith.addf %w, %f : f32
  return %r : f32
}
"""


@given(data=st.data())
def test_buffers_of_other_sizes_share_one_flat_allocation_but_types_never_mix(data):
    m = as_module(SIZES)
    after = validate(m, PLAN, draw_inputs(data, m))
    types = sorted(str(op.results[0].type) for op in allocs(after))
    assert types == ["memref<6xf32>", "memref<6xi32>"]
    (flat,) = (op for op in allocs(after) if str(op.results[0].type) == "memref<6xf32>")
    assert flat.attributes["alignment"].value == 32
    assert count_ops(after, "memory.subview") == 1


ESCAPING = """
func.func @g(%m: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %two = arith.constant 2.0 : f32
  memory.store %two, %m[%c1] : memref<4xf32>
  return
}

func.func @f(%x: memref<4xf32>) -> memref<4xf32> {
  %c0 = arith.constant 0 : index
  %tmp = memory.alloc() : memref<4xf32>
  memory.copy %x, %tmp : memref<4xf32> to memref<4xf32>
  %v = memory.load %tmp[%c0] : memref<4xf32>
  %passed = memory.alloc() : memref<4xf32>
  memory.fill %v, %passed : memref<4xf32>
  func.call @g(%passed) : (memref<4xf32>) -> ()
  %ret = memory.alloc() : memref<4xf32>
  memory.fill %v, %ret : memref<4xf32>
  return %ret : memref<4xf32>
}
"""


@given(data=st.data())
def test_escaping_buffers_are_neither_reused_nor_freed(data):
    m = as_module(ESCAPING)
    after = validate(m, PLAN, draw_inputs(data, m))
    # %passed and %ret could take %tmp's memory by lifetime, but they escape.
    assert len(allocs(after)) == 3
    (d,) = (op for op in after.walk_ops() if op.name == "memory.dealloc")
    assert d.operands[0] is allocs(after)[0].results[0]


RETURNED = """
func.func @f(%x: memref<4xf32>) -> memref<4xf32> {
  %c0 = arith.constant 0 : index
  %tmp = memory.alloc() : memref<4xf32>
  memory.copy %x, %tmp : memref<4xf32> to memref<4xf32>
  %v = memory.load %tmp[%c0] : memref<4xf32>
  memory.dealloc %tmp : memref<4xf32>
  %ret = memory.alloc() : memref<4xf32>
  %view = memory.reshape %ret : memref<4xf32> to memref<2x2xf32>
  memory.fill %v, %view : memref<2x2xf32>
  return %ret : memref<4xf32>
}
"""


@given(data=st.data())
def test_a_returned_buffer_keeps_its_own_memory(data):
    m = as_module(RETURNED)
    after = validate(m, PLAN, draw_inputs(data, m))
    assert len(allocs(after)) == 2
    assert count_ops(after, "memory.dealloc") == 1


LOOP_CARRIED = """
func.func @f(%x: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %first = memory.alloc() : memref<4xf32>
  memory.copy %x, %first : memref<4xf32> to memref<4xf32>
  %last = loop.for %i = %c0 to %c3 step %c1 iter_args(%cur = %first) -> (memref<4xf32>) {
    %next = memory.alloc() : memref<4xf32>
    %v = memory.load %cur[%i] : memref<4xf32>
    memory.fill %v, %next : memref<4xf32>
    loop.yield %next : memref<4xf32>
  }
  %r = memory.load %last[%c0] : memref<4xf32>
  return %r : f32
}
"""


@given(data=st.data())
def test_a_buffer_carried_from_one_iteration_to_the_next_stays_in_the_loop(data):
    m = as_module(LOOP_CARRIED)
    after = validate(m, PLAN, draw_inputs(data, m))
    assert [loop_depth(op) for op in allocs(after)] == [0, 1]
    assert count_ops(after, "memory.dealloc") == 0


PARALLEL = """
func.func @f(%x: memref<4x3xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  loop.parallel (%i) = (%c0) to (%c4) step (%c1) {
    %row = memory.alloc() : memref<3xf32>
    loop.for %j = %c0 to %c3 step %c1 {
      %v = memory.load %x[%i, %j] : memref<4x3xf32>
      memory.store %v, %row[%j] : memref<3xf32>
    }
    %a = memory.load %row[%c0] : memref<3xf32>
    %b = memory.load %row[%c2] : memref<3xf32>
    %s = arith.addf %a, %b : f32
    memory.store %s, %out[%i] : memref<4xf32>
  }
  return
}
"""


@given(data=st.data())
def test_a_parallel_iteration_keeps_its_private_buffer_and_frees_it(data):
    m = as_module(PARALLEL)
    after = validate(m, PLAN, draw_inputs(data, m))
    (alloc,) = allocs(after)
    assert isinstance(alloc.parent_op, ParallelOp)
    (d,) = (op for op in after.walk_ops() if op.name == "memory.dealloc")
    assert d.parent is alloc.parent and d.prev_op.name == "memory.load"


CONDITIONAL = """
func.func @f(%x: memref<4xf32>, %c: i1) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  %unused = memory.alloc() : memref<16xf32>
  memory.dealloc %unused : memref<16xf32>
  %r = loop.for %i = %c0 to %c4 step %c1 iter_args(%s = %zero) -> (f32) {
    %t = loop.if %c -> (f32) {
      %tmp = memory.alloc() : memref<4xf32>
      memory.copy %x, %tmp : memref<4xf32> to memref<4xf32>
      %v = memory.load %tmp[%i] : memref<4xf32>
      memory.dealloc %tmp : memref<4xf32>
      loop.yield %v : f32
    } else {
      loop.yield %zero : f32
    }
    %s2 = arith.addf %s, %t : f32
    loop.yield %s2 : f32
  }
  return %r : f32
}
"""


@given(data=st.data())
def test_allocations_leave_conditionals_in_loops_and_unused_ones_vanish(data):
    m = as_module(CONDITIONAL)
    after = validate(m, PLAN, draw_inputs(data, m))
    (alloc,) = allocs(after)
    assert loop_depth(alloc) == 0 and str(alloc.results[0].type) == "memref<4xf32>"
    (d,) = (op for op in after.walk_ops() if op.name == "memory.dealloc")
    assert loop_depth(d) == 0 and d.prev_op.name == "loop.for"
    assert statistics(CONDITIONAL)["num-removed-allocs"] == 1


EARLY_VIEWS = """
func.func @f(%x: memref<8xf32>, %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %a = memory.alloc() : memref<8xf32>
  %b = memory.alloc() : memref<8xf32>
  %c = memory.alloc() : memref<2x4xf32>
  %cf = memory.reshape %c : memref<2x4xf32> to memref<8xf32>
  loop.for %i = %c0 to %c8 step %c1 {
    %v = memory.load %x[%i] : memref<8xf32>
    %w = arith.mulf %v, %v : f32
    memory.store %w, %a[%i] : memref<8xf32>
  }
  loop.for %i = %c0 to %c8 step %c1 {
    %v = memory.load %a[%i] : memref<8xf32>
    %w = arith.addf %v, %v : f32
    memory.store %w, %b[%i] : memref<8xf32>
  }
  memory.copy %b, %cf : memref<8xf32> to memref<8xf32>
  memory.copy %cf, %out : memref<8xf32> to memref<8xf32>
  memory.dealloc %a : memref<8xf32>
  memory.dealloc %b : memref<8xf32>
  memory.dealloc %c : memref<2x4xf32>
  return
}
"""


@given(data=st.data())
def test_a_view_made_early_does_not_start_the_live_range(data):
    m = as_module(EARLY_VIEWS)
    after = validate(m, PLAN, draw_inputs(data, m))
    # %c is first written by the copy from %b, after %a's last read: it takes %a's memory.
    assert [str(op.results[0].type) for op in allocs(after)] == ["memref<8xf32>"] * 2
    assert _freed_right_after_last_use(after)


# ---------------------------------------------------------------------- random programs

SHAPES = [(6,), (2, 3), (4,), (2, 2), (8,), (3,)]


@st.composite
def staged_programs(draw):
    """A chain of stages; stage k fills a fresh buffer (possibly 2-d, written through a flat
    reshape view) from one or two earlier buffers, maybe through a scratch buffer allocated
    in its loop; the last stage is copied to the output. Deallocations, when present, sit
    at the end of the function as a naive bufferization would put them. Allocations and
    their views are made either where each stage starts or all at the top."""
    n_stages = draw(st.integers(1, 5))
    consts = {0, 1, 6}
    lines: list[str] = []
    top: list[str] = []
    allocs_at_top = draw(st.booleans())
    flats = ["%in"]
    sizes = [6]
    buffers: list[tuple[str, str]] = []
    for k in range(n_stages):
        shape = draw(st.sampled_from(SHAPES))
        n = math.prod(shape)
        consts.add(n)
        t = "memref<" + "x".join(map(str, shape)) + "xf32>"
        where = top if allocs_at_top else lines
        where.append(f"  %b{k} = memory.alloc() : {t}")
        buffers.append((f"%b{k}", t))
        flat = f"%b{k}"
        if len(shape) > 1:
            flat = f"%f{k}"
            where.append(f"  {flat} = memory.reshape %b{k} : {t} to memref<{n}xf32>")
        sources = draw(st.lists(st.integers(0, len(flats) - 1), min_size=1, max_size=2))
        scratch = draw(st.booleans())
        lines.append(f"  loop.for %i{k} = %c0 to %c{n} step %c1 {{")
        values = []
        for s_i, src in enumerate(sources):
            consts.add(sizes[src])
            lines.append(f"    %j{k}_{s_i} = arith.remsi %i{k}, %c{sizes[src]} : index")
            lines.append(f"    %x{k}_{s_i} = memory.load {flats[src]}[%j{k}_{s_i}] "
                         f": memref<{sizes[src]}xf32>")
            values.append(f"%x{k}_{s_i}")
        value = values[0]
        if len(values) == 2:
            lines.append(f"    %y{k} = arith.addf {values[0]}, {values[1]} : f32")
            value = f"%y{k}"
        if scratch:
            lines.append(f"    %s{k} = memory.alloc() : memref<2xf32>")
            lines.append(f"    memory.store {value}, %s{k}[%c1] : memref<2xf32>")
            lines.append(f"    %z{k} = memory.load %s{k}[%c1] : memref<2xf32>")
            value = f"%z{k}"
        lines.append(f"    %w{k} = arith.mulf {value}, %half : f32")
        lines.append(f"    memory.store %w{k}, {flat}[%i{k}] : memref<{n}xf32>")
        lines.append("  }")
        flats.append(flat)
        sizes.append(n)
    last, n_last = flats[-1], sizes[-1]
    lines.append("  loop.for %o = %c0 to %c6 step %c1 {")
    lines.append(f"    %oj = arith.remsi %o, %c{n_last} : index")
    lines.append(f"    %ov = memory.load {last}[%oj] : memref<{n_last}xf32>")
    lines.append("    memory.store %ov, %out[%o] : memref<6xf32>")
    lines.append("  }")
    if draw(st.booleans()):
        lines += [f"  memory.dealloc {name} : {t}" for name, t in buffers]
    head = [f"  %c{c} = arith.constant {c} : index" for c in sorted(consts)]
    head.append("  %half = arith.constant 0.5 : f32")
    body = "\n".join(head + top + lines)
    return ("func.func @f(%in: memref<6xf32>, %out: memref<6xf32>) {\n" + body
            + "\n  return\n}\n")


@given(text=staged_programs(), data=st.data())
def test_random_staged_programs_keep_their_results(text, data):
    m = as_module(text)
    after = validate(m, PLAN, draw_inputs(data, m))
    assert all(loop_depth(op) == 0 for op in allocs(after))
    assert allocated_elements(after) <= allocated_elements(m)
    deallocs = [op for op in after.walk_ops() if op.name == "memory.dealloc"]
    assert len(deallocs) == len(allocs(after))
    assert {d.operands[0] for d in deallocs} == {a.results[0] for a in allocs(after)}
    assert _freed_right_after_last_use(after)


def test_the_documented_example_is_current():
    check_doc_example("plan-memory")
