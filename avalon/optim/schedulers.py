"""Learning-rate schedules with PyTorch's formulas: ``StepLR``, ``CosineAnnealingLR``,
``OneCycleLR``.

A scheduler owns a step counter and writes the learning rate of its optimizer; the optimizer
hands the rate to compiled train steps as an array, so a schedule never causes a retrace. As in
PyTorch, constructing a scheduler sets the rate for step 0 and each ``scheduler.step()``
advances one step. The rates are computed in closed form from the step count, which makes
resuming from ``state_dict()`` exact.
"""

from __future__ import annotations

import math
from typing import Any

from avalon.optim.optimizers import Optimizer


class LRScheduler:
    """Base class: subclasses give the learning rate at step ``t`` (``lr_at``)."""

    #: When :func:`avalon.fit` advances this schedule: after each ``"epoch"`` or ``"batch"``.
    interval = "epoch"

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an avalon.optim optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            optimizer.initial_lr = optimizer.lr
        elif optimizer.initial_lr is None:
            raise ValueError("resuming a schedule (last_epoch != -1) needs the optimizer's "
                             "initial_lr, which a scheduler created with last_epoch=-1 sets")
        self.base_lr: float = float(optimizer.initial_lr)  # type: ignore[arg-type]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, t: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step and set the optimizer's learning rate for it."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)
        self._last_lr = self.optimizer.lr

    def get_last_lr(self) -> list[float]:
        """The rate set by the last ``step`` (a list, one entry per parameter group, as in
        PyTorch; Avalon optimizers have a single group)."""
        return [self._last_lr]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.optimizer.lr = self.lr_at(self.last_epoch)


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if step_size < 1:
            raise ValueError(f"step_size must be a positive integer, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> float:
        return self.base_lr * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base rate down to ``eta_min`` over ``T_max`` steps (and back up
    after that, as PyTorch's schedule does)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if T_max < 1:
            raise ValueError(f"T_max must be a positive integer, got {T_max}")
        self.T_max = int(T_max)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> float:
        cos = math.cos(math.pi * t / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1.0 + cos) / 2.0


def _anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    """The 1cycle policy: warm up to ``max_lr``, then anneal far below the start rate.

    Stepped once per batch. With ``cycle_momentum`` the momentum (SGD, RMSprop) or the first
    beta (Adam, AdamW) moves inversely to the rate, between ``max_momentum`` and
    ``base_momentum``. Unlike PyTorch, SGD created without momentum cannot have it switched on
    by the schedule (its state has no momentum buffers): pass ``cycle_momentum=False``.
    """

    interval = "batch"

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
            if epochs <= 0 or steps_per_epoch <= 0:
                raise ValueError("epochs and steps_per_epoch must be positive integers")
            total_steps = epochs * steps_per_epoch
        if total_steps <= 0:
            raise ValueError(f"total_steps must be a positive integer, got {total_steps}")
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"pct_start must be in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self.total_steps = int(total_steps)
        self.anneal = _anneal_cos if anneal_strategy == "cos" else _anneal_linear
        self.cycle_momentum = cycle_momentum
        initial = max_lr / div_factor
        minimum = initial / final_div_factor
        n = float(self.total_steps)
        if three_phase:
            ends = [pct_start * n - 1, 2 * pct_start * n - 2, n - 1]
            lrs = [(initial, max_lr), (max_lr, initial), (initial, minimum)]
            moms = [(max_momentum, base_momentum), (base_momentum, max_momentum),
                    (max_momentum, max_momentum)]
        else:
            ends = [pct_start * n - 1, n - 1]
            lrs = [(initial, max_lr), (max_lr, minimum)]
            moms = [(max_momentum, base_momentum), (base_momentum, max_momentum)]
        self.phases = list(zip(ends, lrs, moms))
        if cycle_momentum:
            self._momentum_key = self._find_momentum(optimizer)
            optimizer.hyper[self._momentum_key] = float(max_momentum)
        if last_epoch == -1:
            optimizer.lr = initial
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _find_momentum(optimizer: Optimizer) -> str:
        if "beta1" in optimizer.hyper:
            return "beta1"
        if "momentum" in optimizer.hyper:
            if optimizer.hyper["momentum"] == 0:
                raise ValueError(f"cycle_momentum=True needs {type(optimizer).__name__} "
                                 "created with momentum > 0; or pass cycle_momentum=False")
            return "momentum"
        raise ValueError(f"{type(optimizer).__name__} has neither momentum nor betas; "
                         "pass cycle_momentum=False")

    def _phase_values(self, t: int) -> tuple[float, float]:
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {t} times, but total_steps is "
                             f"{self.total_steps}")
        start = 0.0
        for i, (end, (lr0, lr1), (m0, m1)) in enumerate(self.phases):
            if t <= end or i == len(self.phases) - 1:
                pct = (t - start) / (end - start)
                return self.anneal(lr0, lr1, pct), self.anneal(m0, m1, pct)
            start = end
        raise AssertionError("unreachable: the last phase always matches")

    def lr_at(self, t: int) -> float:
        return self._phase_values(t)[0]

    def step(self) -> None:
        super().step()
        if self.cycle_momentum:
            self.optimizer.hyper[self._momentum_key] = self._phase_values(self.last_epoch)[1]
