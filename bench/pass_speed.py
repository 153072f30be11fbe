"""Pass-pipeline speed: ``canonicalize,cse`` on a 100,000-op module, Avalon against mlir-opt.

The module holds many functions of straight-line ``arith`` code written the way a naive front
end emits it: every use materialises its own constant, multiplies by one, recomputes
subexpressions and leaves dead values, so both passes have real work on every op. The same
text (generic form, which upstream MLIR reads) goes through Avalon's pass manager and through
``mlir-opt`` measured in the same run; the table shows per-phase wall time and the ratio.
Run::

    python bench/pass_speed.py [--ops N] [--funcs F] [--repeat R] [--mlir-opt PATH]

Avalon's times come from its pass timing instrumentation (verification after each pass on, as
by default, reported as its own row); mlir-opt's from ``-mlir-timing`` (single-threaded), whose
pass times include its own verification. Both runs must leave the same number of ops.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import avalon.ir.dialects  # noqa: F401  (registers every dialect)
from avalon.ir.attributes import StringAttr, TypeAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation
from avalon.ir.dialects import arith, func
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.types import FunctionType, f32
from avalon.passes import parse_pipeline
from avalon.passes.instrumentation import PassTiming

PIPELINE = "builtin.module(canonicalize,cse)"
DEFAULT_MLIR_OPT = "/usr/lib/llvm-22/bin/mlir-opt"


def build_function(name: str, n_ops: int) -> Operation:
    """``n_ops`` ops of redundant arithmetic over two f32 arguments."""
    fn = func.FuncOp([], [], {"sym_name": StringAttr(name),
                              "function_type": TypeAttr(FunctionType((f32, f32), (f32,)))},
                     1, [], None)
    entry = fn.regions[0].add_block()
    x, y = entry.add_argument(f32), entry.add_argument(f32)
    b = Builder.at_end(entry)
    count, step = 0, 0
    while count < n_ops - 1:
        k = arith.constant((step % 7) * 0.25, f32, b)      # the same few constants, again and
        one = arith.constant(1.0, f32, b)                   # again: uniqued by canonicalize
        a = b.insert(arith.AddFOp([x, k], [f32], {}, 0)).result
        scaled = b.insert(arith.MulFOp([a, one], [f32], {}, 0)).result     # folds to a
        d1 = b.insert(arith.AddFOp([scaled, y], [f32], {}, 0)).result
        d2 = b.insert(arith.AddFOp([scaled, y], [f32], {}, 0)).result      # cse merges it
        b.insert(arith.SubFOp([d1, y], [f32], {}, 0))                       # dead
        x = b.insert(arith.MulFOp([d1, d2], [f32], {}, 0)).result
        count += 8
        step += 1
    b.insert(func.ReturnOp([x], [], {}, 0))
    return fn


def build(n_ops: int, n_funcs: int) -> ModuleOp:
    per = max(n_ops // n_funcs, 9)
    return module([build_function(f"f{i}", per) for i in range(n_funcs)])


def count_ops(op: Operation) -> int:
    return sum(1 for _ in op.walk_ops())


def run_avalon(text: str) -> tuple[dict[str, float], int]:
    t0 = time.perf_counter()
    m = parse_module(text, "bench.mlir")
    times = {"parse": time.perf_counter() - t0}
    pm = parse_pipeline(PIPELINE)
    timing = PassTiming()
    pm.add_instrumentation(timing)
    t0 = time.perf_counter()
    pm.run(m)
    times["pipeline (total)"] = time.perf_counter() - t0
    for node in timing.root.children.values():
        own = node.elapsed - sum(c.elapsed for c in node.children.values())
        times[node.name.split(" ")[0].lower()] = own
        times["verify"] = times.get("verify", 0.0) + sum(
            c.elapsed for c in node.children.values())
    return times, count_ops(m)


_MLIR_ROW = re.compile(r"^\s*([0-9.]+)\s+\(\s*[0-9.]+%\)\s+(.*?)\s*$")


def run_mlir(mlir_opt: str, path: Path) -> tuple[dict[str, float], int]:
    proc = subprocess.run(
        [mlir_opt, str(path), f"--pass-pipeline={PIPELINE}", "-mlir-timing",
         "-mlir-print-op-generic", "-mlir-disable-threading"],
        capture_output=True, text=True, check=True)
    times: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        m = _MLIR_ROW.match(line)
        if not m:
            continue
        secs, name = float(m.group(1)), m.group(2)
        key = {"Parser": "parse", "Canonicalizer": "canonicalize", "CSE": "cse",
               "Total": "process (total)"}.get(name)
        if key is not None:
            times[key] = times.get(key, 0.0) + secs
    # mlir-opt verifies inside its pass timers; there is no separate verifier row.
    times["pipeline (total)"] = times.get("canonicalize", 0.0) + times.get("cse", 0.0)
    result = parse_module(proc.stdout, "mlir-opt-output.mlir", verify=False)
    return times, count_ops(result)


def best_of(repeat: int, fn, *args):
    runs = [fn(*args) for _ in range(repeat)]
    keys = runs[0][0].keys()
    return {k: min(r[0].get(k, float("inf")) for r in runs) for k in keys}, runs[0][1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--funcs", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mlir-opt", default=shutil.which("mlir-opt") or DEFAULT_MLIR_OPT)
    args = ap.parse_args()

    m = build(args.ops, args.funcs)
    n = count_ops(m)
    text = print_op(m, generic=True)
    ours, ours_left = best_of(args.repeat, run_avalon, text)
    theirs, theirs_left = {}, None
    if Path(args.mlir_opt).exists():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.mlir"
            path.write_text(text)
            theirs, theirs_left = best_of(args.repeat, run_mlir, args.mlir_opt, path)
    print(f"canonicalize,cse on {n:,} ops in {args.funcs} functions "
          f"({len(text) / 1e6:.1f} MB generic text), best of {args.repeat}")
    print(f"ops left: avalon {ours_left:,}"
          + (f", mlir-opt {theirs_left:,}" if theirs_left is not None else ""))
    print(f"{'phase':<20}{'avalon s':>10}{'ops/s':>12}{'mlir-opt s':>12}{'ratio':>8}")
    for key in ("parse", "canonicalize", "cse", "verify", "pipeline (total)"):
        a = ours.get(key)
        b = theirs.get(key)
        if a is None:
            continue
        ratio = f"{a / b:>8.1f}" if b else f"{'-':>8}"
        peer = f"{b:>12.4f}" if b is not None else f"{'-':>12}"
        print(f"{key:<20}{a:>10.3f}{n / a:>12,.0f}{peer}{ratio}")


if __name__ == "__main__":
    main()
