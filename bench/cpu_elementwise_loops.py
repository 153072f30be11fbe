"""Where native loop code stands: a 5-op elementwise chain on 16M f32, Avalon vs numpy.

    y = (max(x * a + b, 0) * x) - c        (mulf, addf, maximumf, mulf, subf)

Avalon runs one hand-written loop-level function (one pass over memory, vectorized by LLVM);
numpy evaluates the expression op by op (five passes with temporaries), and once more with
``out=`` buffers. A plain copy of the same bytes (``np.copyto``) shows the memory-bandwidth
floor. All are measured in the same run; the table reports the median time, the effective
bandwidth (8 bytes moved per element: read x, write y) and the speed-up over numpy.

    python bench/cpu_elementwise_loops.py [--n 16777216] [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from avalon.backends.cpu import compile_module
from avalon.ir.parser import parse_module

SOURCE = """
func.func @chain(%x: memref<{n}xf32>, %a: f32, %b: f32, %c: f32,
                 %y: memref<{n}xf32> {{avalon.out}}) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant {n} : index
  %zero = arith.constant 0.0 : f32
  loop.for %i = %c0 to %n step %c1 {{
    %v = memory.load %x[%i] : memref<{n}xf32>
    %t0 = arith.mulf %v, %a : f32
    %t1 = arith.addf %t0, %b : f32
    %t2 = arith.maximumf %t1, %zero : f32
    %t3 = arith.mulf %t2, %v : f32
    %t4 = arith.subf %t3, %c : f32
    memory.store %t4, %y[%i] : memref<{n}xf32>
  }}
  func.return
}}
"""


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up: page in buffers, first-call costs
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    n = args.n
    a, b, c = np.float32(1.5), np.float32(-0.25), np.float32(0.125)
    x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    y = np.empty_like(x)
    t1, t2 = np.empty_like(x), np.empty_like(x)

    t0 = time.perf_counter()
    compiled = compile_module(parse_module(SOURCE.format(n=n)), cache=False)
    compile_s = time.perf_counter() - t0
    chain = compiled.function("chain")

    def numpy_expr() -> np.ndarray:
        return np.maximum(x * a + b, 0) * x - c

    def numpy_out() -> np.ndarray:
        np.multiply(x, a, out=t1)
        np.add(t1, b, out=t1)
        np.maximum(t1, 0, out=t1)
        np.multiply(t1, x, out=t2)
        return np.subtract(t2, c, out=y)

    expected = numpy_expr()
    got = chain(x, a, b, c, y)
    assert np.array_equal(got, expected), "native result differs from numpy"

    rows = [
        ("numpy copyto (bandwidth floor)", median_seconds(lambda: np.copyto(y, x), args.repeat)),
        ("numpy expression", median_seconds(numpy_expr, args.repeat)),
        ("numpy with out= buffers", median_seconds(numpy_out, args.repeat)),
        ("avalon native loop", median_seconds(lambda: chain(x, a, b, c, y), args.repeat)),
    ]
    reference = rows[1][1]
    bytes_moved = 8 * n
    print(f"5-op elementwise chain on {n:,} f32 ({bytes_moved / 2**20:.0f} MiB moved per "
          f"pass); compile {compile_s * 1e3:.0f} ms; median of {args.repeat}")
    print(f"{'implementation':34} {'ms':>9} {'GB/s':>8} {'vs numpy expr':>14}")
    for name, seconds in rows:
        print(f"{name:34} {seconds * 1e3:9.2f} {bytes_moved / seconds / 1e9:8.2f} "
              f"{reference / seconds:13.2f}x")


if __name__ == "__main__":
    main()
