"""A fused chain of 5 elementwise ops on 16M float32: ``avalon.jit`` vs numpy.

    y = (maximum(x * 1.5 - 0.25, 0) * x) + 0.125        (mul, sub, maximum, mul, add)

``avalon.jit`` traces the Python function, fuses the chain into one loop (``cpu-pipeline``)
and runs native code: one read of ``x`` and one write of ``y``. numpy evaluates the expression
op by op, with temporaries (the idiomatic form) and with preallocated ``out=`` buffers. A
plain copy of the same bytes (``np.copyto``) is the memory-bandwidth floor: no elementwise
program can beat reading 4 and writing 4 bytes per element. Everything is measured in the same
run; the table shows the median time, the effective bandwidth (8 bytes per element) and each
row's speed-up over numpy with temporaries.

    python bench/elementwise.py [--n 16777216] [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np

import avalon
from avalon.frontend.executable import CompilationWarning


def chain(x: np.ndarray) -> np.ndarray:
    """The benchmarked program: the same text runs in numpy and under ``avalon.jit``."""
    return np.maximum(x * np.float32(1.5) - np.float32(0.25), np.float32(0)) * x \
        + np.float32(0.125)


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up: page in the buffers, first-call costs
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
    x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    y = np.empty_like(x)
    t1, t2 = np.empty_like(x), np.empty_like(x)

    jitted = avalon.jit(chain, backend="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompilationWarning)  # benchmark native code only
        t0 = time.perf_counter()
        result = jitted(x)
        compile_s = time.perf_counter() - t0
    np.testing.assert_allclose(result, chain(x), rtol=1e-6, atol=1e-6)
    lowered = str(jitted.lower(x))
    assert lowered.count("func.func") == 1

    def numpy_out() -> np.ndarray:
        np.multiply(x, np.float32(1.5), out=t1)
        np.subtract(t1, np.float32(0.25), out=t1)
        np.maximum(t1, np.float32(0), out=t1)
        np.multiply(t1, x, out=t2)
        return np.add(t2, np.float32(0.125), out=t2)

    np.testing.assert_allclose(numpy_out(), chain(x), rtol=1e-6)
    rows = [
        ("avalon.jit (fused, native)", median_seconds(lambda: jitted(x), args.repeat)),
        ("numpy (temporaries)", median_seconds(lambda: chain(x), args.repeat)),
        ("numpy (out= buffers)", median_seconds(numpy_out, args.repeat)),
        ("floor: np.copyto (8 B/elt)", median_seconds(lambda: np.copyto(y, x), args.repeat)),
    ]
    reference = rows[1][1]
    print(f"5-op elementwise chain on {n:,} float32 ({n * 4 / 2**20:.0f} MiB in, "
          f"{n * 4 / 2**20:.0f} MiB out); first jit call {compile_s:.2f}s "
          "(trace, pipeline, LLVM, or a cache hit)")
    print()
    print(f"| {'variant':<28} | {'median ms':>9} | {'GB/s':>6} | {'vs numpy':>8} |")
    print(f"|{'-' * 30}|{'-' * 11}|{'-' * 8}|{'-' * 10}|")
    for name, secs in rows:
        gbs = 8 * n / secs / 1e9
        print(f"| {name:<28} | {secs * 1e3:>9.2f} | {gbs:>6.1f} | {reference / secs:>7.2f}x |")


if __name__ == "__main__":
    main()
