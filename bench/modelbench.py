"""Whole-model training benchmark harness: Avalon against PyTorch (CPU), measured in one run.

``bench/lenet.py`` and ``bench/vae.py`` describe a model (initial weights, synthetic data, an
Avalon side and a PyTorch side); this module measures both and prints one table:

* **train step**: the median wall time of one training step (forward, loss, backward,
  optimizer update, writing the new parameters into the model) over many steps after warm-up,
  and the time of one 60,000-sample epoch computed from it;
* **prediction latency**: the median time of one forward call in inference mode at batch 1
  and at the training batch size;
* **compile time**: Avalon's first train-step call (trace, pass pipeline, LLVM) in a process
  with an empty ``AVALON_CACHE_DIR`` (cold) and in a second process that finds the object
  code in that disk cache (warm); PyTorch runs eagerly and compiles nothing;
* **peak memory**: ``ru_maxrss`` of the process that trained (every framework runs in its
  own subprocess, so the numbers do not mix).

Each framework lives in a worker subprocess that answers JSON requests on stdin/stdout. The
timing requests alternate between the workers round by round, so a change in the load of the
(shared) machine hits all columns alike; the medians are taken over every round. Both sides
start from the same initial weights and data, and the first-step losses are printed so that a
reader can see they compute the same function.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

EPOCH_SAMPLES = 60_000


class Side(Protocol):
    """One framework's view of a benchmarked model (built inside its worker process)."""

    def train_step(self) -> float:
        """Run one training step on the benchmark batch; returns the loss."""

    def predict(self, x: np.ndarray) -> Any:
        """One forward call in inference mode."""


@dataclass
class ModelSpec:
    """What a benchmark script provides: how to make weights and data, and each side."""

    name: str
    description: str
    batch: int
    make_weights: Callable[[int], dict[str, np.ndarray]]
    make_data: Callable[[int, int], tuple[np.ndarray, np.ndarray | None]]
    avalon_side: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray | None], Side]
    torch_side: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray | None, int], Side]
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ worker


def _maxrss_mb() -> float:
    """Peak resident set size of this process in MiB (``ru_maxrss`` is KiB on Linux)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def _timed_calls(fn: Callable[[], Any], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def worker_main(spec: ModelSpec, framework: str, threads: int, data_file: str) -> None:
    """Serve timing requests for one framework over stdin/stdout (one JSON object a line)."""
    data = np.load(data_file)
    weights = {k[2:]: data[k] for k in data.files if k.startswith("w:")}
    x = data["x"]
    y = data["y"] if "y" in data.files else None
    one = x[:1].copy()
    out = sys.stdout
    sys.stdout = sys.stderr  # anything the model prints must not break the protocol

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    side: Side | None = None
    for line in sys.stdin:
        req = json.loads(line)
        cmd = req["cmd"]
        if cmd == "setup":
            t0 = time.perf_counter()
            side = (spec.avalon_side(weights, x, y) if framework == "avalon"
                    else spec.torch_side(weights, x, y, threads))
            build = time.perf_counter() - t0
            t0 = time.perf_counter()
            loss = side.train_step()
            first_step = time.perf_counter() - t0
            t0 = time.perf_counter()
            side.predict(one)
            first_pred1 = time.perf_counter() - t0
            t0 = time.perf_counter()
            side.predict(x)
            first_pred = time.perf_counter() - t0
            reply({"build_s": build, "first_step_s": first_step, "loss": loss,
                   "first_predict1_s": first_pred1, "first_predict_s": first_pred})
        elif cmd == "train":
            assert side is not None
            reply({"times": _timed_calls(side.train_step, req["steps"])})
        elif cmd == "predict":
            assert side is not None
            predict, arg = side.predict, one if req["batch"] == 1 else x
            reply({"times": _timed_calls(lambda: predict(arg), req["calls"])})  # noqa: B023
        elif cmd == "exit":
            reply({"maxrss_mb": _maxrss_mb()})
            return


class Worker:
    """A worker subprocess and its request/answer pipe."""

    def __init__(self, script: str, framework: str, threads: int, data_file: str,
                 env: dict[str, str]) -> None:
        self.framework = framework
        self.proc = subprocess.Popen(
            [sys.executable, script, "--worker", framework, "--threads", str(threads),
             "--data", data_file], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=env)

    def ask(self, **req: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.framework} worker died (exit code {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> float:
        rss = self.ask(cmd="exit")["maxrss_mb"]
        self.proc.wait(timeout=60)
        return rss


# ------------------------------------------------------------------------------ driver


def machine_description() -> str:
    """CPU model, core count and LLVM's host CPU name (the code generator's target)."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import llvmlite.binding as llvm

        host = llvm.get_host_cpu_name()
    except Exception:  # llvmlite missing: the description is informative only
        host = "?"
    return f"{model}, {os.cpu_count()} cores, LLVM host CPU '{host}'"


@dataclass
class Column:
    label: str
    worker: Worker
    setup: dict[str, Any] = field(default_factory=dict)
    steps: list[float] = field(default_factory=list)
    pred1: list[float] = field(default_factory=list)
    pred: list[float] = field(default_factory=list)
    rss: float = float("nan")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 and a == a and b == b else "-"


def run(spec: ModelSpec, script: str, argv: Sequence[str] | None = None) -> None:
    """Parse the command line; as a worker serve requests, otherwise measure and print."""
    p = argparse.ArgumentParser(description=spec.description)
    p.add_argument("--steps", type=int, default=10, help="train steps per round")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per framework")
    p.add_argument("--warmup", type=int, default=3, help="untimed train steps after setup")
    p.add_argument("--predict-calls", type=int, default=20, help="predictions per round")
    p.add_argument("--torch-threads", default=f"{os.cpu_count()},1",
                   help="PyTorch thread counts, one column each (default: all cores, then 1)")
    p.add_argument("--no-torch", action="store_true", help="measure Avalon only")
    p.add_argument("--json", default=None, help="also write the raw measurements here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker_main(spec, args.worker, args.threads, args.data)
        return

    weights = spec.make_weights(0)
    x, y = spec.make_data(spec.batch, 1)
    tmp = Path(tempfile.mkdtemp(prefix=f"avalon-bench-{spec.name}-"))
    try:
        data_file = str(tmp / "data.npz")
        arrays = {f"w:{k}": v for k, v in weights.items()} | {"x": x}
        if y is not None:
            arrays["y"] = y
        np.savez(data_file, **arrays)
        env = dict(os.environ, AVALON_CACHE_DIR=str(tmp / "cache"))
        env.pop("AVALON_DEBUG_DIR", None)

        print(f"{spec.name}: {spec.description}", flush=True)
        print(f"machine: {machine_description()}", flush=True)
        print("compiling (cold cache) ...", flush=True)
        cold = Worker(script, "avalon", 1, data_file, env)
        cold_setup = cold.ask(cmd="setup")
        cold_rss = cold.close()

        columns = [Column("Avalon", Worker(script, "avalon", 1, data_file, env))]
        if not args.no_torch:
            for t in (int(v) for v in args.torch_threads.split(",") if v):
                columns.append(Column(f"PyTorch ({t} thread{'s' if t > 1 else ''})",
                                      Worker(script, "torch", t, data_file, env)))
        for c in columns:
            c.setup = c.worker.ask(cmd="setup")
            c.worker.ask(cmd="train", steps=args.warmup)
        print("measuring ...", flush=True)
        for _ in range(args.rounds):
            for c in columns:
                c.steps += c.worker.ask(cmd="train", steps=args.steps)["times"]
            for c in columns:
                c.pred1 += c.worker.ask(cmd="predict", batch=1,
                                        calls=args.predict_calls)["times"]
                c.pred += c.worker.ask(cmd="predict", batch=spec.batch,
                                       calls=args.predict_calls)["times"]
        for c in columns:
            c.rss = c.worker.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = {c.label: (statistics.median(c.steps), statistics.median(c.pred1),
                     statistics.median(c.pred)) for c in columns}
    steps_per_epoch = EPOCH_SAMPLES / spec.batch
    header = ["metric", *[c.label for c in columns]]
    header += [f"Avalon / {c.label}" for c in columns[1:]]
    rows: list[list[str]] = []

    def row(name: str, values: list[float], fmt: Callable[[float], str] = _ms) -> None:
        cells = [fmt(v) if v == v else "-" for v in values]
        ratios = [_ratio(values[0], v) for v in values[1:]]
        rows.append([name, *cells, *ratios])

    row(f"train step (batch {spec.batch}, median)", [med[c.label][0] for c in columns])
    row(f"epoch of {EPOCH_SAMPLES:,} samples (from step)",
        [med[c.label][0] * steps_per_epoch for c in columns])
    row("samples / s", [spec.batch / med[c.label][0] for c in columns],
        fmt=lambda v: f"{v:,.0f}")
    row("predict latency, batch 1", [med[c.label][1] for c in columns])
    row(f"predict latency, batch {spec.batch}", [med[c.label][2] for c in columns])
    nan = float("nan")
    row("compile, cold cache (first step)", [cold_setup["first_step_s"]]
        + [nan] * (len(columns) - 1))
    row("compile, warm disk cache (first step)", [columns[0].setup["first_step_s"]]
        + [nan] * (len(columns) - 1))
    row("peak RSS, training process (MiB)", [c.rss for c in columns],
        fmt=lambda v: f"{v:,.0f}")
    row("peak RSS, cold-compile process (MiB)", [cold_rss] + [nan] * (len(columns) - 1),
        fmt=lambda v: f"{v:,.0f}")

    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |")
    print()
    print("first-step loss: " + ", ".join(f"{c.label} {c.setup['loss']:.6f}" for c in columns))
    print(f"steps timed per framework: {len(columns[0].steps)} ({args.rounds} alternating "
          f"rounds of {args.steps}); ratios are Avalon's time over the peer's (< 1: Avalon "
          "faster; for samples/s > 1 means Avalon faster)")
    print(f"Avalon compile of the predict function (cold run): batch 1 "
          f"{cold_setup['first_predict1_s']:.1f} s, batch {spec.batch} "
          f"{cold_setup['first_predict_s']:.1f} s; load average at the end: "
          f"{os.getloadavg()[0]:.2f}")
    for note in spec.notes:
        print(note)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "cold": cold_setup, "cold_rss_mb": cold_rss,
            "columns": {c.label: {"setup": c.setup, "steps": c.steps, "pred1": c.pred1,
                                  "pred": c.pred, "rss_mb": c.rss} for c in columns}},
            indent=1))
