"""Optimizers with PyTorch's update equations and defaults, written as pure numpy that traces.

Every optimizer has two faces:

* ``new_params, new_state = opt.step(params, grads, state, hyper)`` is a pure function of
  arrays. It uses only numpy operations that :mod:`avalon.frontend` can trace, so a train
  step that calls ``value_and_grad`` and then ``opt.step`` compiles into one program.
* ``opt.update(model, grads)`` is the convenient eager form: it creates the state on first
  use, runs ``step`` and writes the new values into the model's arrays in place.

The state is a dict: ``"step"`` (an int64 0-d array, so the step count is data rather than a
static jit cache key) and one list per buffer kind (``"momentum_buffer"``, ``"exp_avg"``...)
aligned with the model's flattened leaves, ``None`` where a leaf is not trained. The scalar
hyperparameters (lr, momentum, betas...) travel as 0-d float64 arrays (``opt.hyperparams()``)
so that a learning-rate schedule changes values, not compiled code. Which buffers exist is
decided by the constructor arguments (``momentum=0`` keeps no momentum buffers), as it would be
pointless to carry zeros through every compiled step.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np

from avalon.frontend.pytree import (
    TreeDef,
    assign_leaves,
    flatten,
    is_leaf,
    tree_map,
    unflatten,
)
from avalon.nn.module import trainable_flags

Hyper = Mapping[str, Any]


def aligned_grads(params_def: TreeDef, grads: Any) -> list[Any]:
    """The gradient for each leaf of the params structure, ``None`` where there is none.

    ``avalon.grad`` returns a model-shaped object with ``None`` in place of non-float leaves;
    flattening it would lose the alignment, so the params structure is walked instead.
    """
    out: list[Any] = []

    def walk(td: TreeDef, g: Any) -> None:
        if td.kind == "leaf":
            out.append(g if g is not None and is_leaf(g) else None)
            return
        if td.kind == "static":
            return
        if g is None:
            out.extend([None] * td.num_leaves)
            return
        if td.kind in ("tuple", "list", "namedtuple"):
            subs = list(g)
            if len(subs) != len(td.children):
                raise ValueError(f"gradient structure does not match the parameters: "
                                 f"{len(subs)} items where {len(td.children)} are expected")
        elif isinstance(g, Mapping):
            subs = [g.get(k) for k in td.keys]
        else:
            subs = [getattr(g, k, None) for k in td.keys]
        for child, sub in zip(td.children, subs, strict=True):
            walk(child, sub)

    walk(params_def, grads)
    return out


def _f64(x: Any) -> Any:
    """A hyperparameter as a float64 scalar (works on floats, arrays and tracers)."""
    return x.astype(np.float64) if hasattr(x, "astype") else np.float64(x)


def _like(scalar: Any, arr: Any) -> Any:
    """A float64 scalar in the dtype of ``arr``, so updates keep the parameter's precision."""
    return scalar.astype(arr.dtype)


class Optimizer(abc.ABC):
    """Base class: subclasses name their hyperparameters and buffers and update one leaf."""

    def buffer_names(self) -> tuple[str, ...]:
        """The per-parameter buffers this optimizer keeps, given its constructor arguments."""
        return ()

    def __init__(self, **hyper: float) -> None:
        for name, value in hyper.items():
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"invalid {name}: {value!r} (must be a finite value >= 0)")
        self.hyper: dict[str, float] = {k: float(v) for k, v in hyper.items()}
        self.state: dict[str, Any] | None = None
        self.initial_lr: float | None = None

    # -- hyperparameters
    @property
    def lr(self) -> float:
        return self.hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.hyper["lr"] = float(value)

    def hyperparams(self) -> dict[str, np.ndarray]:
        """The scalar hyperparameters as 0-d float64 arrays (arguments of a compiled step)."""
        return {k: np.asarray(v, np.float64) for k, v in self.hyper.items()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"

    # -- state
    def init_state(self, params: Any) -> dict[str, Any]:
        """Fresh state for ``params``: step 0 and initial buffers for each parameter.

        Parameters are the float arrays that are not forward-updated state (see
        :func:`avalon.nn.module.trainable_flags`); other leaves get ``None``.
        """
        leaves, _ = flatten(params)
        flags = trainable_flags(params)
        state: dict[str, Any] = {"step": np.zeros((), np.int64)}
        for name in self.buffer_names():
            state[name] = [self._initial_buffer(name, leaf) if train else None
                           for leaf, train in zip(leaves, flags, strict=True)]
        return state

    def _initial_buffer(self, name: str, leaf: Any) -> np.ndarray:
        return np.zeros(np.shape(leaf), np.asarray(leaf).dtype)

    def init(self, model: Any) -> dict[str, Any]:
        """Create (and keep) the state for ``model``; returns it."""
        self.state = self.init_state(model)
        return self.state

    # -- the pure update
    def step(self, params: Any, grads: Any, state: Mapping[str, Any],
             hyper: Hyper | None = None) -> tuple[Any, dict[str, Any]]:
        """One optimisation step as a pure function: ``(new_params, new_state)``.

        ``grads`` is shaped like ``params`` (as ``avalon.grad`` returns it); leaves without a
        gradient and leaves that are not parameters (integer arrays, running statistics and
        other forward-updated state) are left unchanged. Traces: call it inside ``avalon.jit``.
        """
        h = {k: _f64(v) for k, v in (self.hyperparams() if hyper is None else hyper).items()}
        leaves, td = flatten(params)
        flags = trainable_flags(params)
        glist = aligned_grads(td, grads)
        if any(flags) and all(g is None for g in glist):
            raise ValueError("no gradient matches a parameter: pass gradients shaped like the "
                             "parameters, as avalon.grad returns them")
        names = self.buffer_names()
        for name in names:
            if name not in state or len(state[name]) != len(leaves):
                raise ValueError(f"{type(self).__name__} state does not match these parameters "
                                 f"({len(leaves)} leaves); create it with init_state(params)")
        count = state["step"] + 1
        new_leaves: list[Any] = []
        new_bufs: dict[str, list[Any]] = {name: [] for name in names}
        for i, (p, g, train) in enumerate(zip(leaves, glist, flags, strict=True)):
            bufs = {name: state[name][i] for name in names}
            if g is None or not train or any(b is None for b in bufs.values()):
                new_leaves.append(p)
                for name in names:
                    new_bufs[name].append(bufs[name])
                continue
            if g.shape != p.shape:
                raise ValueError(f"gradient of shape {g.shape} for a parameter of shape "
                                 f"{p.shape}")
            if g.dtype != p.dtype:
                g = g.astype(p.dtype)
            p_new, b_new = self._update_leaf(p, g, bufs, h, count)
            new_leaves.append(p_new)
            for name in names:
                new_bufs[name].append(b_new[name])
        return unflatten(td, new_leaves, params), {"step": count, **new_bufs}

    @abc.abstractmethod
    def _update_leaf(self, p: Any, g: Any, bufs: dict[str, Any], h: dict[str, Any],
                     count: Any) -> tuple[Any, dict[str, Any]]:
        """The new value of one parameter and its buffers (``count`` is the 1-based step)."""

    # -- the eager, in-place form
    def update(self, model: Any, grads: Any) -> None:
        """Apply one step to ``model``'s arrays in place (state created on first use)."""
        if self.state is None:
            self.init(model)
        assert self.state is not None
        new_params, new_state = self.step(model, grads, self.state)
        assign_leaves(model, flatten(new_params)[0])
        self.state = tree_map(np.asarray, new_state)  # numpy scalars back to 0-d arrays


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    The momentum buffer starts as the first gradient (not as zeros), like PyTorch.
    """

    def __init__(self, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum > 0 and zero dampening")
        super().__init__(lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay)
        self.nesterov = nesterov
        self.maximize = maximize
        self._use_momentum = momentum != 0
        self._use_weight_decay = weight_decay != 0

    def buffer_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self._use_momentum else ()

    def _update_leaf(self, p, g, bufs, h, count):
        if self.maximize:
            g = -g
        if self._use_weight_decay:
            g = g + _like(h["weight_decay"], p) * p
        out: dict[str, Any] = {}
        if self._use_momentum:
            mom = _like(h["momentum"], p)
            buf = np.where(count == 1, g, mom * bufs["momentum_buffer"]
                           + _like(1.0 - h["dampening"], p) * g)
            out["momentum_buffer"] = buf
            g = g + mom * buf if self.nesterov else buf
        return p - _like(h["lr"], p) * g, out


class Adam(Optimizer):
    """Adam with bias correction, L2 weight decay added to the gradient, optional AMSGrad."""

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"invalid betas {betas!r}: each must be in [0, 1)")
        super().__init__(lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=weight_decay)
        self.amsgrad = amsgrad
        self.maximize = maximize
        self._use_weight_decay = weight_decay != 0

    @property
    def betas(self) -> tuple[float, float]:
        return self.hyper["beta1"], self.hyper["beta2"]

    @betas.setter
    def betas(self, value: tuple[float, float]) -> None:
        self.hyper["beta1"], self.hyper["beta2"] = float(value[0]), float(value[1])

    def buffer_names(self) -> tuple[str, ...]:
        names = ("exp_avg", "exp_avg_sq")
        return (*names, "max_exp_avg_sq") if self.amsgrad else names

    def _decay(self, p, g, h):
        """Weight decay, Adam style: an L2 term added to the gradient."""
        if self._use_weight_decay:
            g = g + _like(h["weight_decay"], p) * p
        return p, g

    def _update_leaf(self, p, g, bufs, h, count):
        if self.maximize:
            g = -g
        p, g = self._decay(p, g, h)
        b1, b2 = h["beta1"], h["beta2"]
        m = _like(b1, p) * bufs["exp_avg"] + _like(1.0 - b1, p) * g
        v = _like(b2, p) * bufs["exp_avg_sq"] + _like(1.0 - b2, p) * g * g
        t = _f64(count)
        step_size = h["lr"] / (1.0 - b1 ** t)
        bc2_sqrt = np.sqrt(1.0 - b2 ** t)
        out = {"exp_avg": m, "exp_avg_sq": v}
        if self.amsgrad:
            vmax = np.maximum(bufs["max_exp_avg_sq"], v)
            out["max_exp_avg_sq"] = vmax
            v = vmax
        denom = np.sqrt(v) / _like(bc2_sqrt, p) + _like(h["eps"], p)
        return p - _like(step_size, p) * (m / denom), out


class AdamW(Adam):
    """Adam with decoupled weight decay: parameters shrink by ``lr * weight_decay`` first."""

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(lr, betas, eps, weight_decay, amsgrad, maximize=maximize)

    def _decay(self, p, g, h):
        if self._use_weight_decay:
            p = p * _like(1.0 - h["lr"] * h["weight_decay"], p)
        return p, g


class RMSprop(Optimizer):
    """RMSprop: divide by a running RMS of gradients; optional momentum and centering."""

    def __init__(self, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum)
        self.centered = centered
        self.maximize = maximize
        self._use_momentum = momentum > 0
        self._use_weight_decay = weight_decay != 0

    def buffer_names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = ("square_avg",)
        if self._use_momentum:
            names += ("momentum_buffer",)
        if self.centered:
            names += ("grad_avg",)
        return names

    def _update_leaf(self, p, g, bufs, h, count):
        if self.maximize:
            g = -g
        if self._use_weight_decay:
            g = g + _like(h["weight_decay"], p) * p
        a = h["alpha"]
        sq = _like(a, p) * bufs["square_avg"] + _like(1.0 - a, p) * g * g
        out = {"square_avg": sq}
        if self.centered:
            ga = _like(a, p) * bufs["grad_avg"] + _like(1.0 - a, p) * g
            out["grad_avg"] = ga
            avg = np.sqrt(sq - ga * ga)
        else:
            avg = np.sqrt(sq)
        avg = avg + _like(h["eps"], p)
        lr = _like(h["lr"], p)
        if self._use_momentum:
            buf = _like(h["momentum"], p) * bufs["momentum_buffer"] + g / avg
            out["momentum_buffer"] = buf
            return p - lr * buf, out
        return p - lr * (g / avg), out


class Adagrad(Optimizer):
    """Adagrad: per-coordinate steps shrink with the sum of squared gradients."""

    def __init__(self, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 maximize: bool = False) -> None:
        super().__init__(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps)
        if initial_accumulator_value < 0:
            raise ValueError(f"invalid initial_accumulator_value: {initial_accumulator_value}")
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.maximize = maximize
        self._use_weight_decay = weight_decay != 0

    def buffer_names(self) -> tuple[str, ...]:
        return ("sum",)

    def _initial_buffer(self, name: str, leaf: Any) -> np.ndarray:
        return np.full(np.shape(leaf), self.initial_accumulator_value, np.asarray(leaf).dtype)

    def _update_leaf(self, p, g, bufs, h, count):
        if self.maximize:
            g = -g
        if self._use_weight_decay:
            g = g + _like(h["weight_decay"], p) * p
        clr = h["lr"] / (1.0 + (_f64(count) - 1.0) * h["lr_decay"])
        total = bufs["sum"] + g * g
        std = np.sqrt(total) + _like(h["eps"], p)
        return p - _like(clr, p) * (g / std), {"sum": total}
