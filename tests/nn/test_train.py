"""fit: convergence, one compiled call per batch, history, schedules, callbacks, state."""

import importlib
import io
import math
from pathlib import Path

import numpy as np
import pytest

import avalon
from avalon import optim
from avalon.checkpoint import load_file
from avalon.devices import DeviceError
from avalon.nn import BatchNorm1d, Dropout, Linear, logsoftmax, nll_loss, relu
from avalon.nn.train import (
    Callback,
    EarlyStopping,
    History,
    ModelCheckpoint,
    ProgressBar,
    evaluate,
    fit,
    make_train_step,
    predict,
    trainmode,
)
from avalon.nn.train import (
    testmode as inference_mode,
)

# the modules, not the functions of the same name that avalon.frontend exports
jit_module = importlib.import_module("avalon.frontend.jit")
grad_module = importlib.import_module("avalon.frontend.grad")


class MLP:
    """A small classifier written with plain numpy arrays."""

    def __init__(self, n_in=2, hidden=16, n_out=2, seed=0):
        rng = np.random.default_rng(seed)
        self.w1 = (rng.standard_normal((n_in, hidden)) / np.sqrt(n_in)).astype(np.float32)
        self.b1 = np.zeros(hidden, np.float32)
        self.w2 = (rng.standard_normal((hidden, n_out)) / np.sqrt(hidden)).astype(np.float32)
        self.b2 = np.zeros(n_out, np.float32)

    def __call__(self, x):
        h = np.tanh(x @ self.w1 + self.b1)
        return logsoftmax(h @ self.w2 + self.b2, axis=1)


def blobs(n=120, seed=0):
    """Two Gaussian blobs, linearly separable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 2)).astype(np.float32) * 0.5 + np.where(y[:, None], 1.5, -1.5)
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture
def counters(monkeypatch):
    """Counts compiled executions (jit) and separately-run gradient programs (grad)."""
    calls = {"jit": 0, "grad": 0, "traces": 0}
    make_jit, make_grad = jit_module.make_executable, grad_module.make_executable
    trace = jit_module.trace_function

    def counting(make, key):
        def make_counted(*a, **k):
            run = make(*a, **k)

            def counted(leaves):
                calls[key] += 1
                return run(leaves)

            return counted

        return make_counted

    def count_trace(*a, **k):
        calls["traces"] += 1
        return trace(*a, **k)

    monkeypatch.setattr(jit_module, "make_executable", counting(make_jit, "jit"))
    monkeypatch.setattr(grad_module, "make_executable", counting(make_grad, "grad"))
    monkeypatch.setattr(jit_module, "trace_function", count_trace)
    return calls


def test_converges_with_one_compiled_call_per_batch(counters):
    x, y = blobs(100)
    model = MLP()
    w1 = model.w1
    history = fit(model, x, y, nll_loss, epochs=6, batch_size=32,
                  optimizer=optim.SGD(lr=0.2, momentum=0.9), verbose=False)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["loss"][-1] < 0.1
    assert model.w1 is w1, "parameters are updated in place"
    assert counters["jit"] == 6 * 4, "one compiled call per batch (3 full + 1 partial)"
    assert counters["grad"] == 0, "the gradient is inlined into the compiled step"
    assert counters["traces"] == 2, "traced once per batch shape (32 and the last 4)"
    assert avalon.nn.metrics.accuracy(predict(model, x), y) > 0.95


def test_drop_last_compiles_one_shape(counters):
    x, y = blobs(100)
    history = fit(MLP(), x, y, nll_loss, epochs=2, batch_size=32, drop_last=True,
                  optimizer=optim.SGD(lr=0.1), verbose=False)
    assert counters["jit"] == 2 * 3 and counters["traces"] == 1
    assert len(history) == 2
    with pytest.raises(ValueError, match="no full batch"):
        fit(MLP(), x[:10], y[:10], nll_loss, batch_size=32, drop_last=True, verbose=False)


def test_matches_a_manual_eager_loop():
    """Same updates as value_and_grad + opt.update batch by batch (no shuffling)."""
    x, y = blobs(64)
    a, b = MLP(seed=3), MLP(seed=3)
    fit(a, x, y, nll_loss, epochs=2, batch_size=16, shuffle=False,
        optimizer=optim.Adam(lr=0.01), verbose=False)
    opt = optim.Adam(lr=0.01)

    def loss(m, xb, yb):
        return nll_loss(m(xb), yb)

    for _ in range(2):
        for i in range(0, 64, 16):
            opt.update(b, avalon.grad(loss)(b, x[i:i + 16], y[i:i + 16]))
    for name in ("w1", "b1", "w2", "b2"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6)


def test_history_contents():
    x, y = blobs(80)
    history = fit(MLP(), x, y, nll_loss, epochs=3, batch_size=20, metrics=["accuracy",
                                                                         "precision"],
                  validation=(x[:40], y[:40]), optimizer=optim.SGD(lr=0.1), verbose=False)
    assert isinstance(history, History) and len(history) == 3 and history.epochs == [0, 1, 2]
    assert set(history.keys()) == {"loss", "accuracy", "precision", "val_loss",
                                   "val_accuracy", "val_precision", "lr", "time"}
    assert all(len(history[k]) == 3 for k in history.history)
    assert history["lr"] == [0.1, 0.1, 0.1]
    assert all(t > 0 for t in history["time"])
    assert 0 <= history["accuracy"][-1] <= 1 and "loss" in history
    assert history.last["val_loss"] == history["val_loss"][-1]
    direct = evaluate(MLP(), x[:40], y[:40], nll_loss, metrics=["accuracy"])
    assert set(direct) == {"loss", "accuracy"}


def test_training_metrics_are_on_the_epochs_predictions():
    x, y = blobs(60)
    seen = []

    def recording_metric(prediction, target):
        seen.append((prediction.shape, target.shape))
        return 0.5

    history = fit(MLP(), x, y, nll_loss, epochs=1, batch_size=25, metrics=[recording_metric],
                  optimizer=optim.SGD(lr=0.1), verbose=False)
    assert seen == [((60, 2), (60,))]
    assert history["recording_metric"] == [0.5]


def test_step_lr_per_epoch_and_one_cycle_per_batch(counters):
    x, y = blobs(40)
    opt = optim.SGD(lr=0.1)
    history = fit(MLP(), x, y, nll_loss, epochs=4, batch_size=20,
                  scheduler=optim.StepLR(opt, step_size=2, gamma=0.5), verbose=False)
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert counters["traces"] == 1, "a new learning rate must not retrace"
    opt = optim.SGD(lr=0.1, momentum=0.9)
    sched = optim.OneCycleLR(opt, max_lr=0.5, total_steps=16)
    fit(MLP(), x, y, nll_loss, epochs=4, batch_size=10, optimizer=opt, scheduler=sched,
        verbose=False)
    assert sched.last_epoch == 16, "stepped after every batch"
    with pytest.raises(ValueError, match="another optimizer"):
        fit(MLP(), x, y, nll_loss, optimizer=optim.SGD(), scheduler=sched, verbose=False)


def test_optimizer_state_carries_over_between_fits():
    x, y = blobs(40)
    model, opt = MLP(), optim.Adam(lr=0.01)
    fit(model, x, y, nll_loss, epochs=1, batch_size=10, optimizer=opt, verbose=False)
    assert int(opt.state["step"]) == 4
    assert all(isinstance(leaf, np.ndarray) for leaf in avalon.frontend.flatten(opt.state)[0])
    fit(model, x, y, nll_loss, epochs=1, batch_size=10, optimizer=opt, verbose=False)
    assert int(opt.state["step"]) == 8
    fit(MLP(hidden=8), x, y, nll_loss, epochs=1, batch_size=10, optimizer=opt, verbose=False)
    assert int(opt.state["step"]) == 4, "state made for another model is recreated"


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, model):
        self.events.append("begin")

    def on_epoch_begin(self, epoch):
        self.events.append(f"epoch{epoch}")

    def on_batch_end(self, batch, logs):
        self.events.append(f"batch{batch}:{int(logs['size'])}")

    def on_epoch_end(self, epoch, logs):
        self.events.append(f"end{epoch}:{sorted(logs)}")

    def on_train_end(self, history):
        self.events.append(f"done{len(history)}")


def test_callback_hooks_in_order():
    x, y = blobs(30)
    rec = Recorder()
    only_epoch_end = type("Plain", (), {"on_epoch_end": lambda self, e, logs: seen.append(e)})
    seen = []
    fit(MLP(), x, y, nll_loss, epochs=2, batch_size=20, callbacks=[rec, only_epoch_end()],
        optimizer=optim.SGD(lr=0.1), verbose=False)
    keys = "['loss', 'lr', 'time']"
    assert rec.events == ["begin", "epoch0", "batch0:20", "batch1:10", f"end0:{keys}",
                          "epoch1", "batch0:20", "batch1:10", f"end1:{keys}", "done2"]
    assert seen == [0, 1]


def test_early_stopping_restores_best_weights():
    x, y = blobs(60)
    model = MLP()
    snapshots = []
    scores = iter([0.5, 0.4, 0.45, 0.41, 0.3, 0.2])

    def scripted(prediction, target):
        return next(scores)

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs):
            snapshots.append(model.w1.copy())

    stopper = EarlyStopping(monitor="scripted", patience=2, mode="min",
                            restore_best_weights=True)
    history = fit(model, x, y, nll_loss, epochs=6, batch_size=30, metrics=[scripted],
                  optimizer=optim.SGD(lr=0.1), callbacks=[Snapshot(), stopper], verbose=False)
    assert len(history) == 4 and stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    assert not np.array_equal(snapshots[1], snapshots[3])
    np.testing.assert_array_equal(model.w1, snapshots[1])
    with pytest.raises(KeyError, match="val_loss"):
        fit(MLP(), x, y, nll_loss, epochs=1, callbacks=[EarlyStopping()], verbose=False)


def test_model_checkpoint_saves_best(tmp_path):
    x, y = blobs(40)
    path = tmp_path / "best.safetensors"
    fit(MLP(), x, y, nll_loss, epochs=3, batch_size=20, validation=(x, y),
        optimizer=optim.SGD(lr=0.1), verbose=False,
        callbacks=[ModelCheckpoint(str(path), save_best_only=True)])
    assert set(load_file(path)) == {"w1", "b1", "w2", "b2"}


class AutoEncoder:
    def __init__(self):
        rng = np.random.default_rng(0)
        self.enc = (rng.standard_normal((4, 2)) * 0.5).astype(np.float32)
        self.dec = (rng.standard_normal((2, 4)) * 0.5).astype(np.float32)


def reconstruction_loss(model, x):
    return ((x @ model.enc @ model.dec - x) ** 2).mean()


def test_unsupervised_fit():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 2)) @ rng.standard_normal((2, 4))).astype(np.float32)
    history = fit(AutoEncoder(), x, reconstruction_loss, epochs=15, batch_size=16,
                  validation=x[:16], optimizer=optim.Adam(lr=0.05), verbose=False)
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    assert "val_loss" in history and "accuracy" not in history
    with pytest.raises(ValueError, match="metrics compare predictions with targets"):
        fit(AutoEncoder(), x, reconstruction_loss, metrics=["accuracy"], verbose=False)


class Regularised:
    """Linear -> BatchNorm -> ReLU -> Dropout -> Linear, built from avalon.nn layers."""

    def __init__(self):
        avalon.nn.init.manual_seed(0)
        self.layers = [Linear(2, 8), BatchNorm1d(8), Dropout(0.2, seed=5), Linear(8, 2)]

    def __call__(self, x):
        lin1, bn, drop, lin2 = self.layers
        return logsoftmax(lin2(drop(relu(bn(lin1(x))))), axis=1)


def test_batchnorm_statistics_and_dropout_seeds_advance():
    x, y = blobs(50)
    model = Regularised()
    bn, drop = model.layers[1], model.layers[2]
    mean_buffer = bn.running_mean
    fit(model, x, y, nll_loss, epochs=2, batch_size=25, optimizer=optim.SGD(lr=0.1,
                                                                          weight_decay=0.1),
        verbose=False)
    assert int(bn.num_batches_tracked) == 4
    assert int(drop.seed) == 5 + 4
    assert bn.running_mean is mean_buffer and np.any(bn.running_mean != 0)
    assert np.all(bn.running_var > 0)
    assert bn.training and drop.training, "fit leaves the model in training mode"
    before = bn.running_mean.copy()
    evaluate(model, x, y, nll_loss)
    np.testing.assert_array_equal(bn.running_mean, before)
    assert bn.training, "evaluate restores the training flags"


def test_trainmode_and_testmode_reach_nested_layers():
    class Inner:
        def __init__(self):
            self.training = True

    model = {"blocks": [Inner(), (Inner(), {"deep": Inner()})], "plain": np.zeros(2)}
    inner = [model["blocks"][0], model["blocks"][1][0], model["blocks"][1][1]["deep"]]
    assert inference_mode(model) is model
    assert not any(o.training for o in inner)
    trainmode(model)
    assert all(o.training for o in inner)


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_output():
    x, y = blobs(40)
    plain = io.StringIO()
    fit(MLP(), x, y, nll_loss, epochs=2, batch_size=20, optimizer=optim.SGD(lr=0.1),
        stream=plain, metrics=["accuracy"])
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: loss ")
    assert "accuracy" in lines[0] and "samples/s" in lines[1] and "\r" not in plain.getvalue()
    tty = FakeTTY()
    fit(MLP(), x, y, nll_loss, epochs=1, batch_size=20, optimizer=optim.SGD(lr=0.1),
        stream=tty)
    text = tty.getvalue()
    assert "\repoch 1/1 [" in text and "2/2 loss" in text and text.endswith("\n")
    silent = FakeTTY()
    fit(MLP(), x, y, nll_loss, epochs=1, optimizer=optim.SGD(), stream=silent, verbose=False)
    assert silent.getvalue() == ""
    bar = ProgressBar(1, 3, FakeTTY())
    bar.update(0, 0, 1.0, 10, 0.5)
    assert "20 samples/s" in bar.stream.getvalue()


def test_argument_errors():
    x, y = blobs(20)
    with pytest.raises(ValueError, match="20 samples but Y has 19"):
        fit(MLP(), x, y[:19], nll_loss, verbose=False)
    with pytest.raises(TypeError, match="needs a loss function"):
        fit(MLP(), x, y, verbose=False)
    with pytest.raises(DeviceError):
        fit(MLP(), x, y, nll_loss, device="gpu", verbose=False)
    with pytest.raises(ValueError, match=r"validation must be \(X_val, Y_val\)"):
        fit(MLP(), x, y, nll_loss, validation=x, verbose=False)
    with pytest.raises(ValueError, match="validation X has 20 samples and Y has 3"):
        fit(MLP(), x, y, nll_loss, validation=(x, y[:3]), verbose=False)
    x[3, 0] = np.nan
    with pytest.raises(FloatingPointError, match="the loss became nan in epoch 1, batch 1"):
        fit(MLP(), x, y, nll_loss, shuffle=False, verbose=False)


def test_cpu_device_and_default_optimizer():
    x, y = blobs(20)
    history = fit(MLP(), x, y, nll_loss, epochs=1, device=avalon.devices.cpu(), verbose=False)
    assert math.isfinite(history["loss"][0])


def test_train_step_is_one_program():
    """The compiled step's IR holds forward, backward and update in one function."""
    model, opt = MLP(), optim.SGD(lr=0.1, momentum=0.9)
    opt.init(model)
    step = make_train_step(nll_loss, opt, with_prediction=False, with_state=False)
    x, y = blobs(8)
    module = step.lower(model, opt.state, opt.hyperparams(), x, y)
    funcs = [op for op in module.walk_ops() if op.name == "func.func"]
    names = {op.name for op in module.walk_ops()}
    assert len(funcs) == 1 and "func.call" not in names
    assert "tensor.select" in names, "SGD's first-step momentum choice is in the program"


def test_training_docs_examples_run(tmp_path, monkeypatch):
    from tests.support.docs import code_blocks, run_python_blocks

    doc = Path(__file__).resolve().parents[2] / "docs" / "training.md"
    assert len(code_blocks(doc)) >= 5
    monkeypatch.chdir(tmp_path)
    run_python_blocks(doc)
