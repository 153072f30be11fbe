"""``fit``: train a model on arrays with one compiled call per batch.

The train step — forward pass, loss, backward pass, optimizer update — is a single function
traced by :func:`avalon.jit`: ``value_and_grad`` called inside it inlines the gradient into the
same program, and the optimizer's pure ``step`` follows it. Per batch, Python only slices the
data, makes that one call and writes the returned arrays into the model in place. The
arguments that change between calls (batch, parameters, optimizer state, learning rate and
other hyperparameters, dropout seeds, running statistics) are all arrays, so a learning-rate
schedule or a new epoch never retraces; only a new batch shape (the last, partial batch) does.

Losses: supervised ``loss_fn(prediction, target)`` with ``prediction = model(x)``;
unsupervised ``loss_fn(model, x)`` (the model is called by the loss, e.g. a VAE that needs its
latent statistics).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from avalon.devices import Device, as_device, to_device
from avalon.frontend.grad import value_and_grad
from avalon.frontend.jit import JitFunction, jit
from avalon.frontend.pytree import flatten, unflatten
from avalon.nn.metrics import get_metric
from avalon.nn.module import apply, get_state, set_state, set_training, trainable_flags

if TYPE_CHECKING:  # avalon.optim imports avalon.nn: import it lazily here to avoid a cycle
    from avalon.optim.optimizers import Optimizer
    from avalon.optim.schedulers import LRScheduler

Metric = str | Callable[[Any, Any], float]


def trainmode(model: Any) -> Any:
    """Put every layer of ``model`` that has a ``training`` flag in training mode."""
    return set_training(model, True)


def testmode(model: Any) -> Any:
    """Put every layer of ``model`` in inference mode (dropout off, running statistics)."""
    return set_training(model, False)


# ----------------------------------------------------------------------------- history


class History:
    """What happened in each epoch of :func:`fit`: ``history["loss"]``, ``["val_accuracy"]``,
    ``["time"]`` (seconds), ``["lr"]``... one value per epoch."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, [math.nan] * (len(self.epochs) - 1)).append(value)
        for values in self.history.values():
            if len(values) < len(self.epochs):
                values.append(math.nan)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self) -> list[str]:
        return list(self.history)

    @property
    def last(self) -> dict[str, float]:
        """The logs of the last epoch."""
        return {k: v[-1] for k, v in self.history.items()} if self.epochs else {}

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={self.keys()})"


# ----------------------------------------------------------------------------- callbacks


class Callback:
    """Hooks :func:`fit` calls; override the ones you need. Setting ``stop_training = True``
    ends training after the current epoch."""

    stop_training: bool = False

    def on_train_begin(self, model: Any) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Before each epoch (epochs count from 0)."""

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        """After each train step; ``logs`` has ``loss`` and ``size`` of the batch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """After each epoch, with its loss, metrics, validation results, time and lr."""

    def on_train_end(self, history: History) -> None:
        """After the last epoch."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    optionally put back the weights of the best epoch."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(min_delta)
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._model: Any = None
        self._best_leaves: list[np.ndarray] | None = None

    def on_train_begin(self, model: Any) -> None:
        self._model = model
        self.wait, self.stop_training = 0, False

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r}, which fit does not log "
                           f"(it logs {sorted(logs)}); pass validation= for val_ metrics")
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_leaves = [np.array(leaf) for leaf in flatten(self._model)[0]]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self, history: History) -> None:
        if self.restore_best_weights and self._best_leaves is not None:
            for leaf, best in zip(flatten(self._model)[0], self._best_leaves, strict=True):
                leaf[...] = best


class ModelCheckpoint(Callback):
    """Save the model (safetensors, :func:`avalon.save`) after epochs; with
    ``save_best_only`` only when ``monitor`` improves."""

    def __init__(self, path: str, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto") -> None:
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        self.path, self.monitor, self.mode = path, monitor, mode
        self.save_best_only = save_best_only
        self.best = math.inf if mode == "min" else -math.inf
        self._model: Any = None

    def on_train_begin(self, model: Any) -> None:
        self._model = model

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        from avalon.checkpoint import save

        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise KeyError(f"ModelCheckpoint monitors {self.monitor!r}, which is not logged")
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        save(self._model, self.path.format(epoch=epoch, **logs),
             metadata={"epoch": str(epoch)})


# ----------------------------------------------------------------------------- progress


class ProgressBar:
    """Epoch progress on a stream: a live bar on a terminal, one line per epoch otherwise."""

    def __init__(self, epochs: int, batches: int, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.epochs, self.batches = epochs, batches
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(enabled and isatty is not None and isatty())
        self._last_draw = 0.0

    def update(self, epoch: int, batch: int, loss: float, samples: int, elapsed: float) -> None:
        """After batch ``batch`` (0-based) of ``epoch``; redraws at most 10 times a second."""
        if not self.live:
            return
        now = time.perf_counter()
        if batch + 1 < self.batches and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        width = 24
        done = int(width * (batch + 1) / self.batches)
        bar = "=" * done + (">" if done < width else "") + " " * (width - done - 1)
        rate = samples / elapsed if elapsed > 0 else 0.0
        self.stream.write(f"\repoch {epoch + 1}/{self.epochs} [{bar[:width]}] "
                          f"{batch + 1}/{self.batches} loss {loss:.4f} {rate:,.0f} samples/s")
        self.stream.flush()

    def epoch_end(self, epoch: int, logs: dict[str, float], samples: int) -> None:
        if not self.enabled:
            return
        parts = [f"{k} {v:.4f}" for k, v in logs.items() if k not in ("time", "lr")]
        rate = samples / logs["time"] if logs["time"] > 0 else 0.0
        line = (f"epoch {epoch + 1}/{self.epochs}: " + " - ".join(parts)
                + f" - {rate:,.0f} samples/s - {logs['time']:.2f}s")
        self.stream.write(("\r" + line + "\x1b[K\n") if self.live else line + "\n")
        self.stream.flush()


# ----------------------------------------------------------------------------- steps


def _trainable_positions(model: Any) -> list[int]:
    return [i for i, t in enumerate(trainable_flags(model)) if t]


def make_train_step(loss_fn: Callable[..., Any], optimizer: Optimizer,
                    supervised: bool = True, with_prediction: bool = True,
                    with_state: bool = True) -> JitFunction:
    """The compiled step ``(model, opt_state, hyper, x, y) -> (loss, prediction,
    new_parameters, new_model_state, new_opt_state)``.

    ``new_parameters`` lists the trainable leaves in flatten order; ``new_model_state`` holds
    the forward-updated arrays (running statistics, seeds) by path; ``prediction`` is ``None``
    for unsupervised losses. One call is one compiled program: forward, backward and update.
    Predictions and state come out of the differentiated function as auxiliary results, which
    the gradient transformation computes by replaying the forward pass; ``with_prediction`` and
    ``with_state`` set to False (no metrics, a model without state) leave that replay out.
    """
    with_prediction = with_prediction and supervised

    def objective(model: Any, x: Any, y: Any) -> Any:
        prediction = model(x) if supervised else None
        loss = loss_fn(prediction, y) if supervised else loss_fn(model, x)
        if not (with_prediction or with_state):
            return loss
        return loss, (prediction if with_prediction else None,
                      get_state(model) if with_state else {})

    def train_step(model: Any, opt_state: Any, hyper: Any, x: Any, y: Any) -> tuple:
        if with_prediction or with_state:
            (loss, (prediction, state)), grads = value_and_grad(objective, has_aux=True)(
                model, x, y)
        else:
            loss, grads = value_and_grad(objective)(model, x, y)
            prediction, state = None, {}
        new_model, new_opt_state = optimizer.step(model, grads, opt_state, hyper)
        leaves = flatten(new_model)[0]
        params = [leaves[i] for i in _trainable_positions(model)]
        return loss, prediction, params, state, new_opt_state

    return jit(train_step)


def make_eval_step(loss_fn: Callable[..., Any], supervised: bool = True) -> JitFunction:
    """The compiled ``(model, x, y) -> (loss, prediction)`` used for validation."""

    def eval_step(model: Any, x: Any, y: Any) -> tuple[Any, Any]:
        if supervised:
            prediction = model(x)
            return loss_fn(prediction, y), prediction
        return loss_fn(model, x), None

    return jit(eval_step)


def _batches(n: int, batch_size: int, order: np.ndarray, drop_last: bool) -> list[np.ndarray]:
    stop = n - n % batch_size if drop_last else n
    return [order[i:min(i + batch_size, n)] for i in range(0, stop, batch_size)]


def _as_data(a: Any, device: Device, what: str) -> np.ndarray:
    arr = to_device(device, a)
    arr = np.asarray(arr)
    if arr.ndim == 0:
        raise ValueError(f"{what} must have a sample dimension, got a scalar")
    return arr


def _split_args(Y: Any, loss_fn: Any) -> tuple[Any, Callable[..., Any], bool]:
    if loss_fn is None:
        if not callable(Y):
            raise TypeError("fit needs a loss function: fit(model, X, Y, loss_fn) or "
                            "fit(model, X, loss_fn)")
        return None, Y, False
    return Y, loss_fn, Y is not None


@contextlib.contextmanager
def _inference_mode(model: Any) -> Iterator[None]:
    """Run a block with ``model`` in inference mode, restoring each layer's flag after."""
    objects = _training_objects(model)
    flags = [obj.training for obj in objects]
    testmode(model)
    try:
        yield
    finally:
        for obj, flag in zip(objects, flags, strict=True):
            obj.training = flag


def _evaluate(model: Any, X: np.ndarray, Y: np.ndarray | None, step: JitFunction,
              batch_size: int, metrics: Sequence[tuple[str, Callable[[Any, Any], float]]],
              ) -> dict[str, float]:
    total, preds = 0.0, []
    with _inference_mode(model):
        for start in range(0, len(X), batch_size):
            stop = min(start + batch_size, len(X))
            loss, pred = step(model, X[start:stop], None if Y is None else Y[start:stop])
            total += float(loss) * (stop - start)
            preds.append(pred)
    out = {"loss": total / len(X)}
    if metrics:
        pred_all = np.concatenate(preds)
        for name, fn in metrics:
            out[name] = float(fn(pred_all, Y))
    return out


def evaluate(model: Any, X: Any, Y: Any = None, loss_fn: Callable[..., Any] | None = None, *,
             batch_size: int = 100, metrics: Sequence[Metric] = (),
             device: Device | str | None = None) -> dict[str, float]:
    """Loss and metrics of ``model`` on a data set, in inference mode (batched, compiled).

    Takes the same loss conventions as :func:`fit`; returns ``{"loss": ..., metric: ...}``.
    The model's training flags are restored afterwards.
    """
    Y, loss_fn, supervised = _split_args(Y, loss_fn)
    dev = as_device(device)
    X = _as_data(X, dev, "X")
    if supervised:
        Y = _as_data(Y, dev, "Y")
        if len(Y) != len(X):
            raise ValueError(f"X has {len(X)} samples but Y has {len(Y)}")
    elif metrics:
        raise ValueError("metrics need targets: pass Y for a supervised evaluation")
    if len(X) == 0:
        raise ValueError("cannot evaluate on zero samples")
    return _evaluate(model, X, Y, make_eval_step(loss_fn, supervised), batch_size,
                     [get_metric(m) for m in metrics])


def predict(model: Any, X: Any, *, batch_size: int = 100,
            device: Device | str | None = None) -> Any:
    """``model(X)`` in inference mode, compiled and batched.

    Returns a numpy array, or the model's output structure (e.g. a tuple) of arrays.
    """
    X = _as_data(X, as_device(device), "X")
    if len(X) == 0:
        raise ValueError("cannot predict on zero samples")
    forward = jit(lambda m, x: m(x))
    with _inference_mode(model):
        outs = [forward(model, X[i:i + batch_size]) for i in range(0, len(X), batch_size)]
    per_batch = [flatten(out)[0] for out in outs]
    leaves = [np.concatenate([np.asarray(b[i]) for b in per_batch])
              for i in range(len(per_batch[0]))]
    return unflatten(flatten(outs[0])[1], leaves)


def _training_objects(model: Any) -> list[Any]:
    """The objects of ``model`` that carry a ``training`` flag."""
    found: list[Any] = []

    def visit(obj: Any) -> None:
        if isinstance(getattr(obj, "__dict__", {}).get("training"), bool):
            found.append(obj)

    apply(model, visit)
    return found


def _call(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def fit(model: Any, X: Any, Y: Any = None, loss_fn: Callable[..., Any] | None = None, *,
        epochs: int = 10, batch_size: int = 100, optimizer: Optimizer | None = None,
        scheduler: LRScheduler | None = None, device: Device | str | None = None,
        shuffle: bool = True, validation: Any = None, metrics: Sequence[Metric] = (),
        callbacks: Sequence[Any] = (), seed: int = 0, verbose: bool = True,
        drop_last: bool = False, stream: TextIO | None = None) -> History:
    """Train ``model`` in place; returns the per-epoch :class:`History`.

    Supervised: ``fit(model, X, Y, loss_fn)`` with ``loss_fn(model(x), y)``. Unsupervised:
    ``fit(model, X, loss_fn)`` with ``loss_fn(model, x)``. ``validation`` is ``(Xv, Yv)``
    (or ``Xv`` when unsupervised) and adds ``val_loss`` and ``val_<metric>`` to the history.
    ``optimizer`` defaults to ``Adam()``; ``scheduler`` is stepped after every epoch, or every
    batch for schedules whose ``interval`` is ``"batch"`` (``OneCycleLR``). The last partial
    batch is trained on (compiled once for its shape) unless ``drop_last``. ``seed`` fixes the
    shuffling order. Progress goes to ``stream`` (stderr by default) unless ``verbose=False``.
    """
    Y, loss_fn, supervised = _split_args(Y, loss_fn)
    if epochs < 0 or batch_size < 1:
        raise ValueError("epochs must be >= 0 and batch_size >= 1")
    dev = as_device(device)
    model = to_device(dev, model)
    X = _as_data(X, dev, "X")
    n = len(X)
    if supervised:
        Y = _as_data(Y, dev, "Y")
        if len(Y) != n:
            raise ValueError(f"X has {n} samples but Y has {len(Y)}")
    elif metrics:
        raise ValueError("metrics compare predictions with targets: pass Y (supervised fit)")
    if n == 0 or (drop_last and n < batch_size):
        raise ValueError(f"no full batch to train on: {n} samples, batch_size {batch_size}")
    if scheduler is not None:
        if optimizer is None:
            optimizer = scheduler.optimizer
        elif scheduler.optimizer is not optimizer:
            raise ValueError("the scheduler belongs to another optimizer than fit's")
    if optimizer is None:
        from avalon.optim.optimizers import Adam

        optimizer = Adam()
    val_X = val_Y = None
    if validation is not None:
        if supervised:
            if not (isinstance(validation, tuple | list) and len(validation) == 2):
                raise ValueError("validation must be (X_val, Y_val) for a supervised fit")
            val_X = _as_data(validation[0], dev, "validation X")
            val_Y = _as_data(validation[1], dev, "validation Y")
            if len(val_X) != len(val_Y) or len(val_X) == 0:
                raise ValueError(f"validation X has {len(val_X)} samples and Y has "
                                 f"{len(val_Y)}; they must be equal and non-zero")
        else:
            val_X = _as_data(validation, dev, "validation X")
            if len(val_X) == 0:
                raise ValueError("validation X has zero samples")
    metric_fns = [get_metric(m) for m in metrics]

    trainmode(model)
    if optimizer.state is None or not _state_fits(optimizer, model):
        optimizer.init(model)
    train_step = make_train_step(loss_fn, optimizer, supervised,
                                 with_prediction=bool(metric_fns),
                                 with_state=bool(get_state(model)))
    eval_step = make_eval_step(loss_fn, supervised)
    rng = np.random.default_rng(seed)
    positions = _trainable_positions(model)
    history = History()
    n_batches = len(_batches(n, batch_size, np.arange(n), drop_last))
    bar = ProgressBar(epochs, n_batches, stream, enabled=verbose)
    callbacks = list(callbacks)
    _call(callbacks, "on_train_begin", model)

    for epoch in range(epochs):
        _call(callbacks, "on_epoch_begin", epoch)
        start = time.perf_counter()
        order = rng.permutation(n) if shuffle else np.arange(n)
        total, seen, preds, targets = 0.0, 0, [], []
        for b, idx in enumerate(_batches(n, batch_size, order, drop_last)):
            x = X[idx]
            y = Y[idx] if supervised else None
            loss, pred, params, state, optimizer.state = train_step(
                model, optimizer.state, optimizer.hyperparams(), x, y)
            leaves = flatten(model)[0]
            for i, value in zip(positions, params, strict=True):
                leaves[i][...] = value
            if state:
                set_state(model, state)
            loss = float(loss)
            if not math.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss} in epoch {epoch + 1}, batch "
                                         f"{b + 1}; lower the learning rate or check the data")
            total += loss * len(idx)
            seen += len(idx)
            if metric_fns:
                preds.append(np.asarray(pred))
                targets.append(y)
            if scheduler is not None and scheduler.interval == "batch":
                scheduler.step()
            _call(callbacks, "on_batch_end", b, {"loss": loss, "size": float(len(idx))})
            bar.update(epoch, b, total / seen, seen, time.perf_counter() - start)
        logs: dict[str, float] = {"loss": total / seen}
        if metric_fns:
            pred_all, target_all = np.concatenate(preds), np.concatenate(targets)
            for name, fn in metric_fns:
                logs[name] = float(fn(pred_all, target_all))
        if val_X is not None:
            val = _evaluate(model, val_X, val_Y, eval_step, batch_size, metric_fns)
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"] = optimizer.lr
        logs["time"] = time.perf_counter() - start
        if scheduler is not None and scheduler.interval == "epoch":
            scheduler.step()
        history.append(epoch, logs)
        bar.epoch_end(epoch, logs, seen)
        _call(callbacks, "on_epoch_end", epoch, dict(logs))
        if any(getattr(cb, "stop_training", False) for cb in callbacks):
            break
    _call(callbacks, "on_train_end", history)
    return history


def _state_fits(optimizer: Optimizer, model: Any) -> bool:
    """Whether the optimizer's existing state was made for this model's leaves."""
    state = optimizer.state
    assert state is not None
    leaves = flatten(model)[0]
    for name in optimizer.buffer_names():
        bufs = state.get(name)
        if bufs is None or len(bufs) != len(leaves):
            return False
        for buf, leaf in zip(bufs, leaves, strict=True):
            if buf is not None and np.shape(buf) != np.shape(leaf):
                return False
    return True
