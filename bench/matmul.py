"""float32 matmul through ``avalon.jit`` vs numpy's BLAS, at 256, 512 and 1024.

``avalon.jit(lambda a, b: a @ b)`` traces one ``tensor.matmul``, lowers it to a loop nest
(``cpu-pipeline``) and compiles it with LLVM at O3; numpy calls its BLAS (OpenBLAS or MKL),
which is the practical limit of a CPU. Both run in the same process on the same arrays; the
table gives the median time, GFLOP/s (2 n^3 flops) and Avalon's speed as a fraction of BLAS.

Avalon's code runs on one core, so BLAS gets one thread too unless ``--blas-threads`` says
otherwise (on a shared 2-core machine a multi-threaded BLAS also waits for descheduled
threads, which turns its timings into noise).

    python bench/matmul.py [--sizes 256 512 1024] [--repeat 5] [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable


def _blas_threads(argv: list[str]) -> int:
    """``--blas-threads N`` (default 1); read before numpy loads its BLAS."""
    for i, arg in enumerate(argv):
        if arg == "--blas-threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--blas-threads="):
            return int(arg.split("=", 1)[1])
    return 1


BLAS_THREADS = _blas_threads(sys.argv)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(BLAS_THREADS)

import numpy as np  # noqa: E402  (after the thread settings)

import avalon  # noqa: E402
from avalon.frontend.executable import CompilationWarning  # noqa: E402


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a @ b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="threads numpy's BLAS may use (Avalon uses one core)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    jitted = avalon.jit(matmul, backend="cpu")
    rows = []
    for n in args.sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompilationWarning)  # native code only
            t0 = time.perf_counter()
            out = jitted(a, b)
            compile_s = time.perf_counter() - t0
        np.testing.assert_allclose(out, a @ b, rtol=1e-3, atol=1e-3 * np.sqrt(n))
        t_avalon = median_seconds(lambda a=a, b=b: jitted(a, b), args.repeat)
        t_numpy = median_seconds(lambda a=a, b=b: a @ b, args.repeat)
        rows.append((n, compile_s, t_avalon, t_numpy))

    print(f"f32 matmul C = A @ B, square n x n; GFLOP/s = 2 n^3 / time; numpy's BLAS on "
          f"{BLAS_THREADS} thread(s), avalon on one")
    print()
    print(f"| {'n':>5} | {'first call s':>12} | {'avalon ms':>10} | {'avalon GFLOP/s':>14} "
          f"| {'numpy ms':>9} | {'numpy GFLOP/s':>13} | {'avalon/numpy':>12} |")
    print(f"|{'-' * 7}|{'-' * 14}|{'-' * 12}|{'-' * 16}|{'-' * 11}|{'-' * 15}|{'-' * 14}|")
    for n, compile_s, ta, tn in rows:
        flops = 2.0 * n ** 3
        print(f"| {n:>5} | {compile_s:>12.2f} | {ta * 1e3:>10.2f} | {flops / ta / 1e9:>14.1f} "
              f"| {tn * 1e3:>9.2f} | {flops / tn / 1e9:>13.1f} | {tn / ta:>11.2f}x |")


if __name__ == "__main__":
    main()
