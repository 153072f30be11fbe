"""Optimizers: PyTorch's update equations, eager and compiled, state handling."""

import math

import numpy as np
import pytest

import avalon
from avalon import optim
from avalon.frontend.pytree import flatten

STEPS = 6


class Model:
    """Two parameters, an integer counter and a forward-updated statistic (not trained)."""

    state_attrs = ("stat",)

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.w = rng.standard_normal((3, 4)).astype(np.float32)
        self.b = rng.standard_normal(4).astype(np.float32)
        self.count = np.zeros((), np.int64)
        self.stat = np.ones(4, np.float32)


class Grads:
    def __init__(self, w, b):
        self.w, self.b, self.count, self.stat = w, b, None, np.ones(4, np.float32)


def gradient_sequence(seed=1):
    rng = np.random.default_rng(seed)
    return [Grads(rng.standard_normal((3, 4)).astype(np.float32),
                  rng.standard_normal(4).astype(np.float32)) for _ in range(STEPS)]


# ----------------------------------------------------------------------------- references
# Independent float64 implementations of the published update rules, one parameter at a time.

def ref_sgd(p, grads, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):
    p, buf = p.astype(np.float64), None
    for g in grads:
        g = (-g if maximize else g).astype(np.float64) + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def ref_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
             amsgrad=False, decoupled=False, maximize=False):
    p = p.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = (-g if maximize else g).astype(np.float64)
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m += (1 - betas[0]) * (g - m)
        v = betas[1] * v + (1 - betas[1]) * g**2
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - betas[0] ** t)
        second = vmax if amsgrad else v
        denom = np.sqrt(second) / math.sqrt(1 - betas[1] ** t) + eps
        p = p - lr * m_hat / denom
    return p


def ref_rmsprop(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False):
    p = p.astype(np.float64)
    sq, avg_g, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g.astype(np.float64) + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            avg_g = alpha * avg_g + (1 - alpha) * g
            rms = np.sqrt(sq - avg_g**2) + eps
        else:
            rms = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / rms
            p = p - lr * buf
        else:
            p = p - lr * g / rms
    return p


def ref_adagrad(p, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                initial_accumulator_value=0.0, eps=1e-10):
    p = p.astype(np.float64)
    acc = np.full_like(p, initial_accumulator_value)
    for k, g in enumerate(grads):
        g = g.astype(np.float64) + weight_decay * p
        acc = acc + g * g
        p = p - lr / (1 + k * lr_decay) * g / (np.sqrt(acc) + eps)
    return p


CASES = [
    (optim.SGD, ref_sgd, {}),
    (optim.SGD, ref_sgd, {"lr": 0.1, "momentum": 0.9, "dampening": 0.2,
                          "weight_decay": 0.05}),
    (optim.SGD, ref_sgd, {"lr": 0.05, "momentum": 0.8, "nesterov": True, "maximize": True}),
    (optim.Adam, ref_adam, {}),
    (optim.Adam, ref_adam, {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1,
                            "amsgrad": True}),
    (optim.AdamW, lambda p, g, **kw: ref_adam(p, g, decoupled=True,
                                              **{"weight_decay": 1e-2, **kw}), {}),
    (optim.AdamW, lambda p, g, **kw: ref_adam(p, g, decoupled=True, **kw),
     {"lr": 0.02, "weight_decay": 0.3, "amsgrad": True}),
    (optim.RMSprop, ref_rmsprop, {}),
    (optim.RMSprop, ref_rmsprop, {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True,
                                  "weight_decay": 0.1}),
    (optim.Adagrad, ref_adagrad, {}),
    (optim.Adagrad, ref_adagrad, {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1,
                                  "initial_accumulator_value": 0.2}),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(CASES)]


@pytest.mark.parametrize(("cls", "ref", "kwargs"), CASES, ids=IDS)
def test_eager_update_matches_reference_equations(cls, ref, kwargs):
    model, grads = Model(), gradient_sequence()
    expected_w = ref(model.w, [g.w for g in grads], **kwargs)
    expected_b = ref(model.b, [g.b for g in grads], **kwargs)
    opt = cls(**kwargs)
    w_buffer = model.w
    for g in grads:
        opt.update(model, g)
    assert model.w is w_buffer, "parameters must be updated in place"
    np.testing.assert_allclose(model.w, expected_w, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(model.b, expected_b, rtol=2e-5, atol=2e-6)
    assert int(opt.state["step"]) == STEPS
    assert all(isinstance(leaf, np.ndarray) for leaf in flatten(opt.state)[0])
    assert model.count == 0 and np.all(model.stat == 1), "non-parameters must not change"


@pytest.mark.parametrize(("cls", "ref", "kwargs"), CASES, ids=IDS)
def test_compiled_step_matches_eager_and_never_retraces(cls, ref, kwargs):
    eager_model, model, grads = Model(), Model(), gradient_sequence()
    eager = cls(**kwargs)
    opt = cls(**kwargs)
    state = opt.init_state(model)
    step = avalon.jit(lambda p, g, s, h: opt.step(p, g, s, h))
    for i, g in enumerate(grads):
        opt.lr = opt.lr * 0.9  # a changing learning rate is an array, not a cache key
        eager.lr = opt.lr
        eager.update(eager_model, g)
        new_model, state = step(model, g, state, opt.hyperparams())
        avalon.frontend.pytree.assign_leaves(model, flatten(new_model)[0])
        assert int(state["step"]) == i + 1
    assert step.cache_size == 1
    np.testing.assert_allclose(model.w, eager_model.w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.b, eager_model.b, rtol=1e-5, atol=1e-6)



@pytest.mark.parametrize(("cls", "ref", "kwargs"), CASES, ids=IDS)
def test_trajectory_matches_pytorch(cls, ref, kwargs):
    torch = pytest.importorskip("torch")
    model, grads = Model(), gradient_sequence()
    tw = torch.tensor(model.w.copy(), requires_grad=True)
    tb = torch.tensor(model.b.copy(), requires_grad=True)
    torch_opt = getattr(torch.optim, cls.__name__)([tw, tb], **kwargs)
    opt = cls(**kwargs)
    for g in grads:
        opt.update(model, g)
        tw.grad, tb.grad = torch.tensor(g.w), torch.tensor(g.b)
        torch_opt.step()
        np.testing.assert_allclose(model.w, tw.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.b, tb.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_defaults_are_pytorchs():
    assert optim.SGD().hyper == {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0,
                                 "weight_decay": 0.0}
    adam = optim.Adam()
    assert (adam.lr, adam.betas, adam.hyper["eps"], adam.hyper["weight_decay"]) == (
        1e-3, (0.9, 0.999), 1e-8, 0.0)
    assert optim.AdamW().hyper["weight_decay"] == 1e-2
    rms = optim.RMSprop()
    assert (rms.lr, rms.hyper["alpha"], rms.hyper["eps"]) == (1e-2, 0.99, 1e-8)
    ada = optim.Adagrad()
    assert (ada.lr, ada.hyper["eps"], ada.initial_accumulator_value) == (1e-2, 1e-10, 0.0)


def test_first_momentum_buffer_is_the_gradient():
    model, g = Model(), gradient_sequence()[0]
    opt = optim.SGD(lr=0.1, momentum=0.9, dampening=0.5)
    opt.update(model, g)
    np.testing.assert_array_equal(opt.state["momentum_buffer"][0], g.w)


def test_state_holds_buffers_only_for_parameters():
    opt = optim.Adam()
    state = opt.init(Model())
    assert set(state) == {"step", "exp_avg", "exp_avg_sq"}
    assert state["step"].dtype == np.int64 and state["step"].shape == ()
    # leaves in flatten order: w, b, count, stat
    assert [buf is None for buf in state["exp_avg"]] == [False, False, True, True]
    assert "momentum_buffer" not in optim.SGD(momentum=0).init(Model())


def test_missing_gradients_leave_parameters_alone():
    model = Model()
    before = model.b.copy()
    g = gradient_sequence()[0]
    g.b = None
    optim.SGD(lr=0.1).update(model, g)
    np.testing.assert_array_equal(model.b, before)


def test_gradients_as_dicts_and_unmatched_structures():
    model, g = Model(), gradient_sequence()[0]
    expected = model.w - 0.1 * g.w
    optim.SGD(lr=0.1).update(model, {"w": g.w, "b": g.b})
    np.testing.assert_allclose(model.w, expected)
    with pytest.raises(ValueError, match="no gradient matches a parameter"):
        optim.SGD().update(model, [g.w, g.b])


def test_state_round_trips_through_a_checkpoint(tmp_path):
    model, grads = Model(), gradient_sequence()
    opt = optim.Adam(amsgrad=True)
    for g in grads[:3]:
        opt.update(model, g)
    avalon.save(opt.state, tmp_path / "adam.safetensors")
    fresh = optim.Adam(amsgrad=True)
    avalon.load(fresh.init(model), tmp_path / "adam.safetensors")
    assert int(fresh.state["step"]) == 3
    for a, b in zip(flatten(opt.state)[0], flatten(fresh.state)[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_for_another_model_is_rejected():
    opt = optim.Adam()
    opt.init({"a": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match="state does not match"):
        opt.update(Model(), gradient_sequence()[0])


def test_gradient_shape_mismatch_is_reported():
    model, g = Model(), gradient_sequence()[0]
    g.w = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"gradient of shape \(4, 3\)"):
        optim.SGD().update(model, g)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: optim.SGD(lr=-1), "invalid lr"),
    (lambda: optim.SGD(momentum=0.0, nesterov=True), "Nesterov"),
    (lambda: optim.Adam(betas=(1.0, 0.9)), "invalid betas"),
    (lambda: optim.Adagrad(initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda: optim.RMSprop(eps=math.nan), "invalid eps"),
])
def test_invalid_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_gradients_from_avalon_grad_update_a_model():
    model = Model()
    x = np.ones((2, 3), np.float32)

    def loss(m):
        return ((x @ m.w + m.b) ** 2).sum()

    opt = optim.SGD(lr=0.01)
    before = loss(model)
    for _ in range(3):
        opt.update(model, avalon.grad(loss)(model))
    assert loss(model) < before
