"""The heavy loop nests of a LeNet train step, one at a time: native time and GFLOP/s.

Each kernel is a small tensor-level function with the shapes (and operand layouts: the
transposed views autodiff produces) of one contraction of the README LeNet at batch 100; it
goes through ``cpu-pipeline`` and the CPU backend like a jitted function and is timed on its
own. The table shows the median wall time and the smallest process CPU time over the
repetitions (on a shared machine the CPU time is the steadier of the two) and the GFLOP/s of
the CPU time (2 flops per multiply-add; the padded input-gradient convolution counts only
the multiply-adds that do not read padding)::

    python bench/lenet_kernels.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import avalon.ir.dialects  # noqa: F401  (registers the dialects)
from avalon.backends.cpu import compile_module
from avalon.ir.parser import parse_module
from avalon.passes.pipeline import parse_pipeline


def _t(shape: tuple[int, ...]) -> str:
    return "tensor<" + "x".join(map(str, shape)) + "xf32>"


def _conv_shape(xs: tuple[int, ...], ws: tuple[int, ...]) -> tuple[int, ...]:
    return (xs[0], ws[0], xs[2] - ws[2] + 1, xs[3] - ws[3] + 1)


def conv(xs: tuple[int, ...], ws: tuple[int, ...], pad_input: int = 0,
         transposed: bool = False) -> str:
    """``conv(x, w)``; ``pad_input``: x is first zero-padded by ``tensor.pad`` (the input
    gradient); ``transposed``: both operands are ``[1, 0, 2, 3]`` transposes of the
    arguments (the weight gradient)."""
    lines = []
    x_arg = (xs[1], xs[0], *xs[2:]) if transposed else xs
    w_arg = (ws[1], ws[0], *ws[2:]) if transposed else ws
    if pad_input:
        x_arg = (*xs[:2], xs[2] - 2 * pad_input, xs[3] - 2 * pad_input)
    x, w = "%x", "%w"
    if transposed:
        lines += [f"%xt = tensor.transpose %x, permutation = [1, 0, 2, 3] : {_t(x_arg)} -> "
                  f"{_t(xs)}",
                  f"%wt = tensor.transpose %w, permutation = [1, 0, 2, 3] : {_t(w_arg)} -> "
                  f"{_t(ws)}"]
        x, w = "%xt", "%wt"
    if pad_input:
        p = pad_input
        lines += ["%v = tensor.constant dense<0.0> : tensor<f32>",
                  f"%p = tensor.pad %x, %v, low = [0, 0, {p}, {p}], high = [0, 0, {p}, {p}], "
                  f"interior = [0, 0, 0, 0] : ({_t(x_arg)}, tensor<f32>) -> {_t(xs)}"]
        x = "%p"
    ys = _conv_shape(xs, ws)
    lines.append(f"%y = tensor.conv {x}, {w}, stride = [1, 1], padding_low = [0, 0], "
                 f"padding_high = [0, 0], dilation = [1, 1], groups = 1 : ({_t(xs)}, "
                 f"{_t(ws)}) -> {_t(ys)}")
    return (f"func.func @f(%x: {_t(x_arg)}, %w: {_t(w_arg)}) -> {_t(ys)} {{\n  "
            + "\n  ".join(lines) + f"\n  return %y : {_t(ys)}\n}}")


def matmul(m: int, k: int, n: int, transposed: bool) -> str:
    """``a @ b``, or ``a @ w.T`` with ``w`` stored ``[n, k]`` (``Linear``'s forward)."""
    b_arg = (n, k) if transposed else (k, n)
    lines = []
    b = "%b"
    if transposed:
        lines.append(f"%t = tensor.transpose %b, permutation = [1, 0] : {_t(b_arg)} -> "
                     f"{_t((k, n))}")
        b = "%t"
    lines.append(f"%y = tensor.matmul %a, {b} : ({_t((m, k))}, {_t((k, n))}) -> "
                 f"{_t((m, n))}")
    return (f"func.func @f(%a: {_t((m, k))}, %b: {_t(b_arg)}) -> {_t((m, n))} {{\n  "
            + "\n  ".join(lines) + f"\n  return %y : {_t((m, n))}\n}}")


BIAS_GRAD = f"""func.func @f(%x: {_t((100, 20, 24, 24))}) -> {_t((20,))} {{
  %y = tensor.reduce sum, %x, dims = [0, 2, 3] : {_t((100, 20, 24, 24))} -> {_t((20,))}
  return %y : {_t((20,))}
}}"""

#: (name, source, argument shapes, flops)
KERNELS = [
    ("conv1 forward", conv((100, 1, 28, 28), (20, 1, 5, 5)),
     [(100, 1, 28, 28), (20, 1, 5, 5)], 2 * 100 * 20 * 576 * 25),
    ("conv2 forward", conv((100, 20, 12, 12), (50, 20, 5, 5)),
     [(100, 20, 12, 12), (50, 20, 5, 5)], 2 * 100 * 50 * 64 * 500),
    ("conv2 input gradient (pad 4, conv)", conv((100, 50, 16, 16), (20, 50, 5, 5), 4),
     [(100, 50, 8, 8), (20, 50, 5, 5)], 2 * 100 * 50 * 64 * 500),
    ("conv2 weight gradient", conv((20, 100, 12, 12), (50, 100, 8, 8), transposed=True),
     [(100, 20, 12, 12), (100, 50, 8, 8)], 2 * 20 * 50 * 25 * 6400),
    ("conv1 weight gradient", conv((1, 100, 28, 28), (20, 100, 24, 24), transposed=True),
     [(100, 1, 28, 28), (100, 20, 24, 24)], 2 * 20 * 25 * 100 * 576),
    ("fc1 forward x @ W.T", matmul(100, 800, 500, True), [(100, 800), (500, 800)],
     2 * 100 * 800 * 500),
    ("fc1 input gradient g @ W", matmul(100, 500, 800, False), [(100, 500), (500, 800)],
     2 * 100 * 800 * 500),
    ("fc1 weight gradient x.T @ g", matmul(800, 100, 500, False), [(800, 100), (100, 500)],
     2 * 100 * 800 * 500),
    ("conv1 bias gradient (sum over n, h, w)", BIAS_GRAD, [(100, 20, 24, 24)],
     100 * 20 * 576),
    ("matmul 256 x 256 x 256", matmul(256, 256, 256, False), [(256, 256), (256, 256)],
     2 * 256 ** 3),
]


def measure(source: str, shapes: list[tuple[int, ...]], repeat: int) -> tuple[float, float]:
    """(median wall seconds, smallest CPU seconds) of one native call."""
    module = parse_module(source)
    parse_pipeline("cpu-pipeline").run(module)
    fn = compile_module(module, cache=False).function("f")
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    fn(*args)
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn(*args)
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    return statistics.median(walls), min(cpus)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args()
    print("| kernel | wall (median) | CPU (min) | GFLOP/s (CPU) |")
    print("|---|---|---|---|")
    for name, source, shapes, flops in KERNELS:
        wall, cpu = measure(source, shapes, args.repeat)
        print(f"| {name} | {wall * 1e3:.2f} ms | {cpu * 1e3:.2f} ms | "
              f"{flops / cpu / 1e9:.1f} |", flush=True)


if __name__ == "__main__":
    main()
