"""IR text and traversal speed: build, print, parse, verify and walk a 100,000-op module.

The module is one ``func.func`` holding a dependent chain of ``arith`` ops (constants, adds,
multiplies, compares, selects), the shape of IR that tracing a large model produces. Printing
and parsing are timed in both custom form (declarative and hand-written assembly formats) and
generic form. Run::

    python bench/ir_speed.py [--ops N] [--repeat R]

Targets on a 2-core machine: parse >= 50,000 ops/s, print >= 100,000 ops/s.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import avalon.ir.dialects  # noqa: F401  (registers every dialect)
from avalon.ir.attributes import FloatAttr, StringAttr, TypeAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation
from avalon.ir.dialects import arith, func
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.types import FunctionType, f32


def build(n_ops: int) -> ModuleOp:
    """A module with one function of about ``n_ops`` ops."""
    fn = func.FuncOp([], [], {"sym_name": StringAttr("chain"),
                              "function_type": TypeAttr(FunctionType((f32, f32), (f32,)))},
                     1, [], None)
    entry = fn.regions[0].add_block()
    a, b = entry.add_argument(f32), entry.add_argument(f32)
    bld = Builder.at_end(entry)
    x = a
    count = 0
    while count < n_ops - 1:
        c = bld.insert(arith.ConstantOp([], [f32], {"value": FloatAttr(count * 0.5, f32)}))
        s = bld.insert(arith.AddFOp([x, c.result], [f32], {}, 0))
        m = bld.insert(arith.MulFOp([s.result, b], [f32], {}, 0))
        x = m.result
        count += 3
    bld.insert(func.ReturnOp([x], [], {}, 0))
    return module([fn])


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall-clock and best process-CPU seconds over ``repeat`` runs, and the result."""
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return best_wall, best_cpu, result


def count_ops(op: Operation) -> int:
    return sum(1 for _ in op.walk_ops())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rows: list[tuple[str, float, float, int]] = []
    wall, cpu, m = _time(lambda: build(args.ops), args.repeat)
    n = count_ops(m)
    rows.append(("build", wall, cpu, n))

    wall, cpu, custom = _time(lambda: print_op(m), args.repeat)
    rows.append(("print (custom)", wall, cpu, n))
    wall, cpu, generic = _time(lambda: print_op(m, generic=True), args.repeat)
    rows.append(("print (generic)", wall, cpu, n))

    wall, cpu, parsed = _time(lambda: parse_module(custom, "bench.mlir", verify=False),
                              args.repeat)
    assert print_op(parsed) == custom, "custom round trip is not the identity"
    rows.append(("parse (custom)", wall, cpu, n))
    wall, cpu, parsed_g = _time(lambda: parse_module(generic, "bench.mlir", verify=False),
                                args.repeat)
    assert print_op(parsed_g, generic=True) == generic, "generic round trip is not the identity"
    rows.append(("parse (generic)", wall, cpu, n))

    try:
        from avalon.ir.verifier import verify
    except ImportError:  # the verifier is optional for this benchmark
        verify = None
    if verify is not None:
        wall, cpu, _ = _time(lambda: verify(m), args.repeat)
        rows.append(("verify", wall, cpu, n))

    wall, cpu, _ = _time(lambda: m.walk(lambda op: None), args.repeat)
    rows.append(("walk (callback, post-order)", wall, cpu, n))
    wall, cpu, _ = _time(lambda: count_ops(m), args.repeat)
    rows.append(("walk (generator, pre-order)", wall, cpu, n))

    print(f"IR speed: {n} ops, {len(custom) / 1e6:.1f} MB custom text, "
          f"{len(generic) / 1e6:.1f} MB generic text, best of {args.repeat} "
          f"(CPU = this process's CPU time; wall includes waiting for a shared machine)")
    print(f"{'phase':<30}{'wall s':>9}{'wall ops/s':>13}{'CPU s':>9}{'CPU ops/s':>13}")
    for name, wall, cpu, ops in rows:
        print(f"{name:<30}{wall:>9.3f}{ops / wall:>13,.0f}{cpu:>9.3f}{ops / cpu:>13,.0f}")


if __name__ == "__main__":
    main()
