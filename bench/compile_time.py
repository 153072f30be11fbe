"""Compile time of a 50-op function through ``avalon.jit``: cold and warm, stage by stage.

*Cold* is a fresh process with an empty ``AVALON_CACHE_DIR``: trace, the ``cpu-pipeline``
passes, LLVM IR generation, LLVM's O3 pipeline, object emission and loading. *Warm* is a
second process on the same cache directory: the object code comes from the disk cache, so
the LLVM stages are skipped (the IR is still traced and lowered: the cache key is the
lowered IR). Each process reports ``JitFunction.timings`` for its first call; the table shows
the median over ``--repeat`` cold/warm pairs, each pair with its own cache directory. The
peer is the same function run once by numpy, to put the first call's cost in proportion.

    python bench/compile_time.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

STAGES = [
    ("trace", "trace (Python -> tensor IR)"),
    ("pipeline", "cpu-pipeline passes"),
    ("key", "verify + print + cache key"),
    ("codegen", "LLVM IR generation + parse"),
    ("optimize", "LLVM O3 pipeline"),
    ("emit", "LLVM object emission"),
    ("cache", "disk cache lookup/store"),
    ("load", "load object code"),
]


def fifty_ops(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Three dense layers with a softmax-like normalisation and a residual connection: 52
    tensor ops once traced (matmuls, broadcasts, elementwise, reductions, reshapes)."""
    h = x
    for _ in range(3):
        z = np.tanh(h @ w + b) * np.float32(0.5) + h
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        h = e / e.sum(axis=1, keepdims=True) + h
    return h.sum(axis=1)


def arguments() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((64, 128), dtype=np.float32),
            rng.standard_normal((128, 128), dtype=np.float32) * np.float32(0.1),
            rng.standard_normal(128, dtype=np.float32))


def child() -> None:
    """One process: import, first jit call; prints its timings as JSON."""
    t0 = time.perf_counter()
    import avalon

    imported = time.perf_counter() - t0
    args = arguments()
    jitted = avalon.jit(fifty_ops, backend="cpu")
    t0 = time.perf_counter()
    out = jitted(*args)
    first = time.perf_counter() - t0
    np.testing.assert_allclose(out, fifty_ops(*args), rtol=1e-4)
    module = jitted.lower(*args)
    n_ops = sum(1 for op in module.walk_ops()
                if op.name.startswith("tensor.") and op.name != "tensor.constant")
    t0 = time.perf_counter()
    fifty_ops(*args)
    numpy_s = time.perf_counter() - t0
    print(json.dumps({"import": imported, "first_call": first, "ops": n_ops, "numpy": numpy_s,
                      **jitted.timings}))


def run_child(cache: str) -> dict[str, float]:
    env = dict(os.environ, AVALON_CACHE_DIR=cache)
    env.pop("AVALON_DEBUG_DIR", None)
    env.pop("AVALON_BACKEND", None)
    out = subprocess.run([sys.executable, __file__, "--child"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    cold_runs, warm_runs = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="avalon-bench-cache-") as cache:
            cold_runs.append(run_child(cache))
            warm_runs.append(run_child(cache))
    assert all(r["cache_hit"] == 0.0 for r in cold_runs), "cold run hit the cache"
    assert all(r["cache_hit"] == 1.0 for r in warm_runs), "warm run missed the cache"

    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r.get(key, 0.0) for r in runs)

    print(f"compile time of a {cold_runs[0]['ops']}-op function (tensor ops after tracing, "
          f"constants not counted) through avalon.jit; median of {args.repeat} process pairs")
    print()
    print(f"| {'stage':<32} | {'cold s':>8} | {'warm s':>8} |")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 10}|")
    for key, label in STAGES:
        warm = med(warm_runs, key) if key in warm_runs[0] else 0.0
        print(f"| {label:<32} | {med(cold_runs, key):>8.3f} | {warm:>8.3f} |")
    def other(r: dict[str, float]) -> float:
        return r["first_call"] - sum(r.get(k, 0.0) for k, _ in STAGES)

    print(f"| {'other (lazy imports, LLVM init)':<32} | "
          f"{statistics.median(map(other, cold_runs)):>8.3f} | "
          f"{statistics.median(map(other, warm_runs)):>8.3f} |")
    print(f"| {'first call (all of the above)':<32} | {med(cold_runs, 'first_call'):>8.3f} "
          f"| {med(warm_runs, 'first_call'):>8.3f} |")
    print(f"| {'import avalon':<32} | {med(cold_runs, 'import'):>8.3f} "
          f"| {med(warm_runs, 'import'):>8.3f} |")
    print(f"| {'peer: one numpy evaluation':<32} | {med(cold_runs, 'numpy'):>8.4f} "
          f"| {med(warm_runs, 'numpy'):>8.4f} |")
    cold, warm = med(cold_runs, "first_call"), med(warm_runs, "first_call")
    print()
    print(f"warm / cold first call: {warm / cold:.2f} ({cold / warm:.1f}x faster with the "
          "disk cache)")


if __name__ == "__main__":
    main()
