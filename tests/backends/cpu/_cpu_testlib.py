"""Shared helpers of the CPU backend tests: IR text builders and exact comparisons."""

from __future__ import annotations

from typing import Any

import numpy as np

from avalon.backends.interpreter import run

INT_TYPES = ("i1", "i8", "i16", "i32", "i64", "index")
FLOAT_TYPES = ("f16", "bf16", "f32", "f64")


def scalar_fn(name: str, op: str, in_types: list[str], out_type: str, attrs: str = "") -> str:
    """``func.func @name(%a0: T0, ...) -> R`` applying ``op`` in generic form."""
    params = ", ".join(f"%a{i}: {t}" for i, t in enumerate(in_types))
    args = ", ".join(f"%a{i}" for i in range(len(in_types)))
    ins = ", ".join(in_types)
    attr = f" {{{attrs}}}" if attrs else ""
    return (f"func.func @{name}({params}) -> {out_type} {{\n"
            f'  %r = "{op}"({args}){attr} : ({ins}) -> {out_type}\n'
            f"  func.return %r : {out_type}\n}}\n")


def same(native: Any, reference: Any) -> bool:
    """Bitwise equality, except that any NaN equals any NaN (payloads are unspecified)."""
    a, b = np.asarray(native), np.asarray(reference)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        nan = np.isnan(a) & np.isnan(b)
        bits = a.view(f"u{a.dtype.itemsize}") == b.view(f"u{b.dtype.itemsize}")
        return bool(np.all(nan | bits))
    return bool(np.array_equal(a, b))


def ulp_close(native: Any, reference: Any, ulps: int) -> bool:
    """Within ``ulps`` units in the last place of the reference (NaN and inf must match)."""
    a = np.atleast_1d(np.asarray(native))
    b = np.atleast_1d(np.asarray(reference))
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return False
    ok = nan_a.copy()
    inf = np.isinf(b)
    ok |= inf & (a == b)
    fin = ~nan_a & ~inf
    spacing = np.abs(np.spacing(b[fin].astype(np.float64) if b.dtype == np.float64 else b[fin]))
    spacing = np.maximum(spacing.astype(np.float64), np.finfo(b.dtype).smallest_subnormal)
    diff = np.abs(a[fin].astype(np.float64) - b[fin].astype(np.float64))
    ok[fin] = diff <= ulps * spacing
    return bool(np.all(ok))


def interpret(module: Any, name: str, *args: Any) -> Any:
    return run(module, name, *args)


# ---------------------------------------------------------------------- hypothesis values

_INT_DTYPES = {"i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
               "index": np.int64}


def scalar_values(t: str):
    """Hypothesis strategy for values of IR scalar type ``t``, extremes included."""
    from hypothesis import strategies as st

    if t == "i1":
        return st.booleans().map(np.bool_)
    if t in _INT_DTYPES:
        dt = _INT_DTYPES[t]
        info = np.iinfo(dt)
        edges = [0, 1, -1, 2, info.min, info.max, info.min + 1, info.max - 1, info.bits,
                 info.bits - 1]
        small = st.integers(max(-130, int(info.min)), min(130, int(info.max)))
        return st.one_of(st.sampled_from(edges), small,
                         st.integers(int(info.min), int(info.max))).map(dt)
    if t == "bf16":
        from avalon.backends.interpreter.values import round_bf16

        return st.floats(width=32, allow_nan=True, allow_infinity=True).map(
            lambda x: np.float32(round_bf16(np.float32(x))))
    width = {"f16": 16, "f32": 32, "f64": 64}[t]
    dt = {"f16": np.float16, "f32": np.float32, "f64": np.float64}[t]
    edges = [0.0, -0.0, 1.0, -1.0, 0.5, 2.5, -2.5, float("inf"), float("-inf"), float("nan")]
    return st.one_of(st.sampled_from(edges), st.floats(-10, 10, width=width),
                     st.floats(width=width, allow_nan=True, allow_infinity=True)).map(dt)


def values_of(t: str):
    """Strategy for IR type text ``t``: scalars, or ``vector<NxT>`` as numpy arrays."""
    from hypothesis import strategies as st

    if t.startswith("vector<"):
        n, et = t[len("vector<"):-1].split("x", 1)
        return st.lists(scalar_values(et), min_size=int(n), max_size=int(n)).map(
            lambda xs: np.array(xs, dtype=np.asarray(xs[0]).dtype))
    return scalar_values(t)


def call_both(module: Any, compiled: Any, name: str, args: list[Any]) -> tuple[Any, Any]:
    """(native result or exception, interpreter result or exception) on copies of args."""
    def copies() -> list[Any]:
        return [a.copy() if isinstance(a, np.ndarray) else a for a in args]

    try:
        ref = run(module, name, *copies())
    except Exception as exc:  # the interpreter's located errors
        ref = exc
    try:
        got = compiled.function(name)(*copies())
    except Exception as exc:
        got = exc
    return got, ref
